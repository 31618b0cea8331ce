// Message passing at its edges: user code run by dropping a queued message, deliveries
// across contexts of one thread, receivers and senders that end, fail or are cancelled
// inside a synchronous delivery, join callbacks that remove themselves and throw. The
// basics: test_messages.
#include "support.hpp"

#include <tasklet/tasklet.hpp>

#include <any>
#include <memory>
#include <string>
#include <utility>
#include <vector>

using namespace tasklet;

namespace {

/// A message value that, when the message holding it is destroyed (dropped by a filter, say),
/// sends a message named `name` to `*to` — an RAII "reply if nobody handled me" token. Only
/// the original sends: copies and moved-from objects are inert.
struct SendOnDestroy {
    AnyTasklet* to;
    std::string name;
    bool armed = true;
    SendOnDestroy(AnyTasklet* t, std::string n) : to(t), name(std::move(n)) {}
    SendOnDestroy(const SendOnDestroy& o) : to(o.to), name(o.name), armed(false) {}
    SendOnDestroy(SendOnDestroy&& o) noexcept
        : to(o.to), name(std::move(o.name)), armed(std::exchange(o.armed, false)) {}
    SendOnDestroy& operator=(const SendOnDestroy&) = delete;
    ~SendOnDestroy() {
        if (armed && to && *to)
            to->send_message(Message(name));
    }
};

} // namespace

// Destroying a message that a wait drops runs user code (the value's destructor). A message
// that code sends to the (running) tasklet must still be seen by that same wait; it once
// arrived behind the filter's back, and the wait suspended with an accepted message queued.
TEST_CASE("a message sent while a wait drops a queued message is delivered by that wait") {
    test::PrivateContext ctx;
    AnyTasklet r_handle;
    bool got = false;
    auto r = deferred([&got]() -> Tasklet<> {
        co_await WaitForMessages("go");
        got = true;
    });
    r_handle = r;
    // Queued (not started); "junk" has no action in the first wait: dropped there, and its
    // value's destructor sends "go", which that same wait accepts.
    r.send_message(Message("junk", {}, std::any(SendOnDestroy(&r_handle, "go"))));
    r.start();
    test::run_until([&] { return got; }, 2.0, ctx.get());
    CHECK(got);
    r.cancel();
    r_handle = {};
}

// The same while the tasklet is suspended (the queue is filtered again because a
// WaitForMessages of its wait was destroyed): the dropped message's destructor delivers an
// accepted message in place, so the receiver runs and waits again inside that filtering. It
// once filtered from a node already freed (ASan: use after free, double free).
TEST_CASE("a message sent while a refilter drops a queued message leaves the queue intact") {
    test::PrivateContext ctx;
    test::LogCapture log; // g_debug lines are formatted (they name the dropped message)
    const std::string long_name(40, 'j'); // not in the small-string buffer
    AnyTasklet r_handle;
    std::vector<std::string> got;
    WaitForMessages accept("go");
    auto defer = std::make_unique<WaitForMessages>(NameList(), NameList{long_name, "later"});
    auto body = [&]() -> Tasklet<> {
        co_await any(accept, *defer);
        got.push_back(get_event().message()->name);
        co_await accept;
        got.push_back(get_event().message()->name);
        co_await accept;
    };
    auto r = body();
    r_handle = r;
    r.send_message(Message(long_name, {}, std::any(SendOnDestroy(&r_handle, "go")))); // deferred
    r.send_message(Message("later"));                                                 // deferred
    defer.reset(); // neither name has an action now: both dropped by a refilter from the loop
    test::run_until([&] { return !got.empty(); }, 2.0, ctx.get());
    test::drain(ctx.get());
    CHECK(got == std::vector<std::string>{"go"});
    r.send_message(Message("go"));
    CHECK(got == std::vector<std::string>{"go", "go"});
    r.cancel();
    r_handle = {};
}

// A message queued for a deferred tasklet that never starts holds its `sender`; a sender
// holding the destination (a parameter lives until the frame is freed) closes a cycle that
// dropping the handles cannot free (README: start or cancel a deferred tasklet). Cancelling
// the never-started tasklet ends it and clears its queue, which frees both.
TEST_CASE("a never-started deferred tasklet cancelled instead of dropped frees the senders of "
          "its queued messages") {
    test::PrivateContext ctx;
    auto token = std::make_shared<int>(0);
    std::weak_ptr<int> weak = token;
    {
        auto d = deferred([](std::shared_ptr<int>) -> Tasklet<> { co_await WaitForMessages("x"); },
                          std::move(token));
        auto s = [](AnyTasklet to) -> Tasklet<> { co_await Message("x", to); }(d);
        CHECK(s.done());
        d.cancel();
        CHECK(d.done());
    }
    test::drain(ctx.get());
    CHECK(weak.expired());
}

// Synchronous delivery crosses contexts of one thread; the receiver's own waits stay on
// its own context (the sender's loop does not serve them).
TEST_CASE("a message to a tasklet of another context on the same thread is delivered at once, "
          "and the receiver keeps waiting on its own context") {
    test::PrivateContext a;
    GMainContext* b = g_main_context_new();
    std::vector<std::string> order;
    g_main_context_push_thread_default(b);
    Tasklet<> r = [](std::vector<std::string>& order) -> Tasklet<> {
        co_await WaitForMessages("ping");
        order.push_back("r got ping");
        co_await WaitForTimeout(0);
        order.push_back("r timeout");
    }(order);
    g_main_context_pop_thread_default(b);
    CHECK(r.context() == b);
    auto s = [](AnyTasklet to, std::vector<std::string>& order) -> Tasklet<> {
        co_await Message("ping", to);
        order.push_back("s continued");
    }(r, order);
    CHECK(s.context() == a.get());
    CHECK(order == std::vector<std::string>{"r got ping", "s continued"});
    test::drain(a.get());
    CHECK(order.size() == 2); // r's timeout is attached to b
    test::run_until([&] { return r.done(); }, 5.0, b);
    CHECK(order.back() == "r timeout");
    r = {};
    test::drain(b);
    g_main_context_unref(b);
}

// A reply queued while the sender is in msgsend survives the sender's cancellation during
// that delivery: after catching Cancelled its next wait takes it at once.
TEST_CASE("a reply sent to a sender that the receiver cancels during the delivery is not lost") {
    test::PrivateContext ctx;
    auto r = []() -> Tasklet<> {
        Message m = co_await WaitForMessages("req");
        m.sender.cancel();                   // in msgsend: its co_await throws after delivery
        co_await Message("reply", m.sender); // queued: it is sending
        co_await WaitForMessages("never");
    }();
    std::string got;
    auto s = [](AnyTasklet to, std::string& got) -> Tasklet<> {
        try {
            co_await Message("req", to);
        } catch (const Cancelled&) {
            got = "cancelled";
        }
        Message m = co_await WaitForMessages("reply");
        got += "+" + m.name;
    }(r, got);
    CHECK(got == "cancelled+reply"); // all synchronous: the reply was already queued
    CHECK(s.done());
    CHECK_FALSE(s.cancelled());
    r.cancel();
}

// A receiver whose only handle is the message's own dest may end inside the synchronous
// delivery; the sender continues safely and the receiver's frame goes with the message.
TEST_CASE("a receiver held only by the message it accepts ends inside the delivery and is freed "
          "with that message") {
    test::PrivateContext ctx;
    auto token = std::make_shared<int>(0);
    std::weak_ptr<int> weak = token;
    AnyTasklet r = [](std::shared_ptr<int>) -> Tasklet<> {
        co_await WaitForMessages("end");
    }(std::move(token));
    bool ended_during = false, alive_during = false, freed_after = false;
    auto s = [](AnyTasklet to, std::weak_ptr<int> w, bool& ended, bool& during,
                bool& after) -> Tasklet<> {
        {
            Message m("end", std::move(to));
            co_await std::move(m); // delivered from `m` itself
            ended = m.dest.done();
            during = !w.expired(); // m.dest holds the ended frame
        }
        after = w.expired();
    }(std::move(r), weak, ended_during, alive_during, freed_after);
    CHECK(s.done());
    CHECK(ended_during);
    CHECK(alive_during);
    CHECK(freed_after);
}

// An unobserved failure whose last handle is the `sender` of a message queued elsewhere is
// logged when that message is dropped by a filter (never lost, never earlier).
TEST_CASE("a failed tasklet held only by a queued message's sender is logged when the message "
          "is dropped") {
    test::PrivateContext ctx;
    test::LogCapture log;
    auto r = []() -> Tasklet<> {
        WaitForMessages defer_note(NameList(), NameList("note"));
        WaitForMessages go("go");
        co_await any(defer_note, go);
        co_await WaitForMessages("never"); // "note" has no action now: dropped
    }();
    [](AnyTasklet to) -> Tasklet<> {
        co_await Message("note", to);
        throw std::runtime_error("failure held by a queued message");
    }(r);
    CHECK(log.count(G_LOG_LEVEL_CRITICAL, "failure held by a queued message") == 0);
    r.send_message(Message("go"));
    CHECK(log.count(G_LOG_LEVEL_CRITICAL, "failure held by a queued message") == 1);
    r.cancel();
}

// A join callback that removes itself (false: it is running) and then throws is logged,
// and the callbacks after it still run.
TEST_CASE("a join callback that removes itself and throws does not stop the later ones") {
    test::PrivateContext ctx;
    test::LogCapture log;
    auto t = []() -> Tasklet<> { co_await WaitForMessages("x"); }();
    std::vector<int> ran;
    bool removed = true;
    JoinId self_id;
    self_id = t.add_join_callback([&](AnyTasklet me) {
        ran.push_back(1);
        removed = me.remove_join_callback(self_id);
        throw std::runtime_error("join boom");
    });
    t.add_join_callback([&](AnyTasklet) { ran.push_back(2); });
    t.send_message(Message("x"));
    CHECK(t.done());
    CHECK(ran == std::vector<int>{1, 2});
    CHECK_FALSE(removed);
    CHECK(log.count(G_LOG_LEVEL_CRITICAL, "join boom") == 1);
}
