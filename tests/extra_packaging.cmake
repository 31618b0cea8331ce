# Packaging check (issue 6): installs tasklet into a temporary prefix and builds tests/consumer
# against it with CMake find_package(), plain pkg-config and Meson dependency(). Skipped
# (exit 77) when Meson is not installed, unless TASKLET_NO_SKIP=1 is in the environment.
find_program(TASKLET_BASH bash)
if(TASKLET_BASH)
    add_test(NAME packaging_consumer
             COMMAND ${TASKLET_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/consumer/check.sh ${PROJECT_SOURCE_DIR})
    set_tests_properties(packaging_consumer PROPERTIES
        TIMEOUT 600 SKIP_RETURN_CODE 77 LABELS packaging
        ENVIRONMENT "CXX=${CMAKE_CXX_COMPILER}")
endif()
