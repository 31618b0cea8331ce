// Specification of messages.hpp: Message, NameList, WaitForMessages, and kiwi's message
// semantics (accept / defer / discard, synchronous delivery, msgsend queueing).
#include "support.hpp"

#include <any>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

using namespace tasklet;

namespace {

using Names = std::vector<std::string>;

/// Waits a tasklet takes in turn, each an any() of the conditions listed.
using Waits = std::vector<std::vector<WaitCondition*>>;

/// Takes the waits `before` in turn (what they receive is not recorded), then receives messages
/// under `w` until "stop" arrives (which `w` must accept), recording names.
Tasklet<> collect(WaitForMessages& w, Names& names, Waits before = {}) {
    for (const std::vector<WaitCondition*>& wait : before)
        co_await any(std::span<WaitCondition* const>(wait));
    while (true) {
        Message m = co_await w;
        if (m.name == "stop")
            co_return;
        names.push_back(m.name);
    }
}

Names names_of(const NameList& l) { return {l.names().begin(), l.names().end()}; }

} // namespace

// ---- accept / defer / discard --------------------------------------------------------------

TEST_CASE("an accepted message resumes the receiver at once and co_await yields it") {
    WaitForMessages w("ping");
    std::string name;
    int value = 0;
    AnyTasklet dest;
    bool event_matches = false;
    auto body = [&]() -> Tasklet<> {
        Message m = co_await w;
        name = m.name;
        value = m.value_as<int>();
        dest = m.dest;
        Event& e = get_event();
        event_matches = e.is(w) && e.message() && e.message()->name == "ping" &&
                        e.message()->value_as<int>() == 3;
    };
    auto t = body();
    t.send_message(Message("ping", t, 3));
    CHECK(t.done()); // delivered synchronously from the tasklet's own thread
    CHECK(name == "ping");
    CHECK(value == 3);
    CHECK(dest == t);
    CHECK(event_matches);
    dest = AnyTasklet();
}

TEST_CASE("a deferred message stays queued and is accepted by a later wait") {
    Names got;
    auto body = [&]() -> Tasklet<> {
        WaitForMessages first("a", "b");
        Message m = co_await first;
        got.push_back(m.name);
        WaitForMessages second({"b"});
        m = co_await second;
        got.push_back(m.name);
    };
    auto t = body();
    t.send_message(Message("b"));
    CHECK(got.empty());
    t.send_message(Message("a"));
    CHECK(got == Names{"a", "b"}); // "b" was accepted by the second wait without suspending
    CHECK(t.done());
}

TEST_CASE("a discarded message is dropped") {
    Names got;
    WaitForMessages gate("go", {}, {});
    WaitForMessages first({}, "x", "y"); // defer x, discard y
    WaitForMessages second({"x", "y", "stop"});
    auto t = collect(second, got, {{&gate, &first}});
    t.send_message(Message("y"));
    t.send_message(Message("x"));
    t.send_message(Message("go"));
    t.send_message(Message("stop"));
    CHECK(t.done());
    CHECK(got == Names{"x"});
}

TEST_CASE("a message whose name has no action is dropped with a g_debug note") {
    test::LogCapture log;
    Names got;
    WaitForMessages w({"stop", "known"});
    auto t = collect(w, got);
    t.send_message(Message("unknown"));
    CHECK(log.count(G_LOG_LEVEL_DEBUG, "unknown") == 1);
    t.send_message(Message("known"));
    t.send_message(Message("stop"));
    CHECK(got == Names{"known"});
    CHECK(log.count(G_LOG_LEVEL_CRITICAL) == 0);
}

TEST_CASE("for a name listed by several conditions of a wait, the later one wins") {
    WaitForMessages accepts("x");
    WaitForMessages discards({}, {}, "x");
    WaitForMessages also_accepts({"x", "stop"});
    std::vector<WaitCondition*> fired;
    auto body = [&]() -> Tasklet<> {
        co_await any(accepts, discards, also_accepts);
        fired.push_back(get_event().condition());
        co_await any(discards, also_accepts, accepts);
        fired.push_back(get_event().condition());
    };
    auto t = body();
    t.send_message(Message("x")); // first wait: "also_accepts", last in the wait, wins
    t.send_message(Message("x"));
    CHECK(t.done());
    REQUIRE(fired.size() == 2);
    CHECK(fired[0] == &also_accepts);
    CHECK(fired[1] == &accepts);
}

TEST_CASE("a later discarding condition hides an earlier accepting one") {
    WaitForMessages accepts({"x", "stop"});
    WaitForMessages discards({}, {}, "x");
    Names got;
    auto body = [&]() -> Tasklet<> {
        while (true) {
            co_await any(accepts, discards);
            std::string n = get_event().message()->name;
            if (n == "stop")
                co_return;
            got.push_back(n);
        }
    };
    auto t = body();
    t.send_message(Message("x"));
    t.send_message(Message("stop"));
    CHECK(t.done());
    CHECK(got.empty());
}

TEST_CASE("queued messages are delivered in arrival order") {
    Names got;
    WaitForMessages hold("go", {"a", "b"});
    WaitForMessages take({"a", "b", "stop"});
    auto t = collect(take, got, {{&hold}});
    for (const char* n : {"a", "b", "a", "b", "b", "a"})
        t.send_message(Message(n));
    t.send_message(Message("go"));
    t.send_message(Message("stop"));
    CHECK(t.done());
    CHECK(got == Names{"a", "b", "a", "b", "b", "a"});
}

TEST_CASE("a switch of wait filters the queue once against the new actions") {
    Names got;
    WaitForMessages hold("go", {"a", "b"});
    // Then "a" is discarded, "b" still deferred: "a" is gone for good.
    WaitForMessages middle("next", "b", "a");
    WaitForMessages take({"a", "b", "stop"});
    auto t = collect(take, got, {{&hold}, {&middle}});
    t.send_message(Message("a"));
    t.send_message(Message("b"));
    t.send_message(Message("go"));
    t.send_message(Message("next"));
    t.send_message(Message("stop"));
    CHECK(t.done());
    CHECK(got == Names{"b"});
}

// ---- sending from a tasklet ----------------------------------------------------------------

TEST_CASE("co_await Message runs the destination before the sender continues") {
    std::vector<std::string> log;
    AnyTasklet sender_seen;
    auto receiver_body = [&]() -> Tasklet<> {
        WaitForMessages w("hi");
        Message m = co_await w;
        log.push_back("received " + m.value_as<std::string>());
        sender_seen = m.sender;
    };
    auto sender_body = [&](AnyTasklet dest) -> Tasklet<> {
        log.push_back("sending");
        co_await Message("hi", dest, std::string("there"));
        log.push_back("sent");
    };
    auto receiver = receiver_body();
    auto sender = sender_body(receiver);
    CHECK(log == std::vector<std::string>{"sending", "received there", "sent"});
    CHECK(sender_seen == sender);
    CHECK(receiver.done());
    CHECK(sender.done());
    sender_seen = AnyTasklet();
}

TEST_CASE("a ping/echo exchange completes before the main loop runs") {
    auto echo = []() -> Tasklet<int> {
        WaitForMessages w({"ping", "quit"});
        int echoed = 0;
        while (true) {
            Message m = co_await w;
            if (m.name == "quit")
                co_return echoed;
            co_await Message("pong", m.sender, m.value_as<int>() + 1);
            ++echoed;
        }
    };
    auto pinger = [](AnyTasklet peer, int rounds) -> Tasklet<int> {
        WaitForMessages pong("pong");
        int total = 0;
        for (int i = 0; i < rounds; ++i) {
            co_await Message("ping", peer, i);
            // The reply was queued while we were sending (State::msgsend); it is accepted now.
            Message reply = co_await pong;
            total += reply.value_as<int>();
        }
        co_await Message("quit", peer);
        co_return total;
    };
    auto e = echo();
    auto p = pinger(e, 10);
    // No main-loop iteration has happened: everything ran synchronously.
    CHECK(p.done());
    CHECK(e.done());
    CHECK(e.return_value() == 10);
    CHECK(p.return_value() == 55); // (0+1) + (1+1) + ... + (9+1)
}

TEST_CASE("messages to a sending tasklet are queued and delivered at its next wait") {
    State sender_state_seen = State::zombie;
    std::vector<std::string> log;
    auto receiver_body = [&]() -> Tasklet<> {
        WaitForMessages w("req");
        Message m = co_await w;
        sender_state_seen = m.sender.state();
        co_await Message("reply", m.sender);
        log.push_back("replied");
    };
    auto sender_body = [&](AnyTasklet dest) -> Tasklet<> {
        WaitForMessages w("reply");
        co_await Message("req", dest);
        log.push_back("continued");
        co_await w;
        log.push_back("got reply");
    };
    auto receiver = receiver_body();
    auto sender = sender_body(receiver);
    CHECK(sender_state_seen == State::msgsend);
    CHECK(log == std::vector<std::string>{"replied", "continued", "got reply"});
    CHECK(sender.done());
}

TEST_CASE("a sender cancelled during its delivery gets Cancelled once the delivery is done") {
    std::vector<std::string> log;
    auto receiver_body = [&]() -> Tasklet<> {
        WaitForMessages w("m");
        Message m = co_await w;
        log.push_back("received");
        m.sender.cancel();
        log.push_back("cancelled sender");
    };
    auto sender_body = [&](AnyTasklet dest) -> Tasklet<> {
        try {
            co_await Message("m", dest);
            log.push_back("not reached");
        } catch (const Cancelled&) {
            log.push_back("sender got Cancelled");
            throw;
        }
    };
    auto receiver = receiver_body();
    auto sender = sender_body(receiver);
    CHECK(log == std::vector<std::string>{"received", "cancelled sender", "sender got Cancelled"});
    CHECK(sender.done());
    CHECK(sender.cancelled());
}

TEST_CASE("a message a tasklet sends to itself is delivered at its next wait") {
    std::vector<std::string> log;
    AnyTasklet self;
    auto body = [&]() -> Tasklet<> {
        WaitForMessages w("note");
        co_await WaitForIdle();
        co_await Message("note", self, 5);
        log.push_back("sent");
        Message m = co_await w;
        log.push_back("got " + std::to_string(m.value_as<int>()));
        CHECK(m.sender == self);
    };
    auto t = body();
    self = t;
    test::run_with_watchdog(t);
    CHECK(log == std::vector<std::string>{"sent", "got 5"});
    self = AnyTasklet();
}

TEST_CASE("co_await Message produces no event") {
    bool kept = false;
    auto sink_body = []() -> Tasklet<> {
        WaitForMessages w("m");
        co_await w;
    };
    auto sink = sink_body();
    auto body = [&]() -> Tasklet<> {
        WaitForIdle idle;
        co_await idle;
        co_await Message("m", sink);
        kept = get_event().is(idle);
    };
    auto t = body();
    test::run_with_watchdog(t);
    CHECK(kept);
    CHECK(sink.done());
}

TEST_CASE("co_await Message without a dest is invalid_argument") {
    bool threw = false;
    auto body = [&]() -> Tasklet<> {
        try {
            co_await Message("nowhere");
        } catch (const std::invalid_argument&) {
            threw = true;
        }
    };
    auto t = body();
    CHECK(t.done());
    CHECK(threw);
}

TEST_CASE("a message to a tasklet that has ended is dropped with a g_debug note") {
    test::LogCapture log;
    auto ended = []() -> Tasklet<> { co_return; }();
    REQUIRE(ended.done());
    bool continued = false;
    auto body = [&]() -> Tasklet<> {
        co_await Message("late", ended);
        continued = true;
    };
    auto t = body();
    CHECK(continued);
    CHECK(log.count(G_LOG_LEVEL_DEBUG, "late") == 1);
    ended.send_message(Message("later"));
    CHECK(log.count(G_LOG_LEVEL_DEBUG, "later") == 1);
}

TEST_CASE("a message sent before the destination's first wait is queued for it") {
    Names got;
    WaitForMessages w({"early", "stop"});
    auto t = deferred(collect, std::ref(w), std::ref(got), Waits{});
    t.send_message(Message("early"));
    t.start();
    t.send_message(Message("stop"));
    CHECK(t.done());
    CHECK(got == Names{"early"});
}

// ---- sending from outside ------------------------------------------------------------------

TEST_CASE("send_message() sets an empty dest to the tasklet and leaves sender empty") {
    WaitForMessages w("m");
    AnyTasklet dest;
    AnyTasklet sender;
    auto body = [&]() -> Tasklet<> {
        Message m = co_await w;
        dest = m.dest;
        sender = m.sender;
    };
    auto t = body();
    t.send_message(Message("m"));
    CHECK(t.done());
    CHECK(dest == t);
    CHECK_FALSE(sender);
    dest = AnyTasklet();
}

TEST_CASE("send_message() with a dest naming another tasklet is invalid_argument") {
    WaitForMessages w("m");
    auto body = [&]() -> Tasklet<> { co_await w; };
    auto t = body();
    auto other = []() -> Tasklet<> { co_return; }();
    CHECK_THROWS_AS(t.send_message(Message("m", other)), std::invalid_argument);
    CHECK_FALSE(t.done());
    t.send_message(Message("m", t));
    CHECK(t.done());
}

// ---- NameList and WaitForMessages ----------------------------------------------------------

TEST_CASE("NameList accepts none, one or several names in every spelling") {
    const char* null_name = nullptr;
    std::string s = "one";
    std::string_view sv = "view";
    std::vector<std::string> v{"a", "b", "c"};
    CHECK(names_of(NameList()).empty());
    CHECK(names_of(NameList(nullptr)).empty());
    CHECK(names_of(NameList(null_name)).empty());
    CHECK(names_of(NameList("lit")) == Names{"lit"});
    CHECK(names_of(NameList(s)) == Names{"one"});
    CHECK(names_of(NameList(sv)) == Names{"view"});
    CHECK(names_of(NameList{"x", "y"}) == Names{"x", "y"});
    CHECK(names_of(NameList(v)) == Names{"a", "b", "c"});
}

TEST_CASE("WaitForMessages takes a NameList in every spelling for each action") {
    std::vector<std::string> v{"v1", "v2"};
    WaitForMessages a(nullptr, "d", std::string("x"));
    WaitForMessages b(std::string_view("s"), {"d1", "d2"}, v);
    WaitForMessages c(v);
    CHECK(a.action_for("d") != nullptr);
    CHECK(*a.action_for("d") == MessageAction::defer);
    CHECK(*a.action_for("x") == MessageAction::discard);
    CHECK(*b.action_for("s") == MessageAction::accept);
    CHECK(*b.action_for("d2") == MessageAction::defer);
    CHECK(*b.action_for("v2") == MessageAction::discard);
    CHECK(*c.action_for("v1") == MessageAction::accept);
    CHECK(c.action_for("nope") == nullptr);
}

TEST_CASE("WaitForMessages w({\"quit\", \"print\"}) accepts both names") {
    WaitForMessages w({"quit", "print"});
    Names got;
    auto body = [&]() -> Tasklet<> {
        while (true) {
            Message m = co_await w;
            got.push_back(m.name);
            if (m.name == "quit")
                co_return;
        }
    };
    auto t = body();
    t.send_message(Message("print", {}, 1));
    t.send_message(Message("quit"));
    CHECK(t.done());
    CHECK(got == Names{"print", "quit"});
}

TEST_CASE("an empty name, or a name in two lists, is invalid_argument") {
    CHECK_THROWS_AS(WaitForMessages(""), std::invalid_argument);
    CHECK_THROWS_AS(WaitForMessages({"a", ""}), std::invalid_argument);
    CHECK_THROWS_AS(WaitForMessages("a", "a"), std::invalid_argument);
    CHECK_THROWS_AS(WaitForMessages("a", {}, "a"), std::invalid_argument);
    CHECK_THROWS_AS(WaitForMessages({}, "b", "b"), std::invalid_argument);
    CHECK_THROWS_AS(WaitForMessages({"a", "a"}), std::invalid_argument);
}

// ---- Message -------------------------------------------------------------------------------

TEST_CASE("Message::value_as<V>() casts the value and throws bad_any_cast on a mismatch") {
    Message m("n", {}, 42);
    CHECK(m.value_as<int>() == 42);
    m.value_as<int>() = 43;
    CHECK(std::any_cast<int>(m.value) == 43);
    const Message& cm = m;
    CHECK(cm.value_as<int>() == 43);
    CHECK_THROWS_AS(m.value_as<long>(), std::bad_any_cast);
    CHECK_THROWS_AS(cm.value_as<std::string>(), std::bad_any_cast);
    Message empty("e");
    CHECK_FALSE(empty.value.has_value());
    CHECK_THROWS_AS(empty.value_as<int>(), std::bad_any_cast);
    CHECK_FALSE(empty.dest);
    CHECK_FALSE(empty.sender);
}

// ---- the delivery path: in place, copies, the queue -------------------------------------

TEST_CASE("co_await on an lvalue Message sends a copy and leaves the original as it was") {
    Names got;
    std::vector<int> values;
    auto receiver_body = [&]() -> Tasklet<> {
        WaitForMessages w("n");
        for (int i = 0; i < 2; ++i) {
            Message m = co_await w;
            got.push_back(m.name);
            values.push_back(m.value_as<int>());
        }
    };
    auto receiver = receiver_body();
    bool sender_empty = false;
    auto sender_body = [&]() -> Tasklet<> {
        Message m("n", receiver, 7);
        co_await m; // a copy goes out: `m` keeps its value and gets no sender
        sender_empty = !m.sender;
        m.value = 8;
        co_await m;
    };
    auto sender = sender_body();
    CHECK(sender.done());
    CHECK(receiver.done());
    CHECK(sender_empty);
    CHECK(got == Names{"n", "n"});
    CHECK(values == std::vector<int>{7, 8});
}

TEST_CASE("a message delivered in place stays readable through get_event() until the next wait") {
    // The receiver's event points at the sender's message while the receiver runs; the
    // co_await result is a copy of its own. Long names live on the heap, so under ASan a
    // read through a dangling event would be caught.
    const std::string big(100, 'b'), next(100, 'n');
    std::string moved_name, seen_before, seen_after_send, seen_next;
    AnyTasklet other;
    auto receiver_body = [&]() -> Tasklet<> {
        WaitForMessages w({big, next});
        Message m = co_await w;
        moved_name = std::move(m.name); // ours to move: the event's message is untouched
        seen_before = get_event().message()->name;
        co_await Message("poke", other); // sending produces no event
        seen_after_send = get_event().message() ? get_event().message()->name : "";
        co_await w;
        seen_next = get_event().message() ? get_event().message()->name : "";
    };
    auto other_body = []() -> Tasklet<> { co_await WaitForMessages("poke"); };
    other = other_body();
    auto receiver = receiver_body();
    auto sender_body = [&]() -> Tasklet<> { co_await Message(big, receiver, 1); };
    auto sender = sender_body();
    CHECK(sender.done());
    CHECK(other.done());
    CHECK(moved_name == big);
    CHECK(seen_before == big);
    CHECK(seen_after_send == big);
    receiver.send_message(Message(next));
    CHECK(receiver.done());
    CHECK(seen_next == next);
}

TEST_CASE("a long queue keeps arrival order while taken from the middle and filtered") {
    // 100 deferred messages pile up; then a's are taken one
    // by one from behind queued b's while more b's keep arriving (nodes are recycled);
    // finally a wait that discards a's drains the b's in order.
    Names got;
    auto body = [&]() -> Tasklet<> {
        WaitForMessages hold("go", {"a", "b"});
        co_await hold;
        WaitForMessages take_a("a", "b");
        for (int i = 0; i < 150; ++i) {
            Message m = co_await take_a;
            got.push_back(m.name + std::to_string(m.value_as<int>()));
        }
        WaitForMessages only_b({"b", "stop"}, {}, "a");
        while (true) {
            Message m = co_await only_b;
            if (m.name == "stop")
                break;
            got.push_back(m.name + std::to_string(m.value_as<int>()));
        }
    };
    auto t = body();
    Names want_a, want_b;
    auto send = [&](int i) {
        std::string name = i % 3 == 0 ? "b" : "a";
        t.send_message(Message(name, {}, i));
        (name == "b" ? want_b : want_a).push_back(name + std::to_string(i));
    };
    int i = 0;
    for (; i < 100; ++i)
        send(i);
    CHECK(got.empty());
    t.send_message(Message("go"));
    CHECK(got == want_a);       // the 66 queued a's, taken without suspending
    while (want_a.size() < 160) // 10 more a's than the loop takes: discarded by the last wait
        send(i++);
    t.send_message(Message("stop"));
    REQUIRE(t.done());
    Names want(want_a.begin(), want_a.begin() + 150);
    want.insert(want.end(), want_b.begin(), want_b.end());
    CHECK(got == want);
}

// ---- API.md conformance ----

TEST_CASE("every brace spelling of WaitForMessages gives each list its action") {
    WaitForMessages one({"quit"});
    WaitForMessages two{"quit", "print"};
    WaitForMessages braced_rest({"a", "b"}, {"c", "d"}, {"e"});
    WaitForMessages empty_accept({}, "x");
    WaitForMessages empty_lists({}, {"x", "y"}, {});
    WaitForMessages defaults;
    CHECK(*one.action_for("quit") == MessageAction::accept);
    CHECK(*two.action_for("quit") == MessageAction::accept);
    CHECK(*two.action_for("print") == MessageAction::accept);
    CHECK(*braced_rest.action_for("b") == MessageAction::accept);
    CHECK(*braced_rest.action_for("c") == MessageAction::defer);
    CHECK(*braced_rest.action_for("d") == MessageAction::defer);
    CHECK(*braced_rest.action_for("e") == MessageAction::discard);
    CHECK(*empty_accept.action_for("x") == MessageAction::defer);
    CHECK(*empty_lists.action_for("y") == MessageAction::defer);
    CHECK(defaults.action_for("x") == nullptr);
    static_assert(std::is_same_v<decltype(operator co_await(one).await_resume()), Message>);
    static_assert(std::is_same_v<decltype(NameList().names()), std::span<const std::string>>);
}

TEST_CASE("co_await Message sets sender to the sending tasklet, whatever sender it named") {
    AnyTasklet seen;
    auto receiver_body = [&]() -> Tasklet<> {
        Message m = co_await WaitForMessages("m");
        seen = m.sender;
    };
    auto bystander = []() -> Tasklet<> { co_await WaitForTimeout(60000); }();
    auto receiver = receiver_body();
    auto sender_body = [&]() -> Tasklet<> { co_await Message("m", receiver, 1, bystander); };
    auto sender = sender_body();
    CHECK(receiver.done());
    CHECK(seen == sender);
    seen = AnyTasklet();
    bystander.cancel();
}

TEST_CASE("send_message() from outside keeps the sender the caller named") {
    AnyTasklet seen;
    auto receiver_body = [&]() -> Tasklet<> {
        Message m = co_await WaitForMessages("m");
        seen = m.sender;
    };
    auto named = []() -> Tasklet<> { co_return; }();
    auto receiver = receiver_body();
    receiver.send_message(Message("m", {}, {}, named));
    CHECK(receiver.done());
    CHECK(seen == named);
    seen = AnyTasklet();
}

TEST_CASE("a message accepted through any() is get_event().message(), the event naming the "
          "WaitForMessages that accepted it") {
    WaitForMessages first("a");
    WaitForMessages second("b");
    bool ok = false;
    auto body = [&]() -> Tasklet<> {
        Event& e = co_await any(WaitForTimeout(60000), first, second);
        ok = e.is(second) && e.as<WaitForMessages>() == &second && e.message() &&
             e.message()->name == "b" && e.message()->value_as<std::string>() == "payload" &&
             get_event().message() == e.message();
    };
    auto t = body();
    t.send_message(Message("b", t, std::string("payload")));
    CHECK(t.done());
    CHECK(ok);
}

TEST_CASE("a deferred message is delivered when a later wait accepts it, even after waits on "
          "other conditions that keep it deferred") {
    Names got;
    auto body = [&]() -> Tasklet<> {
        WaitForMessages hold({}, "later");
        co_await any(hold, WaitForIdle()); // deferred here...
        co_await any(hold, WaitForIdle()); // ...and here
        Message m = co_await WaitForMessages("later");
        got.push_back(m.name);
    };
    auto t = body();
    t.send_message(Message("later"));
    CHECK(got.empty());
    test::run_with_watchdog(t);
    CHECK(got == Names{"later"});
}

TEST_CASE("a NameList is made implicitly from every spelling API.md lists") {
    auto names = [](NameList l) { return names_of(l); };
    const char* null_name = nullptr;
    CHECK(names({}).empty());
    CHECK(names(nullptr).empty());
    CHECK(names(null_name).empty());
    CHECK(names("one") == Names{"one"});
    CHECK(names(std::string("two")) == Names{"two"});
    CHECK(names(std::string_view("three")) == Names{"three"});
    CHECK(names({"a", "b"}) == Names{"a", "b"});
    CHECK(names(std::vector<std::string>{"c", "d"}) == Names{"c", "d"});
}
