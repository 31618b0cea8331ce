// run_in_thread(): blocking work on GIO's worker threads, resumed in the tasklet's context.
#include "support.hpp"
#include "tsan_glib.hpp"

#include <tasklet/tasklet.hpp>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace tasklet;

TEST_CASE("run_in_thread yields the function's result") {
    auto body = []() -> Tasklet<int> { co_return co_await run_in_thread([] { return 6 * 7; }); };
    CHECK(test::run_with_watchdog(body()) == 42);
}

TEST_CASE("run_in_thread of a void function resumes after it has run") {
    std::atomic<bool> ran{false};
    auto body = [&]() -> Tasklet<bool> {
        co_await run_in_thread([&] { ran = true; });
        co_return ran.load();
    };
    CHECK(test::run_with_watchdog(body()));
}

TEST_CASE("run_in_thread rethrows the function's exception in the tasklet") {
    auto body = []() -> Tasklet<std::string> {
        try {
            co_await run_in_thread([]() -> int { throw std::runtime_error("boom"); });
        } catch (const std::runtime_error& e) {
            co_return e.what();
        }
        co_return "no exception";
    };
    CHECK(test::run_with_watchdog(body()) == "boom");
}

TEST_CASE("the function runs on another thread and the tasklet resumes on its own") {
    const auto main_id = std::this_thread::get_id();
    std::thread::id worker_id, resumed_id;
    auto body = [&]() -> Tasklet<> {
        worker_id = co_await run_in_thread([] { return std::this_thread::get_id(); });
        resumed_id = std::this_thread::get_id();
    };
    test::run_with_watchdog(body());
    CHECK(worker_id != main_id);
    CHECK(resumed_id == main_id);
}

TEST_CASE("a tasklet of a thread's own context resumes there, in that context") {
    std::thread::id owner_id, resumed_id;
    bool in_own_context = false;
    bool completed = false;
    std::thread th([&] {
        GMainContext* ctx = g_main_context_new();
        g_main_context_push_thread_default(ctx);
        owner_id = std::this_thread::get_id();
        auto body = [&]() -> Tasklet<> {
            co_await run_in_thread([] { g_usleep(1000); });
            resumed_id = std::this_thread::get_id();
            in_own_context = g_main_context_is_owner(ctx);
        };
        auto t = body();
        completed = test::run_until([&] { return t.done(); }, 10.0, ctx);
        g_main_context_pop_thread_default(ctx);
        g_main_context_unref(ctx);
    });
    th.join();
    CHECK(completed);
    CHECK(resumed_id == owner_id);
    CHECK(in_own_context);
}

TEST_CASE("move-only functions and results travel through run_in_thread") {
    auto body = []() -> Tasklet<int> {
        auto in = std::make_unique<int>(5);
        // The lambda is named, not written inside the co_await: g++ 12 destroys an
        // init-captured object of a lambda temporary in a co_await operand twice.
        auto job = [p = std::move(in)] { return std::make_unique<int>(*p * 2); };
        std::unique_ptr<int> out = co_await run_in_thread(std::move(job));
        co_return *out;
    };
    CHECK(test::run_with_watchdog(body()) == 10);
}

namespace {

/// A result that records on which thread the value that reached the slot was destroyed.
struct Probe {
    std::shared_ptr<std::atomic<bool>> destroyed;
    std::thread::id* destroyed_on;
    Probe(std::shared_ptr<std::atomic<bool>> d, std::thread::id* on)
        : destroyed(std::move(d)), destroyed_on(on) {}
    Probe(Probe&& o) noexcept : destroyed(std::move(o.destroyed)), destroyed_on(o.destroyed_on) {}
    ~Probe() {
        if (destroyed) { // not moved from
            *destroyed_on = std::this_thread::get_id();
            destroyed->store(true);
        }
    }
};

} // namespace

TEST_CASE("cancelling a tasklet during run_in_thread throws at once; the result is discarded") {
    std::atomic<bool> release{false};
    std::atomic<bool> started{false};
    auto destroyed = std::make_shared<std::atomic<bool>>(false);
    std::thread::id destroyed_on;
    bool after = false;
    auto body = [&]() -> Tasklet<> {
        auto job = [&, destroyed] { // named: see the move-only test about g++ 12
            started = true;
            while (!release)
                g_usleep(1000);
            return Probe(destroyed, &destroyed_on);
        };
        co_await run_in_thread(std::move(job));
        after = true;
    };
    auto t = body();
    while (!started)
        g_usleep(1000);
    t.cancel();
    CHECK(t.done()); // at once, while the function still runs
    CHECK(t.cancelled());
    CHECK_FALSE(after);
    release = true;
    // The function completes on its thread; its result is destroyed on this thread, later.
    test::run_until([&] { return destroyed->load(); });
    CHECK(destroyed_on == std::this_thread::get_id());
    CHECK_FALSE(after);
}

TEST_CASE("a function taking a GCancellable sees the tasklet stop waiting") {
    std::atomic<bool> saw_cancel{false};
    std::atomic<bool> started{false};
    auto body = [&]() -> Tasklet<> {
        co_await run_in_thread([&](GCancellable* c) {
            started = true;
            while (!g_cancellable_is_cancelled(c))
                g_usleep(1000);
            saw_cancel = true;
        });
    };
    auto t = body();
    while (!started)
        g_usleep(1000);
    t.cancel();
    CHECK(t.cancelled());
    test::run_until([&] { return saw_cancel.load(); });
    test::drain(); // the late completion is delivered and ignored
}

TEST_CASE("run_in_thread in any() keeps running while a timeout ticks") {
    std::atomic<int> ticks_seen{0};
    int runs = 0;
    auto body = [&]() -> Tasklet<int> {
        WaitForThread<int> work = run_in_thread([&] {
            ++runs;
            while (ticks_seen < 3)
                g_usleep(1000);
            return 7;
        });
        WaitForTimeout tick(5);
        while (!(co_await any(work, tick)).is(work))
            ++ticks_seen;
        co_return work.result();
    };
    CHECK(test::run_with_watchdog(body()) == 7);
    CHECK(ticks_seen >= 3); // a tick may come between the function's return and its delivery
    CHECK(runs == 1);       // the same run all along: kept armed, not restarted
}

TEST_CASE("a WaitForThread awaited again runs its function again") {
    std::atomic<int> runs{0};
    auto body = [&]() -> Tasklet<int> {
        WaitForThread<int> work = run_in_thread([&] { return ++runs; });
        int a = co_await work;
        int b = co_await work;
        co_return a * 10 + b;
    };
    CHECK(test::run_with_watchdog(body()) == 12);
    CHECK(runs == 2);
}

TEST_CASE("a WaitForThread left out of one wait and awaited again runs its function once more") {
    // After the first result the tasklet passes through a wait that completes at once and
    // does not include `work` (disarming it), then awaits it again: that arms a second run
    // while the first delivery is still on the stack. It must not start a third.
    std::atomic<int> runs{0};
    auto finished = []() -> Tasklet<> { co_return; }();
    auto body = [&]() -> Tasklet<int> {
        WaitForThread<int> work = run_in_thread([&] { return ++runs; });
        int a = co_await work;
        co_await finished; // has ended: completes at once, and disarms `work`
        int b = co_await work;
        co_return a * 10 + b;
    };
    CHECK(test::run_with_watchdog(body()) == 12);
    test::drain();
    CHECK(runs == 2);
}

TEST_CASE("many concurrent run_in_thread calls all complete with their own results") {
    constexpr int n = 300;
    auto one = [](int i) -> Tasklet<int> {
        co_return co_await run_in_thread([i] { return i * i; });
    };
    std::vector<Tasklet<int>> ts;
    for (int i = 0; i < n; ++i)
        ts.push_back(one(i));
    test::run_until([&] {
        for (auto& t : ts)
            if (!t.done())
                return false;
        return true;
    });
    long wrong = 0;
    for (int i = 0; i < n; ++i)
        wrong += ts[static_cast<std::size_t>(i)].return_value() != i * i;
    CHECK(wrong == 0);
}
