// Faults at await points: exceptions after every kind of resume, sources that die mid-wait
// (finalized objects, closed fds, killed children), conditions destroyed inside their own
// fire(), cancellation from inside the callback that is resuming the tasklet, and API misuse.
#include "scenario.hpp"

#include <glib-unix.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

using namespace tasklet;
using namespace std::chrono_literals;
using enum test::Kind;
using test::kind_name;

namespace {

/// The resources of every kind of await, and what once() returned.
struct Kit : test::Kit {
    int ended_with = -1;
};

/// What once() throws after an await of `kind`.
std::string boom_after(int kind) { return std::string("boom after ") + kind_name(kind); }

/// Waits once on a temporary condition of `kind`, then throws or returns `kind`. The
/// condition is destroyed as soon as the tasklet resumes (inside the condition's fire()).
Tasklet<int> once(Kit& kit, int kind, bool throws) {
    switch (kind) {
    case k_timeout:
        co_await WaitForTimeout(1);
        break;
    case k_idle:
        co_await WaitForIdle();
        break;
    case k_io:
        co_await WaitForIO(kit.io_r);
        REQUIRE(kit.take_byte());
        break;
    case k_signal:
        co_await WaitForSignal(kit.action, "activate");
        break;
    case k_process:
        co_await WaitForProcess(kit.child);
        kit.child_reaped = true;
        break;
    case k_call: {
        WaitForCall<int(int)> w(-1);
        kit.call_target = &w;
        auto [x] = co_await w;
        w.return_value = x + 1;
        kit.call_target = nullptr;
        break; // w dies inside its own operator(), which still returns x + 1
    }
    case k_messages:
        co_await WaitForMessages("go");
        break;
    case k_join:
        co_await kit.other;
        break;
    case k_any:
        co_await any(WaitForTimeout(24h), WaitForMessages("any"));
        break;
    case k_async: {
        AsyncResult r = co_await async(kit.starter());
        REQUIRE(kit.read_finished(r));
        break;
    }
    case k_thread: {
        int v = co_await run_in_thread(kit.worker());
        REQUIRE(v == 7);
        break;
    }
    }
    if (throws)
        throw std::runtime_error(boom_after(kind));
    kit.ended_with = kind;
    co_return kind;
}

/// Sources attached to `ctx`, not counting run_until()'s watchdog while it runs.
std::size_t sources_in_loop(GMainContext* ctx) { return test::attached_sources(ctx) - 1; }

/// A private context in which every kind has run once to completion, so the scheduler's lanes
/// exist; `baseline` is the number of sources attached then (the lanes).
struct WarmContext {
    WarmContext() {
        for (int kind = 0; kind < n_kinds; ++kind) {
            Kit kit;
            Tasklet<int> t = once(kit, kind, false);
            kit.complete(kind, t);
            REQUIRE(test::run_until([&] { return t.done(); }, 10, get()));
        }
        test::drain(get());
        baseline = test::attached_sources(get());
    }
    GMainContext* get() const { return pc.get(); }
    /// Runs the loop until only the lanes are left (false, and a failed check, on timeout).
    bool back_to_baseline() {
        return test::run_until([&] { return sources_in_loop(get()) == baseline; }, 10, get());
    }

    test::PrivateContext pc;
    std::size_t baseline = 0;
};

} // namespace

// ---- exceptions after every kind of resume ----------------------------------------------

TEST_CASE("an exception thrown after any kind of resume reaches the tasklet awaiting it",
          "[faults]") {
    WarmContext warm;
    const int kind = GENERATE(range(0, int(n_kinds)));
    INFO("resumed by " << kind_name(kind));
    test::LogCapture log;
    {
        Kit kit;
        Tasklet<int> victim = once(kit, kind, true);
        auto awaiter = [](Tasklet<int> v) -> Tasklet<std::string> {
            try {
                co_await v;
            } catch (const std::runtime_error& e) {
                co_return e.what();
            }
            co_return "no exception";
        }(victim);
        REQUIRE(victim.state() == State::suspended);
        kit.complete(kind, victim);
        REQUIRE(test::run_until([&] { return awaiter.done(); }, 10, warm.get()));
        CHECK(awaiter.return_value() == boom_after(kind));
        CHECK_THROWS_WITH(victim.return_value(), boom_after(kind));
        CHECK_FALSE(victim.cancelled());
    }
    CHECK(warm.back_to_baseline());
    // Observed: not logged. And nothing reached GLib's C code (that would be logged too).
    CHECK(log.count(G_LOG_LEVEL_CRITICAL) == 0);
    CHECK(log.count(G_LOG_LEVEL_WARNING) == 0);
}

TEST_CASE("an unobserved exception after any kind of resume is logged once, never escaping",
          "[faults]") {
    WarmContext warm;
    const int kind = GENERATE(range(0, int(n_kinds)));
    INFO("resumed by " << kind_name(kind));
    test::LogCapture log;
    {
        Kit kit;
        bool ended = false;
        {
            Tasklet<int> t = once(kit, kind, true);
            t.add_join_callback([&ended](AnyTasklet) { ended = true; });
            kit.complete(kind, t);
        } // fire and forget: the frame is freed when the body ends, inside the GLib callback
        REQUIRE(test::run_until([&] { return ended; }, 10, warm.get()));
    }
    CHECK(warm.back_to_baseline());
    CHECK(log.count(G_LOG_LEVEL_CRITICAL, boom_after(kind)) == 1);
    CHECK(log.count(G_LOG_LEVEL_CRITICAL, "nobody observed") == 1);
    CHECK(log.count(G_LOG_LEVEL_CRITICAL, "exception in") == 0); // not through a C callback
    CHECK(log.lines.size() == log.count(G_LOG_LEVEL_DEBUG) + 1);
}

TEST_CASE("a temporary condition destroyed inside its own fire(), as the tasklet ends, is safe",
          "[faults]") {
    WarmContext warm;
    const int kind = GENERATE(range(0, int(n_kinds)));
    const bool keep_handle = GENERATE(true, false);
    INFO("resumed by " << kind_name(kind) << (keep_handle ? ", handle kept" : ", no handle"));
    {
        Kit kit;
        bool ended = false;
        {
            Tasklet<int> t = once(kit, kind, false);
            t.add_join_callback([&ended](AnyTasklet) { ended = true; });
            kit.complete(kind, t);
            if (keep_handle) {
                REQUIRE(test::run_until([&] { return t.done(); }, 10, warm.get()));
                CHECK(t.return_value() == kind);
            }
        }
        REQUIRE(test::run_until([&] { return ended; }, 10, warm.get()));
        CHECK(kit.ended_with == kind);
    }
    CHECK(warm.back_to_baseline());
}

// ---- the emitting object finalized mid-wait ---------------------------------------------

TEST_CASE("an object finalized while a tasklet waits in any(signal, timeout) wakes it as "
          "destroyed, every time, without waiting for the timeout",
          "[faults]") {
    GSimpleAction* action = g_simple_action_new("act", nullptr);
    WaitForSignal sig(action, "activate");
    WaitForTimeout timeout(60000);
    std::vector<int> woke_by_signal;
    auto t = [](WaitForSignal& sig, WaitForTimeout& timeout,
                std::vector<int>& woke) -> Tasklet<bool> {
        // The later waits complete from an idle callback (GLib has no more emissions to
        // give), so a loop that ignores destroyed() spins through the main loop, not the stack.
        for (int i = 0; i < 3; ++i) {
            Event& e = co_await any(sig, timeout);
            woke.push_back(e.is(sig) && sig.destroyed() && sig.object() == nullptr);
        }
        co_await WaitForIdle(); // neither is part of this wait: both are disarmed
        co_return sig.armed() || timeout.armed();
    }(sig, timeout, woke_by_signal);
    REQUIRE(t.state() == State::suspended);
    g_object_unref(action); // the last reference: finalized, the tasklet runs inside
    CHECK(woke_by_signal == std::vector<int>{1});
    CHECK_FALSE(test::run_with_watchdog(t, 10));
    CHECK(woke_by_signal == std::vector<int>{1, 1, 1});
}

TEST_CASE("a temporary any(signal, timeout) whose object is finalized ends the tasklet inside "
          "the finalization",
          "[faults]") {
    GSimpleAction* action = g_simple_action_new("act", nullptr);
    bool destroyed = false;
    bool ended = false;
    {
        auto t = [](GSimpleAction* a, bool& destroyed) -> Tasklet<> {
            WaitForSignal sig(a, "activate");
            Event& e = co_await any(sig, WaitForTimeout(60000));
            destroyed = e.is(sig) && sig.destroyed();
        }(action, destroyed);
        t.add_join_callback([&ended](AnyTasklet) { ended = true; });
    } // no handle: the frame, and the WaitForSignal in it, die inside the weak notify
    g_object_unref(action);
    CHECK(ended);
    CHECK(destroyed);
}

TEST_CASE("two conditions on one object, both destroyed inside its finalization, are safe",
          "[faults]") {
    // GLib notifies weak references from a list it has already taken off the object: the
    // first condition's notification ends the tasklet, destroying the second before its own
    // notification comes. It must not be called (ASan would see the freed condition).
    GSimpleAction* action = g_simple_action_new("act", nullptr);
    int woke = 0;
    bool ended = false;
    {
        auto t = [](GSimpleAction* a, int& woke) -> Tasklet<> {
            WaitForSignal activate(a, "activate");
            WaitForSignal changed(a, "change-state");
            co_await any(activate, changed);
            ++woke;
        }(action, woke);
        t.add_join_callback([&ended](AnyTasklet) { ended = true; });
    } // no handle: the frame and both conditions die inside the first weak notify
    int gobject_warnings = 0; // e.g. "g_object_weak_unref: couldn't find weak ref"
    guint handler = g_log_set_handler(
        "GLib-GObject", G_LOG_LEVEL_WARNING,
        [](const gchar*, GLogLevelFlags, const gchar*, gpointer n) { ++*static_cast<int*>(n); },
        &gobject_warnings);
    g_object_unref(action);
    g_log_remove_handler("GLib-GObject", handler);
    CHECK(ended);
    CHECK(woke == 1);
    CHECK(gobject_warnings == 0);
}

// ---- the fd closed mid-wait -------------------------------------------------------------

TEST_CASE("closing the write end wakes a reader with G_IO_HUP once", "[faults]") {
    int fds[2];
    REQUIRE(g_unix_open_pipe(fds, FD_CLOEXEC, nullptr));
    int wakeups = 0;
    auto t = [](int fd, int& wakeups) -> Tasklet<GIOCondition> {
        WaitForIO io(fd, G_IO_IN);
        for (;;) {
            GIOCondition c = co_await io;
            ++wakeups;
            if (c & (G_IO_HUP | G_IO_ERR | G_IO_NVAL))
                co_return c;
            char buf[16];
            (void)!read(fd, buf, sizeof buf);
        }
    }(fds[0], wakeups);
    close(fds[1]);
    GIOCondition c = test::run_with_watchdog(t, 10);
    CHECK((c & G_IO_HUP) != 0);
    CHECK(wakeups == 1);
    close(fds[0]);
}

TEST_CASE("closing the watched fd while armed wakes the tasklet with G_IO_NVAL, no hang",
          "[faults]") {
    test::PrivateContext pc;
    test::drain(pc.get());
    const std::size_t before = test::attached_sources(pc.get());
    int fds[2];
    REQUIRE(g_unix_open_pipe(fds, FD_CLOEXEC, nullptr));
    int wakeups = 0;
    auto t = [](int fd, int& wakeups) -> Tasklet<GIOCondition> {
        WaitForIO io(fd, G_IO_IN);
        GIOCondition c = co_await io;
        ++wakeups;
        co_return c; // stops waiting: the source goes with the condition
    }(fds[0], wakeups);
    REQUIRE(t.state() == State::suspended);
    close(fds[0]); // ours, while GLib polls it: poll() reports POLLNVAL
    GIOCondition c = test::run_with_watchdog(t, 10);
    CHECK((c & G_IO_NVAL) != 0);
    CHECK(wakeups == 1);
    CHECK(test::attached_sources(pc.get()) == before); // nothing left to spin on the dead fd
    close(fds[1]);
}

// ---- the child killed by a signal -------------------------------------------------------

TEST_CASE("a child killed by SIGTERM wakes any(process, timeout) as signaled", "[faults]") {
    GPid pid = test::spawn_sleeper();
    WaitForProcess proc(pid);
    WaitForTimeout timeout(60000);
    auto t = [](WaitForProcess& proc, WaitForTimeout& timeout) -> Tasklet<bool> {
        Event& e = co_await any(proc, timeout);
        co_return e.is(proc);
    }(proc, timeout);
    REQUIRE(kill(pid, SIGTERM) == 0);
    CHECK(test::run_with_watchdog(t, 10));
    CHECK(proc.signaled());
    CHECK(proc.term_signal() == SIGTERM);
    CHECK_FALSE(proc.exited());
    CHECK_FALSE(timeout.armed());
}

TEST_CASE("a child killed while its tasklet waits on something else is reported at the next "
          "wait",
          "[faults]") {
    GPid pid = test::spawn_sleeper();
    WaitForProcess proc(pid);
    WaitForMessages later("later");
    auto t = [](WaitForProcess& proc, WaitForMessages& later) -> Tasklet<int> {
        Event& e = co_await any(proc, later); // arms the child watch
        if (!e.is(later))
            co_return -1;
        co_await WaitForMessages("go"); // proc is not part of this wait: disarmed
        co_return co_await proc;        // armed again after the child died
    }(proc, later);
    t.send_message(Message("later"));
    REQUIRE(t.state() == State::suspended);
    REQUIRE_FALSE(proc.armed());
    REQUIRE(kill(pid, SIGKILL) == 0);
    siginfo_t info{}; // wait until it is a zombie, without reaping it
    while (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR) {
    }
    t.send_message(Message("go"));
    int status = test::run_with_watchdog(t, 10);
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);
    CHECK(proc.term_signal() == SIGKILL);
}

// ---- cancellation from inside the emission that resumes the tasklet -----------------------

TEST_CASE("a tasklet that cancels itself inside the signal emission resuming it ends there",
          "[faults]") {
    GSimpleAction* action = g_simple_action_new("act", nullptr);
    WaitForSignal sig(action, "activate");
    AnyTasklet self;
    std::vector<std::string> trace;
    auto t = [](WaitForSignal& sig, AnyTasklet& self,
                std::vector<std::string>& trace) -> Tasklet<> {
        co_await sig;
        trace.push_back("resumed in emission");
        self.cancel(); // running: only a request
        try {
            co_await sig; // still armed: the request is honoured before suspending
        } catch (const Cancelled&) {
            trace.push_back("cancelled");
            throw;
        }
        trace.push_back("not reached");
    }(sig, self, trace);
    self = t;
    g_action_activate(G_ACTION(action), nullptr);
    trace.push_back("emission returned");
    CHECK(trace ==
          std::vector<std::string>{"resumed in emission", "cancelled", "emission returned"});
    CHECK(t.cancelled());
    CHECK_FALSE(sig.armed());
    CHECK(test::handler_count(action, "activate") == 0);
    g_action_activate(G_ACTION(action), nullptr); // nothing left to call
    g_object_unref(action);
}

TEST_CASE("a tasklet resumed in an emission may cancel another tasklet resumed in the same one",
          "[faults]") {
    // first_cancels: the first handler's tasklet cancels the second before GLib reaches the
    // second handler; otherwise the second cancels the first, which already waits again.
    const bool first_cancels = GENERATE(true, false);
    INFO((first_cancels ? "first cancels second" : "second cancels first"));
    GSimpleAction* action = g_simple_action_new("act", nullptr);
    WaitForSignal sig_a(action, "activate"); // connected first: runs first
    WaitForSignal sig_b(action, "activate");
    AnyTasklet a_handle, b_handle;
    std::vector<std::string> trace;
    auto body = [](WaitForSignal& sig, const char* name, bool cancels, AnyTasklet& victim,
                   std::vector<std::string>& trace) -> Tasklet<> {
        try {
            for (;;) {
                co_await sig;
                trace.push_back(std::string(name) + " resumed");
                if (cancels) {
                    victim.cancel(); // suspended: it ends inside this call
                    trace.push_back(std::string(name) + " cancelled the other");
                }
            }
        } catch (const Cancelled&) {
            trace.push_back(std::string(name) + " got Cancelled");
            throw;
        }
    };
    auto a = body(sig_a, "a", first_cancels, b_handle, trace);
    auto b = body(sig_b, "b", !first_cancels, a_handle, trace);
    a_handle = a;
    b_handle = b;
    g_action_activate(G_ACTION(action), nullptr);
    if (first_cancels) {
        CHECK(trace ==
              std::vector<std::string>{"a resumed", "b got Cancelled", "a cancelled the other"});
        CHECK(b.cancelled());
        CHECK_FALSE(a.done());
        CHECK_FALSE(sig_b.armed());
        CHECK(sig_a.armed());
    } else {
        CHECK(trace == std::vector<std::string>{"a resumed", "b resumed", "a got Cancelled",
                                                "b cancelled the other"});
        CHECK(a.cancelled());
        CHECK_FALSE(b.done());
        CHECK_FALSE(sig_a.armed());
        CHECK(sig_b.armed());
    }
    CHECK(test::handler_count(action, "activate") == 1);
    a.cancel();
    b.cancel();
    CHECK(test::handler_count(action, "activate") == 0);
    g_object_unref(action);
}

// ---- cancellation from inside WaitForCall::operator() ------------------------------------

TEST_CASE("the caller cancels the tasklet from inside the call that resumed it", "[faults]") {
    // The tasklet calls back into the caller's code (a function passed as the argument); the
    // caller cancels it there. The tasklet ends inside operator(), which still returns the
    // value the tasklet chose, although its (local) WaitForCall is gone by then.
    using Call = WaitForCall<int(std::function<void()>)>;
    Call* target = nullptr;
    std::vector<std::string> trace;
    auto t = [](Call*& target, std::vector<std::string>& trace) -> Tasklet<> {
        Call w(-1);
        target = &w;
        auto [callback] = co_await w;
        w.return_value = 5;
        callback(); // the caller cancels us: a request, as we are running
        try {
            co_await w;
        } catch (const Cancelled&) {
            trace.push_back("cancelled inside the call");
            target = nullptr;
            throw;
        }
    }(target, trace);
    REQUIRE(target != nullptr);
    int answer = (*target)([&] {
        trace.push_back("caller cancels");
        t.cancel();
    });
    trace.push_back("call returned");
    CHECK(answer == 5);
    CHECK(trace ==
          std::vector<std::string>{"caller cancels", "cancelled inside the call", "call returned"});
    CHECK(t.cancelled());
    CHECK(target == nullptr);
}

TEST_CASE("a tasklet resumed by a call may cancel the tasklet making the call", "[faults]") {
    WaitForCall<int(int)> w(0);
    AnyTasklet caller_handle;
    auto callee = [](WaitForCall<int(int)>& w, AnyTasklet& caller) -> Tasklet<> {
        auto [x] = co_await w;
        w.return_value = x * 2;
        caller.cancel(); // the caller is running (inside w(...)): its next co_await throws
    }(w, caller_handle);
    std::vector<std::string> trace;
    auto caller = [](WaitForCall<int(int)>& w, std::vector<std::string>& trace) -> Tasklet<> {
        co_await WaitForIdle();
        trace.push_back("answer " + std::to_string(w(21)));
        try {
            co_await WaitForIdle();
            trace.push_back("not cancelled");
        } catch (const Cancelled&) {
            trace.push_back("cancelled at the next wait");
            throw;
        }
    }(w, trace);
    caller_handle = caller;
    test::run_until([&] { return caller.done(); });
    CHECK(trace == std::vector<std::string>{"answer 42", "cancelled at the next wait"});
    CHECK(caller.cancelled());
    CHECK(callee.done());
    CHECK_FALSE(callee.cancelled());
    CHECK_FALSE(w.armed());
}

// ---- misuse -------------------------------------------------------------------------------

TEST_CASE("get_event() from GLib callbacks and join callbacks, outside any tasklet, is a "
          "logic_error",
          "[faults]") {
    WaitForTimeout never(60000);
    auto t = [](WaitForTimeout& never) -> Tasklet<> {
        WaitForIdle idle;
        co_await idle;
        CHECK(get_event().is(idle)); // inside: fine
        co_await never;
    }(never);
    int checked = 0;
    // From a GLib idle callback, while the tasklet is suspended.
    g_idle_add(
        [](gpointer data) -> gboolean {
            CHECK_THROWS_AS(get_event(), std::logic_error);
            ++*static_cast<int*>(data);
            return G_SOURCE_REMOVE;
        },
        &checked);
    test::run_until([&] { return checked == 1 && t.state() == State::suspended && never.armed(); });
    // From a join callback: it runs as the tasklet ends, yet not inside it.
    t.add_join_callback([&checked](AnyTasklet) {
        CHECK_THROWS_AS(get_event(), std::logic_error);
        ++checked;
    });
    t.cancel();
    CHECK(checked == 2);
    CHECK_THROWS_AS(get_event(), std::logic_error);
}

TEST_CASE("run_until_complete() from inside a tasklet is a logic_error the body can catch",
          "[faults]") {
    auto inner = []() -> Tasklet<int> {
        co_await WaitForIdle();
        co_return 4;
    }();
    auto outer = [](Tasklet<int> inner) -> Tasklet<int> {
        co_await WaitForIdle(); // resumed from the main loop, not from the test's stack
        try {
            run_until_complete(inner);
            co_return -1;
        } catch (const std::logic_error&) {
        }
        co_return co_await inner; // the refused call left `inner` undisturbed
    }(inner);
    CHECK(test::run_with_watchdog(outer) == 4);
    CHECK(inner.return_value() == 4);
}
