// The test runner. A process-wide alarm backs up the per-test watchdogs: a test program that
// hangs anyway is killed (SIGALRM) and fails instead of stalling CI.
#define CATCH_CONFIG_RUNNER
#include "catch.hpp"

#include <cstdlib>
#include <unistd.h>

int main(int argc, char** argv) {
    unsigned seconds = 240;
    if (const char* s = std::getenv("TASKLET_TEST_ALARM"))
        seconds = static_cast<unsigned>(std::atoi(s));
    alarm(seconds);
    return Catch::Session().run(argc, argv);
}
