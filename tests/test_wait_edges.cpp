// Custom conditions at the edges of the protocol: disarm() that destroys conditions (its
// own or others of the wait), fire() at odd moments, await_result() that throws, a wait that
// is refused, an any() awaiter awaited again, and what get_event() names after each kind of
// resumption. The basics: test_wait.
#include "support.hpp"

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using namespace tasklet;

namespace {

using test::Manual;

/// What a GTK user writes to wait for a property change: while armed it holds a reference on
/// the object (so the object cannot go away under the handler) and drops it in disarm().
/// Dropping it may finalize the object, and with it whatever the object owned.
class NotifyWatch : public WaitCondition {
public:
    explicit NotifyWatch(GObject* obj) : obj_(obj) {}
    ~NotifyWatch() override {
        if (armed())
            disarm();
    }

protected:
    void arm() override {
        held_ = G_OBJECT(g_object_ref(obj_));
        id_ = g_signal_connect_swapped(obj_, "notify",
                                       G_CALLBACK(+[](NotifyWatch* self) { self->fire(); }), this);
    }
    void disarm() override {
        if (!held_)
            return;
        GObject* obj = std::exchange(held_, nullptr);
        g_signal_handler_disconnect(obj, id_);
        g_object_unref(obj); // may finalize `obj`
    }

private:
    GObject* obj_;
    GObject* held_ = nullptr; // the reference arm() took (null once dropped)
    gulong id_ = 0;
};

Tasklet<int> after_idle(int v) {
    co_await WaitForIdle();
    co_return v;
}

} // namespace

// ---- begin_full_wait / disarm_one: user code run by disarm() ---------------------------------

// A disarm() may run arbitrary user code; here it drops the last reference on a GObject
// whose qdata owns another condition of the same wait. The next wait goes on disarming the
// rest of the previous wait safely (it once read the destroyed condition).
TEST_CASE("a disarm() that destroys another condition of the previous wait is safe") {
    GObject* obj = G_OBJECT(g_object_new(G_TYPE_OBJECT, nullptr));
    auto* owned = new Manual; // owned by the object: freed when it is finalized
    g_object_set_data_full(obj, "cond", owned, [](gpointer p) { delete static_cast<Manual*>(p); });
    NotifyWatch watch(obj);
    Manual go;
    Manual next;
    auto t = [](Manual& go, NotifyWatch& watch, Manual& owned, Manual& next) -> Tasklet<> {
        co_await any(go, watch, owned); // list: go, watch, owned
        co_await next; // disarms go, then watch (finalizing obj, deleting `owned`), then ...
    }(go, watch, *owned, next);
    g_object_unref(obj); // the watch's reference is the last one now
    go.trigger();
    CHECK(next.armed());
    next.trigger();
    CHECK(t.done());
}

// The same with the condition itself owned by the object it watches: its own disarm()
// finalizes the object, which deletes the condition; the library touches nothing of it after.
TEST_CASE("a condition deleted by its own disarm() (it owned the last reference) is safe") {
    GObject* obj = G_OBJECT(g_object_new(G_TYPE_OBJECT, nullptr));
    auto* watch = new NotifyWatch(obj);
    g_object_set_data_full(obj, "watch", watch,
                           [](gpointer p) { delete static_cast<NotifyWatch*>(p); });
    Manual go;
    Manual next;
    auto t = [](Manual& go, NotifyWatch& watch, Manual& next) -> Tasklet<> {
        co_await any(go, watch);
        co_await next; // disarms watch: obj finalized, watch deleted inside its disarm()
    }(go, *watch, next);
    g_object_unref(obj);
    go.trigger();
    CHECK(next.armed());
    next.trigger();
    CHECK(t.done());
}

// ---- any(): the awaiter ------------------------------------------------------------------

// An any() awaiter kept in a variable can be awaited again, also with a tasklet handle in
// it: the WaitForTasklet it made lives as long as the awaiter (and, once it fired, until the
// next wait that leaves it out), not only until then.
TEST_CASE("an any() awaiter with a tasklet handle can be awaited again after another wait") {
    Manual m;
    Manual other;
    auto worker = after_idle(7);
    int rounds = 0;
    auto t = [](Manual& m, Manual& other, Tasklet<int> worker, int& rounds) -> Tasklet<> {
        auto either = any(m, worker);
        co_await either; // the worker ends: its WaitForTasklet fires
        ++rounds;
        co_await other; // that WaitForTasklet is left out: disarmed and destroyed
        ++rounds;
        Event& e = co_await either; // the worker has ended: completes at once
        if (e.is(worker))
            ++rounds;
    }(m, other, worker, rounds);
    REQUIRE(test::run_until([&] { return rounds == 1; }));
    other.trigger();
    CHECK(t.done());
    CHECK(rounds == 3);
}

// ---- Event on every kind of resumption ---------------------------------------------------

// `co_await t` on a handle is not a wait on a condition the caller can name: afterwards
// get_event() names nothing (the awaiter's own WaitForTasklet is gone), whether the wait
// suspended or the tasklet had already ended — whereas any(t) names it (Event::is(t)).
TEST_CASE("after co_await on a tasklet handle get_event() names nothing; after any(t) it names "
          "the tasklet") {
    std::vector<int> seen;
    auto t = [](std::vector<int>& seen) -> Tasklet<> {
        auto worker = after_idle(1);
        co_await worker; // suspends until it ends
        seen.push_back(get_event().condition() == nullptr && !get_event().is(worker));
        co_await worker; // already ended: does not suspend
        seen.push_back(get_event().condition() == nullptr && !get_event().is(worker));
        Event& e = co_await any(worker); // already ended: completes at once, named
        seen.push_back(e.is(worker) && e.as<WaitForTasklet<>>() != nullptr &&
                       e.message() == nullptr);
        auto late = after_idle(2);
        Event& f = co_await any(late, WaitForTimeout(60000));
        seen.push_back(f.is(late) && !f.is(worker) && f.condition() != nullptr);
    }(seen);
    test::run_with_watchdog(t);
    CHECK(seen == std::vector<int>{1, 1, 1, 1});
}

// A message event names the WaitForMessages that accepted it and the message; a custom
// condition's event has no message; and a custom await_result() that throws leaves the event
// and the condition's arming as they were (the condition stays armed, triggered, named).
namespace {
class Failing : public WaitCondition {
public:
    ~Failing() override {
        if (armed())
            disarm();
    }
    bool trigger() { return fire(); }

protected:
    void arm() override {}
    void disarm() override {}

private:
    int await_result() { throw std::runtime_error("result failed"); }
    friend struct detail::Access;
};
} // namespace

TEST_CASE("an await_result() that throws fails the co_await but keeps the event and the "
          "arming") {
    Failing f;
    std::vector<int> seen;
    auto t = [](Failing& f, std::vector<int>& seen) -> Tasklet<> {
        try {
            int v = co_await f;
            (void)v;
        } catch (const std::runtime_error&) {
            seen.push_back(get_event().is(f) && f.triggered() && f.armed() &&
                           get_event().message() == nullptr);
        }
        co_await f; // awaited again: kept armed, not re-armed
    }(f, seen);
    CHECK(f.trigger()); // the tasklet waits on it again
    CHECK(seen == std::vector<int>{1});
    CHECK_FALSE(t.done());
    CHECK_FALSE(f.trigger()); // the tasklet failed inside: disarmed
    CHECK(t.done());
    CHECK_THROWS_WITH(t.return_value(), "result failed");
}

// ---- disarm() that throws ------------------------------------------------------------------

// "disarm(): must not throw" — one that does anyway is logged (critical, domain tasklet),
// and the condition is still unlinked and left unarmed, at a wait and at the tasklet's end.
TEST_CASE("a disarm() that throws is logged, and the condition is disarmed all the same") {
    test::LogCapture log;
    Manual a;
    Manual b;
    Manual c;
    a.on_disarm = [] { throw std::runtime_error("disarm a"); };
    c.on_disarm = [] { throw std::runtime_error("disarm c"); };
    auto t = [](Manual& a, Manual& b, Manual& c) -> Tasklet<> {
        co_await any(a, b);
        co_await any(b, c); // a is disarmed here
    }(a, b, c);
    a.trigger();
    CHECK_FALSE(a.armed());
    CHECK_FALSE(a.owner());
    CHECK(log.count(G_LOG_LEVEL_CRITICAL, "disarm a") == 1);
    b.trigger(); // ends: b and c are disarmed
    CHECK(t.done());
    CHECK_FALSE(c.armed());
    CHECK(log.count(G_LOG_LEVEL_CRITICAL, "disarm c") == 1);
    CHECK(log.count(G_LOG_LEVEL_CRITICAL, "WaitCondition::disarm()") == 2);
    a.on_disarm = c.on_disarm = nullptr;
}

// ---- fire() at odd moments -------------------------------------------------------------------

// fire() from inside disarm() while the library disarms (the owner is running) is an
// event for a condition that is going away: it is dropped with the arming, and the condition
// armed afresh later does not complete at once.
TEST_CASE("fire() from inside a disarm() run by a wait or by the end is dropped") {
    Manual a;
    Manual b;
    std::vector<int> fired; // fire()'s results inside disarm()
    a.on_disarm = [&] { fired.push_back(a.trigger()); };
    auto t = [](Manual& a, Manual& b) -> Tasklet<> {
        co_await a;
        co_await b; // disarms a: its fire() is dropped
        co_await a; // armed afresh: must wait for a real fire()
    }(a, b);
    a.trigger();
    CHECK(a.disarms == 1);
    b.trigger();
    CHECK_FALSE(t.done()); // a's stale event did not complete the wait
    CHECK(a.arms == 2);
    a.trigger(); // ends: disarm() fires again, the owner is ending
    CHECK(t.done());
    CHECK(fired == std::vector<int>{1, 1}); // "kept" (owner running), then dropped
    CHECK_FALSE(a.armed());
    a.on_disarm = nullptr;
}

// An event kept for a running owner that then ends (never waiting again) is dropped with
// the arming: another tasklet that arms the condition afterwards waits for a real fire().
TEST_CASE("an event kept for an owner that ended does not complete another tasklet's wait") {
    Manual m;
    auto first = [](Manual& m) -> Tasklet<> {
        co_await m;
        CHECK(m.trigger()); // the owner is running: kept for its next wait ... which never comes
    }(m);
    m.trigger();
    REQUIRE(first.done());
    CHECK_FALSE(m.armed());
    bool woke = false;
    auto second = [](Manual& m, bool& woke) -> Tasklet<> {
        co_await m;
        woke = true;
    }(m, woke);
    CHECK_FALSE(woke); // did not complete at once
    CHECK(m.owner() == second);
    CHECK(m.arms == 2);
    CHECK_FALSE(m.trigger()); // the second ends inside
    CHECK(woke);
}

// A condition whose owner ends inside fire() may be armed by another tasklet within the
// same fire() (a waiter of the ended one): fire() then returns true — the condition is armed,
// so the GLib source must keep watching — and the next fire() resumes the new owner.
TEST_CASE("a condition taken over inside its own fire() by a waiter of its ended owner keeps "
          "watching") {
    Manual m;
    auto first = [](Manual& m) -> Tasklet<> { co_await m; }(m);
    int resumed = 0;
    auto second = [](Manual& m, Tasklet<> first, int& resumed) -> Tasklet<> {
        co_await first; // resumed as `first` ends, inside m.fire()
        co_await m;     // m was disarmed by that end: armed for this tasklet
        ++resumed;
    }(m, first, resumed);
    CHECK(m.trigger()); // `first` ends; `second` arms m: keep watching
    CHECK(first.done());
    CHECK(m.owner() == second);
    CHECK(m.arms == 2);
    CHECK(resumed == 0);
    CHECK_FALSE(m.trigger());
    CHECK(resumed == 1);
}

// fire() twice in one callback while the owner loops on the condition delivers two
// events (each resumes it at once); fire() twice from arm() (running owner) delivers one.
TEST_CASE("two fire() calls deliver two events to a suspended owner, one to a running one") {
    Manual m;
    int rounds = 0;
    auto t = [](Manual& m, int& rounds) -> Tasklet<> {
        for (;;) {
            co_await m;
            ++rounds;
        }
    }(m, rounds);
    CHECK(m.trigger());
    CHECK(m.trigger());
    CHECK(rounds == 2);
    t.cancel();

    Manual twice;
    twice.on_arm = [&] {
        twice.trigger();
        twice.trigger();
    };
    int woke = 0;
    auto u = [](Manual& c, int& woke) -> Tasklet<> {
        co_await c; // completes at once: one kept event
        ++woke;
        co_await c; // the second fire() was the same kept event: waits
        ++woke;
    }(twice, woke);
    CHECK(woke == 1);
    CHECK_FALSE(u.done());
    twice.on_arm = nullptr;
    CHECK_FALSE(twice.trigger());
    CHECK(woke == 2);
}

// ---- sharing and refusal -------------------------------------------------------------------

// A wait refused because a condition is armed by another tasklet changes nothing: the
// refusing tasklet's previous wait stays armed with its event, and nothing of the refused wait
// is armed.
TEST_CASE("a refused wait leaves the previous wait's arming and event as they were") {
    Manual held;
    auto h = [](Manual& held) -> Tasklet<> { co_await held; }(held);
    Manual prev;
    Manual fresh;
    std::vector<int> seen;
    auto t = [](Manual& prev, Manual& fresh, Manual& held, std::vector<int>& seen) -> Tasklet<> {
        co_await prev;
        try {
            co_await any(fresh, held);
        } catch (const std::logic_error&) {
            seen.push_back(get_event().is(prev) && prev.armed() && prev.triggered() &&
                           !fresh.armed() && fresh.arms == 0);
        }
        co_await prev; // still armed: not armed again
        seen.push_back(prev.arms == 1 && prev.disarms == 0);
    }(prev, fresh, held, seen);
    prev.trigger();
    CHECK(held.owner() == h);
    prev.trigger();
    CHECK(t.done());
    CHECK(seen == std::vector<int>{1, 1});
    h.cancel();
    CHECK(h.done());
    CHECK_FALSE(held.armed());
}
