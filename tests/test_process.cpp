// WaitForProcess: real children spawned with G_SPAWN_DO_NOT_REAP_CHILD.
#include "support.hpp"

#include <cerrno>
#include <csignal>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

using tasklet::Tasklet;
using tasklet::WaitForProcess;

namespace {

/// Blocks until `pid` has ended, without reaping it.
void wait_ended_not_reaped(GPid pid) {
    siginfo_t info{};
    while (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR) {
    }
}

} // namespace

TEST_CASE("a child's exit code is reported", "[process]") {
    GPid pid = test::spawn_shell("exit 7");
    auto t = [](GPid pid) -> Tasklet<std::vector<int>> {
        WaitForProcess w(pid);
        int status = co_await w;
        co_return std::vector<int>{status == w.status(), w.exited(),      w.exit_code(),
                                   w.signaled(),         w.term_signal(), w.pid() == pid};
    }(pid);
    CHECK(test::run_with_watchdog(t) == std::vector<int>{1, 1, 7, 0, 0, 1});
}

TEST_CASE("the wait status is the raw waitpid() status", "[process]") {
    GPid pid = test::spawn_shell("exit 3");
    auto t = [](GPid pid) -> Tasklet<int> { co_return co_await WaitForProcess(pid); }(pid);
    int status = test::run_with_watchdog(t);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 3);
}

TEST_CASE("a child killed with SIGKILL is reported as signaled", "[process]") {
    GPid pid = test::spawn_shell("exec sleep 60");
    auto t = [](GPid pid) -> Tasklet<std::vector<int>> {
        WaitForProcess w(pid);
        co_await w;
        co_return std::vector<int>{w.exited(), w.exit_code(), w.signaled(), w.term_signal()};
    }(pid);
    REQUIRE(t.state() == tasklet::State::suspended);
    REQUIRE(kill(pid, SIGKILL) == 0);
    CHECK(test::run_with_watchdog(t) == std::vector<int>{0, -1, 1, SIGKILL});
}

TEST_CASE("a pid that is not positive is an invalid argument", "[process]") {
    CHECK_THROWS_AS(WaitForProcess(0), std::invalid_argument);
    CHECK_THROWS_AS(WaitForProcess(-1), std::invalid_argument);
}

TEST_CASE("waiting for a pid that is not our child throws ECHILD instead of hanging", "[process]") {
    GPid pid = GENERATE(GPid(getpid()), GPid(1));
    auto t = [](GPid pid) -> Tasklet<int> { co_return co_await WaitForProcess(pid); }(pid);
    try {
        test::run_with_watchdog(t, 5);
        FAIL("no exception");
    } catch (const std::system_error& e) {
        CHECK(e.code() == std::errc::no_child_process);
        CHECK(std::string(e.what()).find(std::to_string(pid)) != std::string::npos);
    }
}

TEST_CASE("several children are awaited concurrently", "[process]") {
    constexpr int n = 5;
    std::vector<Tasklet<int>> waiters;
    for (int i = 0; i < n; ++i)
        waiters.push_back([](GPid pid) -> Tasklet<int> {
            WaitForProcess w(pid);
            co_await w;
            co_return w.exit_code();
        }(test::spawn_shell("exit " + std::to_string(10 + i))));
    REQUIRE(test::run_until([&] {
        for (auto& w : waiters)
            if (!w.done())
                return false;
        return true;
    }));
    for (int i = 0; i < n; ++i)
        CHECK(waiters[i].return_value() == 10 + i);
}

TEST_CASE("each of several waiting tasklets wakes exactly when its own child ends", "[process]") {
    constexpr int n = 4;
    std::vector<GPid> pids;
    std::vector<Tasklet<int>> waiters;
    for (int i = 0; i < n; ++i) {
        pids.push_back(test::spawn_shell("exec sleep 60"));
        waiters.push_back([](GPid pid) -> Tasklet<int> {
            WaitForProcess w(pid);
            co_await w;
            co_return w.term_signal();
        }(pids.back()));
    }
    for (int victim : {2, 0, 3, 1}) {
        REQUIRE(kill(pids[victim], SIGKILL) == 0);
        REQUIRE(test::run_until([&] { return waiters[victim].done(); }));
        CHECK(waiters[victim].return_value() == SIGKILL);
        int still_waiting = 0;
        for (auto& w : waiters)
            still_waiting += w.state() == tasklet::State::suspended;
        int killed_so_far = 0;
        for (auto& w : waiters)
            killed_so_far += w.done();
        CHECK(still_waiting == n - killed_so_far);
    }
}

TEST_CASE("a child that ended before the wait began is reported at once", "[process]") {
    GPid pid = test::spawn_shell("exit 5");
    wait_ended_not_reaped(pid);
    auto t = [](GPid pid) -> Tasklet<int> {
        WaitForProcess w(pid);
        co_await w;
        co_return w.exit_code();
    }(pid);
    CHECK(test::run_with_watchdog(t) == 5);
}

TEST_CASE("the child is reaped, and waiting again yields the same status at once", "[process]") {
    GPid pid = test::spawn_shell("exit 9");
    auto t = [](GPid pid) -> Tasklet<std::vector<int>> {
        WaitForProcess w(pid);
        int first = co_await w;
        int second = co_await w; // still armed: completes without a second child exit
        co_return std::vector<int>{first == second, w.exit_code()};
    }(pid);
    CHECK(test::run_with_watchdog(t) == std::vector<int>{1, 9});
    errno = 0;
    CHECK(waitpid(pid, nullptr, WNOHANG) == -1);
    CHECK(errno == ECHILD);
}

TEST_CASE("status() before the process ended is a logic error", "[process]") {
    GPid pid = test::spawn_shell("exit 0");
    WaitForProcess w(pid);
    CHECK_FALSE(w.ended());
    CHECK_THROWS_AS(w.status(), std::logic_error);
    CHECK(w.exit_code() == -1);
    auto t = [](WaitForProcess& w) -> Tasklet<> { co_await w; }(w);
    test::run_with_watchdog(t);
    CHECK(w.exited());
}

// ---- API.md conformance ----

TEST_CASE("co_await on a WaitForProcess yields the int wait status; accessors are as documented",
          "[process]") {
    static_assert(
        std::is_same_v<decltype(operator co_await(std::declval<WaitForProcess&>()).await_resume()),
                       int>);
    const WaitForProcess* w = nullptr;
    static_assert(std::is_same_v<decltype(w->pid()), GPid>);
    static_assert(std::is_same_v<decltype(w->status()), int>);
    static_assert(std::is_same_v<decltype(w->exited()), bool>);
    static_assert(std::is_same_v<decltype(w->exit_code()), int>);
    GPid pid = test::spawn_shell("exit 0");
    auto t = [](GPid pid) -> Tasklet<std::vector<int>> {
        WaitForProcess w(pid);
        CHECK_FALSE(w.exited());
        int status = co_await w;
        co_return std::vector<int>{status, w.status(), w.exited(), w.exit_code()};
    }(pid);
    CHECK(test::run_with_watchdog(t) == std::vector<int>{0, 0, 1, 0});
}

// ---- the one-watcher rule over time ----

// A cancelled waiter that catches Cancelled and waits again on the same (still armed)
// condition gets the status.
TEST_CASE("a tasklet cancelled while waiting for a child can catch it and still get the status") {
    GPid pid = test::spawn_shell("exec sleep 30");
    auto t = [](GPid pid) -> Tasklet<int> {
        WaitForProcess proc(pid);
        try {
            co_await proc;
        } catch (const tasklet::Cancelled&) {
        }
        co_return co_await proc;
    }(pid);
    t.cancel();
    REQUIRE_FALSE(t.done());
    REQUIRE(kill(pid, SIGTERM) == 0);
    int status = test::run_with_watchdog(t, 10);
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGTERM);
}

// A WaitForProcess that stops watching without the child ending (its tasklet was
// cancelled) gives the pid up: another WaitForProcess may then watch it.
TEST_CASE("a pid given up by a cancelled waiter can be watched by another WaitForProcess") {
    GPid pid = test::spawn_shell("exec sleep 30");
    auto first = [](GPid pid) -> Tasklet<> { co_await WaitForProcess(pid); }(pid);
    first.cancel();
    REQUIRE(first.cancelled());
    auto second = [](GPid pid) -> Tasklet<int> { co_return co_await WaitForProcess(pid); }(pid);
    REQUIRE(kill(pid, SIGKILL) == 0);
    int status = test::run_with_watchdog(second, 10);
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);
}

// The refusal of a pid another WaitForProcess watches holds for that wait only: once the
// other one stopped watching, the same condition watches the pid.
TEST_CASE("a WaitForProcess refused while another watched the pid can watch it once the other "
          "is gone") {
    GPid pid = test::spawn_shell("exec sleep 30");
    auto holder = [](GPid pid) -> Tasklet<> { co_await WaitForProcess(pid); }(pid);
    bool refused = false;
    auto t = [](GPid pid, tasklet::AnyTasklet holder, bool& refused) -> Tasklet<int> {
        WaitForProcess proc(pid);
        try {
            co_await proc;
        } catch (const std::logic_error&) {
            refused = true;
        }
        holder.cancel(); // the other watcher is gone now
        co_return co_await proc;
    }(pid, holder, refused);
    CHECK(refused);
    REQUIRE(holder.cancelled());
    REQUIRE(kill(pid, SIGKILL) == 0);
    int status = -1;
    CHECK_NOTHROW(status = test::run_with_watchdog(t, 10));
    CHECK(WIFSIGNALED(status));
    if (!t.done() || status == -1) { // reap it ourselves so nothing is left behind
        waitpid(pid, nullptr, 0);
    }
}
