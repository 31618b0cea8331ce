// Specification of join.hpp: WaitForTasklet<T> (kiwi's WaitForTasklet), and long chains of
// tasklets awaiting each other.
#include "support.hpp"

#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

using namespace tasklet;

namespace {

Tasklet<int> answer_after_idle(int v) {
    co_await WaitForIdle();
    co_return v;
}

Tasklet<int> fail_after_idle(std::string what) {
    co_await WaitForIdle();
    throw std::runtime_error(what);
}

Tasklet<int> immediate(int v) { co_return v; }

} // namespace

TEST_CASE("co_await on a WaitForTasklet<T> yields T& to the tasklet's value") {
    auto worker = answer_after_idle(6);
    int* seen = nullptr;
    int retval = 0;
    bool event_ok = false;
    auto body = [&]() -> Tasklet<> {
        WaitForTasklet<int> w(worker);
        CHECK(w.tasklet() == worker);
        auto&& r = co_await w;
        static_assert(std::is_same_v<decltype(r), int&>);
        seen = &r;
        retval = w.retval();
        event_ok = get_event().is(w);
    };
    auto t = body();
    test::run_with_watchdog(t);
    CHECK(seen == &worker.return_value());
    CHECK(retval == 6);
    CHECK(event_ok);
}

TEST_CASE("WaitForTasklet rethrows the exception the tasklet ended with, also from retval()") {
    auto worker = fail_after_idle("worker failed");
    std::vector<std::string> caught;
    auto body = [&]() -> Tasklet<> {
        WaitForTasklet<int> w(worker);
        try {
            co_await w;
        } catch (const std::runtime_error& e) {
            caught.push_back(e.what());
        }
        try {
            w.retval();
        } catch (const std::runtime_error& e) {
            caught.push_back(e.what());
        }
    };
    auto t = body();
    test::run_with_watchdog(t);
    CHECK(caught == std::vector<std::string>{"worker failed", "worker failed"});
}

TEST_CASE("WaitForTasklet on a tasklet that already ended completes without suspending") {
    auto finished = immediate(3);
    REQUIRE(finished.done());
    int others_ran = 0;
    auto other_body = [&]() -> Tasklet<> {
        WaitForIdle idle;
        for (int i = 0; i < 3; ++i) {
            co_await idle;
            ++others_ran;
        }
    };
    auto other = other_body();
    int value = 0;
    int others_seen = -1;
    auto body = [&]() -> Tasklet<> {
        co_await WaitForIdle();
        int before = others_ran;
        WaitForTasklet<int> w(finished);
        value = co_await w;
        others_seen = others_ran - before; // nothing else ran in between
    };
    auto t = body();
    test::run_with_watchdog(t);
    CHECK(value == 3);
    CHECK(others_seen == 0);
    test::run_with_watchdog(other);

    // From the very start: the awaiting tasklet ends within its creating call.
    auto direct = [&]() -> Tasklet<> { value = co_await WaitForTasklet<int>(finished) + 1; };
    auto d = direct();
    CHECK(d.done());
    CHECK(value == 4);
}

TEST_CASE("WaitForTasklet<> waits for a tasklet of any result type") {
    AnyTasklet worker = answer_after_idle(1);
    AnyTasklet failing = fail_after_idle("any failed");
    bool threw = false;
    auto body = [&]() -> Tasklet<> {
        WaitForTasklet<> w(worker);
        static_assert(std::is_void_v<decltype(operator co_await(w).await_resume())>);
        co_await w;
        CHECK(w.tasklet() == worker);
        try {
            co_await WaitForTasklet<>(failing);
        } catch (const std::runtime_error&) {
            threw = true;
        }
    };
    auto t = body();
    test::run_with_watchdog(t);
    CHECK(worker.done());
    CHECK(threw);
}

TEST_CASE("retval() before the tasklet ended is a logic_error") {
    auto worker = answer_after_idle(1);
    WaitForTasklet<int> w(worker);
    WaitForTasklet<> any_w(worker);
    CHECK_THROWS_AS(w.retval(), std::logic_error);
    CHECK_THROWS_AS(any_w.retval(), std::logic_error);
    test::run_with_watchdog(worker);
    CHECK(w.retval() == 1);
    CHECK_NOTHROW(any_w.retval());
}

TEST_CASE("a tasklet waiting for itself is a logic_error") {
    Tasklet<int> self;
    int caught = 0;
    auto body = [&]() -> Tasklet<int> {
        co_await WaitForIdle();
        try {
            co_await WaitForTasklet<int>(self);
        } catch (const std::logic_error&) {
            ++caught;
        }
        try {
            co_await self;
        } catch (const std::logic_error&) {
            ++caught;
        }
        try {
            co_await any(self, WaitForIdle());
        } catch (const std::logic_error&) {
            ++caught;
        }
        co_return 0;
    };
    self = body();
    test::run_with_watchdog(self);
    CHECK(caught == 3);
    self = Tasklet<int>();
}

TEST_CASE("awaiting a tasklet that ends cancelled throws Cancelled") {
    auto never_started = deferred(answer_after_idle, 1);
    auto suspended = []() -> Tasklet<int> {
        co_await WaitForTimeout(60000);
        co_return 1;
    }();
    int caught = 0;
    auto waiter = [&](Tasklet<int> target) -> Tasklet<> {
        try {
            co_await target;
        } catch (const Cancelled&) {
            ++caught;
        }
    };
    auto a = waiter(never_started);
    auto b = waiter(suspended);
    never_started.cancel();
    suspended.cancel();
    CHECK(a.done());
    CHECK(b.done());
    CHECK(caught == 2);
    CHECK_FALSE(a.cancelled());
}

TEST_CASE("WaitForTasklet on an empty handle is invalid_argument") {
    CHECK_THROWS_AS(WaitForTasklet<int>(Tasklet<int>()), std::invalid_argument);
    CHECK_THROWS_AS(WaitForTasklet<>(AnyTasklet()), std::invalid_argument);
}

TEST_CASE("several tasklets waiting for one are all resumed, in the order they began") {
    auto worker = answer_after_idle(2);
    std::vector<int> order;
    auto waiter = [&](int id) -> Tasklet<> {
        int v = co_await worker;
        order.push_back(id * 10 + v);
    };
    auto a = waiter(1);
    auto b = waiter(2);
    auto c = waiter(3);
    test::run_until([&] { return a.done() && b.done() && c.done(); });
    CHECK(order == std::vector<int>{12, 22, 32});
}

TEST_CASE("a tasklet awaiting another is resumed inside the other's ending, before the loop") {
    std::vector<std::string> log;
    auto worker_body = [&]() -> Tasklet<int> {
        co_await WaitForIdle();
        log.push_back("worker ends");
        co_return 1;
    };
    auto worker = worker_body();
    auto body = [&]() -> Tasklet<> {
        co_await worker;
        log.push_back("waiter resumes");
    };
    auto t = body();
    // One iteration of the loop: the idle fires, the worker ends and the waiter resumes.
    test::run_until([&] { return worker.done(); });
    CHECK(t.done());
    CHECK(log == std::vector<std::string>{"worker ends", "waiter resumes"});
}

TEST_CASE("a WaitForTasklet destroyed while armed never fires") {
    auto worker_body = []() -> Tasklet<int> {
        co_await WaitForTimeout(30);
        co_return 1;
    };
    auto worker = worker_body();
    bool first_by_timeout = false;
    bool second_by_timeout = false;
    auto body = [&]() -> Tasklet<> {
        auto w = std::make_unique<WaitForTasklet<int>>(worker);
        WaitForTimeout soon(5);
        co_await any(*w, soon);
        first_by_timeout = get_event().is(soon);
        w.reset(); // still armed: unlinked from the worker, which ends during the next wait
        WaitForTimeout later(80);
        co_await later;
        second_by_timeout = get_event().is(later);
    };
    auto t = body();
    test::run_with_watchdog(t);
    CHECK(first_by_timeout);
    CHECK(second_by_timeout);
    CHECK(worker.done());
}

namespace {

Tasklet<long> chain_leaf() {
    co_await WaitForIdle();
    co_return 0;
}

Tasklet<long> chain_link(Tasklet<long> next) {
    long v = co_await next;
    co_return v + 1;
}

} // namespace

TEST_CASE("a chain of 100,000 tasklets each awaiting the next completes without stack overflow",
          "[scale]") {
    constexpr long n = 100000;
    Tasklet<long> t = chain_leaf();
    for (long i = 0; i < n; ++i)
        t = chain_link(std::move(t)); // built iteratively: no recursion at creation either
    CHECK(test::run_with_watchdog(t, 120) == n);
}

TEST_CASE("a chain of 1,000 tasklets each awaiting the next completes") {
    constexpr long n = 1000;
    Tasklet<long> t = chain_leaf();
    for (long i = 0; i < n; ++i)
        t = chain_link(std::move(t));
    CHECK(test::run_with_watchdog(t) == n);
}

TEST_CASE("co_await on an ended tasklet still honours a pending cancel and resets the event") {
    auto finished = immediate(5);
    REQUIRE(finished.done());
    bool threw = false;
    bool event_reset = false;
    AnyTasklet self;
    auto body = [&]() -> Tasklet<> {
        co_await WaitForMessages("m");
        Message* before = get_event().message();
        int v = co_await finished; // nothing armed any more: completes at once
        event_reset = before && !get_event().message() && !get_event().condition() && v == 5;
        self.cancel(); // running: the next co_await throws, even on an ended tasklet
        try {
            co_await finished;
        } catch (const Cancelled&) {
            threw = true;
        }
    };
    auto t = body();
    self = t;
    t.send_message(Message("m"));
    CHECK(t.done());
    CHECK(event_reset);
    CHECK(threw);
    CHECK_FALSE(t.cancelled()); // the body caught it
    self = AnyTasklet();
}

// ---- API.md conformance ----

TEST_CASE("WaitForTasklet<> takes a Tasklet<T> of any T, and its members are as documented") {
    static_assert(std::is_same_v<decltype(std::declval<WaitForTasklet<int>&>().retval()), int&>);
    static_assert(std::is_same_v<decltype(std::declval<const WaitForTasklet<int>&>().tasklet()),
                                 Tasklet<int>>);
    static_assert(std::is_same_v<
                  decltype(operator co_await(std::declval<WaitForTasklet<int>&>()).await_resume()),
                  int&>);
    static_assert(std::is_same_v<WaitForTasklet<>, WaitForTasklet<void>>);
    auto worker = answer_after_idle(9);
    bool same_tasklet = false;
    auto body = [&]() -> Tasklet<int> {
        WaitForTasklet<> w(worker); // Tasklet<int> -> AnyTasklet
        same_tasklet = w.tasklet() == worker;
        co_await w;
        co_return worker.return_value();
    };
    auto t = body();
    CHECK(test::run_with_watchdog(t) == 9);
    CHECK(same_tasklet);
}

TEST_CASE("a WaitForTasklet awaited again after its tasklet ended completes at once each time") {
    auto worker = answer_after_idle(2);
    auto body = [&]() -> Tasklet<int> {
        WaitForTasklet<int> w(worker);
        int sum = co_await w;
        // Kept armed; the tasklet has ended: no main-loop iteration is needed.
        for (int i = 0; i < 3; ++i)
            sum += co_await w;
        co_return sum;
    };
    auto t = body();
    test::run_until([&] { return worker.done(); });
    CHECK(t.done());
    CHECK(t.return_value() == 8);
}

TEST_CASE("co_await t yields the result of the tasklet t named when the wait began, even if "
          "t is reassigned meanwhile") {
    auto worker = answer_after_idle(1);
    auto body = [&]() -> Tasklet<int> { co_return co_await worker; };
    auto t = body();
    REQUIRE_FALSE(t.done());
    // While the body is suspended in `co_await worker`, the handle it named is reassigned
    // to a tasklet that has already ended with another value (and the original handle is
    // dropped: the wait keeps the tasklet alive).
    worker = immediate(2);
    CHECK(test::run_with_watchdog(t) == 1);
}
