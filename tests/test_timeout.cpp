// Specification of timeout.hpp: WaitForTimeout (one-shot, periodic without drift, restart,
// priorities, argument checking).
#include "support.hpp"

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

using namespace tasklet;

namespace {

gint64 now_us() { return g_get_monotonic_time(); }

} // namespace

TEST_CASE("a 100 ms timeout elapses in 100 ms, give or take 50") {
    auto body = []() -> Tasklet<gint64> {
        gint64 start = now_us();
        co_await WaitForTimeout(100);
        co_return now_us() - start;
    };
    gint64 elapsed = test::run_with_watchdog(body());
    CHECK(elapsed >= 100000 - 1000); // never early (1 ms: GLib's rounding)
    CHECK(elapsed >= 50000);
    CHECK(elapsed <= 150000);
}

TEST_CASE("a timeout of 0 ms fires at the next main-loop iteration") {
    auto body = []() -> Tasklet<int> {
        co_await WaitForTimeout(0u);
        co_return 1;
    };
    auto t = body();
    CHECK_FALSE(t.done());
    CHECK(test::run_with_watchdog(t) == 1);
}

TEST_CASE("co_await on a WaitForTimeout yields void and get_event() names it") {
    bool named = false;
    auto body = [&]() -> Tasklet<> {
        WaitForTimeout t(1);
        static_assert(std::is_void_v<decltype(operator co_await(t).await_resume())>);
        co_await t;
        named = get_event().is(t) && get_event().as<WaitForTimeout>() == &t;
    };
    test::run_with_watchdog(body());
    CHECK(named);
}

TEST_CASE("WaitForTimeout takes a std::chrono duration, rounded up to milliseconds") {
    using namespace std::chrono_literals;
    CHECK(WaitForTimeout(250ms).timeout() == 250);
    CHECK(WaitForTimeout(2s).timeout() == 2000);
    CHECK(WaitForTimeout(1500us).timeout() == 2);
    CHECK(WaitForTimeout(1ns).timeout() == 1);
    CHECK(WaitForTimeout(std::chrono::duration<double, std::milli>(2.5)).timeout() == 3);
    CHECK(WaitForTimeout(10ms, G_PRIORITY_HIGH).priority() == G_PRIORITY_HIGH);
    auto body = []() -> Tasklet<gint64> {
        gint64 start = now_us();
        co_await WaitForTimeout(std::chrono::milliseconds(30));
        co_return now_us() - start;
    };
    CHECK(test::run_with_watchdog(body()) >= 29000);
}

TEST_CASE("timeout() and priority() report the constructor's arguments") {
    WaitForTimeout a(1234);
    CHECK(a.timeout() == 1234);
    CHECK(a.priority() == G_PRIORITY_DEFAULT);
    WaitForTimeout b(5, G_PRIORITY_LOW);
    CHECK(b.timeout() == 5);
    CHECK(b.priority() == G_PRIORITY_LOW);
    WaitForTimeout big(G_MAXUINT);
    CHECK(big.timeout() == G_MAXUINT);
    WaitForTimeout from_long(static_cast<long long>(G_MAXUINT));
    CHECK(from_long.timeout() == G_MAXUINT);
}

TEST_CASE("a negative or out-of-range interval is invalid_argument") {
    using namespace std::chrono_literals;
    CHECK_THROWS_AS(WaitForTimeout(-1), std::invalid_argument);
    CHECK_THROWS_AS(WaitForTimeout(-1L), std::invalid_argument);
    CHECK_THROWS_AS(WaitForTimeout(static_cast<long long>(G_MAXUINT) + 1), std::invalid_argument);
    CHECK_THROWS_AS(WaitForTimeout(std::uint64_t{1} << 40), std::invalid_argument);
    CHECK_THROWS_AS(WaitForTimeout(-5ms), std::invalid_argument);
    CHECK_THROWS_AS(WaitForTimeout(std::chrono::hours(24 * 365 * 1000)), std::invalid_argument);
    CHECK_NOTHROW(WaitForTimeout(0));
}

TEST_CASE("a periodic timeout does not drift") {
    // Each tick does 10 ms of work. A timer re-armed at each wait would make every wait last a
    // whole period (20 x 30 ms in all); a fixed period absorbs the work: the waits add up to
    // about 20 x 10 ms and the last tick comes near 20 x 20 ms from the start.
    constexpr int ticks = 20;
    constexpr gint64 period = 20000;
    struct Result {
        gint64 elapsed = 0;
        gint64 waited = 0; // sum of the time spent in each co_await
        bool early = false;
    };
    auto body = []() -> Tasklet<Result> {
        Result r;
        WaitForTimeout timeout(20);
        gint64 start = now_us();
        gint64 now = start;
        for (int i = 1; i <= ticks; ++i) {
            gint64 before = now_us();
            co_await timeout;
            now = now_us();
            r.waited += now - before;
            if (now < start + i * period - 1000)
                r.early = true;
            g_usleep(10000); // the tick's work
        }
        r.elapsed = now - start;
        co_return r;
    };
    Result r = test::run_with_watchdog(body(), 30);
    INFO("last tick after " << r.elapsed << " us, " << r.waited << " us spent waiting");
    CHECK_FALSE(r.early);
    CHECK(r.elapsed >= ticks * period - 1000);
    CHECK(r.elapsed < ticks * period + 100000); // drift alone would add 200 ms
    CHECK(r.waited < ticks * period - 100000);  // drift: the waits alone would take 400 ms
}

TEST_CASE("a tick that is late fires at once, and the period continues from there") {
    // A 10 ms timer whose owner blocks for 35 ms: the missed ticks are not replayed in a burst.
    auto body = []() -> Tasklet<std::vector<gint64>> {
        std::vector<gint64> at;
        WaitForTimeout timeout(10);
        co_await timeout;
        g_usleep(35000);
        gint64 late = now_us();
        for (int i = 0; i < 3; ++i) {
            co_await timeout;
            at.push_back(now_us() - late);
        }
        co_return at;
    };
    auto at = test::run_with_watchdog(body());
    REQUIRE(at.size() == 3);
    CHECK(at[0] < 8000);  // the late tick: at once
    CHECK(at[1] >= 9000); // then one period later, not another immediate tick
    CHECK(at[2] >= 19000);
}

TEST_CASE("restart() starts the count again from now") {
    WaitForTimeout timeout(100);
    gint64 start = 0;
    gint64 fired_after = 0;
    auto body = [&]() -> Tasklet<> {
        start = now_us();
        co_await timeout;
        fired_after = now_us() - start;
    };
    auto restarter = [&]() -> Tasklet<> {
        co_await WaitForTimeout(60);
        timeout.restart();
    };
    auto t = body();
    auto r = restarter();
    test::run_with_watchdog(t);
    CHECK(r.done());
    CHECK(fired_after >= 159000); // 60 ms, then a whole new 100 ms
    CHECK(fired_after < 400000);
}

TEST_CASE("restart() on a timeout that is not armed changes nothing: the count starts when armed") {
    WaitForTimeout timeout(30);
    timeout.restart();
    CHECK_FALSE(timeout.armed());
    auto body = [&]() -> Tasklet<gint64> {
        gint64 start = now_us();
        co_await timeout;
        co_return now_us() - start;
    };
    gint64 elapsed = test::run_with_watchdog(body());
    CHECK(elapsed >= 29000);
}

TEST_CASE("timeouts due at once fire in deadline order") {
    std::vector<int> order;
    auto body = [&](int ms) -> Tasklet<> {
        co_await WaitForTimeout(ms);
        order.push_back(ms);
    };
    auto a = body(30);
    auto b = body(10);
    auto c = body(20);
    test::run_until([&] { return a.done() && b.done() && c.done(); });
    CHECK(order == std::vector<int>{10, 20, 30});
}

TEST_CASE("a higher-priority timeout fires before a lower-priority one due at the same time") {
    std::vector<std::string> order;
    auto body = [&](std::string name, int priority) -> Tasklet<> {
        co_await WaitForTimeout(20, priority);
        order.push_back(name);
    };
    // Low first, so that its deadline is the earlier one; both are due when the loop runs.
    auto low = body("low", G_PRIORITY_LOW);
    auto dflt = body("default", G_PRIORITY_DEFAULT);
    auto high = body("high", G_PRIORITY_HIGH);
    g_usleep(40000); // set-up: let all three become due before the loop looks at them
    test::run_until([&] { return low.done() && dflt.done() && high.done(); });
    CHECK(order == std::vector<std::string>{"high", "default", "low"});
}

TEST_CASE("a timeout at low priority yields to a GLib source of default priority") {
    std::vector<std::string> order;
    auto body = [&]() -> Tasklet<> {
        co_await WaitForTimeout(10, G_PRIORITY_LOW);
        order.push_back("tasklet");
    };
    auto t = body();
    guint id = g_timeout_add_full(
        G_PRIORITY_DEFAULT, 10,
        [](gpointer data) -> gboolean {
            static_cast<std::vector<std::string>*>(data)->push_back("glib");
            return G_SOURCE_REMOVE;
        },
        &order, nullptr);
    (void)id;
    g_usleep(30000);
    test::run_with_watchdog(t);
    CHECK(order == std::vector<std::string>{"glib", "tasklet"});
}

TEST_CASE("a timeout disarmed by a wait that excludes it does not fire later") {
    WaitForTimeout short_one(10);
    WaitForTimeout long_one(60000);
    int resumed_by_short = 0;
    auto body = [&]() -> Tasklet<> {
        co_await any(short_one, long_one);
        resumed_by_short += get_event().is(short_one);
        co_await WaitForTimeout(40); // short_one is disarmed here, long_one too
        co_await WaitForIdle();
    };
    auto t = body();
    test::run_with_watchdog(t);
    CHECK(resumed_by_short == 1);
    CHECK_FALSE(short_one.armed());
    CHECK_FALSE(long_one.armed());
}

TEST_CASE("100,000 concurrent tasklets on timeouts all complete", "[scale]") {
    constexpr int n = 100000;
    int completed = 0;
    auto body = [&](guint ms) -> Tasklet<> {
        co_await WaitForTimeout(ms);
        ++completed;
    };
    for (int i = 0; i < n; ++i)
        body(static_cast<guint>(i % 50));
    test::run_until([&] { return completed == n; }, 120);
    CHECK(completed == n);
}

// ---- API.md conformance ----

TEST_CASE("a tasklet waiting on a timeout resumes inside the iteration that dispatches it") {
    // API.md: "a tasklet waiting on a timeout runs inside the timeout's dispatch. No extra
    // main-loop iteration is spent between the event and the resumption."
    test::PrivateContext ctx;
    auto t = []() -> Tasklet<> { co_await WaitForTimeout(5); }();
    // The watchdog is a source of the same context: if it is what gets dispatched first, the
    // tasklet has not ended and the check below fails instead of hanging.
    GSource* watchdog = g_timeout_source_new(10000);
    g_source_set_callback(
        watchdog, [](gpointer) -> gboolean { return G_SOURCE_CONTINUE; }, nullptr, nullptr);
    g_source_attach(watchdog, ctx.get());
    while (!g_main_context_iteration(ctx.get(), TRUE)) {
    }
    CHECK(t.done()); // the first iteration that dispatched anything finished the tasklet
    g_source_destroy(watchdog);
    g_source_unref(watchdog);
}

TEST_CASE("both WaitForTimeout forms default to G_PRIORITY_DEFAULT and co_await yields void") {
    using namespace std::chrono_literals;
    CHECK(WaitForTimeout(10u).priority() == G_PRIORITY_DEFAULT);
    CHECK(WaitForTimeout(10ms).priority() == G_PRIORITY_DEFAULT);
    CHECK(WaitForTimeout(std::chrono::seconds(1), G_PRIORITY_LOW).priority() == G_PRIORITY_LOW);
    const WaitForTimeout w(3u);
    static_assert(std::is_same_v<decltype(w.timeout()), guint>);
    static_assert(std::is_void_v<decltype(std::declval<WaitForTimeout&>().restart())>);
    auto t = []() -> Tasklet<int> {
        WaitForTimeout tick(1u, G_PRIORITY_HIGH);
        for (int i = 0; i < 3; ++i)
            co_await tick;
        co_return 3;
    }();
    CHECK(test::run_with_watchdog(t) == 3);
}
