// tasklet::testing::VirtualClock: timeouts driven by hand, instantly and deterministically.
#include "support.hpp"

#include <tasklet/tasklet.hpp>
#include <tasklet/testing.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

using namespace tasklet;
using namespace std::chrono_literals;
using testing::VirtualClock;

TEST_CASE("a one-hour timeout completes at once when the clock advances an hour") {
    auto wall = std::chrono::steady_clock::now();
    VirtualClock clock;
    auto body = []() -> Tasklet<> { co_await WaitForTimeout(std::chrono::hours(1)); };
    auto t = body();
    clock.advance(59min);
    CHECK_FALSE(t.done());
    clock.advance(1min);
    CHECK(t.done());
    CHECK(clock.elapsed() == std::chrono::hours(1));
    CHECK(std::chrono::steady_clock::now() - wall < 5s); // no real waiting
}

TEST_CASE("a periodic timeout ticks exactly once per period of an advance") {
    VirtualClock clock;
    int ticks = 0;
    auto body = [&]() -> Tasklet<> {
        WaitForTimeout tick(100);
        for (;;) {
            co_await tick;
            ++ticks;
        }
    };
    auto t = body();
    clock.advance(1000ms);
    CHECK(ticks == 10);
    clock.advance(50ms);
    CHECK(ticks == 10);
    clock.advance(50ms);
    CHECK(ticks == 11);
    t.cancel();
}

TEST_CASE("timeouts with different deadlines fire in deadline order, each at its deadline") {
    VirtualClock clock;
    const gint64 start = clock.now();
    std::vector<std::pair<int, gint64>> fired;
    auto after = [&](int ms) -> Tasklet<> {
        co_await WaitForTimeout(ms);
        fired.emplace_back(ms, clock.now() - start);
    };
    auto a = after(300);
    auto b = after(100);
    auto c = after(200);
    auto d = after(250);
    clock.advance(1s);
    REQUIRE(fired.size() == 4);
    CHECK(fired[0] == std::pair<int, gint64>(100, 100000));
    CHECK(fired[1] == std::pair<int, gint64>(200, 200000));
    CHECK(fired[2] == std::pair<int, gint64>(250, 250000));
    CHECK(fired[3] == std::pair<int, gint64>(300, 300000));
}

TEST_CASE("thousands of timeouts, some cancelled, each fire once at its deadline, in order") {
    // Exercises the timer heap (4-ary, removals from the middle) against a plain model:
    // 3,000 tasklets each sleep a pseudo-random 1..2000 ms, a third of them are cancelled
    // mid-way, and every survivor must wake exactly at its deadline, in deadline order.
    VirtualClock clock;
    const gint64 start = clock.now();
    constexpr int n = 3000;
    std::vector<int> ms(n);
    std::uint32_t x = 12345;
    for (int& m : ms) {
        x = x * 1103515245u + 12345u;
        m = 1 + static_cast<int>((x >> 8) % 2000);
    }
    std::vector<std::pair<gint64, int>> fired; // (time, index)
    auto sleeper = [&](int i) -> Tasklet<> {
        co_await WaitForTimeout(ms[i]);
        fired.emplace_back(clock.now() - start, i);
    };
    std::vector<AnyTasklet> ts;
    for (int i = 0; i < n; ++i)
        ts.push_back(sleeper(i));
    clock.advance(500ms);
    std::vector<bool> cancelled(n, false);
    for (int i = 0; i < n; i += 3)
        if (ms[i] > 500) {
            ts[i].cancel();
            cancelled[i] = true;
        }
    clock.advance(2s);
    std::vector<std::pair<gint64, int>> want;
    for (int i = 0; i < n; ++i)
        if (!cancelled[i])
            want.emplace_back(gint64{ms[i]} * 1000, i);
    REQUIRE(fired.size() == want.size());
    for (std::size_t k = 0; k < fired.size(); ++k) {
        CHECK(fired[k].first == gint64{ms[fired[k].second]} * 1000); // exactly at its deadline
        if (k > 0)
            CHECK(fired[k - 1].first <= fired[k].first); // in deadline order
    }
    for (int i = 0; i < n; ++i)
        CHECK(ts[i].done());
}

TEST_CASE("timeouts armed by tasklets resumed during an advance fire within it") {
    VirtualClock clock;
    const gint64 start = clock.now();
    std::vector<gint64> at;
    auto body = [&]() -> Tasklet<> {
        for (int i = 0; i < 3; ++i) {
            co_await WaitForTimeout(100);
            at.push_back(clock.now() - start);
        }
    };
    auto t = body();
    clock.advance(300ms);
    CHECK(t.done());
    CHECK(at == std::vector<gint64>{100000, 200000, 300000});
}

TEST_CASE("advance(0) fires what is due now and nothing later") {
    VirtualClock clock;
    auto wait = [](guint ms) -> Tasklet<> { co_await WaitForTimeout(ms); };
    auto now = wait(0);
    auto later = wait(1);
    clock.advance(0ms);
    CHECK(now.done());
    CHECK_FALSE(later.done());
    clock.advance(1ms);
    CHECK(later.done());
}

TEST_CASE("under a virtual clock real time passing fires nothing") {
    VirtualClock clock;
    auto body = []() -> Tasklet<> { co_await WaitForTimeout(10); };
    auto t = body();
    bool real_time_passed = false;
    guint id = g_timeout_add(
        60,
        [](gpointer p) -> gboolean {
            *static_cast<bool*>(p) = true;
            return G_SOURCE_REMOVE;
        },
        &real_time_passed);
    test::run_until([&] { return real_time_passed; });
    CHECK_FALSE(t.done());
    clock.advance(10ms);
    CHECK(t.done());
    if (!real_time_passed)
        g_source_remove(id);
}

TEST_CASE("removing the clock restores real time") {
    {
        VirtualClock clock;
        auto body = []() -> Tasklet<> { co_await WaitForTimeout(5); };
        auto t = body();
        clock.advance(5ms);
        CHECK(t.done());
    }
    CHECK_FALSE(detail::clock_hook.now);
    auto start = std::chrono::steady_clock::now();
    auto body = []() -> Tasklet<> { co_await WaitForTimeout(40); };
    test::run_with_watchdog(body());
    CHECK(std::chrono::steady_clock::now() - start >= 35ms); // really waited
}

TEST_CASE("only one virtual clock can be installed at a time") {
    VirtualClock clock;
    CHECK_THROWS_AS(VirtualClock(), std::logic_error);
    CHECK_THROWS_AS(clock.advance(-1ms), std::invalid_argument);
}

TEST_CASE("advance() from inside a tasklet is std::logic_error") {
    VirtualClock clock;
    auto body = [&]() -> Tasklet<bool> {
        try {
            clock.advance(1ms);
        } catch (const std::logic_error&) {
            co_return true;
        }
        co_return false;
    };
    auto t = body();
    REQUIRE(t.done());
    CHECK(t.return_value());
}
