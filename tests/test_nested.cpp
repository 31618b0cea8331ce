// A tasklet that runs a nested main loop (a modal dialog, say): what happens around it.
#include "support.hpp"

#include <string>
#include <unistd.h>
#include <vector>

using namespace tasklet;

namespace {
// Quits `loop` after `ms` milliseconds (a GLib timeout on the default context).
void quit_after(GMainLoop* loop, guint ms) {
    g_timeout_add(
        ms,
        [](gpointer l) -> gboolean {
            g_main_loop_quit(static_cast<GMainLoop*>(l));
            return G_SOURCE_REMOVE;
        },
        loop);
}
} // namespace

TEST_CASE("other tasklets keep running inside a nested main loop run by a tasklet") {
    std::vector<std::string> trace;
    GMainLoop* nested = g_main_loop_new(nullptr, FALSE);
    // Both tasklets are woken by the same idle dispatch; the first runs the nested loop.
    auto modal = [](GMainLoop* nested, std::vector<std::string>& trace) -> Tasklet<> {
        co_await WaitForIdle();
        trace.push_back("modal: enter nested loop");
        g_main_loop_run(nested);
        trace.push_back("modal: nested loop returned");
    }(nested, trace);
    auto worker = [](GMainLoop* nested, std::vector<std::string>& trace) -> Tasklet<> {
        WaitForIdle idle;
        for (int i = 0; i < 3; ++i) {
            co_await idle;
            trace.push_back("worker: step " + std::to_string(i));
        }
        WaitForTimeout t(5);
        co_await t;
        trace.push_back("worker: timeout");
        g_main_loop_quit(nested);
    }(nested, trace);
    test::run_until([&] { return modal.done() && worker.done(); });
    g_main_loop_unref(nested);
    CHECK(trace == std::vector<std::string>{"modal: enter nested loop", "worker: step 0",
                                            "worker: step 1", "worker: step 2", "worker: timeout",
                                            "modal: nested loop returned"});
}

TEST_CASE("an event for a tasklet inside its own nested loop completes its next wait at once") {
    GMainLoop* nested = g_main_loop_new(nullptr, FALSE);
    int iterations_after = -1;
    auto t = [](GMainLoop* nested, int& after) -> Tasklet<> {
        WaitForTimeout tick(5);
        co_await tick;
        // The tick keeps running while we are inside the nested loop: it fires, but this
        // tasklet is not suspended, so the event is kept for its next wait on `tick`.
        quit_after(nested, 40);
        g_main_loop_run(nested);
        gint64 before = g_get_monotonic_time();
        co_await tick; // completes without waiting a period
        after = static_cast<int>((g_get_monotonic_time() - before) / 1000);
    }(nested, iterations_after);
    test::run_until([&] { return t.done(); });
    g_main_loop_unref(nested);
    t.return_value();
    CHECK(iterations_after >= 0);
    CHECK(iterations_after < 3); // no 5 ms wait: the pending tick was delivered at once
}

TEST_CASE("a ready fd does not spin a nested main loop run by the tasklet waiting on it") {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    REQUIRE(write(fds[1], "x", 1) == 1);
    GMainLoop* nested = g_main_loop_new(nullptr, FALSE);
    int iterations = 0;
    auto t = [](int fd, GMainLoop* nested, int& iterations) -> Tasklet<int> {
        WaitForIO io(fd, G_IO_IN);
        co_await io; // readable; we do not read, so it stays readable
        {
            test::IterationCounter counter(iterations);
            quit_after(nested, 50);
            g_main_loop_run(nested); // the fd is ready all along
        }
        GIOCondition c = co_await io; // the event kept while we were busy
        co_return static_cast<int>(c);
    }(fds[0], nested, iterations);
    test::run_until([&] { return t.done(); });
    g_main_loop_unref(nested);
    close(fds[0]);
    close(fds[1]);
    CHECK((t.return_value() & G_IO_IN) != 0);
    CHECK(iterations < 100); // a spinning loop would iterate thousands of times in 50 ms
}

TEST_CASE("a context's scheduler may go away inside its own dispatch") {
    GMainContext* ctx = g_main_context_new();
    bool ended = false;
    g_main_context_push_thread_default(ctx);
    // Fire and forget: only the tasklet itself keeps it (and so its scheduler) alive.
    [](bool& ended) -> Tasklet<> {
        co_await WaitForIdle();
        ended = true;
    }(ended);
    g_main_context_pop_thread_default(ctx);
    // Creating a tasklet on another context moves this thread's scheduler cache off `ctx`,
    // so the tasklet above holds the last reference to ctx's scheduler.
    [[maybe_unused]] auto other = []() -> Tasklet<> { co_return; }();
    REQUIRE(test::attached_sources(ctx) > 0); // the scheduler's lane
    // The tasklet ends inside the lane's dispatch; freeing its frame frees the scheduler,
    // which detaches the lane that is dispatching (ASan checks nothing is touched after).
    test::run_until([&] { return ended; }, 10.0, ctx);
    test::drain(ctx);
    CHECK(ended);
    CHECK(test::attached_sources(ctx) == 0);
    g_main_context_unref(ctx);
}
