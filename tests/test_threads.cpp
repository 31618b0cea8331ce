// send_message() and cancel() from other threads; tasklets on worker-thread contexts.
// Built and run under ThreadSanitizer by `./build.sh test tsan` (CI).
#include "support.hpp"

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace tasklet;

namespace {

/// A thread that owns a GMainContext (thread-default there) and iterates it until stopped.
class LoopThread {
public:
    LoopThread() : ctx_(g_main_context_new()), loop_(g_main_loop_new(ctx_, FALSE)) {
        thread_ = std::thread([this] {
            g_main_context_push_thread_default(ctx_);
            id_ = g_thread_self();
            started_ = true;
            g_main_loop_run(loop_);
            g_main_context_pop_thread_default(ctx_);
        });
        while (!started_)
            std::this_thread::yield();
    }
    ~LoopThread() {
        invoke([this] { g_main_loop_quit(loop_); });
        thread_.join();
        g_main_loop_unref(loop_);
        g_main_context_unref(ctx_);
    }
    /// Runs `fn` on the thread and waits for it.
    template <class F> void invoke(F fn) {
        std::atomic<bool> done{false};
        struct Call {
            F* fn;
            std::atomic<bool>* done;
        } call{&fn, &done};
        g_main_context_invoke(
            ctx_,
            [](gpointer p) -> gboolean {
                auto* c = static_cast<Call*>(p);
                (*c->fn)();
                c->done->store(true);
                return G_SOURCE_REMOVE;
            },
            &call);
        while (!done.load())
            std::this_thread::yield();
    }
    GThread* id() const { return id_; }

private:
    GMainContext* ctx_;
    GMainLoop* loop_;
    std::thread thread_;
    std::atomic<bool> started_{false};
    GThread* id_ = nullptr;
};

/// Receives `expected` "seq" messages, checks per-sender order, records the threads it ran on.
Tasklet<int> receiver(int expected, std::atomic<int>& received, std::atomic<bool>& order_ok,
                      std::atomic<bool>& thread_ok, GThread* home) {
    WaitForMessages w("seq");
    std::map<int, int> last; // sender -> last sequence number
    for (int i = 0; i < expected; ++i) {
        Message m = co_await w;
        if (g_thread_self() != home)
            thread_ok = false;
        auto [sender, seq] = m.value_as<std::pair<int, int>>();
        auto it = last.find(sender);
        if (it != last.end() && seq != it->second + 1)
            order_ok = false;
        last[sender] = seq;
        ++received;
    }
    co_return expected;
}

} // namespace

TEST_CASE("send_message from another thread is delivered on the tasklet's own thread") {
    std::atomic<int> received{0};
    std::atomic<bool> order_ok{true}, thread_ok{true};
    auto r = receiver(100, received, order_ok, thread_ok, g_thread_self());
    std::thread sender([r] {
        for (int i = 0; i < 100; ++i)
            r.send_message(Message("seq", {}, std::pair<int, int>(0, i)));
    });
    CHECK(test::run_with_watchdog(r, 30) == 100);
    sender.join();
    CHECK(order_ok);
    CHECK(thread_ok);
}

TEST_CASE("4 threads x 10,000 messages to tasklets on two contexts keep per-sender order") {
    constexpr int senders = 4, per_sender = 10000;
    LoopThread worker;
    std::atomic<int> received_main{0}, received_worker{0};
    std::atomic<bool> order_ok{true}, thread_ok{true};

    // One receiver on the main thread's default context, one created on the worker thread
    // (bound to the worker's thread-default context).
    auto on_main =
        receiver(senders * per_sender / 2, received_main, order_ok, thread_ok, g_thread_self());
    Tasklet<int> on_worker;
    worker.invoke([&] {
        on_worker =
            receiver(senders * per_sender / 2, received_worker, order_ok, thread_ok, worker.id());
    });

    std::vector<std::thread> threads;
    for (int s = 0; s < senders; ++s)
        threads.emplace_back([&, s] {
            for (int i = 0; i < per_sender; ++i) {
                const AnyTasklet& dest = (i % 2 == 0) ? AnyTasklet(on_main) : AnyTasklet(on_worker);
                dest.send_message(Message("seq", {}, std::pair<int, int>(s, i / 2)));
            }
        });
    test::run_until([&] { return received_main.load() == senders * per_sender / 2; }, 120);
    for (auto& t : threads)
        t.join();
    while (received_worker.load() < senders * per_sender / 2)
        std::this_thread::yield(); // the worker keeps iterating its own loop
    CHECK(received_main == senders * per_sender / 2);
    CHECK(received_worker == senders * per_sender / 2);
    CHECK(order_ok);
    CHECK(thread_ok);
    worker.invoke([&] { on_worker = {}; }); // drop the last handle on its own thread
}

TEST_CASE("cancel from another thread stops the tasklet on its own thread") {
    std::atomic<GThread*> resumed_on{nullptr};
    auto t = [](std::atomic<GThread*>& on) -> Tasklet<> {
        try {
            co_await WaitForTimeout(60000);
        } catch (const Cancelled&) {
            on = g_thread_self();
            throw;
        }
    }(resumed_on);
    std::thread canceller([t] { t.cancel(); });
    canceller.join();
    test::run_until([&] { return t.done(); }, 30);
    CHECK(t.cancelled());
    CHECK(resumed_on.load() == g_thread_self());
}

TEST_CASE("a tasklet created on a worker thread's context runs only on that thread") {
    LoopThread worker;
    std::atomic<int> steps{0};
    std::atomic<bool> wrong_thread{false};
    std::atomic<bool> done{false};
    worker.invoke([&] {
        [](GThread* home, std::atomic<int>& steps, std::atomic<bool>& wrong,
           std::atomic<bool>& done) -> Tasklet<> {
            WaitForTimeout tick(1);
            for (int i = 0; i < 20; ++i) {
                co_await tick;
                co_await WaitForIdle();
                if (g_thread_self() != home)
                    wrong = true;
                ++steps;
            }
            done = true;
        }(worker.id(), steps, wrong_thread, done);
    });
    gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
    while (!done && g_get_monotonic_time() < deadline)
        std::this_thread::yield();
    REQUIRE(done);
    CHECK(steps == 20);
    CHECK_FALSE(wrong_thread);
}

TEST_CASE("the last handle may be dropped on another thread after the tasklet ended") {
    // The handle's reference was counted on the tasklet's thread: dropped elsewhere, it is
    // handed back, and the frame (holding `token` as a parameter) is freed on the next
    // iteration of the tasklet's context, on its own thread.
    auto token = std::make_shared<int>(0);
    auto t = [](std::shared_ptr<int> keep) -> Tasklet<std::string> {
        co_await WaitForIdle();
        co_return std::string(1000, 'x') + std::to_string(*keep);
    }(token);
    CHECK(test::run_with_watchdog(t).size() == 1001);
    CHECK(token.use_count() == 2);
    std::thread([moved = std::move(t)]() mutable { moved = {}; }).join();
    test::run_until([&] { return token.use_count() == 1; }, 5.0);
    CHECK(token.use_count() == 1);
}

TEST_CASE("handles copied and dropped on other threads in any order free the frame once") {
    // Each round mixes references counted on the tasklet's thread (copies made here) with
    // ones counted atomically (copies made on the other thread), dropped on either side,
    // the last one sometimes here and sometimes there.
    for (int round = 0; round < 8; ++round) {
        auto token = std::make_shared<int>(round);
        AnyTasklet t = [](std::shared_ptr<int>) -> Tasklet<> { co_return; }(token);
        REQUIRE(t.done());
        std::vector<AnyTasklet> here(3, t);
        std::vector<AnyTasklet> there_made;
        AnyTasklet last_here = round % 2 ? t : AnyTasklet();
        std::thread([&, moved = std::move(t)]() mutable {
            for (int i = 0; i < 3; ++i)
                there_made.push_back(moved); // atomic references
            if (round & 2)
                moved = {};                    // a home reference, handed back
            here.push_back(there_made.back()); // an atomic one, dropped at home later
            if (round & 4)
                there_made.clear();
        }).join();
        here.clear();
        there_made.clear();
        last_here = {};
        test::run_until([&] { return token.use_count() == 1; }, 5.0);
        CHECK(token.use_count() == 1);
    }
}

TEST_CASE("a handle copied on the tasklet's thread may be dropped on another while it waits") {
    auto t = []() -> Tasklet<> {
        WaitForMessages quit("quit");
        co_await quit;
    }();
    for (int i = 0; i < 100; ++i) {
        AnyTasklet copy = t;
        std::thread([c = std::move(copy)]() mutable { AnyTasklet d = std::move(c); }).join();
    }
    CHECK(t.state() == State::suspended); // the frame is still there (ASan would say)
    t.send_message(Message("quit"));
    CHECK(t.done());
}

// ---- API.md conformance ----

TEST_CASE("cancel from another thread ends a never-started deferred tasklet without running it") {
    std::atomic<int> runs{0};
    auto t = deferred(
        [](std::atomic<int>& runs) -> Tasklet<> {
            ++runs;
            co_await WaitForIdle();
        },
        std::ref(runs));
    std::thread canceller([t] { t.cancel(); });
    canceller.join();
    test::run_until([&] { return t.done(); }, 30);
    CHECK(t.cancelled());
    CHECK(runs == 0);
}

TEST_CASE("send_message from another thread to a tasklet that has ended is dropped quietly") {
    test::LogCapture log;
    auto t = []() -> Tasklet<> { co_return; }();
    REQUIRE(t.done());
    std::thread sender([t] { t.send_message(Message("late")); });
    sender.join();
    test::drain();
    CHECK(log.count(G_LOG_LEVEL_CRITICAL) == 0);
    CHECK(log.count(G_LOG_LEVEL_WARNING) == 0);
}
