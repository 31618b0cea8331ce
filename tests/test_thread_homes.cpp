// Threads and their tasklets: a context's home thread and who takes over when it exits,
// where a frame is destroyed when its last handle goes on another thread, and work from
// several threads racing with a tasklet's end. The basics: test_threads.
#include "support.hpp"
#include "tsan_glib.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace tasklet;

namespace {

/// Waits for one message of the given name.
Tasklet<> wait_for(std::string name) { co_await WaitForMessages(name); }

/// Runs `make` on a new thread with `ctx` pushed as its thread-default; the thread then ends
/// (so the context's scheduler, made there, loses its home).
template <class F> void make_on_ended_thread(GMainContext* ctx, F make) {
    std::thread([&] {
        g_main_context_push_thread_default(ctx);
        make();
        g_main_context_pop_thread_default(ctx);
    }).join();
}

} // namespace

// README "Threads": "If that thread exits, the next thread that creates a tasklet there or
// runs the context becomes the home." A thread that only runs the context (its timers,
// idles and messages resume the tasklets) becomes the home too: a message it sends is
// delivered at once, and its tasklets may wait for each other.
TEST_CASE("a thread that runs a context whose home thread has exited becomes its tasklets' home") {
    GMainContext* ctx = g_main_context_new();
    AnyTasklet sibling;
    Tasklet<std::string> t;
    bool at_ping = false, got = false;
    make_on_ended_thread(ctx, [&] {
        sibling = wait_for("go");
        t = [](AnyTasklet sib, bool& at_ping, bool& got) -> Tasklet<std::string> {
            co_await WaitForTimeout(1); // resumed by the lane, on whichever thread runs ctx
            at_ping = true;
            co_await WaitForMessages("ping");
            got = true;
            try {
                co_await WaitForTasklet<>(sib);
            } catch (const std::logic_error& e) {
                co_return e.what();
            }
            co_return "joined";
        }(sibling, at_ping, got);
    });
    g_main_context_push_thread_default(ctx);
    // This thread runs the context from now on; nothing here creates a tasklet.
    REQUIRE(test::run_until([&] { return at_ping; }, 5.0, ctx));
    t.send_message(Message("ping"));
    CHECK(got); // from the tasklet's own thread: delivered at once
    test::run_until([&] { return got; }, 5.0, ctx);
    sibling.send_message(Message("go"));
    test::run_until([&] { return t.done(); }, 5.0, ctx);
    CHECK(t.return_value() == "joined");
    sibling.cancel();
    t.cancel();
    test::drain(ctx);
    sibling = {};
    t = {};
    test::drain(ctx);
    g_main_context_pop_thread_default(ctx);
    g_main_context_unref(ctx);
}

// README "Threads": a tasklet's frame is freed on its own thread. Also when the last handle
// was copied on another thread and goes there: the frame (its parameters, its result: GTK
// objects, say) is destroyed from the home thread's main loop.
TEST_CASE("a tasklet's frame is destroyed on its own thread even when the last handle was "
          "copied on another") {
    test::PrivateContext ctx;
    std::atomic<bool> freed{false};
    std::thread::id freed_on;
    auto token = std::shared_ptr<int>(new int(0), [&](int* p) {
        freed_on = std::this_thread::get_id();
        delete p;
        freed = true;
    });
    auto t = [](std::shared_ptr<int> keep) -> Tasklet<int> { co_return *keep + 1; }(token);
    token.reset();
    REQUIRE(t.done());
    test::ThreadGate copied, dropped;
    std::thread worker([&] {
        AnyTasklet mine = t; // counted on this thread
        copied.set();
        dropped.wait();
        mine = {}; // the last reference
    });
    REQUIRE(copied.wait());
    t = {}; // this thread's reference (the frame stays: the worker holds one)
    dropped.set();
    worker.join();
    test::run_until([&] { return freed.load(); }, 5.0, ctx.get());
    CHECK(freed_on == std::this_thread::get_id());
}

// A cancel() handed over from another thread that arrives after the tasklet has ended
// by itself does nothing: the tasklet keeps its value and is not "cancelled" (API.md
// "Cancellation": "already ended: nothing happens"), although cancel() was called first.
TEST_CASE("a cancel from another thread that arrives after the tasklet ended leaves its result") {
    test::PrivateContext ctx;
    auto t = []() -> Tasklet<int> {
        co_await WaitForMessages("end");
        co_return 7;
    }();
    std::thread([t] { t.cancel(); }).join(); // queued for this thread's next iteration
    t.send_message(Message("end"));          // delivered at once: the tasklet ends first
    REQUIRE(t.done());
    test::drain(ctx.get()); // the cancel runs now
    CHECK_FALSE(t.cancelled());
    CHECK(t.return_value() == 7);
}

// Four threads copy, drop, send to and cancel one tasklet while it ends (by a message or
// by the cancel, whichever comes first): it ends once, its frame is freed exactly once, and
// ThreadSanitizer sees no race (test_lifetime covers one such thread, without cancel).
TEST_CASE("handles copied, messages sent and cancels made by several threads while the tasklet "
          "ends free its frame once") {
    test::PrivateContext ctx;
    for (int round = 0; round < 12; ++round) {
        auto token = std::make_shared<int>(round);
        std::weak_ptr<int> weak = token;
        auto t = [](std::shared_ptr<int>) -> Tasklet<int> {
            WaitForMessages w({"tick", "end"});
            int n = 0;
            for (;;) {
                Message m = co_await w;
                ++n;
                if (m.name == "end")
                    co_return n;
            }
        }(std::move(token));
        std::atomic<bool> stop{false};
        std::vector<std::thread> threads;
        for (int k = 0; k < 4; ++k)
            threads.emplace_back([&stop, k, round, h = AnyTasklet(t)]() mutable {
                AnyTasklet mine = h; // counted on this thread
                h = {};              // counted on the tasklet's thread: handed back
                for (int i = 0; !stop.load() && i < 100000; ++i) {
                    AnyTasklet copy = mine;
                    if (i % 5 == 0)
                        copy.send_message(Message(i > 200 + 10 * k ? "end" : "tick"));
                    if (k == 3 && i == 150 && round % 2)
                        copy.cancel();
                }
            });
        test::run_until([&] { return t.done(); }, 20.0, ctx.get());
        stop = true;
        for (auto& th : threads)
            th.join();
        CHECK((t.cancelled() || t.return_value() > 0));
        t = {};
        test::run_until([&] { return weak.expired(); }, 5.0, ctx.get());
        CHECK(weak.expired());
    }
}
