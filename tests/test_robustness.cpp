// Robustness: bad input and lifetime edge cases of WaitForIO, WaitForProcess, run_in_thread,
// WaitForTimeout and VirtualClock. Each test without "covers:" failed (hang, crash, made-up
// result, signed overflow) before the library was mended; those marked "covers:" pin a
// bad-input path no other test covers.

#include "support.hpp"
#include "tsan_glib.hpp"

#include <tasklet/tasklet.hpp>
#include <tasklet/testing.hpp>

#include <gio/gio.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <csignal>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace tasklet;

namespace {

/// True once `pid` is no longer a waitable child (someone reaped it). Polls for at most
/// `seconds` without iterating any main context: nothing else would tell us.
bool wait_reaped_elsewhere(GPid pid, double seconds) {
    const gint64 end = g_get_monotonic_time() + static_cast<gint64>(seconds * 1e6);
    while (g_get_monotonic_time() < end) {
        siginfo_t info{};
        int r = waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT);
        if (r < 0 && errno == ECHILD)
            return true;
        g_usleep(1000);
    }
    return false;
}

} // namespace

// ---- WaitForProcess ----------------------------------------------------------------------

TEST_CASE("a child that ends while armed keeps its status when the wait moves on before the "
          "child watch dispatches",
          "[robustness][process]") {
    GPid pid = test::spawn_shell("exec sleep 30");
    WaitForProcess proc(pid);
    WaitForMessages first("first");
    auto t = [](WaitForProcess& proc, WaitForMessages& first) -> Tasklet<int> {
        co_await any(proc, first); // the child watch is attached now
        co_await WaitForIdle();    // proc is not part of this wait: disarmed
        co_return co_await proc;   // the child ended meanwhile: its status must be there
    }(proc, first);
    REQUIRE(t.state() == State::suspended);
    REQUIRE(proc.armed());
    REQUIRE(kill(pid, SIGKILL) == 0);
    // Without pidfds (GLib < 2.74, or pidfd_open() unavailable) GLib reaps the child on its
    // worker thread as soon as SIGCHLD arrives, and keeps the status in the child watch
    // source until that source dispatches on our context. With pidfds it reaps inside that
    // dispatch, and the window this test aims at does not exist.
    if (!wait_reaped_elsewhere(pid, 0.5)) {
        WARN("GLib reaps children only when their watch dispatches here: nothing to test");
        t.cancel();
        return;
    }
    t.send_message(Message("first")); // resumes the tasklet before the context runs again
    int status = -1;
    CHECK_NOTHROW(status = test::run_with_watchdog(t, 10));
    CHECK(WIFSIGNALED(status));
    CHECK(proc.term_signal() == SIGKILL);
}

TEST_CASE("two WaitForProcess on one pid: neither reports a made-up exit status",
          "[robustness][process]") {
    GPid pid = test::spawn_shell("exec sleep 30");
    auto watch = [](GPid pid) -> Tasklet<int> {
        WaitForProcess p(pid);
        co_return co_await p;
    };
    auto a = watch(pid);
    auto b = watch(pid);
    REQUIRE(kill(pid, SIGTERM) == 0);
    REQUIRE(test::run_until([&] { return a.done() && b.done(); }, 10));
    // Acceptable: the real status (killed by SIGTERM) or a clear exception. Not acceptable:
    // a status that says the child exited normally with code 0.
    for (auto* t : {&a, &b}) {
        try {
            int status = t->return_value();
            CHECK(WIFSIGNALED(status));
        } catch (const std::system_error&) {
        } catch (const std::logic_error&) {
        }
    }
}

TEST_CASE("covers: a WaitForProcess on this process's own pid throws ECHILD",
          "[robustness][process]") {
    auto t = []() -> Tasklet<> {
        WaitForProcess self(getpid());
        co_await self;
    }();
    try {
        test::run_with_watchdog(t, 10);
        FAIL("no exception");
    } catch (const std::system_error& e) {
        CHECK(e.code() == std::errc::no_child_process);
    }
}

// ---- WaitForIO -----------------------------------------------------------------------------

TEST_CASE("a WaitForIO on a GSocket closed before the wait reports it instead of hanging",
          "[robustness][io]") {
    GSocket* s =
        g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, nullptr);
    REQUIRE(s);
    REQUIRE(g_socket_close(s, nullptr));
    auto t = [](GSocket* s) -> Tasklet<std::string> {
        try {
            GIOCondition c = co_await WaitForIO(s, G_IO_IN);
            co_return (c & (G_IO_NVAL | G_IO_ERR | G_IO_HUP)) ? "reported" : "other";
        } catch (const std::invalid_argument&) {
            co_return "invalid_argument";
        }
    }(s);
    std::string r;
    CHECK_NOTHROW(r = test::run_with_watchdog(t, 3));
    CHECK((r == "reported" || r == "invalid_argument"));
    g_object_unref(s);
}

TEST_CASE("a GIOChannel on a negative fd is invalid_argument like a negative fd, not a hang",
          "[robustness][io]") {
    GIOChannel* ch = g_io_channel_unix_new(-1); // GLib itself only warns
    auto t = [](GIOChannel* ch) -> Tasklet<std::string> {
        try {
            GIOCondition c = co_await WaitForIO(ch, G_IO_IN);
            co_return (c & G_IO_NVAL) ? "nval" : "other";
        } catch (const std::invalid_argument&) {
            co_return "invalid_argument";
        }
    }(ch);
    std::string r;
    CHECK_NOTHROW(r = test::run_with_watchdog(t, 3));
    CHECK((r == "invalid_argument" || r == "nval"));
    g_io_channel_unref(ch);
}

TEST_CASE("covers: a GSocket closed while its WaitForIO is armed wakes the tasklet",
          "[robustness][io]") {
    GSocket* s =
        g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, nullptr);
    REQUIRE(s);
    auto t = [](GSocket* s) -> Tasklet<GIOCondition> { co_return co_await WaitForIO(s); }(s);
    REQUIRE(t.state() == State::suspended);
    test::drain();
    REQUIRE(g_socket_close(s, nullptr));
    GIOCondition c = test::run_with_watchdog(t, 10);
    CHECK((c & (G_IO_NVAL | G_IO_HUP | G_IO_ERR)) != 0);
    g_object_unref(s);
}

TEST_CASE("covers: a WaitForIO on an fd number that is not open wakes with G_IO_NVAL",
          "[robustness][io]") {
    auto t = []() -> Tasklet<GIOCondition> { co_return co_await WaitForIO(INT_MAX); }();
    GIOCondition c = test::run_with_watchdog(t, 10);
    CHECK((c & G_IO_NVAL) != 0);
}

TEST_CASE("covers: an empty condition mask waits only for HUP, ERR and NVAL", "[robustness][io]") {
    int fds[2];
    REQUIRE(g_unix_open_pipe(fds, FD_CLOEXEC, nullptr));
    REQUIRE(write(fds[1], "x", 1) == 1); // readable, but G_IO_IN was not asked for
    auto t = [](int fd) -> Tasklet<GIOCondition> {
        co_return co_await WaitForIO(fd, static_cast<GIOCondition>(0));
    }(fds[0]);
    test::drain();
    CHECK(t.state() == State::suspended);
    close(fds[1]);
    GIOCondition c = test::run_with_watchdog(t, 10);
    CHECK((c & G_IO_HUP) != 0);
    CHECK((c & G_IO_IN) == 0);
    close(fds[0]);
}

TEST_CASE("covers: a GIOChannel shut down before the wait wakes with G_IO_NVAL",
          "[robustness][io]") {
    int fds[2];
    REQUIRE(g_unix_open_pipe(fds, FD_CLOEXEC, nullptr));
    GIOChannel* ch = g_io_channel_unix_new(fds[0]);
    REQUIRE(g_io_channel_shutdown(ch, FALSE, nullptr) == G_IO_STATUS_NORMAL); // closes fds[0]
    auto t = [](GIOChannel* ch) -> Tasklet<GIOCondition> {
        co_return co_await WaitForIO(ch, G_IO_IN);
    }(ch);
    GIOCondition c = test::run_with_watchdog(t, 10);
    CHECK((c & G_IO_NVAL) != 0);
    g_io_channel_unref(ch);
    close(fds[1]);
}

// ---- priorities at the ends of the int range ---------------------------------------------

TEST_CASE("covers: conditions at priority INT_MIN and INT_MAX fire", "[robustness]") {
    int fds[2];
    REQUIRE(g_unix_open_pipe(fds, FD_CLOEXEC, nullptr));
    REQUIRE(write(fds[1], "x", 1) == 1);
    auto t = [](int fd) -> Tasklet<int> {
        int n = 0;
        for (int p : {INT_MIN, INT_MAX}) {
            co_await WaitForTimeout(0, p);
            co_await WaitForIdle(p);
            co_await WaitForIO(fd, G_IO_IN, p);
            n += 3;
        }
        co_return n;
    }(fds[0]);
    CHECK(test::run_with_watchdog(t, 10) == 6);
    close(fds[0]);
    close(fds[1]);
}

// ---- run_in_thread -------------------------------------------------------------------------

TEST_CASE("run_in_thread of a null function pointer is invalid_argument, not a crash on a "
          "worker",
          "[robustness][thread]") {
    int (*fp)() = nullptr;
    // Not awaited: awaiting it today calls the null pointer on a GLib worker thread (SIGSEGV).
    CHECK_THROWS_AS(run_in_thread(fp), std::invalid_argument);
}

TEST_CASE("covers: run_in_thread of an empty std::function rethrows bad_function_call",
          "[robustness][thread]") {
    auto t = []() -> Tasklet<int> {
        std::function<int()> empty;
        co_return co_await run_in_thread(empty);
    }();
    CHECK_THROWS_AS(test::run_with_watchdog(t, 10), std::bad_function_call);
}

TEST_CASE("covers: a function returning a reference yields a copy of the referred object",
          "[robustness][thread]") {
    static std::string shared = "before";
    auto t = []() -> Tasklet<std::string> {
        auto job = []() -> std::string& { return shared; };
        std::string copy = co_await run_in_thread(job);
        shared = "after"; // must not change the copy
        co_return copy;
    }();
    CHECK(test::run_with_watchdog(t, 10) == "before");
    CHECK(shared == "after");
}

TEST_CASE("covers: a job that outlives its tasklet and its scheduler is released on the "
          "context's thread",
          "[robustness][thread]") {
    // `finished` orders the worker's last look at `release` before this test's end for
    // ThreadSanitizer, which cannot see the GTask completion that orders it anyway.
    std::atomic<bool> started{false}, release{false}, finished{false};
    auto destroyed_on = std::make_shared<std::thread::id>();
    struct Probe {
        std::shared_ptr<std::thread::id> where;
        ~Probe() {
            if (where)
                *where = std::this_thread::get_id();
        }
    };
    GMainContext* ctx = g_main_context_new();
    g_main_context_push_thread_default(ctx);
    {
        auto t = [](std::atomic<bool>& started, std::atomic<bool>& release,
                    std::atomic<bool>& finished,
                    std::shared_ptr<std::thread::id> where) -> Tasklet<> {
            auto job = [&started, &release, &finished, probe = Probe{std::move(where)}] {
                started = true;
                while (!release)
                    g_usleep(1000);
                finished = true;
                return std::vector<int>(1000, 7);
            };
            co_await run_in_thread(std::move(job));
        }(started, release, finished, destroyed_on);
        for (int i = 0; i < 10000 && !started; ++i) // a worker's store wakes no context
            g_usleep(1000);
        REQUIRE(started);
        t.cancel();
        REQUIRE(t.done());
    } // the last handle: the tasklet, and with it the context's scheduler, are gone
    g_main_context_pop_thread_default(ctx);
    release = true; // the job completes now, into a context nobody waits on
    for (int i = 0; i < 10000 && !finished; ++i)
        g_usleep(1000);
    REQUIRE(finished);
    g_main_context_push_thread_default(ctx);
    CHECK(test::run_until([&] { return *destroyed_on != std::thread::id(); }, 10, ctx));
    CHECK(*destroyed_on == std::this_thread::get_id());
    g_main_context_pop_thread_default(ctx);
    g_main_context_unref(ctx);
}

// ---- VirtualClock and big timeouts ----------------------------------------------------------

TEST_CASE("covers: a G_MAXUINT ms timeout fires exactly after G_MAXUINT ms of virtual time",
          "[robustness][testing]") {
    testing::VirtualClock clock;
    auto t = []() -> Tasklet<> { co_await WaitForTimeout(G_MAXUINT); }();
    clock.advance(std::chrono::milliseconds(G_MAXUINT) - std::chrono::microseconds(1));
    CHECK_FALSE(t.done());
    clock.advance(std::chrono::microseconds(1));
    CHECK(t.done());
}

TEST_CASE("covers: advance() by a negative duration is invalid_argument and moves nothing",
          "[robustness][testing]") {
    testing::VirtualClock clock;
    gint64 before = clock.now();
    CHECK_THROWS_AS(clock.advance(std::chrono::milliseconds(-1)), std::invalid_argument);
    CHECK(clock.now() == before);
}

TEST_CASE("a chrono timeout too long for guint milliseconds is invalid_argument, not wrapped",
          "[robustness]") {
    // 2066035336255469781 s is 8 ms modulo 2^64 once converted to milliseconds.
    CHECK_THROWS_AS(WaitForTimeout(std::chrono::seconds(2066035336255469781LL)),
                    std::invalid_argument);
}

TEST_CASE("advance() by more than the clock can hold never moves time backwards or wraps",
          "[robustness]") {
    testing::VirtualClock clock;
    const gint64 before = clock.now();
    auto t = []() -> Tasklet<> { co_await WaitForTimeout(std::chrono::hours(1)); }();
    try {
        clock.advance(std::chrono::microseconds::max()); // now() + max overflows
        CHECK(clock.now() >= before);
        CHECK(t.done());
    } catch (const std::invalid_argument&) {
    } catch (const std::overflow_error&) {
    }
    t.cancel();
}
