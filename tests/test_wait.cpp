// Specification of wait.hpp: WaitCondition (custom conditions, persistent arming, disarming),
// Event, get_event(), any().
#include "support.hpp"

#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

using namespace tasklet;

namespace {

using test::Manual;

/// A condition backed by a plain GLib timeout source in the owner's context, written the way
/// the brief tells users to: keep watching while fire() returns true.
class GlibTimer : public WaitCondition {
public:
    explicit GlibTimer(guint ms, int* arms = nullptr, int* disarms = nullptr)
        : ms_(ms), arms_(arms), disarms_(disarms) {}
    ~GlibTimer() override {
        if (armed())
            disarm();
    }

protected:
    void arm() override {
        if (arms_)
            ++*arms_;
        source_ = g_timeout_source_new(ms_);
        g_source_set_callback(
            source_,
            [](gpointer self) -> gboolean {
                return static_cast<GlibTimer*>(self)->fire() ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
            },
            this, nullptr);
        g_source_attach(source_, context());
    }
    void disarm() override {
        if (disarms_)
            ++*disarms_;
        g_source_destroy(source_);
        g_source_unref(source_);
        source_ = nullptr;
    }

private:
    guint ms_;
    int* arms_;
    int* disarms_;
    GSource* source_ = nullptr;
};

/// A condition whose event has always happened already: it fires from arm().
class AlreadyHappened : public WaitCondition {
public:
    ~AlreadyHappened() override {
        if (armed())
            disarm();
    }
    bool fire_result = false;

protected:
    void arm() override { fire_result = fire(); }
    void disarm() override {}
};

class Other : public Manual {};

/// A condition that cannot be armed.
class Broken : public WaitCondition {
public:
    ~Broken() override {
        if (armed())
            disarm();
    }

protected:
    void arm() override { throw std::runtime_error("cannot arm"); }
    void disarm() override {}
};

Tasklet<int> answer_after_idle(int v) {
    co_await WaitForIdle();
    co_return v;
}

} // namespace

// ---- custom conditions ---------------------------------------------------------------------

TEST_CASE("a custom condition is armed once, fires from a GLib source and yields Event&") {
    int arms = 0;
    int disarms = 0;
    bool is_it = false;
    bool equal = false;
    bool same_event = false;
    GlibTimer* as_timer = nullptr;
    Other* as_other = reinterpret_cast<Other*>(1);
    Message* message = reinterpret_cast<Message*>(1);
    GlibTimer timer(5, &arms, &disarms);
    auto body = [&]() -> Tasklet<> {
        auto&& e = co_await timer;
        static_assert(std::is_same_v<decltype(e), Event&>);
        same_event = &e == &get_event();
        is_it = e.is(timer);
        equal = e == timer;
        as_timer = e.as<GlibTimer>();
        as_other = e.as<Other>();
        message = e.message();
        CHECK(e.condition() == &timer);
        CHECK(timer.triggered());
        CHECK(timer.owner().state() == State::running); // the owner is the tasklet running
    };
    auto t = body();
    CHECK(timer.armed());
    CHECK(timer.owner() == t);
    CHECK(arms == 1);
    test::run_with_watchdog(t);
    CHECK(same_event);
    CHECK(is_it);
    CHECK(equal);
    CHECK(as_timer == &timer);
    CHECK(as_other == nullptr);
    CHECK(message == nullptr);
    CHECK(arms == 1);
    CHECK(disarms == 1); // the tasklet ended: every condition is disarmed
    CHECK_FALSE(timer.armed());
    CHECK_FALSE(timer.owner());
    CHECK_FALSE(timer.triggered());
}

TEST_CASE("fire() is true while the owner waits on the condition again, false once disarmed") {
    Manual m;
    bool last = false;
    auto body = [&](int rounds) -> Tasklet<> {
        for (int i = 0; i < rounds; ++i)
            co_await m;
        last = true;
    };
    auto t = body(3);
    CHECK(m.trigger());
    CHECK(m.trigger());
    CHECK_FALSE(m.trigger()); // the tasklet ended inside this call
    CHECK(last);
    CHECK(t.done());
    CHECK_FALSE(m.trigger()); // not armed: nothing to resume
}

TEST_CASE("a condition awaited again is not re-armed (persistent arming)") {
    Manual m;
    int resumed = 0;
    auto body = [&]() -> Tasklet<> {
        for (int i = 0; i < 5; ++i) {
            co_await m;
            ++resumed;
        }
    };
    auto t = body();
    for (int i = 0; i < 5; ++i) {
        CHECK(m.arms == 1);
        CHECK(m.disarms == 0);
        m.trigger();
    }
    CHECK(resumed == 5);
    CHECK(t.done());
    CHECK(m.arms == 1);
    CHECK(m.disarms == 1);
}

TEST_CASE("a GLib-source condition awaited in a loop keeps its one source") {
    int arms = 0;
    int disarms = 0;
    GlibTimer timer(2, &arms, &disarms);
    auto body = [&]() -> Tasklet<> {
        for (int i = 0; i < 5; ++i)
            co_await timer;
    };
    auto t = body();
    test::run_with_watchdog(t);
    CHECK(arms == 1);
    CHECK(disarms == 1);
}

TEST_CASE("conditions that are not part of the next wait are disarmed") {
    Manual a;
    Manual b;
    Manual c;
    auto body = [&]() -> Tasklet<> {
        co_await any(a, b);
        co_await any(b, c);
        co_await c;
    };
    auto t = body();
    CHECK((a.arms == 1 && b.arms == 1 && c.arms == 0));
    b.trigger();
    CHECK(a.disarms == 1);
    CHECK_FALSE(a.armed());
    CHECK((b.arms == 1 && b.disarms == 0));
    CHECK(c.arms == 1);
    b.trigger();
    CHECK(b.disarms == 1);
    CHECK_FALSE(b.armed());
    CHECK((c.arms == 1 && c.disarms == 0));
    c.trigger();
    CHECK(t.done());
    CHECK((a.arms == 1 && a.disarms == 1));
    CHECK((b.arms == 1 && b.disarms == 1));
    CHECK((c.arms == 1 && c.disarms == 1));
}

TEST_CASE("a condition disarmed by a wait is armed afresh when awaited later") {
    Manual a;
    Manual b;
    auto body = [&]() -> Tasklet<> {
        co_await a;
        co_await b;
        co_await a;
    };
    auto t = body();
    a.trigger();
    CHECK((a.arms == 1 && a.disarms == 1));
    b.trigger();
    CHECK(a.arms == 2);
    a.trigger();
    CHECK(t.done());
    CHECK(a.disarms == 2);
}

TEST_CASE("destroying a condition disarms it, and a destroyed condition never fires") {
    Manual a;
    int b_arms = 0;
    int b_disarms = 0;
    auto b = std::make_unique<GlibTimer>(1, &b_arms, &b_disarms);
    bool woke_by_a = false;
    auto body = [&]() -> Tasklet<> {
        co_await any(a, *b);
        woke_by_a = get_event().is(a);
    };
    auto t = body();
    CHECK(b_arms == 1);
    b.reset(); // its destructor disarms it and unlinks it from the wait
    CHECK(b_disarms == 1);
    // Its GLib source is gone too: iterating past its due time does not resume the tasklet.
    gint64 until = g_get_monotonic_time() + 20000;
    while (g_get_monotonic_time() < until)
        g_main_context_iteration(nullptr, FALSE);
    CHECK_FALSE(t.done());
    a.trigger();
    CHECK(t.done());
    CHECK(woke_by_a);
    CHECK(b_disarms == 1);
}

TEST_CASE("a condition destroyed by its owner while firing (a temporary) is handled safely") {
    int arms = 0;
    int disarms = 0;
    int rounds = 0;
    auto body = [&]() -> Tasklet<> {
        for (int i = 0; i < 3; ++i) {
            co_await GlibTimer(2, &arms, &disarms); // destroyed inside its own fire()
            ++rounds;
        }
    };
    auto t = body();
    test::run_with_watchdog(t);
    CHECK(rounds == 3);
    CHECK(arms == 3);
    CHECK(disarms == 3);
}

TEST_CASE("once the condition that fired is destroyed, get_event().condition() is null") {
    bool null_after = false;
    auto body = [&]() -> Tasklet<> {
        co_await any(GlibTimer(2));
        null_after = get_event().condition() == nullptr;
    };
    auto t = body();
    test::run_with_watchdog(t);
    CHECK(null_after);
}

TEST_CASE("awaiting a condition armed by another tasklet is a logic_error") {
    Manual shared;
    bool threw = false;
    auto first_body = [&]() -> Tasklet<> { co_await shared; };
    auto second_body = [&]() -> Tasklet<> {
        try {
            co_await shared;
        } catch (const std::logic_error&) {
            threw = true;
        }
    };
    auto first = first_body();
    auto second = second_body();
    CHECK(threw);
    CHECK(second.done());
    CHECK(shared.owner() == first);
    CHECK(shared.arms == 1);
    shared.trigger();
    CHECK(first.done());
}

TEST_CASE("a condition whose event already happened (fire() from arm()) completes at once") {
    AlreadyHappened done;
    int steps = 0;
    auto body = [&]() -> Tasklet<> {
        Event& e = co_await done;
        CHECK(e.is(done));
        ++steps;
    };
    auto t = body();
    CHECK(t.done()); // no main-loop iteration was needed
    CHECK(steps == 1);
    CHECK(done.fire_result); // "keep watching": the owner's next wait on it takes the event
}

TEST_CASE("triggered() is true only for the condition being delivered") {
    Manual a;
    Manual b;
    std::vector<std::pair<bool, bool>> seen;
    auto body = [&]() -> Tasklet<> {
        for (int i = 0; i < 2; ++i) {
            co_await any(a, b);
            seen.emplace_back(a.triggered(), b.triggered());
        }
    };
    auto t = body();
    CHECK_FALSE(a.triggered());
    a.trigger();
    b.trigger();
    CHECK(t.done());
    REQUIRE(seen.size() == 2);
    CHECK(seen[0] == std::pair{true, false});
    CHECK(seen[1] == std::pair{false, true});
}

TEST_CASE("an event that arrives while the owner runs completes its next wait on it at once") {
    Manual m;
    bool fire_result = false;
    auto body = [&]() -> Tasklet<> {
        co_await m;                // arms it
        fire_result = m.trigger(); // the owner is running: the event is kept
        co_await m;
        CHECK(get_event().is(m));
    };
    auto t = body();
    m.trigger();
    CHECK(t.done());
    CHECK(fire_result);
    CHECK(m.arms == 1);
}

TEST_CASE("an event kept for a condition left out of the next wait is dropped with its arming") {
    Manual m;
    Manual other;
    bool woke_by_m = false;
    auto body = [&]() -> Tasklet<> {
        co_await m;
        m.trigger(); // kept, but the next wait does not include m: it is disarmed, event and all
        co_await other;
        co_await any(m, other);
        woke_by_m = get_event().is(m);
    };
    auto t = body();
    m.trigger();
    CHECK_FALSE(t.done());
    CHECK(m.disarms == 1);
    other.trigger();
    CHECK_FALSE(t.done()); // m was armed afresh, with no stale event
    CHECK(m.arms == 2);
    m.trigger();
    CHECK(t.done());
    CHECK(woke_by_m);
}

TEST_CASE("a cancelled tasklet's conditions are all disarmed when it ends") {
    Manual a;
    int b_arms = 0;
    int b_disarms = 0;
    GlibTimer b(60000, &b_arms, &b_disarms);
    auto body = [&]() -> Tasklet<> { co_await any(a, b); };
    auto t = body();
    t.cancel();
    CHECK(t.cancelled());
    CHECK((a.arms == 1 && a.disarms == 1));
    CHECK((b_arms == 1 && b_disarms == 1));
    CHECK_FALSE(a.armed());
    CHECK_FALSE(b.armed());
}

TEST_CASE("after a caught cancellation, the wait's conditions stay armed until the next wait") {
    Manual a;
    Manual b;
    bool a_armed_after_cancel = false;
    auto body = [&]() -> Tasklet<> {
        try {
            co_await a;
        } catch (const Cancelled&) {
            a_armed_after_cancel = a.armed();
        }
        co_await b;
    };
    auto t = body();
    t.cancel();
    CHECK(a_armed_after_cancel);
    CHECK(a.disarms == 1); // disarmed by the wait on b
    CHECK(b.armed());
    b.trigger();
    CHECK(t.done());
    CHECK_FALSE(t.cancelled());
}

TEST_CASE("an exception from arm() is thrown from the co_await and leaves the condition unarmed") {
    Broken broken;
    Manual fine;
    std::string caught;
    auto body = [&]() -> Tasklet<> {
        try {
            co_await any(fine, broken);
        } catch (const std::runtime_error& e) {
            caught = e.what();
        }
        CHECK_FALSE(broken.armed());
        co_await fine;
    };
    auto t = body();
    CHECK(caught == "cannot arm");
    CHECK_FALSE(t.done());
    fine.trigger();
    CHECK(t.done());
}

// ---- any() ---------------------------------------------------------------------------------

TEST_CASE("any() mixes lvalue conditions, temporaries and tasklet handles") {
    Manual lvalue;
    auto worker = answer_after_idle(5);
    bool by_worker = false;
    bool stable = false;
    AnyTasklet reported;
    auto body = [&]() -> Tasklet<> {
        Event& e = co_await any(lvalue, WaitForTimeout(60000), worker);
        // The WaitForTasklet that any() made for `worker` stays valid until the next
        // suspension, even though the awaiter that owned it is gone.
        auto* w = get_event().as<WaitForTasklet<>>();
        by_worker = w != nullptr;
        if (w) {
            reported = w->tasklet();
            CHECK_NOTHROW(w->retval());
        }
        stable = &get_event() == &e && get_event().as<WaitForTasklet<>>() == w;
        co_await WaitForIdle();
    };
    auto t = body();
    test::run_with_watchdog(t);
    CHECK(by_worker);
    CHECK(stable);
    CHECK(reported == worker);
    CHECK(lvalue.disarms == 1);
    reported = AnyTasklet();
}

TEST_CASE("any() returns the first condition to fire") {
    Manual a;
    Manual b;
    Manual c;
    WaitCondition* fired = nullptr;
    auto body = [&]() -> Tasklet<> {
        Event& e = co_await any(a, b, c);
        fired = e.condition();
    };
    auto t = body();
    b.trigger();
    CHECK(t.done());
    CHECK(fired == &b);
}

TEST_CASE("any() over a span waits for the conditions it points to") {
    std::vector<std::unique_ptr<Manual>> owned;
    std::vector<WaitCondition*> conds;
    for (int i = 0; i < 4; ++i) {
        owned.push_back(std::make_unique<Manual>());
        conds.push_back(owned.back().get());
    }
    WaitCondition* fired = nullptr;
    auto body = [&]() -> Tasklet<> {
        Event& e = co_await any(std::span<WaitCondition* const>(conds));
        fired = e.condition();
    };
    auto t = body();
    for (auto& m : owned)
        CHECK(m->arms == 1);
    owned[2]->trigger();
    CHECK(t.done());
    CHECK(fired == owned[2].get());
    for (auto& m : owned)
        CHECK(m->disarms == 1);
}

TEST_CASE("any() over an empty span or a null condition is invalid_argument") {
    Manual a;
    std::vector<WaitCondition*> empty;
    std::vector<WaitCondition*> with_null{&a, nullptr};
    int caught = 0;
    auto body = [&]() -> Tasklet<> {
        try {
            co_await any(std::span<WaitCondition* const>(empty));
        } catch (const std::invalid_argument&) {
            ++caught;
        }
        try {
            co_await any(std::span<WaitCondition* const>(with_null));
        } catch (const std::invalid_argument&) {
            ++caught;
        }
    };
    auto t = body();
    CHECK(t.done());
    CHECK(caught == 2);
}

// ---- get_event() ---------------------------------------------------------------------------

TEST_CASE("get_event() outside a tasklet is a logic_error") {
    CHECK_THROWS_AS(get_event(), std::logic_error);
}

TEST_CASE("get_event() names the condition that resumed the tasklet, after any kind of wait") {
    Manual a;
    std::vector<WaitCondition*> seen;
    auto body = [&]() -> Tasklet<> {
        co_await a;
        seen.push_back(get_event().condition());
        WaitForIdle idle;
        co_await idle;
        seen.push_back(get_event().condition());
        seen.push_back(get_event().is(idle) ? &idle : nullptr);
    };
    auto t = body();
    a.trigger();
    test::run_with_watchdog(t);
    REQUIRE(seen.size() == 3);
    CHECK(seen[0] == &a);
    CHECK(seen[1] != nullptr);
    CHECK(seen[1] == seen[2]);
}

TEST_CASE("Event::is(tasklet) says whether a tasklet's end resumed the wait") {
    auto quick = []() -> tasklet::Tasklet<int> {
        co_await tasklet::WaitForIdle();
        co_return 1;
    }();
    auto slow = []() -> tasklet::Tasklet<> { co_await tasklet::WaitForTimeout(60000); }();
    auto t = [](tasklet::Tasklet<int> quick, tasklet::AnyTasklet slow) -> tasklet::Tasklet<int> {
        tasklet::WaitForTimeout limit(60000);
        tasklet::Event& e = co_await tasklet::any(limit, slow, quick);
        co_return (e.is(quick) ? 1 : 0) + (e.is(slow) ? 10 : 0) + (e.is(limit) ? 100 : 0) +
            (e.is(tasklet::AnyTasklet()) ? 1000 : 0);
    }(quick, slow);
    CHECK(test::run_with_watchdog(t) == 1);
    slow.cancel();
}

// ---- API.md conformance ----

namespace {

/// Records context() as seen from arm(), where a condition attaches its sources.
class ContextProbe : public WaitCondition {
public:
    ~ContextProbe() override {
        if (armed())
            disarm();
    }
    bool trigger() { return fire(); }
    GMainContext* seen = nullptr;

protected:
    void arm() override { seen = context(); }
    void disarm() override {}
};

} // namespace

TEST_CASE("the Event and WaitCondition members have the signatures API.md gives them") {
    static_assert(std::is_abstract_v<WaitCondition>);
    static_assert(std::has_virtual_destructor_v<WaitCondition>);
    static_assert(!std::is_copy_constructible_v<WaitCondition>);
    static_assert(!std::is_move_constructible_v<WaitCondition>);
    const Manual m;
    static_assert(std::is_same_v<decltype(m.triggered()), bool>&& noexcept(m.triggered()));
    static_assert(std::is_same_v<decltype(m.armed()), bool>&& noexcept(m.armed()));
    static_assert(std::is_same_v<decltype(m.owner()), AnyTasklet>);
    using E = Event&;
    static_assert(std::is_same_v<decltype(std::declval<E>().condition()), WaitCondition*>);
    static_assert(std::is_same_v<decltype(std::declval<E>().is(m)), bool>);
    static_assert(noexcept(std::declval<E>().is(m)));
    static_assert(std::is_same_v<decltype(std::declval<E>().as<Manual>()), Manual*>);
    static_assert(noexcept(std::declval<E>().as<Manual>()));
    static_assert(std::is_same_v<decltype(std::declval<E>().message()), Message*>);
    static_assert(noexcept(std::declval<E>().message()));
    static_assert(std::is_same_v<decltype(std::declval<E>() == m), bool>);
    static_assert(noexcept(std::declval<E>() == m));
    CHECK_FALSE(m.armed());
    CHECK_FALSE(m.owner());
}

TEST_CASE("a custom condition's context() is its owner's main context, not the default one") {
    test::PrivateContext ctx;
    ContextProbe probe;
    auto t = [](ContextProbe& p) -> Tasklet<> { co_await p; }(probe);
    CHECK(probe.seen == ctx.get());
    CHECK(probe.seen == t.context());
    CHECK_FALSE(probe.trigger()); // the owner ends inside fire(): "touch nothing after"
    CHECK(t.done());
}

TEST_CASE("awaiting a built-in condition armed by another tasklet is a logic_error") {
    WaitForTimeout shared(60000);
    bool threw = false;
    auto first = [](WaitForTimeout& w) -> Tasklet<> { co_await w; }(shared);
    auto second_body = [&]() -> Tasklet<> {
        try {
            co_await any(WaitForIdle(), shared);
        } catch (const std::logic_error&) {
            threw = true;
        }
    };
    auto second = second_body();
    CHECK(threw);
    CHECK(second.done());
    CHECK(shared.owner() == first); // the first tasklet keeps it
    first.cancel();
    CHECK_FALSE(shared.armed());
}

TEST_CASE("get_event() returns one event, as often as asked, until the next suspension") {
    Manual a;
    Manual b;
    std::vector<bool> same;
    auto body = [&]() -> Tasklet<> {
        Event& e = co_await any(a, b);
        for (int i = 0; i < 3; ++i)
            same.push_back(&get_event() == &e && get_event().is(b) && e.condition() == &b);
        co_await a;
        same.push_back(get_event().is(a));
    };
    auto t = body();
    b.trigger();
    a.trigger();
    CHECK(t.done());
    CHECK(same == std::vector<bool>{true, true, true, true});
}
