# test_examples_io runs the built echo_server and subprocess examples: build them first.
# Included from tests/CMakeLists.txt.
if(TARGET test_examples_io)
    if(TARGET echo_server AND TARGET subprocess)
        add_dependencies(test_examples_io echo_server subprocess)
    else()
        set_tests_properties(test_examples_io PROPERTIES DISABLED TRUE)
    endif()
endif()
