// Claims made by README.md and the public headers' `///` comments that users rely on and that
// no other test pinned. Each test quotes the claim and names where it is made.
#include "support.hpp"

#include <tasklet/tasklet.hpp>
#include <tasklet/testing.hpp>

#include <gio/gio.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

using namespace tasklet;
using namespace std::chrono_literals;

namespace {

// A GSimpleAction, whose "activate" signal a test emits at will.
struct Action {
    GSimpleAction* a = g_simple_action_new("act", nullptr);
    Action() = default;
    Action(const Action&) = delete;
    Action& operator=(const Action&) = delete;
    ~Action() { g_object_unref(a); }
    void emit() const { g_action_activate(G_ACTION(a), nullptr); }
};

} // namespace

// wait.hpp, Event::condition(): "Null after a cancellation, or once the condition that fired
// was destroyed." (The destroyed case is pinned by test_wait; this is the cancellation one.)
TEST_CASE("after a caught cancellation, get_event() names no condition and no message") {
    bool waiting = false;
    bool checked = false;
    auto body = [&]() -> Tasklet<> {
        WaitForTimeout first(0);
        co_await first; // the event now names `first`
        REQUIRE(get_event().is(first));
        WaitForTimeout never(3'600'000);
        WaitForMessages msgs("m");
        try {
            waiting = true; // set just before the wait: the co_await suspends synchronously
            co_await any(never, msgs);
        } catch (const Cancelled&) {
            checked = get_event().condition() == nullptr && get_event().message() == nullptr &&
                      !get_event().is(never) && !get_event().is(msgs) && !get_event().is(first);
        }
    };
    auto t = body();
    test::run_until([&] { return waiting; });
    REQUIRE(t.state() == State::suspended);
    t.cancel(); // resumes it at once, inside cancel()
    CHECK(t.done());
    CHECK(checked);
}

// thread.hpp, WaitForThread::result(): "The result of the last run ...; std::logic_error
// while it has not completed." Pinned before the first run and while a run is in flight.
TEST_CASE("WaitForThread::result() is a logic_error before and during a run, the value after") {
    std::atomic<bool> release{false};
    std::atomic<bool> started{false};
    bool before = false, during = false;
    auto body = [&]() -> Tasklet<int> {
        auto job = [&] {
            started = true;
            while (!release)
                std::this_thread::yield();
            return 7;
        };
        WaitForThread<int> work = run_in_thread(std::move(job));
        try {
            work.result();
        } catch (const std::logic_error&) {
            before = true;
        }
        // Keep `work` armed while idles tick: the function is blocked until released.
        WaitForIdle idle;
        while (!started)
            co_await any(work, idle);
        Event& e = co_await any(work, idle);
        if (e.is(idle)) {
            try {
                work.result();
            } catch (const std::logic_error&) {
                during = true;
            }
        }
        release = true;
        co_await work; // the same run, kept armed
        co_return work.result();
    };
    CHECK(test::run_with_watchdog(body()) == 7);
    CHECK(before);
    CHECK(during);
}

// gio.hpp, WaitForAsync::result(): "The result of the last completed call (null before)".
TEST_CASE("WaitForAsync::result() holds nothing before the call completed, the result after") {
    bool empty_before = false;
    auto body = [&]() -> Tasklet<bool> {
        WaitForAsync op([](GCancellable* c, GAsyncReadyCallback cb, gpointer data) {
            GTask* task = g_task_new(nullptr, c, cb, data);
            g_task_return_boolean(task, TRUE);
            g_object_unref(task);
        });
        empty_before = !op.result() && op.result().get() == nullptr;
        AsyncResult r = co_await op;
        bool same = r.get() != nullptr && op.result().get() == r.get();
        bool value = same && g_task_propagate_boolean(G_TASK(r.get()), nullptr);
        co_return value;
    };
    CHECK(test::run_with_watchdog(body()));
    CHECK(empty_before);
}

// signal.hpp, WaitForSignal: "Connected (hooked) only while armed ... Emissions while it is
// disarmed are not recorded (as in kiwi)." README, "How tasklets run": "A signal wait
// sees emissions that begin after the wait".
TEST_CASE("a signal emitted while its condition is disarmed is not seen by the next wait") {
    Action act;
    int seen = 0;
    auto body = [&]() -> Tasklet<> {
        WaitForSignal w(act.a, "activate");
        co_await w;
        ++seen;
        co_await WaitForIdle(); // w is not part of this wait: disarmed
        co_await w;             // must wait for an emission that begins after this wait
        ++seen;
    };
    auto t = body();
    act.emit(); // resumes it inside the emission; it moves on to the idle wait
    CHECK(seen == 1);
    CHECK(test::handler_count(act.a, "activate") == 0); // disarmed: nothing connected
    act.emit();                                         // not recorded
    act.emit();
    test::run_until([&] { return test::handler_count(act.a, "activate") == 1; });
    test::drain();
    CHECK(seen == 1);
    CHECK_FALSE(t.done());
    act.emit(); // an emission that begins after the wait
    CHECK(seen == 2);
    CHECK(t.done());
}

// testing.hpp, VirtualClock: "Virtual time starts at the real monotonic time of construction,
// so timers armed before keep their deadlines."
TEST_CASE("a timeout armed before the virtual clock was installed keeps its deadline") {
    auto body = []() -> Tasklet<> { co_await WaitForTimeout(std::chrono::hours(1)); };
    auto t = body(); // armed against real time: due in one hour
    testing::VirtualClock clock;
    clock.advance(59min);
    CHECK_FALSE(t.done());
    clock.advance(1min);
    CHECK(t.done());
}

// tasklet_type.hpp, AnyTasklet::start(): "std::logic_error if it was already started or has
// ended (cancelled before it started)." README, "Stopping a tasklet": a deferred tasklet
// "never started ... ends cancelled without running". Pinned: its body never runs.
TEST_CASE("start() on a deferred tasklet cancelled before it started is a logic_error") {
    bool ran = false;
    auto f = [&ran]() -> Tasklet<> {
        ran = true;
        co_return;
    };
    auto t = deferred(f);
    t.cancel();
    CHECK(t.done());
    CHECK(t.cancelled());
    CHECK_THROWS_AS(t.start(), std::logic_error);
    CHECK_FALSE(ran);
    CHECK_THROWS_AS(t.return_value(), Cancelled);
}

// io.hpp, WaitForIO::fd(): "The watched file descriptor, or -1 for the GIOChannel and GSocket
// forms." requested(): "The conditions asked for".
TEST_CASE("WaitForIO::fd() is -1 for the GIOChannel and GSocket forms") {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    GIOChannel* ch = g_io_channel_unix_new(fds[0]);
    GSocket* s = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
                              G_SOCKET_PROTOCOL_DEFAULT, nullptr);
    REQUIRE(s);
    {
        WaitForIO by_fd(fds[0], G_IO_IN);
        WaitForIO by_channel(ch, G_IO_IN);
        WaitForIO by_socket(s, G_IO_OUT);
        CHECK(by_fd.fd() == fds[0]);
        CHECK(by_channel.fd() == -1);
        CHECK(by_socket.fd() == -1);
        CHECK(by_channel.channel() == ch);
        CHECK(by_socket.socket() == s);
        CHECK(by_socket.requested() == G_IO_OUT);
        CHECK(by_fd.channel() == nullptr);
        CHECK(by_fd.socket() == nullptr);
    }
    g_object_unref(s);
    g_io_channel_unref(ch);
    close(fds[0]);
    close(fds[1]);
}
