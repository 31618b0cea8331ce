// Specification of tasklet_type.hpp: Tasklet<T>, AnyTasklet, State, deferred(), run(),
// run_until_complete(), return_value(), co_await on a handle, failures, join callbacks.
#include "support.hpp"

#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <unordered_set>
#include <vector>

using namespace tasklet;

namespace {

// Cancels `t` if it has not ended after `seconds`: the watchdog for run_until_complete(),
// which would otherwise iterate forever (it then throws Cancelled and the test fails).
class CancelAfter {
public:
    CancelAfter(AnyTasklet t, double seconds)
        : t_(std::move(t)), source_(g_timeout_source_new(static_cast<guint>(seconds * 1000))) {
        g_source_set_callback(source_.get(), &CancelAfter::expire, this, nullptr);
        // The context run_until_complete() iterates.
        g_source_attach(source_.get(), t_.context());
    }
    CancelAfter(const CancelAfter&) = delete;
    CancelAfter& operator=(const CancelAfter&) = delete;

private:
    static gboolean expire(gpointer self) {
        auto* w = static_cast<CancelAfter*>(self);
        FAIL_CHECK("watchdog: the tasklet did not end in time");
        w->t_.cancel();
        return G_SOURCE_REMOVE;
    }
    AnyTasklet t_;
    detail::SourcePtr source_;
};

Tasklet<> wait_idle() { co_await WaitForIdle(); }

Tasklet<int> answer_after_idle(int v) {
    co_await WaitForIdle();
    co_return v;
}

Tasklet<int> immediate(int v) { co_return v; }

Tasklet<int> fail_after_idle(std::string what) {
    co_await WaitForIdle();
    throw std::runtime_error(what);
}

Tasklet<int> fail_now(std::string what) {
    throw std::runtime_error(what);
    co_return 0;
}

} // namespace

// ---- eager start and self-ownership --------------------------------------------------------

TEST_CASE("calling a tasklet body runs it at once, up to its first suspension") {
    std::vector<std::string> steps;
    auto body = [&]() -> Tasklet<> {
        steps.push_back("before");
        co_await WaitForIdle();
        steps.push_back("after");
    };
    auto t = body();
    CHECK(steps == std::vector<std::string>{"before"});
    CHECK(t.state() == State::suspended);
    CHECK_FALSE(t.done());
    test::run_with_watchdog(t);
    CHECK(steps == std::vector<std::string>{"before", "after"});
}

TEST_CASE("a tasklet that never suspends has ended when the call returns") {
    auto t = immediate(7);
    CHECK(t.done());
    CHECK(t.state() == State::zombie);
    CHECK(t.return_value() == 7);
}

TEST_CASE("a tasklet runs to completion with every handle dropped") {
    bool finished = false;
    auto body = [&]() -> Tasklet<> {
        co_await WaitForTimeout(10);
        co_await WaitForIdle();
        finished = true;
    };
    body(); // the handle is a temporary, gone at once
    CHECK_FALSE(finished);
    test::run_until([&] { return finished; });
    CHECK(finished);
}

TEST_CASE("after it ends, a tasklet's result lives as long as a handle") {
    auto t = answer_after_idle(5);
    AnyTasklet other = t;
    test::run_with_watchdog(t);
    Tasklet<int> keep = t;
    t = Tasklet<int>();
    other = AnyTasklet();
    CHECK(keep.done());
    CHECK(keep.return_value() == 5);
}

// ---- state() -------------------------------------------------------------------------------

TEST_CASE("state() is running inside the body, suspended while waiting, zombie at the end") {
    AnyTasklet self;
    State seen_inside = State::zombie;
    auto body = [&]() -> Tasklet<> {
        co_await WaitForIdle();
        seen_inside = self.state();
    };
    auto t = body();
    self = t;
    CHECK(t.state() == State::suspended);
    test::run_with_watchdog(t);
    CHECK(seen_inside == State::running);
    CHECK(t.state() == State::zombie);
    CHECK(t.done());
    self = AnyTasklet();
}

TEST_CASE("state() is msgsend for a tasklet whose synchronous send is being delivered") {
    State sender_state = State::zombie;
    AnyTasklet sender_seen;
    auto receiver_body = [&]() -> Tasklet<> {
        WaitForMessages w("hello");
        Message m = co_await w;
        sender_seen = m.sender;
        sender_state = m.sender.state();
    };
    auto sender_body = [](AnyTasklet dest) -> Tasklet<> { co_await Message("hello", dest); };
    auto receiver = receiver_body();
    auto sender = sender_body(receiver);
    CHECK(receiver.done());
    CHECK(sender.done());
    CHECK(sender_seen == sender);
    CHECK(sender_state == State::msgsend);
    sender_seen = AnyTasklet();
}

// ---- deferred() and start() ----------------------------------------------------------------

TEST_CASE("deferred() creates a tasklet that runs only when start() is called") {
    int runs = 0;
    auto body = [&]() -> Tasklet<> {
        ++runs;
        co_await WaitForIdle();
    };
    auto t = deferred(body);
    CHECK(runs == 0);
    CHECK(t.state() == State::suspended);
    CHECK_FALSE(t.done());
    t.start();
    CHECK(runs == 1); // started eagerly, up to its first suspension
    CHECK(t.state() == State::suspended);
    CHECK_THROWS_AS(t.start(), std::logic_error);
    test::run_with_watchdog(t);
    CHECK_THROWS_AS(t.start(), std::logic_error);
    CHECK(runs == 1);
}

TEST_CASE("start() on a tasklet that was not deferred is a logic_error") {
    auto t = wait_idle();
    CHECK_THROWS_AS(t.start(), std::logic_error);
    test::run_with_watchdog(t);
}

TEST_CASE("a deferred lambda with captures runs correctly long after deferred() returned") {
    Tasklet<std::string> t;
    {
        std::string prefix = "hello ";
        auto owned = std::make_unique<int>(42);
        t = deferred([prefix, n = std::move(owned)]() -> Tasklet<std::string> {
            co_await WaitForIdle();
            co_return prefix + std::to_string(*n);
        });
    } // the original lambda object and its sources are gone
    t.start();
    CHECK(test::run_with_watchdog(t) == "hello 42");
}

TEST_CASE("deferred() passes its arguments to the body by value") {
    auto body = [](std::string s, int n) -> Tasklet<std::string> {
        co_await WaitForIdle();
        co_return s + std::to_string(n);
    };
    std::string arg = "x";
    auto t = deferred(body, arg, 3);
    arg = "changed";
    t.start();
    CHECK(test::run_with_watchdog(t) == "x3");
}

// ---- run() and run_until_complete() --------------------------------------------------------

TEST_CASE("run() returns the tasklet it was given") {
    auto t = wait_idle();
    auto r = run(t);
    CHECK(r == t);
    test::run_with_watchdog(t);
}

TEST_CASE("run_until_complete() returns the tasklet's value, moved out") {
    auto body = []() -> Tasklet<std::unique_ptr<int>> {
        co_await WaitForTimeout(5);
        co_return std::make_unique<int>(9);
    };
    auto t = body();
    CancelAfter watchdog(t, 10);
    std::unique_ptr<int> v = run_until_complete(t);
    REQUIRE(v);
    CHECK(*v == 9);
    CHECK(t.return_value() == nullptr); // the handle now sees the moved-from value
}

TEST_CASE("run_until_complete() rethrows the tasklet's exception") {
    auto t = fail_after_idle("boom");
    CancelAfter watchdog(t, 10);
    CHECK_THROWS_WITH(run_until_complete(t), "boom");
}

TEST_CASE("run_until_complete() starts a deferred tasklet") {
    auto t = deferred(answer_after_idle, 11);
    CancelAfter watchdog(t, 10);
    CHECK(run_until_complete(t) == 11);
}

TEST_CASE("run_until_complete() from inside a tasklet is a logic_error") {
    auto inner = answer_after_idle(1);
    bool threw = false;
    auto body = [&]() -> Tasklet<> {
        try {
            run_until_complete(inner);
        } catch (const std::logic_error&) {
            threw = true;
        }
        co_await inner;
    };
    auto t = body();
    test::run_with_watchdog(t);
    CHECK(threw);
}

TEST_CASE("run_until_complete() iterates the tasklet's own context") {
    GMainContext* ctx = g_main_context_new();
    g_main_context_push_thread_default(ctx);
    auto t = answer_after_idle(21);
    g_main_context_pop_thread_default(ctx);
    CancelAfter watchdog(t, 10);
    CHECK(run_until_complete(t) == 21);
    g_main_context_unref(ctx);
}

// ---- return_value() ------------------------------------------------------------------------

TEST_CASE("return_value() before the tasklet ended is a logic_error") {
    auto t = answer_after_idle(1);
    CHECK_THROWS_AS(t.return_value(), std::logic_error);
    test::run_with_watchdog(t);
    CHECK(t.return_value() == 1);
}

TEST_CASE("return_value() returns a reference to the one stored value") {
    auto t = answer_after_idle(1);
    test::run_with_watchdog(t);
    Tasklet<int> copy = t;
    static_assert(std::is_same_v<decltype(t.return_value()), int&>);
    t.return_value() = 17;
    CHECK(copy.return_value() == 17);
    CHECK(&copy.return_value() == &t.return_value());
}

TEST_CASE("return_value() rethrows the exception the tasklet ended with, every time") {
    auto t = fail_after_idle("bad");
    CHECK_THROWS_WITH(test::run_with_watchdog(t), "bad");
    CHECK_THROWS_WITH(t.return_value(), "bad");
    CHECK_THROWS_AS(t.return_value(), std::runtime_error);
}

TEST_CASE("return_value() of a Tasklet<void> returns nothing or rethrows") {
    auto ok = wait_idle();
    test::run_with_watchdog(ok);
    static_assert(std::is_void_v<decltype(ok.return_value())>);
    CHECK_NOTHROW(ok.return_value());
    auto body = []() -> Tasklet<> {
        co_await WaitForIdle();
        throw std::out_of_range("void failed");
    };
    auto bad = body();
    test::run_until([&] { return bad.done(); });
    CHECK_THROWS_AS(bad.return_value(), std::out_of_range);
}

// ---- co_await on a tasklet -----------------------------------------------------------------

TEST_CASE("co_await on an lvalue handle yields T& to the tasklet's own value") {
    auto inner = answer_after_idle(3);
    const int* seen = nullptr;
    auto body = [&]() -> Tasklet<> {
        auto&& r = co_await inner;
        static_assert(std::is_same_v<decltype(r), int&>);
        seen = &r;
        r = 30;
    };
    auto t = body();
    test::run_with_watchdog(t);
    CHECK(seen == &inner.return_value());
    CHECK(inner.return_value() == 30);
}

TEST_CASE("co_await on an rvalue handle yields T&&: other handles then see a moved-from value") {
    auto make = []() -> Tasklet<std::string> {
        co_await WaitForIdle();
        co_return std::string(100, 'x'); // long enough to live on the heap: a move empties it
    };
    Tasklet<std::string> other;
    std::string got;
    auto body = [&]() -> Tasklet<> {
        auto inner = make();
        other = inner;
        auto&& r = co_await std::move(inner);
        static_assert(std::is_same_v<decltype(r), std::string&&>);
        got = std::move(r);
    };
    auto t = body();
    test::run_with_watchdog(t);
    CHECK(got == std::string(100, 'x'));
    CHECK(other.return_value().empty());
}

TEST_CASE("auto v = co_await make() moves a unique_ptr out of the tasklet") {
    Tasklet<std::unique_ptr<int>> other;
    int got = 0;
    auto make = []() -> Tasklet<std::unique_ptr<int>> {
        co_await WaitForIdle();
        co_return std::make_unique<int>(8);
    };
    auto body = [&]() -> Tasklet<> {
        auto inner = make();
        other = inner;
        auto v = co_await std::move(inner);
        got = *v;
    };
    auto t = body();
    test::run_with_watchdog(t);
    CHECK(got == 8);
    CHECK(other.return_value() == nullptr);
}

TEST_CASE("co_await on a tasklet that already ended completes without suspending") {
    auto inner = immediate(4);
    int value = 0;
    auto body = [&]() -> Tasklet<> { value = co_await inner; };
    auto t = body();
    CHECK(t.done()); // no main-loop iteration was needed
    CHECK(value == 4);
}

TEST_CASE("an exception that ends a tasklet is rethrown to the tasklet awaiting it") {
    std::string caught;
    auto body = [&]() -> Tasklet<> {
        try {
            co_await fail_after_idle("inner failed");
        } catch (const std::runtime_error& e) {
            caught = e.what();
        }
    };
    auto t = body();
    test::run_with_watchdog(t);
    CHECK(caught == "inner failed");
}

TEST_CASE("co_await on a tasklet that already ended rethrows its exception or Cancelled") {
    // The already-ended path reads the result straight from the promise: it must rethrow
    // exactly like a wait that suspended.
    auto failed = [](std::string what) -> Tasklet<int> {
        throw std::runtime_error(what);
        co_return 0;
    }("ended badly");
    auto cancelled = deferred([]() -> Tasklet<int> { co_return 1; });
    cancelled.cancel();
    REQUIRE(failed.done());
    REQUIRE(cancelled.done());
    std::string caught;
    bool got_cancelled = false;
    Tasklet<int> empty;
    bool empty_invalid = false;
    auto body = [&]() -> Tasklet<> {
        try {
            co_await failed;
        } catch (const std::runtime_error& e) {
            caught = e.what();
        }
        try {
            co_await cancelled;
        } catch (const Cancelled&) {
            got_cancelled = true;
        }
        try {
            co_await empty;
        } catch (const std::invalid_argument&) {
            empty_invalid = true;
        }
    };
    auto t = body();
    CHECK(t.done());
    CHECK(caught == "ended badly");
    CHECK(got_cancelled);
    CHECK(empty_invalid);
}

// ---- unobserved failures -------------------------------------------------------------------

TEST_CASE("a failure nobody observed is logged with g_critical, once, when the last handle goes") {
    test::LogCapture log;
    {
        auto t = fail_after_idle("nobody looked");
        test::run_until([&] { return t.done(); });
        CHECK(log.count(G_LOG_LEVEL_CRITICAL) == 0); // a handle remains: it may still be looked at
        AnyTasklet copy = t;
    }
    CHECK(log.count(G_LOG_LEVEL_CRITICAL, "nobody looked") == 1);
    CHECK(log.count(G_LOG_LEVEL_CRITICAL) == 1);
}

TEST_CASE("a fire-and-forget tasklet that fails is logged once, never thrown into GLib") {
    test::LogCapture log;
    bool failed = false;
    auto body = [&]() -> Tasklet<> {
        co_await WaitForTimeout(5);
        failed = true;
        throw std::runtime_error("forgotten");
    };
    body();
    test::run_until([&] { return failed; });
    test::drain();
    CHECK(log.count(G_LOG_LEVEL_CRITICAL, "forgotten") == 1);
    CHECK(log.count(G_LOG_LEVEL_CRITICAL) == 1);
}

TEST_CASE("a tasklet that fails before its first suspension is logged once when dropped") {
    test::LogCapture log;
    fail_now("eager failure");
    CHECK(log.count(G_LOG_LEVEL_CRITICAL, "eager failure") == 1);
    CHECK(log.count(G_LOG_LEVEL_CRITICAL) == 1);
}

TEST_CASE("an observed failure is not logged") {
    test::LogCapture log;
    SECTION("observed through return_value()") {
        auto t = fail_after_idle("seen");
        test::run_until([&] { return t.done(); });
        CHECK_THROWS(t.return_value());
    }
    SECTION("observed by an awaiting tasklet") {
        auto body = []() -> Tasklet<> {
            try {
                co_await fail_after_idle("seen");
            } catch (const std::exception&) {
            }
        };
        auto t = body();
        test::run_with_watchdog(t);
    }
    SECTION("observed through run_until_complete()") {
        auto t = fail_after_idle("seen");
        CancelAfter watchdog(t, 10);
        CHECK_THROWS(run_until_complete(t));
    }
    CHECK(log.count(G_LOG_LEVEL_CRITICAL) == 0);
}

TEST_CASE("a cancelled tasklet is not logged as a failure") {
    test::LogCapture log;
    {
        auto body = []() -> Tasklet<> { co_await WaitForTimeout(60000); };
        auto t = body();
        t.cancel();
        CHECK(t.done());
        CHECK(t.cancelled());
    }
    {
        auto t = deferred(wait_idle);
        t.cancel();
        CHECK(t.done());
        CHECK(t.cancelled());
    }
    CHECK(log.count(G_LOG_LEVEL_CRITICAL) == 0);
}

// ---- cancellation (the parts of the life cycle it touches) --------------------------------

TEST_CASE("cancel() resumes a suspended tasklet at once with Cancelled from its co_await") {
    std::vector<std::string> steps;
    auto body = [&]() -> Tasklet<> {
        try {
            co_await WaitForTimeout(60000);
            steps.push_back("not reached");
        } catch (const Cancelled&) {
            steps.push_back("cancelled");
            throw;
        }
    };
    auto t = body();
    t.cancel();
    CHECK(steps == std::vector<std::string>{"cancelled"});
    CHECK(t.done());
    CHECK(t.cancelled());
    CHECK_THROWS_AS(t.return_value(), Cancelled);
}

TEST_CASE("a cancelled tasklet may catch Cancelled and wait again") {
    auto body = []() -> Tasklet<int> {
        try {
            co_await WaitForTimeout(60000);
        } catch (const Cancelled&) {
        }
        co_await WaitForIdle();
        co_return 2;
    };
    auto t = body();
    t.cancel();
    CHECK_FALSE(t.done());
    CHECK(test::run_with_watchdog(t) == 2);
    CHECK_FALSE(t.cancelled());
}

TEST_CASE("cancel() on a deferred tasklet never started ends it without running") {
    int runs = 0;
    auto body = [&]() -> Tasklet<> {
        ++runs;
        co_return;
    };
    auto t = deferred(body);
    t.cancel();
    CHECK(runs == 0);
    CHECK(t.done());
    CHECK(t.cancelled());
    CHECK_THROWS_AS(t.start(), std::logic_error);
}

TEST_CASE("cancel() on a running tasklet makes its next co_await throw Cancelled") {
    AnyTasklet self;
    bool caught = false;
    auto body = [&]() -> Tasklet<> {
        co_await WaitForIdle();
        self.cancel();
        try {
            co_await WaitForIdle();
        } catch (const Cancelled&) {
            caught = true;
        }
    };
    auto t = body();
    self = t;
    test::run_with_watchdog(t);
    CHECK(caught);
    self = AnyTasklet();
}

TEST_CASE("cancel() on an ended tasklet does nothing") {
    auto t = immediate(1);
    t.cancel();
    CHECK_FALSE(t.cancelled());
    CHECK(t.return_value() == 1);
}

// ---- join callbacks ------------------------------------------------------------------------

TEST_CASE("a join callback runs once, when the tasklet ends, with its handle") {
    auto t = answer_after_idle(1);
    int calls = 0;
    AnyTasklet seen;
    t.add_join_callback([&](AnyTasklet who) {
        ++calls;
        seen = who;
        CHECK(who.done());
    });
    CHECK(calls == 0);
    test::run_with_watchdog(t);
    CHECK(calls == 1);
    CHECK(seen == t);
    test::drain();
    CHECK(calls == 1);
    seen = AnyTasklet();
}

TEST_CASE("a join callback added after the end runs soon from the main loop, not at once") {
    auto t = immediate(1);
    int calls = 0;
    t.add_join_callback([&](AnyTasklet) { ++calls; });
    CHECK(calls == 0);
    test::run_until([&] { return calls > 0; });
    test::drain();
    CHECK(calls == 1);
}

TEST_CASE("join callbacks run in the order they were added") {
    auto t = answer_after_idle(1);
    std::vector<int> order;
    t.add_join_callback([&](AnyTasklet) { order.push_back(1); });
    t.add_join_callback([&](AnyTasklet) { order.push_back(2); });
    test::run_with_watchdog(t);
    CHECK(order == std::vector<int>{1, 2});
}

TEST_CASE("remove_join_callback() is true while pending, false once it ran or was removed") {
    auto t = answer_after_idle(1);
    int removed_calls = 0;
    int kept_calls = 0;
    JoinId removed = t.add_join_callback([&](AnyTasklet) { ++removed_calls; });
    JoinId kept = t.add_join_callback([&](AnyTasklet) { ++kept_calls; });
    CHECK(removed != kept);
    CHECK(t.remove_join_callback(removed));
    CHECK_FALSE(t.remove_join_callback(removed));
    test::run_with_watchdog(t);
    CHECK(removed_calls == 0);
    CHECK(kept_calls == 1);
    CHECK_FALSE(t.remove_join_callback(kept));
}

TEST_CASE("a join callback added after the end can still be removed before it runs") {
    auto t = immediate(1);
    int calls = 0;
    JoinId id = t.add_join_callback([&](AnyTasklet) { ++calls; });
    CHECK(t.remove_join_callback(id));
    auto later = wait_idle(); // a main-loop iteration that would have run it
    test::run_with_watchdog(later);
    test::drain();
    CHECK(calls == 0);
}

TEST_CASE("a join callback runs for a failed tasklet too") {
    auto t = fail_after_idle("x");
    int calls = 0;
    t.add_join_callback([&](AnyTasklet) { ++calls; });
    CHECK_THROWS(test::run_with_watchdog(t));
    CHECK(calls == 1);
}

TEST_CASE("an exception from a join callback is logged, never thrown into GLib") {
    test::LogCapture log;
    int later_calls = 0;
    {
        auto t = answer_after_idle(1);
        t.add_join_callback([](AnyTasklet) { throw std::runtime_error("callback broke"); });
        t.add_join_callback([&](AnyTasklet) { ++later_calls; });
        CHECK(test::run_with_watchdog(t) == 1);
    }
    CHECK(later_calls == 1); // the next callback still ran
    CHECK(log.count(G_LOG_LEVEL_CRITICAL, "callback broke") == 1);
    CHECK(log.count(G_LOG_LEVEL_CRITICAL) == 1);
}

// ---- handles -------------------------------------------------------------------------------

TEST_CASE("handles are copies compared by identity, hashable, and false when empty") {
    auto a = answer_after_idle(1);
    auto b = answer_after_idle(2);
    Tasklet<int> a2 = a;
    AnyTasklet any_a = a;
    CHECK(a == a2);
    CHECK(any_a == a);
    CHECK_FALSE(a == b);
    CHECK(a != b);
    CHECK(std::hash<AnyTasklet>{}(any_a) == std::hash<AnyTasklet>{}(a));
    CHECK(std::hash<Tasklet<int>>{}(a2) == std::hash<AnyTasklet>{}(any_a));
    std::unordered_set<AnyTasklet> set{a, a2, any_a, b};
    CHECK(set.size() == 2);
    CHECK(static_cast<bool>(a));
    AnyTasklet empty;
    Tasklet<int> empty2;
    CHECK_FALSE(static_cast<bool>(empty));
    CHECK_FALSE(static_cast<bool>(empty2));
    CHECK(empty == AnyTasklet(empty2));
    CHECK_FALSE(empty == any_a);
    static_assert(!std::is_convertible_v<AnyTasklet, bool>, "operator bool is explicit");
    test::run_with_watchdog(a);
    test::run_with_watchdog(b);
}

TEST_CASE("a moved-from handle is empty and the tasklet is unaffected") {
    auto a = answer_after_idle(1);
    Tasklet<int> b = std::move(a);
    CHECK_FALSE(static_cast<bool>(a)); // NOLINT(bugprone-use-after-move): specified behaviour
    CHECK(test::run_with_watchdog(b) == 1);
}

TEST_CASE("operations on an empty handle are a logic_error") {
    AnyTasklet empty;
    CHECK_THROWS_AS(empty.state(), std::logic_error);
    CHECK_THROWS_AS(empty.done(), std::logic_error);
    CHECK_THROWS_AS(Tasklet<int>().return_value(), std::logic_error);
}

// ---- context() -----------------------------------------------------------------------------

TEST_CASE("a tasklet belongs to the default context when no thread-default is pushed") {
    auto t = wait_idle();
    CHECK(t.context() == g_main_context_default());
    test::run_with_watchdog(t);
}

TEST_CASE("a tasklet belongs to the thread-default context where it was created") {
    GMainContext* ctx = g_main_context_new();
    bool finished = false;
    auto body = [&]() -> Tasklet<> {
        co_await WaitForTimeout(5);
        co_await WaitForIdle();
        finished = true;
    };
    g_main_context_push_thread_default(ctx);
    auto t = body();
    g_main_context_pop_thread_default(ctx);
    CHECK(t.context() == ctx);

    // Its sources are attached to `ctx`: iterating the default context does not advance it.
    gint64 until = g_get_monotonic_time() + 30000;
    while (g_get_monotonic_time() < until)
        g_main_context_iteration(g_main_context_default(), FALSE);
    CHECK_FALSE(finished);
    CHECK(g_main_context_pending(ctx));

    test::run_until([&] { return finished; }, 10, ctx);
    CHECK(t.done());
    g_main_context_unref(ctx);
}

// ---- API.md conformance ----

namespace {

Tasklet<int> api_twice_after_idle(int v) {
    co_await WaitForIdle();
    co_return 2 * v;
}

} // namespace

TEST_CASE("every handle operation and free function has the signature API.md gives it") {
    // The types API.md names, spelled as a user would rely on them.
    static_assert(std::is_same_v<Tasklet<>, Tasklet<void>>);
    static_assert(std::is_convertible_v<Tasklet<int>, AnyTasklet>);
    static_assert(std::is_constructible_v<bool, AnyTasklet>);
    static_assert(!std::is_convertible_v<AnyTasklet, bool>);
    const AnyTasklet& h = AnyTasklet();
    static_assert(std::is_same_v<decltype(h.state()), State>);
    static_assert(std::is_same_v<decltype(h.done()), bool>);
    static_assert(std::is_same_v<decltype(h.cancelled()), bool>);
    static_assert(std::is_same_v<decltype(h.context()), GMainContext*>);
    static_assert(std::is_same_v<decltype(h.add_join_callback([](AnyTasklet) {})), JoinId>);
    static_assert(std::is_same_v<decltype(h.remove_join_callback(JoinId())), bool>);
    static_assert(std::is_same_v<decltype(run(std::declval<Tasklet<int>>())), Tasklet<int>>);
    static_assert(std::is_same_v<decltype(deferred(api_twice_after_idle, 1)), Tasklet<int>>);
    static_assert(std::is_same_v<decltype(run_until_complete(std::declval<Tasklet<int>>())), int>);
    static_assert(std::is_void_v<decltype(run_until_complete(std::declval<Tasklet<>>()))>);
    static_assert(std::is_same_v<decltype(get_event()), Event&>);
    static_assert(std::is_copy_constructible_v<JoinId> && std::is_copy_assignable_v<JoinId>);
    static_assert(std::equality_comparable<JoinId>);
    static_assert(std::is_base_of_v<std::exception, Cancelled>);

    // And they behave as the table says when called that way.
    Tasklet<int> d = deferred(api_twice_after_idle, 4);
    CHECK(d.state() == State::suspended);
    Tasklet<int> same = run(d);
    CHECK(same == d);
    CancelAfter watchdog(d, 10);
    int v = run_until_complete(d);
    CHECK(v == 8);
    CHECK(d.done());
}

TEST_CASE("run_until_complete() of a Tasklet<void> returns when it ends, or rethrows") {
    auto ok = wait_idle();
    CancelAfter ok_watchdog(ok, 10);
    run_until_complete(ok);
    CHECK(ok.done());
    auto bad = []() -> Tasklet<> {
        co_await WaitForIdle();
        throw std::domain_error("void body failed");
    }();
    CancelAfter bad_watchdog(bad, 10);
    CHECK_THROWS_AS(run_until_complete(bad), std::domain_error);
}

TEST_CASE("a copy of a JoinId names the same join callback") {
    auto t = answer_after_idle(1);
    int calls = 0;
    JoinId id = t.add_join_callback([&](AnyTasklet) { ++calls; });
    JoinId copy = id;
    CHECK(copy == id);
    CHECK(t.remove_join_callback(copy));
    CHECK_FALSE(t.remove_join_callback(id));
    test::run_with_watchdog(t);
    test::drain();
    CHECK(calls == 0);
}

TEST_CASE("a join callback added after the end is not lost when every handle is dropped") {
    int calls = 0;
    bool saw_done = false;
    immediate(3).add_join_callback([&](AnyTasklet who) {
        ++calls;
        saw_done = who.done();
    });
    CHECK(calls == 0); // from the main loop, not at once
    test::run_until([&] { return calls > 0; });
    test::drain();
    CHECK(calls == 1);
    CHECK(saw_done);
}

TEST_CASE("a deferred tasklet belongs to the context that was thread-default at deferred()") {
    // API.md: a tasklet belongs to the context thread-default "where it was created";
    // deferred() creates it, start() only starts it.
    test::PrivateContext home;
    Tasklet<int> t = deferred(answer_after_idle, 6);
    CHECK(t.context() == home.get());
    g_main_context_push_thread_default(g_main_context_default());
    t.start(); // started while another context is thread-default
    g_main_context_pop_thread_default(g_main_context_default());
    CHECK(t.context() == home.get());
    CHECK(test::run_with_watchdog(t) == 6);
}

TEST_CASE("a tasklet that fails ends as a zombie and its failure is kept for every handle") {
    auto t = fail_after_idle("kept");
    Tasklet<int> copy = t;
    CHECK_THROWS_WITH(test::run_with_watchdog(t), "kept");
    CHECK(t.state() == State::zombie);
    CHECK_FALSE(t.cancelled());
    CHECK_THROWS_WITH(copy.return_value(), "kept");
}
