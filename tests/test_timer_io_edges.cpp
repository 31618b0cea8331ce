// Timers and IO at their edges: equal deadlines, restart() and cancel() around a dispatch,
// a periodic timer's phase, one condition on two contexts, a GSocket closed or timed out, a
// GIOChannel's buffer, and VirtualClock's own limits (nesting, NaN, the end of its range).
// The basics: test_timeout, test_idle, test_io, test_testing.
#include "support.hpp"

#include <tasklet/testing.hpp>

#include <gio/gio.h>
#include <glib-unix.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/socket.h>
#include <unistd.h>

using namespace tasklet;
using namespace std::chrono_literals;
using testing::VirtualClock;

namespace {

/// A GSocket over one end of a fresh socketpair (it owns its fd); the other end's fd in `peer`.
detail::ObjectRef<GSocket> socket_pair(int& peer) {
    int fds[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    GError* error = nullptr;
    GSocket* s = g_socket_new_from_fd(fds[0], &error);
    REQUIRE(s);
    peer = fds[1];
    return detail::ObjectRef<GSocket>::adopt(s);
}

} // namespace

// The heap gives timers with equal deadlines in no particular order; they fire in the
// order they were armed, as GLib's own timeouts do — also in a run longer than the sorting
// buffer on the stack, and interleaved with other deadlines.
TEST_CASE("timeouts with equal deadlines at one priority fire in the order they were armed") {
    VirtualClock clock;
    std::vector<int> order;
    auto sleeper = [&](int id, guint ms) -> Tasklet<> {
        co_await WaitForTimeout(ms);
        order.push_back(id);
    };
    std::vector<Tasklet<>> ts;
    for (int i = 0; i < 6; ++i)
        ts.push_back(sleeper(i, 10));
    clock.advance(10ms);
    CHECK(order == std::vector<int>{0, 1, 2, 3, 4, 5});

    order.clear();
    std::vector<int> want_20, want_30;
    for (int i = 0; i < 1000; ++i) { // armed at one virtual instant: two runs of 500
        ts.push_back(sleeper(i, i % 2 ? 30 : 20));
        (i % 2 ? want_30 : want_20).push_back(i);
    }
    clock.advance(30ms);
    std::vector<int> want = want_20;
    want.insert(want.end(), want_30.begin(), want_30.end());
    CHECK(order == want);
}

// GLib has no watch on a closed GSocket (it warns and returns a source that never fires):
// every wait on such a condition, the first and the ones after, reports G_IO_NVAL at once.
TEST_CASE("a GSocket WaitForIO awaited again after its socket was closed reports G_IO_NVAL "
          "again instead of hanging",
          "[io]") {
    int peer = -1;
    auto sock = socket_pair(peer);
    WaitForIO io(sock.get(), G_IO_IN);
    REQUIRE(g_socket_close(sock.get(), nullptr));
    int reports = 0;
    auto body = [&]() -> Tasklet<> {
        for (int i = 0; i < 2; ++i) {
            GIOCondition c = co_await io;
            if (c & G_IO_NVAL)
                ++reports;
        }
    };
    auto t = body();
    test::run_until([&] { return t.done(); }, 3);
    CHECK(reports == 2);
    t.cancel();
    close(peer);
}

// GLib's socket source reports a close once (G_IO_NVAL) and then stops polling the fd; a
// read loop awaiting the kept WaitForIO again still gets G_IO_NVAL at every wait, as the fd
// form does (level-triggered).
TEST_CASE("a GSocket closed while its WaitForIO is armed is reported at every later wait", "[io]") {
    int peer = -1;
    auto sock = socket_pair(peer);
    WaitForIO io(sock.get(), G_IO_IN);
    int reports = 0;
    auto body = [&]() -> Tasklet<> {
        for (int i = 0; i < 3; ++i) {
            GIOCondition c = co_await io;
            if (c & G_IO_NVAL)
                ++reports;
        }
    };
    auto t = body();
    test::drain();
    REQUIRE(t.state() == State::suspended);
    REQUIRE(g_socket_close(sock.get(), nullptr));
    test::run_until([&] { return t.done(); }, 3);
    CHECK(reports == 3);
    t.cancel();
    close(peer);
}

// An advance() nested inside another (from a GLib callback the outer one dispatches) moves
// the clock on; the outer one then ends at the later time, never back.
TEST_CASE("an advance() nested inside another never moves the clock backwards") {
    VirtualClock clock;
    const gint64 start = clock.now();
    gint64 after_nested = 0;
    struct Ctx {
        VirtualClock* clock;
        gint64* after;
    } ctx{&clock, &after_nested};
    g_idle_add(
        [](gpointer p) -> gboolean {
            auto* c = static_cast<Ctx*>(p);
            c->clock->advance(1h);
            *c->after = c->clock->now();
            return G_SOURCE_REMOVE;
        },
        &ctx);
    clock.advance(1ms);
    REQUIRE(after_nested == start + 3600000000LL);
    CHECK(clock.now() >= after_nested);
}

// NaN fails every comparison, so range checks must be written to reject it: a NaN duration
// is std::invalid_argument, not a conversion with undefined behaviour.
TEST_CASE("a NaN duration is invalid_argument for WaitForTimeout and advance()") {
    const std::chrono::duration<double, std::milli> nan(std::numeric_limits<double>::quiet_NaN());
    CHECK_THROWS_AS(WaitForTimeout(nan), std::invalid_argument);
    VirtualClock clock;
    const gint64 before = clock.now();
    CHECK_THROWS_AS(clock.advance(nan), std::invalid_argument);
    CHECK(clock.now() == before);
}

// With equal deadlines the timer armed first fires first; a restart() from the tasklet it
// resumes takes the other, already due, timer out of the dispatch under way, and the
// restarted one fires a whole interval later.
TEST_CASE("restart() by a tasklet resumed in the same dispatch stops an already due timer") {
    VirtualClock clock;
    const gint64 start = clock.now();
    WaitForTimeout victim(100);
    gint64 victim_fired = -1;
    auto restarter_body = [&]() -> Tasklet<> {
        co_await WaitForTimeout(100);
        victim.restart();
    };
    auto owner_body = [&]() -> Tasklet<> {
        co_await victim;
        victim_fired = clock.now() - start;
    };
    auto restarter = restarter_body();
    auto owner = owner_body();
    clock.advance(100ms);
    CHECK(restarter.done());
    CHECK(victim_fired == -1);
    clock.advance(99ms);
    CHECK(victim_fired == -1);
    clock.advance(1ms);
    CHECK(victim_fired == 200000);
}

// After cancel() the conditions of the interrupted wait stay armed, so a timer awaited
// again keeps its first deadline; restart() after the cancel moves it.
TEST_CASE("a timer awaited again after a cancel keeps its deadline unless restarted") {
    VirtualClock clock;
    const gint64 start = clock.now();
    bool restart = GENERATE(false, true);
    WaitForTimeout timeout(100);
    gint64 fired = -1;
    auto body = [&]() -> Tasklet<> {
        try {
            co_await timeout;
        } catch (const Cancelled&) {
            if (restart)
                timeout.restart();
        }
        co_await timeout;
        fired = clock.now() - start;
    };
    auto t = body();
    clock.advance(40ms);
    t.cancel();
    CHECK(timeout.armed());
    clock.advance(1s);
    CHECK(t.done());
    CHECK(fired == (restart ? 140000 : 100000));
}

// The owner of a periodic timer may restart it between ticks while it stays armed
// (here, during a wait that includes it): the restarted count replaces the pending tick, and
// later ticks keep the new phase.
TEST_CASE("a periodic timer restarted by its owner mid-period ticks on the new phase") {
    VirtualClock clock;
    const gint64 start = clock.now();
    std::vector<gint64> ticks;
    WaitForTimeout tick(100);
    auto body = [&]() -> Tasklet<> {
        co_await tick;
        ticks.push_back(clock.now() - start);
        co_await any(tick, WaitForTimeout(30)); // the 30 ms one wins; `tick` stays armed
        REQUIRE(tick.armed());
        tick.restart();
        for (int i = 0; i < 2; ++i) {
            co_await tick;
            ticks.push_back(clock.now() - start);
        }
    };
    auto t = body();
    clock.advance(1s);
    CHECK(t.done());
    CHECK(ticks == std::vector<gint64>{100000, 230000, 330000}); // not 200000, 300000
}

// A WaitForTimeout used by tasklets of two contexts in turn is served by the scheduler
// of the tasklet that arms it, not the one that armed it first.
TEST_CASE("a WaitForTimeout armed on one context and then on another fires on the second") {
    WaitForTimeout timeout(0);
    auto waiter = [&]() -> Tasklet<> { co_await timeout; };
    auto first = waiter();
    REQUIRE(test::run_until([&] { return first.done(); }, 5));
    GMainContext* other = g_main_context_new();
    g_main_context_push_thread_default(other);
    auto second = waiter();
    g_main_context_pop_thread_default(other);
    // The default context's loop does not serve it...
    test::drain();
    CHECK_FALSE(second.done());
    // ...its own context does.
    CHECK(test::run_until([&] { return second.done(); }, 5, other));
    second = {};
    g_main_context_unref(other);
}

// A GSocket with a timeout (g_socket_set_timeout) makes GLib's socket source report
// G_IO_IN when the timeout passes without data; the read then fails with TIMED_OUT. The same
// WaitForIO, kept armed, then reports real data normally.
TEST_CASE("a GSocket timeout wakes the WaitForIO with G_IO_IN and the read times out", "[io]") {
    int peer = -1;
    auto sock = socket_pair(peer);
    g_socket_set_timeout(sock.get(), 1);
    std::vector<std::string> seen;
    auto body = [&](GSocket* s) -> Tasklet<> {
        WaitForIO io(s, G_IO_IN);
        for (int i = 0; i < 2; ++i) {
            GIOCondition c = co_await io;
            char buf[8];
            GError* error = nullptr;
            gssize n = g_socket_receive(s, buf, sizeof buf, nullptr, &error);
            if (n < 0) {
                seen.push_back((c & G_IO_IN) &&
                                       g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)
                                   ? "in+timed-out"
                                   : error->message);
                g_error_free(error);
                REQUIRE(write(peer, "x", 1) == 1);
            } else {
                seen.push_back(std::string(buf, static_cast<std::size_t>(n)));
            }
        }
    };
    auto t = body(sock.get());
    test::run_with_watchdog(t, 10);
    CHECK(seen == std::vector<std::string>{"in+timed-out", "x"});
    close(peer);
}

// The GIOChannel form uses GLib's channel watch, which also reports data already read
// into the channel's buffer: a line-by-line read loop does not hang on the second line
// although the fd itself has nothing left.
TEST_CASE("the GIOChannel form reports data left in the channel's buffer", "[io]") {
    int fds[2];
    REQUIRE(g_unix_open_pipe(fds, FD_CLOEXEC, nullptr));
    GIOChannel* ch = g_io_channel_unix_new(fds[0]);
    REQUIRE(write(fds[1], "one\ntwo\n", 8) == 8);
    auto body = [](GIOChannel* ch) -> Tasklet<std::vector<std::string>> {
        std::vector<std::string> lines;
        WaitForIO io(ch, G_IO_IN);
        while (lines.size() < 2) {
            co_await io;
            gchar* line = nullptr;
            if (g_io_channel_read_line(ch, &line, nullptr, nullptr, nullptr) == G_IO_STATUS_NORMAL)
                lines.emplace_back(line);
            g_free(line);
        }
        co_return lines;
    };
    auto t = body(ch);
    auto lines = test::run_with_watchdog(t, 5);
    CHECK(lines == std::vector<std::string>{"one\n", "two\n"});
    g_io_channel_unref(ch);
    close(fds[0]);
    close(fds[1]);
}

// The tasklet resumed first in a dispatch may cancel the others whose timers are due in
// the same dispatch, or destroy a due timer of its own: none of those fires afterwards, and
// nothing freed is touched (ASan).
TEST_CASE("timers due in one dispatch may be cancelled or destroyed by the first one resumed") {
    VirtualClock clock;
    int fired = 0;
    std::vector<Tasklet<>> others;
    auto sleeper = [&]() -> Tasklet<> {
        co_await WaitForTimeout(10);
        ++fired;
    };
    auto a = std::make_unique<WaitForTimeout>(10);
    auto b = std::make_unique<WaitForTimeout>(10);
    auto first_body = [&]() -> Tasklet<> {
        co_await any(*a, *b);
        ++fired;
        for (auto& o : others)
            o.cancel();
        b.reset(); // due, in the dispatch under way
        a.reset(); // the one that fired, inside its own delivery
        co_await WaitForTimeout(1000);
    };
    auto first = first_body(); // armed first: fires first among equal deadlines
    for (int i = 0; i < 4; ++i)
        others.push_back(sleeper());
    clock.advance(10ms);
    CHECK(fired == 1);
    for (auto& o : others)
        CHECK(o.cancelled());
    clock.advance(1s);
    CHECK(first.done());
}

// The clock stops short of the end of gint64 by two periods of the longest timeout, so no
// deadline computed from it can overflow (UBSan would report it).
TEST_CASE("the virtual clock refuses to go where a timeout's deadline would overflow") {
    VirtualClock clock;
    CHECK_THROWS_AS(clock.advance(std::chrono::microseconds(G_MAXINT64 - clock.now() - 1000)),
                    std::invalid_argument);
    const gint64 room = 2 * (gint64{G_MAXUINT} * 1000);
    clock.advance(std::chrono::microseconds(G_MAXINT64 - room - clock.now() - 1'000'000));
    auto t = []() -> Tasklet<> {
        WaitForTimeout longest(G_MAXUINT);
        co_await longest; // deadline: now + G_MAXUINT ms
        co_await longest; // periodic: one period more
    }();
    clock.advance(std::chrono::microseconds(10));
    CHECK_FALSE(t.done());
    t.cancel();
}
