// The IO examples, run as real programs: echo_server's loopback self-test and subprocess.
#include "support.hpp"

#include <csignal>
#include <string>
#include <vector>

using namespace tasklet;

namespace {

struct Run {
    std::string out;
    std::string err;
    int status = -1;
};

Run run_example(const std::string& name, std::vector<std::string> args) {
    std::string path = std::string(TASKLET_BUILD_DIR) + "/examples/" + name;
    REQUIRE(g_file_test(path.c_str(), G_FILE_TEST_IS_EXECUTABLE));
    std::vector<char*> argv{path.data()};
    for (std::string& a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    gchar* out = nullptr;
    gchar* err = nullptr;
    Run r;
    GError* error = nullptr;
    bool ok = g_spawn_sync(nullptr, argv.data(), nullptr, G_SPAWN_DEFAULT, nullptr, nullptr, &out,
                           &err, &r.status, &error);
    if (!ok) {
        std::string what = error->message;
        g_error_free(error);
        FAIL("cannot run " << path << ": " << what);
    }
    r.out = out ? out : "";
    r.err = err ? err : "";
    g_free(out);
    g_free(err);
    return r;
}

bool contains(const std::string& s, const std::string& needle) {
    return s.find(needle) != std::string::npos;
}

} // namespace

TEST_CASE("echo_server echoes 500 lines to its own client over loopback", "[examples]") {
    Run r = run_example("echo_server", {"--self-test", "500"});
    INFO("stdout: " << r.out << "\nstderr: " << r.err);
    CHECK(g_spawn_check_wait_status(r.status, nullptr));
    CHECK(contains(r.out, "listening on 127.0.0.1:"));
    CHECK(contains(r.out, "self-test: 500 lines echoed correctly"));
}

TEST_CASE("subprocess reports every child's exit code and the killed one's signal", "[examples]") {
    Run r = run_example("subprocess", {"3"});
    INFO("stdout: " << r.out << "\nstderr: " << r.err);
    CHECK(g_spawn_check_wait_status(r.status, nullptr));
    // Results are printed in start order; "(... ended)" lines may come in between, in
    // completion order.
    std::size_t at = 0;
    for (const char* line : {"child 1 exited with code 1\n", "child 2 exited with code 2\n",
                             "child 3 exited with code 3\n",
                             "child killed was killed by signal 9\n", "4 children done\n"}) {
        std::size_t found = r.out.find(line, at);
        CHECK(found != std::string::npos);
        if (found != std::string::npos)
            at = found;
    }
}

TEST_CASE("echo_server rejects a negative or non-numeric self-test count with its usage",
          "[examples]") {
    const std::string path = std::string(TASKLET_BUILD_DIR) + "/examples/echo_server";
    REQUIRE(g_file_test(path.c_str(), G_FILE_TEST_IS_EXECUTABLE));
    for (const char* bad : {"-1", "abc"}) {
        INFO("--self-test " << bad);
        const char* argv[] = {path.c_str(), "--self-test", bad, nullptr};
        GPid pid = 0;
        REQUIRE(g_spawn_async(nullptr, const_cast<char**>(argv), nullptr,
                              static_cast<GSpawnFlags>(G_SPAWN_DO_NOT_REAP_CHILD |
                                                       G_SPAWN_STDOUT_TO_DEV_NULL |
                                                       G_SPAWN_STDERR_TO_DEV_NULL),
                              nullptr, nullptr, &pid, nullptr));
        auto t = [](GPid pid) -> Tasklet<int> {
            WaitForProcess p(pid);
            WaitForTimeout limit(5000); // a usage error takes milliseconds
            Event& e = co_await any(p, limit);
            if (!e.is(p)) {
                kill(pid, SIGKILL); // still serving: it took the bad count for "no self-test"
                co_await p;
                co_return -1;
            }
            co_return p.exit_code();
        }(pid);
        CHECK(test::run_with_watchdog(t, 20) == 2);
    }
}
