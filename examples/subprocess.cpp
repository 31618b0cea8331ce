// Spawns several children and waits for all of them concurrently, one tasklet per child,
// each with WaitForProcess. Children end in a different order than they were started.
//
//   ./subprocess [N]      N children (default 4); child K runs
//                         `sh -c 'sleep 0.0(N-K+1); exit K'` (they end in reverse order),
//                         and one extra child is killed by SIGKILL
#include <tasklet/tasklet.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

using tasklet::Tasklet;

/// Starts `sh -c script` without letting GLib reap it, so WaitForProcess can.
GPid spawn(const std::string& script) {
    const char* argv[] = {"sh", "-c", script.c_str(), nullptr};
    GPid pid = 0;
    GError* error = nullptr;
    if (!g_spawn_async(nullptr, const_cast<char**>(argv), nullptr,
                       static_cast<GSpawnFlags>(G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH),
                       nullptr, nullptr, &pid, &error)) {
        std::fprintf(stderr, "subprocess: cannot spawn: %s\n", error->message);
        g_error_free(error);
        std::exit(1);
    }
    return pid;
}

/// Waits for one child and describes how it ended.
Tasklet<std::string> watch(std::string label, GPid pid) {
    tasklet::WaitForProcess child(pid);
    co_await child;
    std::printf("  (%s ended)\n", label.c_str()); // completion order
    if (child.exited())
        co_return label + " exited with code " + std::to_string(child.exit_code());
    co_return label + " was killed by signal " + std::to_string(child.term_signal());
}

Tasklet<int> run_children(int n) {
    std::vector<Tasklet<std::string>> watchers;
    // Child K sleeps longer the smaller K is: they end in reverse order.
    for (int k = 1; k <= n; ++k) {
        std::string script =
            "sleep 0.0" + std::to_string(n - k + 1) + "; exit " + std::to_string(k);
        watchers.push_back(watch("child " + std::to_string(k), spawn(script)));
    }
    watchers.push_back(watch("child killed", spawn("kill -KILL $$")));
    // All watchers already wait concurrently; collect their results in start order.
    for (auto& w : watchers)
        std::printf("%s\n", (co_await w).c_str());
    co_return static_cast<int>(watchers.size());
}

} // namespace

int main(int argc, char** argv) {
    int n = argc > 1 ? std::atoi(argv[1]) : 4;
    if (n < 1 || n > 9) {
        std::fprintf(stderr, "usage: %s [N between 1 and 9]\n", argv[0]);
        return 2;
    }
    int done = tasklet::run_until_complete(run_children(n));
    std::printf("%d children done\n", done);
}
