// Cancellation and failure containment (API.md "Cancellation", "Exceptions").
#include "support.hpp"

#include <stdexcept>
#include <string>
#include <vector>

using namespace tasklet;

TEST_CASE("cancelling a suspended tasklet resumes it at once and its co_await throws Cancelled") {
    std::vector<std::string> trace;
    auto t = [](std::vector<std::string>& trace) -> Tasklet<int> {
        try {
            co_await WaitForTimeout(60000);
            trace.push_back("timeout");
        } catch (const Cancelled&) {
            trace.push_back("cancelled");
        }
        co_return 7;
    }(trace);
    REQUIRE(t.state() == State::suspended);
    t.cancel();
    // Synchronous: the body ran its handler inside cancel().
    CHECK(trace == std::vector<std::string>{"cancelled"});
    CHECK(t.done());
    CHECK_FALSE(t.cancelled()); // it caught Cancelled and returned normally
    CHECK(t.return_value() == 7);
}

TEST_CASE("an uncaught Cancelled ends the tasklet cancelled and awaiting it throws Cancelled") {
    test::LogCapture log;
    auto victim = []() -> Tasklet<int> {
        co_await WaitForTimeout(60000);
        co_return 1;
    }();
    bool waiter_saw_cancelled = false;
    auto waiter = [](Tasklet<int> v, bool& saw) -> Tasklet<> {
        try {
            co_await v;
        } catch (const Cancelled&) {
            saw = true;
        }
    }(victim, waiter_saw_cancelled);
    victim.cancel();
    CHECK(victim.done());
    CHECK(victim.cancelled());
    CHECK(waiter_saw_cancelled);
    CHECK(waiter.done());
    CHECK_THROWS_AS(victim.return_value(), Cancelled);
    victim = {};
    waiter = {};
    CHECK(log.count(G_LOG_LEVEL_CRITICAL) == 0); // ending by cancellation is not a failure
}

TEST_CASE("a body that catches Cancelled may clean up and wait again") {
    auto t = []() -> Tasklet<std::string> {
        try {
            co_await WaitForTimeout(60000);
        } catch (const Cancelled&) {
        }
        co_await WaitForTimeout(5); // waiting again after cancellation works normally
        co_return "cleaned up";
    }();
    t.cancel();
    CHECK_FALSE(t.done());
    CHECK(test::run_with_watchdog(t) == "cleaned up");
    CHECK_FALSE(t.cancelled());
}

TEST_CASE("cancelling a deferred tasklet that never started ends it without running") {
    bool ran = false;
    int joined = 0;
    auto t = deferred([&ran]() -> Tasklet<> {
        ran = true;
        co_return;
    });
    t.add_join_callback([&joined](AnyTasklet) { ++joined; });
    t.cancel();
    CHECK(t.done());
    CHECK(t.cancelled());
    CHECK_FALSE(ran);
    CHECK(joined == 1);
    CHECK_THROWS_AS(t.start(), std::logic_error);
    CHECK_THROWS_AS(t.return_value(), Cancelled);
}

TEST_CASE("cancelling a running tasklet makes its next co_await throw Cancelled") {
    AnyTasklet self;
    std::vector<std::string> trace;
    auto t = [](AnyTasklet& self, std::vector<std::string>& trace) -> Tasklet<> {
        co_await WaitForIdle();
        self.cancel(); // running: only a request
        trace.push_back(self.state() == State::running ? "still running" : "?");
        try {
            co_await WaitForIdle();
            trace.push_back("not thrown");
        } catch (const Cancelled&) {
            trace.push_back("thrown at next co_await");
        }
        co_await WaitForIdle(); // the request was consumed: this wait is normal
        trace.push_back("waited normally");
    }(self, trace);
    self = t;
    test::run_with_watchdog(t);
    CHECK(trace ==
          std::vector<std::string>{"still running", "thrown at next co_await", "waited normally"});
}

TEST_CASE("a sender cancelled during delivery gets Cancelled from that co_await, after delivery") {
    std::vector<std::string> trace;
    auto dest = [](std::vector<std::string>& trace) -> Tasklet<> {
        WaitForMessages w("x");
        Message m = co_await w;
        trace.push_back("delivered");
        m.sender.cancel(); // the sender is in State::msgsend: a request
        trace.push_back(m.sender.state() == State::msgsend ? "sender in msgsend" : "?");
    }(trace);
    auto sender = [](AnyTasklet dest, std::vector<std::string>& trace) -> Tasklet<> {
        try {
            co_await Message("x", dest);
            trace.push_back("not thrown");
        } catch (const Cancelled&) {
            trace.push_back("sender got Cancelled");
        }
    }(dest, trace);
    CHECK(trace ==
          std::vector<std::string>{"delivered", "sender in msgsend", "sender got Cancelled"});
    CHECK(sender.done());
    CHECK(dest.done());
}

TEST_CASE("cancelling an ended tasklet does nothing") {
    auto t = []() -> Tasklet<int> { co_return 3; }();
    REQUIRE(t.done());
    t.cancel();
    CHECK_FALSE(t.cancelled());
    CHECK(t.return_value() == 3);
}

TEST_CASE("cancellation does not propagate to the tasklet being awaited") {
    auto inner = []() -> Tasklet<int> {
        co_await WaitForTimeout(10);
        co_return 5;
    }();
    auto outer = [](Tasklet<int> inner) -> Tasklet<> { co_await inner; }(inner);
    outer.cancel();
    CHECK(outer.cancelled());
    CHECK_FALSE(inner.done());
    CHECK(test::run_with_watchdog(inner) == 5);
}

TEST_CASE("join callbacks run for a cancelled tasklet") {
    int joined = 0;
    AnyTasklet seen;
    auto t = []() -> Tasklet<> { co_await WaitForTimeout(60000); }();
    t.add_join_callback([&](AnyTasklet which) {
        ++joined;
        seen = which;
    });
    t.cancel();
    CHECK(joined == 1);
    CHECK(seen == t);
}

TEST_CASE("cancel disarms every armed condition, whatever the wait") {
    // Conditions owned outside the tasklet, so their state can be inspected afterwards.
    WaitForTimeout timeout(60000);
    WaitForIdle idle(G_PRIORITY_LOW);
    WaitForMessages messages("never");
    auto other = []() -> Tasklet<> { co_await WaitForTimeout(60000); }();
    WaitForTasklet<> join(other);

    auto scenario = [&](int point) -> Tasklet<> {
        switch (point) {
        case 0:
            co_await timeout;
            break;
        case 1:
            co_await idle;
            break;
        case 2:
            co_await messages;
            break;
        case 3:
            co_await join;
            break;
        case 4:
            co_await any(timeout, idle, messages, join);
            break;
        case 5:
            co_await any(timeout, WaitForTimeout(50000), other);
            break;
        }
    };
    for (int point = 0; point < 6; ++point) {
        INFO("await point " << point);
        auto t = scenario(point);
        REQUIRE(t.state() == State::suspended);
        t.cancel();
        CHECK(t.cancelled());
        CHECK_FALSE(timeout.armed());
        CHECK_FALSE(idle.armed());
        CHECK_FALSE(messages.armed());
        CHECK_FALSE(join.armed());
    }
    other.cancel();
}

TEST_CASE("an exception before the first suspension ends the tasklet at once") {
    test::LogCapture log;
    auto t = []() -> Tasklet<int> {
        throw std::runtime_error("early");
        co_return 0;
    }();
    CHECK(t.done());
    CHECK_FALSE(t.cancelled());
    CHECK_THROWS_WITH(t.return_value(), "early");
    t = {};
    CHECK(log.count(G_LOG_LEVEL_CRITICAL) == 0); // observed through return_value()
}

TEST_CASE("an unobserved failure is logged once, naming the tasklet and the exception") {
    test::LogCapture log;
    {
        auto t = []() -> Tasklet<> {
            co_await WaitForIdle();
            throw std::runtime_error("nobody looks at me");
        }();
        t.set_name("lonely");
        test::run_until([&] { return t.done(); });
    }
    REQUIRE(log.count(G_LOG_LEVEL_CRITICAL) == 1);
    CHECK(log.count(G_LOG_LEVEL_CRITICAL, "lonely") == 1);
    CHECK(log.count(G_LOG_LEVEL_CRITICAL, "nobody looks at me") == 1);
}

TEST_CASE("a fire-and-forget tasklet that fails is logged when it ends") {
    test::LogCapture log;
    bool ended = false;
    [](bool& ended) -> Tasklet<> {
        co_await WaitForIdle();
        ended = true;
        throw std::logic_error("fire and forget");
    }(ended);
    test::run_until([&] { return ended; });
    CHECK(log.count(G_LOG_LEVEL_CRITICAL, "fire and forget") == 1);
}

TEST_CASE("an exception thrown inside synchronous message delivery stays in the receiver") {
    test::LogCapture log;
    auto receiver = []() -> Tasklet<> {
        WaitForMessages w("boom");
        co_await w;
        throw std::runtime_error("receiver failed");
    }();
    bool sender_continued = false;
    auto sender = [](AnyTasklet r, bool& continued) -> Tasklet<> {
        co_await Message("boom", r);
        continued = true;
    }(receiver, sender_continued);
    CHECK(sender_continued);
    CHECK(sender.done());
    CHECK(receiver.done());
    CHECK_THROWS_WITH(receiver.return_value(), "receiver failed");
}

TEST_CASE("a throwing join callback is logged and does not stop the others") {
    test::LogCapture log;
    int ran = 0;
    auto t = []() -> Tasklet<> { co_await WaitForIdle(); }();
    t.add_join_callback([](AnyTasklet) { throw std::runtime_error("bad callback"); });
    t.add_join_callback([&ran](AnyTasklet) { ++ran; });
    test::run_with_watchdog(t);
    CHECK(ran == 1);
    CHECK(log.count(G_LOG_LEVEL_CRITICAL, "bad callback") == 1);
}

// ---- API.md conformance ----

TEST_CASE("Cancelled is a std::exception: a body catching std::exception sees cancellation") {
    std::string what;
    auto body = [&]() -> Tasklet<int> {
        try {
            co_await WaitForTimeout(60000);
        } catch (const std::exception& e) {
            what = e.what();
            throw;
        }
        co_return 0;
    };
    auto t = body();
    t.cancel();
    CHECK(t.done());
    CHECK(t.cancelled());
    CHECK_FALSE(what.empty());
    CHECK_THROWS_AS(t.return_value(), Cancelled);
}

TEST_CASE("a tasklet cancelled while it awaits another tasklet leaves the other running") {
    auto worker = []() -> Tasklet<int> {
        co_await WaitForIdle();
        co_return 5;
    }();
    auto waiter = [](Tasklet<int> w) -> Tasklet<int> { co_return co_await w; }(worker);
    waiter.cancel();
    CHECK(waiter.cancelled());
    CHECK_FALSE(worker.done());
    CHECK(test::run_with_watchdog(worker) == 5);
}
