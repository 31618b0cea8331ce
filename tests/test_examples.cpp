// The examples are part of the contract: run the built programs and check their exact output.
#include "support.hpp"

#include <string>

namespace {

struct Output {
    std::string out;
    bool ok = false;
    std::string error;
};

/// Runs an example from the build tree with `interval_ms` and returns what it printed. The
/// process-wide alarm of the test runner backs this up if an example hangs.
Output run_example(const char* name, const char* interval_ms) {
    std::string path = std::string(TASKLET_BUILD_DIR) + "/examples/" + name;
    char* argv[] = {path.data(), const_cast<char*>(interval_ms), nullptr};
    gchar* out = nullptr;
    gint status = 0;
    GError* error = nullptr;
    Output r;
    if (!g_spawn_sync(nullptr, argv, nullptr, G_SPAWN_STDERR_TO_DEV_NULL, nullptr, nullptr, &out,
                      nullptr, &status, &error)) {
        r.error = error->message;
        g_error_free(error);
        return r;
    }
    r.out = out ? out : "";
    g_free(out);
    if (!g_spawn_check_wait_status(status, &error)) {
        r.error = error->message;
        g_error_free(error);
        return r;
    }
    r.ok = true;
    return r;
}

} // namespace

TEST_CASE("simple_counter prints 0 to 9, one per line") {
    Output r = run_example("simple_counter", "20");
    INFO(r.error);
    REQUIRE(r.ok);
    CHECK(r.out == "0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n");
}

TEST_CASE("message_passing prints >>>  0 to >>>  9, one per line") {
    Output r = run_example("message_passing", "20");
    INFO(r.error);
    REQUIRE(r.ok);
    std::string expected;
    for (int i = 0; i < 10; ++i)
        expected += ">>>  " + std::to_string(i) + "\n";
    CHECK(r.out == expected);
}
