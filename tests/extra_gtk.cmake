# The GTK 4 example under Xvfb (issue 6): examples/gtk_countdown is run once per outcome and
# must print it and exit 0. Skipped (not failed) when GTK 4 was not found (the example is not
# built), when examples are off, or when xvfb-run/xauth are missing. TASKLET_NO_SKIP=1 in the
# environment (CI) makes a missing GTK, xvfb-run or xauth a failure instead.
find_program(TASKLET_BASH bash)
if(NOT TASKLET_BASH)
    return()
endif()

if(NOT TARGET gtk_countdown)
    if(TASKLET_BUILD_EXAMPLES)
        set(skip "echo 'SKIPPED: GTK 4 development files not found (apt-get install libgtk-4-dev)'; [ \"$TASKLET_NO_SKIP\" = 1 ] && exit 1; exit 77")
    else()
        set(skip "echo 'SKIPPED: examples are not built (TASKLET_BUILD_EXAMPLES=OFF)'; exit 77")
    endif()
    add_test(NAME gtk_countdown COMMAND ${TASKLET_BASH} -c "${skip}")
    set_tests_properties(gtk_countdown PROPERTIES SKIP_RETURN_CODE 77 LABELS gtk)
    return()
endif()

function(tasklet_gtk_countdown_test name expected)
    add_test(NAME gtk_countdown_${name}
             COMMAND ${TASKLET_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/gtk/run_countdown.sh
                     $<TARGET_FILE:gtk_countdown> ${expected} ${ARGN})
    # One Xvfb at a time: `xvfb-run -a` picks a free display number racily.
    set_tests_properties(gtk_countdown_${name} PROPERTIES
        TIMEOUT 180 SKIP_RETURN_CODE 77 LABELS gtk RESOURCE_LOCK xvfb)
endfunction()

# Each answer well before the countdown ends, and one run where nobody answers.
tasklet_gtk_countdown_test(yes yes --seconds 30 --auto yes)
tasklet_gtk_countdown_test(no no --seconds 30 --auto no)
tasklet_gtk_countdown_test(close closed --seconds 30 --auto close)
tasklet_gtk_countdown_test(timeout timeout --seconds 1 --auto none)
