// Re-entrancy and lifetime paths of the conditions: events that arrive while their tasklet
// runs (its own nested main loop, its own calls), conditions left and re-armed inside their
// own delivery, duplicates in one wait, helpers that must give up instead of hanging.
#include "support.hpp"

#include <tasklet/testing.hpp>

#include <gio/gio.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <sys/wait.h>
#include <tuple>
#include <unistd.h>
#include <vector>

// A small GObject type: "ping" () -> void, and "ask" (int) -> int.
G_BEGIN_DECLS
#define RE_TYPE_EMITTER (re_emitter_get_type())
G_DECLARE_FINAL_TYPE(ReEmitter, re_emitter, RE, EMITTER, GObject)
G_END_DECLS

struct _ReEmitter {
    GObject parent;
};

G_DEFINE_TYPE(ReEmitter, re_emitter, G_TYPE_OBJECT)

namespace {
guint sig_ping;
guint sig_ask;
} // namespace

static void re_emitter_class_init(ReEmitterClass* klass) {
    GType t = G_TYPE_FROM_CLASS(klass);
    sig_ping =
        g_signal_new("ping", t, G_SIGNAL_RUN_LAST, 0, nullptr, nullptr, nullptr, G_TYPE_NONE, 0);
    sig_ask = g_signal_new("ask", t, G_SIGNAL_RUN_LAST, 0, nullptr, nullptr, nullptr, G_TYPE_INT, 1,
                           G_TYPE_INT);
}

static void re_emitter_init(ReEmitter*) {}

using namespace tasklet;

namespace {

struct Nested {
    int iterations = 0; // main-loop iterations the nested loop ran
    bool done = false;  // done() became true before the safety timeout
};

// Runs a nested main loop (as a modal dialog does) on the thread-default context until
// `done()` or `safety_ms` have passed. The safety timeout has G_PRIORITY_DEFAULT, so only a
// source at that priority that is always ready can keep it from ending the loop.
Nested run_nested(const std::function<bool()>& done, guint safety_ms = 2000) {
    GMainContext* ctx = g_main_context_get_thread_default();
    test::Deadline safety(safety_ms, ctx);
    Nested r;
    {
        test::IterationCounter counter(r.iterations, ctx);
        while (!done() && !safety.expired())
            g_main_context_iteration(ctx, TRUE);
    }
    r.done = done();
    return r;
}

// Runs `fn` once from source `s` (attached to the thread-default context). Destroying it
// removes the source: a failing test leaves nothing behind that writes to its stack.
class Once {
public:
    Once(GSource* s, std::function<void()> fn) : s_(s), fn_(std::move(fn)) {
        g_source_set_callback(
            s_.get(),
            [](gpointer p) -> gboolean {
                static_cast<Once*>(p)->fn_();
                return G_SOURCE_REMOVE;
            },
            this, nullptr);
        g_source_attach(s_.get(), g_main_context_get_thread_default());
    }
    Once(const Once&) = delete;
    Once& operator=(const Once&) = delete;

private:
    detail::SourcePtr s_;
    std::function<void()> fn_;
};

// A starter whose call completes from an idle callback (like most GIO calls); counts calls.
struct IdleStarter {
    int* calls;
    void operator()(GCancellable*, GAsyncReadyCallback cb, gpointer data) const {
        ++*calls;
        struct Later {
            GAsyncReadyCallback cb;
            gpointer data;
        };
        g_idle_add_once(
            [](gpointer p) {
                std::unique_ptr<Later> l(static_cast<Later*>(p));
                GTask* task = g_task_new(nullptr, nullptr, nullptr, nullptr);
                g_task_return_boolean(task, TRUE);
                l->cb(nullptr, G_ASYNC_RESULT(task), l->data);
                g_object_unref(task);
            },
            new Later{cb, data});
    }
};

} // namespace

// ---- events that arrive while the owner runs its own nested main loop ---------------------

TEST_CASE("an armed 0 ms timeout does not starve the nested main loop its tasklet runs") {
    bool idle_ran = false;
    Nested r;
    auto t = [](bool& idle_ran, Nested& r) -> Tasklet<> {
        WaitForTimeout tick(0);
        WaitForCall<void()> go;
        go();
        co_await any(tick, go); // completes at once with `go`; `tick` stays armed and queued
        Once idle(g_idle_source_new(), [&] { idle_ran = true; }); // G_PRIORITY_DEFAULT_IDLE
        r = run_nested([&] { return idle_ran; }); // `tick` fires in here: the event is kept
        co_await tick;                            // and completes this wait at once
        co_await tick; // and it is back on the timer heap: it ticks again
    }(idle_ran, r);
    test::run_with_watchdog(t);
    CHECK(r.done);             // the idle ran: the loop was not starved
    CHECK(r.iterations < 100); // nor did it spin
}

TEST_CASE("restart() drops a tick that came while the tasklet ran its nested main loop") {
    Nested r;
    gint64 waited_us = 0;
    auto t = [](Nested& r, gint64& waited_us) -> Tasklet<> {
        WaitForTimeout tick(20);
        WaitForCall<void()> go;
        go();
        co_await any(tick, go); // `tick` stays armed
        bool done = false;
        Once later(g_timeout_source_new(60), [&] { done = true; });
        r = run_nested([&] { return done; }); // `tick` fires in here: kept pending
        tick.restart();                       // the count starts again: that tick is gone
        gint64 t0 = g_get_monotonic_time();
        co_await tick;
        waited_us = g_get_monotonic_time() - t0;
    }(r, waited_us);
    test::run_with_watchdog(t);
    CHECK(r.done);
    CHECK(waited_us >= 15000); // a full period, not the stale tick at once
}

TEST_CASE("an armed idle does not spin the nested main loop its tasklet runs") {
    bool done = false;
    Nested r;
    auto t = [](bool& done, Nested& r) -> Tasklet<> {
        WaitForIdle idle;
        WaitForCall<void()> go;
        go();
        co_await any(idle, go); // completes at once with `go`; `idle` stays armed and queued
        Once later(g_timeout_source_new(50), [&] { done = true; });
        r = run_nested([&] { return done; });
        co_await idle; // the idle that came meanwhile completes this wait at once
        co_await idle; // and it is back on the lane: it fires again
    }(done, r);
    test::run_with_watchdog(t);
    CHECK(r.done);
    CHECK(r.iterations < 100); // a spinning loop iterates thousands of times in 50 ms
}

TEST_CASE("an object finalized inside its tasklet's nested main loop does not starve that loop") {
    GObject* obj = G_OBJECT(g_object_new(G_TYPE_OBJECT, nullptr));
    bool idle_ran = false;
    Nested r;
    auto t = [](GObject* obj, bool& idle_ran, Nested& r) -> Tasklet<bool> {
        WaitForSignal sig(obj, "notify");
        WaitForCall<void()> go;
        go();
        co_await any(sig, go); // completes at once with `go`; `sig` stays armed
        // Inside the nested loop: the object goes away (the tasklet is running: the event is
        // kept), then an ordinary idle is queued, which the loop waits for.
        std::optional<Once> idle;
        Once later(g_timeout_source_new(10), [&] {
            g_object_unref(obj);
            idle.emplace(g_idle_source_new(), [&] { idle_ran = true; });
        });
        r = run_nested([&] { return idle_ran; });
        Emission e = co_await sig;     // the kept event: destroyed
        Emission again = co_await sig; // a wait on a finalized instance still ends
        co_return e.destroyed&& again.destroyed;
    }(obj, idle_ran, r);
    CHECK(test::run_with_watchdog(t));
    CHECK(r.done);
    CHECK(r.iterations < 100);
}

TEST_CASE("an async result that arrives inside the tasklet's nested loop completes its next "
          "wait, and the call runs again after") {
    int calls = 0;
    auto t = [](int& calls) -> Tasklet<int> {
        WaitForAsync op(IdleStarter{&calls});
        WaitForCall<void()> go;
        go();
        co_await any(op, go); // `op` started its call; `go` completed the wait at once
        Nested r = run_nested([&] { return !op.pending(); });
        CHECK(r.done);
        AsyncResult a = co_await op; // the result that came inside the nested loop
        int ok = g_task_propagate_boolean(G_TASK(a.get()), nullptr);
        AsyncResult b = co_await op; // a second call
        ok += g_task_propagate_boolean(G_TASK(b.get()), nullptr);
        co_return ok;
    }(calls);
    CHECK(test::run_with_watchdog(t) == 2);
    CHECK(calls == 2);
}

TEST_CASE("a thread result that arrives inside the tasklet's nested loop completes its next "
          "wait, and the function runs again after") {
    std::atomic<int> runs{0};
    auto t = [](std::atomic<int>& runs) -> Tasklet<int> {
        WaitForThread<int> job([&runs] { return ++runs; });
        WaitForCall<void()> go;
        go();
        co_await any(job, go);
        Nested r = run_nested([&] { return !job.pending(); });
        CHECK(r.done);
        int a = co_await job;
        int b = co_await job;
        co_return a * 10 + b;
    }(runs);
    CHECK(test::run_with_watchdog(t) == 12);
    CHECK(runs == 2);
}

TEST_CASE("a child that ends inside the tasklet's nested loop completes its next wait, and "
          "the next one too") {
    GPid pid = test::spawn_shell("exit 0");
    auto t = [](GPid pid) -> Tasklet<int> {
        WaitForProcess proc(pid);
        WaitForCall<void()> go;
        go();
        co_await any(proc, go);
        Nested r = run_nested([&] { return proc.ended(); }, 5000);
        CHECK(r.done);
        CHECK(r.iterations < 1000);
        int a = co_await proc;
        int b = co_await proc;
        co_return a == b ? WEXITSTATUS(a) : -1;
    }(pid);
    CHECK(test::run_with_watchdog(t) == 0);
}

TEST_CASE("a tasklet that ends inside its waiter's nested loop completes the waiter's next "
          "wait") {
    auto child = []() -> Tasklet<int> {
        co_await WaitForTimeout(10);
        co_return 5;
    }();
    auto t = [](Tasklet<int> child) -> Tasklet<int> {
        WaitForTasklet<int> w(child);
        WaitForCall<void()> go;
        go();
        co_await any(w, go);
        Nested r = run_nested([&] { return child.done(); });
        CHECK(r.done);
        int a = co_await w;
        int b = co_await w; // awaited again after it ended: at once
        co_return a + b;
    }(child);
    CHECK(test::run_with_watchdog(t) == 10);
}

TEST_CASE("calls that arrive inside the tasklet's nested loop are all delivered, in order") {
    auto t = []() -> Tasklet<std::vector<int>> {
        WaitForCall<int(int)> call(-1);
        WaitForCall<void()> go;
        go();
        co_await any(call, go);
        std::vector<int> answers;
        Once calls(g_idle_source_new(), [&] {
            answers.push_back(call(1)); // the tasklet is busy: queued
            answers.push_back(call(2));
        });
        Nested r = run_nested([&] { return answers.size() == 2; });
        CHECK(r.done);
        std::vector<int> got = answers; // return_value at once: -1, -1
        auto [a] = co_await call;
        auto [b] = co_await call;
        got.push_back(a);
        got.push_back(b);
        co_return got;
    }();
    CHECK(test::run_with_watchdog(t) == std::vector<int>{-1, -1, 1, 2});
}

// ---- a condition left and armed again inside its own delivery ------------------------------

TEST_CASE("the GType form re-armed inside the emission that resumed it does not see that "
          "emission again") {
    GObject* obj = G_OBJECT(g_object_new(RE_TYPE_EMITTER, nullptr));
    int resumed = 0;
    auto t = [](int& resumed) -> Tasklet<> {
        WaitForSignal sig(RE_TYPE_EMITTER, "ping");
        // Capped, so that a failure shows as a count instead of an endless emission.
        while (resumed < 50) {
            co_await sig;
            ++resumed;
            // Spawn-and-await of work that ends at once: a wait that completes without
            // suspending but leaves `sig` out, so `sig` is disarmed here and armed afresh by
            // the next co_await, still inside the emission.
            co_await []() -> Tasklet<int> { co_return 1; }();
        }
    }(resumed);
    g_signal_emit(obj, sig_ping, 0);
    CHECK(resumed == 1); // one emission, one wakeup
    g_signal_emit(obj, sig_ping, 0);
    CHECK(resumed == 2);
    t.cancel();
    g_object_unref(obj);
}

TEST_CASE("the instance form re-armed inside the emission that resumed it does not see that "
          "emission again") {
    GObject* obj = G_OBJECT(g_object_new(RE_TYPE_EMITTER, nullptr));
    int resumed = 0;
    auto t = [](GObject* obj, int& resumed) -> Tasklet<> {
        WaitForSignal sig(obj, "ping");
        while (resumed < 50) {
            co_await sig;
            ++resumed;
            co_await []() -> Tasklet<int> { co_return 1; }();
        }
    }(obj, resumed);
    g_signal_emit(obj, sig_ping, 0);
    CHECK(resumed == 1);
    g_signal_emit(obj, sig_ping, 0);
    CHECK(resumed == 2);
    t.cancel();
    g_object_unref(obj);
}

TEST_CASE("a GType-form condition destroyed inside its own emission hook is never called again") {
    GObject* obj = G_OBJECT(g_object_new(RE_TYPE_EMITTER, nullptr));
    int resumed = 0;
    auto t = [](int& resumed) -> Tasklet<> {
        for (int i = 0; i < 3; ++i) {
            co_await WaitForSignal(RE_TYPE_EMITTER, "ping"); // a temporary, gone right after
            ++resumed;
        }
    }(resumed);
    std::vector<int> after;
    for (int i = 0; i < 4; ++i) {
        g_signal_emit(obj, sig_ping, 0);
        after.push_back(resumed);
    }
    CHECK(after == std::vector<int>{1, 2, 3, 3}); // one wakeup per emission
    REQUIRE(t.done());
    t.return_value();
    g_object_unref(obj);
}

TEST_CASE("a tasklet that re-emits inside an emission answers only the emission that resumed "
          "it") {
    GObject* obj = G_OBJECT(g_object_new(RE_TYPE_EMITTER, nullptr));
    std::vector<std::string> trace;
    auto t = [](GObject* obj, std::vector<std::string>& trace) -> Tasklet<> {
        WaitForSignal sig(obj, "ask");
        Emission first = co_await sig; // resumed inside emission A
        gint inner = 0;
        g_signal_emit(obj, sig_ask, 0, 2, &inner); // B, inside A: we are running, so B is kept
        trace.push_back("B returned " + std::to_string(inner));
        sig.set_return_value(10);       // A's answer
        Emission second = co_await sig; // B, already over: completes at once
        trace.push_back("woken by " + std::to_string(second.arg<int>(0)));
        // B has returned: there is no emission to answer now.
        try {
            sig.set_return_value(99);
            trace.push_back("answer accepted");
        } catch (const std::logic_error&) {
            trace.push_back("answer refused");
        }
        co_await sig;
    }(obj, trace);
    gint outer = 0;
    g_signal_emit(obj, sig_ask, 0, 1, &outer);
    trace.push_back("A returned " + std::to_string(outer));
    CHECK(trace == std::vector<std::string>{"B returned 0", "woken by 2", "answer refused",
                                            "A returned 10"});
    t.cancel();
    g_object_unref(obj);
}

// ---- one condition twice in one wait --------------------------------------------------------

TEST_CASE("a condition listed twice in any() is armed once and fires once") {
    int calls = 0;
    auto t = [](int& calls) -> Tasklet<std::vector<int>> {
        std::vector<int> seen;
        WaitForCall<void(int)> call;
        call(1);
        call(2);
        co_await any(call, call);
        seen.push_back(std::get<0>(call.args())); // args(): the last call made
        auto [b] = co_await call;                 // the second queued call, not the first again
        seen.push_back(b);
        WaitForAsync op(IdleStarter{&calls});
        co_await any(op, op, op);
        WaitForTimeout tick(1);
        co_await any(tick, tick);
        co_await any(tick, op, tick, op);
        co_return seen;
    }(calls);
    CHECK(test::run_with_watchdog(t) == std::vector<int>{2, 2});
    CHECK(calls == 2); // started once per wait that was not already running it
}

// ---- testing helpers ---------------------------------------------------------------------

TEST_CASE("advance() gives up on a 0 ms periodic timeout instead of spinning for ages") {
    testing::VirtualClock clock;
    int ticks = 0;
    constexpr int cap = 500000; // far more than the 100,000 stalled passes advance() allows
    auto t = [](int& ticks) -> Tasklet<> {
        WaitForTimeout tick(0);
        while (ticks < cap) {
            co_await tick;
            ++ticks;
        }
    }(ticks);
    CHECK_THROWS_AS(clock.advance(std::chrono::milliseconds(1)), std::runtime_error);
    CHECK(ticks < cap);
    t.cancel();
}

// ---- review of 2026-11-27 ----
// (Appended by a reviewer. Each test names the behaviour it expects; see the review report
// for the root causes.)

namespace {

// An emission hook that calls the WaitForCall<void()> it is given: a tasklet waiting on that
// call resumes inside the emission, during its hook phase.
gboolean call_from_hook(GSignalInvocationHint*, guint, const GValue*, gpointer data) {
    (*static_cast<WaitForCall<void()>*>(data))();
    return TRUE;
}

// Removes an emission hook at the end of the scope (a failing CHECK leaves nothing behind).
struct HookGuard {
    guint signal_id;
    gulong id;
    ~HookGuard() { g_signal_remove_emission_hook(signal_id, id); }
};

// A custom condition that records whether get_event() works in its disarm().
class EventProbe : public WaitCondition {
public:
    EventProbe() = default;
    ~EventProbe() override {
        if (armed())
            disarm();
    }
    int disarms = 0;
    int inside_tasklet = 0; // disarms during which get_event() answered

protected:
    void arm() override {}
    void disarm() override {
        ++disarms;
        try {
            (void)get_event();
            ++inside_tasklet;
        } catch (const std::logic_error&) {
        }
    }
};

} // namespace

TEST_CASE("the GType form armed by a tasklet that an earlier emission hook resumed does not see "
          "the emission under way, as the instance form does not") {
    // The library's hook for "ping" on this thread exists from the first type-form wait on
    // it and stays: make sure that wait has happened (the first one ever, armed during the
    // signal's own hook phase, would see the emission; README).
    Tasklet<> first = []() -> Tasklet<> { co_await WaitForSignal(RE_TYPE_EMITTER, "ping"); }();
    first.cancel();
    GObject* obj = G_OBJECT(g_object_new(RE_TYPE_EMITTER, nullptr));
    WaitForCall<void()> go_type;
    WaitForCall<void()> go_instance;
    // Registered after the library's hook: called after it, in the same emission.
    HookGuard x1{sig_ping,
                 g_signal_add_emission_hook(sig_ping, 0, &call_from_hook, &go_type, nullptr)};
    HookGuard x2{sig_ping,
                 g_signal_add_emission_hook(sig_ping, 0, &call_from_hook, &go_instance, nullptr)};
    int by_type = 0;
    int by_instance = 0;
    auto t1 = [](WaitForCall<void()>& go, int& seen) -> Tasklet<> {
        co_await go; // resumed by the first hook of an emission that has begun
        WaitForSignal sig(RE_TYPE_EMITTER, "ping");
        while (seen < 50) {
            co_await sig;
            ++seen;
        }
    }(go_type, by_type);
    auto t2 = [](GObject* obj, WaitForCall<void()>& go, int& seen) -> Tasklet<> {
        co_await go;
        WaitForSignal sig(obj, "ping");
        while (seen < 50) {
            co_await sig;
            ++seen;
        }
    }(obj, go_instance, by_instance);
    g_signal_emit(obj, sig_ping, 0); // both arm their condition inside this emission
    CHECK(by_instance == 0);         // GLib: a handler connected during an emission misses it
    CHECK(by_type == 0);             // the hook made during the hook phase sees it
    g_signal_emit(obj, sig_ping, 0);
    CHECK(by_instance == 1);
    CHECK(by_type == 1);
    t1.cancel();
    t2.cancel();
    g_object_unref(obj);
}

TEST_CASE("a GType-form condition left and armed again within one emission is resumed by it "
          "once") {
    GObject* obj = G_OBJECT(g_object_new(RE_TYPE_EMITTER, nullptr));
    WaitForCall<void()> go;
    int seen = 0;
    auto t = [](WaitForCall<void()>& go, int& seen) -> Tasklet<> {
        WaitForSignal sig(RE_TYPE_EMITTER, "ping");
        while (seen < 50) {
            co_await sig; // resumed by the library's hook
            ++seen;
            co_await go; // `sig` is left: its hook goes when its call ends
        }
    }(go, seen);
    // Added after the library's hook: called after it, in the same emission.
    HookGuard x{sig_ping, g_signal_add_emission_hook(sig_ping, 0, &call_from_hook, &go, nullptr)};
    g_signal_emit(obj, sig_ping, 0); // `go` resumes the tasklet, which arms `sig` again
    CHECK(seen == 1);                // one emission, one wakeup
    t.cancel();
    g_object_unref(obj);
}

TEST_CASE("a custom condition disarmed as its tasklet ends is disarmed inside the tasklet, as "
          "in any other wait") {
    EventProbe during_wait;
    EventProbe at_end;
    auto t = [](EventProbe& during_wait, EventProbe& at_end) -> Tasklet<> {
        WaitForCall<void()> go;
        go();
        co_await any(during_wait, at_end, go); // completes at once with `go`
        go();
        co_await any(at_end, go); // `during_wait` is disarmed here, inside the tasklet
    }(during_wait, at_end);       // ends: `at_end` is disarmed by the ending tasklet
    REQUIRE(t.done());
    t.return_value();
    CHECK(during_wait.disarms == 1);
    CHECK(during_wait.inside_tasklet == 1);
    CHECK(at_end.disarms == 1);
    CHECK(at_end.inside_tasklet == 1); // get_event() threw: tls_current was reset first
}

// Newer GLib (the emission-hook snapshot, ~2.76) still calls a hook that an earlier hook of
// the same emission removed; the library's hook is never removed while its thread lives, so
// a condition left and armed again in between keeps using the same hook.
TEST_CASE("a GType-form hook removed by an earlier hook of the same emission is never used "
          "after") {
    GObject* obj = G_OBJECT(g_object_new(RE_TYPE_EMITTER, nullptr));
    WaitForCall<void()> go;
    WaitForCall<void()> go2;
    HookGuard x{sig_ping, g_signal_add_emission_hook(sig_ping, 0, &call_from_hook, &go, nullptr)};
    int seen = 0;
    auto t = [](WaitForCall<void()>& go, WaitForCall<void()>& go2, int& seen) -> Tasklet<> {
        WaitForSignal sig(RE_TYPE_EMITTER, "ping");
        co_await any(sig, go); // resumed by the user's hook, before the library's
        co_await go2;          // `sig` is left: its hook is removed while the emission runs
        co_await sig;
        ++seen;
    }(go, go2, seen);
    g_signal_emit(obj, sig_ping, 0);
    CHECK(seen == 0);
    go2(); // arms `sig` again: a new hook
    g_signal_emit(obj, sig_ping, 0);
    CHECK(seen == 1);
    REQUIRE(t.done());
    t.return_value();
    g_object_unref(obj);
}
