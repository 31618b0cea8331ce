// WaitForSignal: real GObject signals (a test type defined here, GCancellable, GSimpleAction).
#include "support.hpp"

#include <gio/gio.h>

#include <stdexcept>
#include <string>
#include <vector>

using tasklet::Emission;
using tasklet::Tasklet;
using tasklet::WaitForSignal;
using test::handler_count;

// ---- a small GObject type with signals ------------------------------------------------------
// "changed" (int, string) -> void; "query" (int) -> gboolean, stopped by TRUE
// (g_signal_accumulator_true_handled); "hidden" -> void with G_SIGNAL_NO_HOOKS;
// "poked::detail" (detailed, no params); properties "value" (int) and "label" (string).

G_BEGIN_DECLS
#define TEST_TYPE_EMITTER (test_emitter_get_type())
G_DECLARE_FINAL_TYPE(TestEmitter, test_emitter, TEST, EMITTER, GObject)
G_END_DECLS

struct _TestEmitter {
    GObject parent;
    int value;
    char* label;
};

G_DEFINE_TYPE(TestEmitter, test_emitter, G_TYPE_OBJECT)

namespace {
enum { SIG_CHANGED, SIG_QUERY, SIG_HIDDEN, SIG_POKED, N_SIGNALS };
guint signals[N_SIGNALS];
enum { PROP_0, PROP_VALUE, PROP_LABEL };
} // namespace

static void test_emitter_set_property(GObject* obj, guint id, const GValue* v, GParamSpec* ps) {
    TestEmitter* self = TEST_EMITTER(obj);
    if (id == PROP_VALUE) {
        self->value = g_value_get_int(v);
    } else if (id == PROP_LABEL) {
        g_free(self->label);
        self->label = g_value_dup_string(v);
    } else {
        G_OBJECT_WARN_INVALID_PROPERTY_ID(obj, id, ps);
    }
}

static void test_emitter_get_property(GObject* obj, guint id, GValue* v, GParamSpec* ps) {
    TestEmitter* self = TEST_EMITTER(obj);
    if (id == PROP_VALUE)
        g_value_set_int(v, self->value);
    else if (id == PROP_LABEL)
        g_value_set_string(v, self->label);
    else
        G_OBJECT_WARN_INVALID_PROPERTY_ID(obj, id, ps);
}

static void test_emitter_finalize(GObject* obj) {
    g_free(TEST_EMITTER(obj)->label);
    G_OBJECT_CLASS(test_emitter_parent_class)->finalize(obj);
}

static void test_emitter_class_init(TestEmitterClass* klass) {
    GObjectClass* oc = G_OBJECT_CLASS(klass);
    oc->set_property = test_emitter_set_property;
    oc->get_property = test_emitter_get_property;
    oc->finalize = test_emitter_finalize;
    g_object_class_install_property(
        oc, PROP_VALUE, g_param_spec_int("value", nullptr, nullptr, 0, 100, 0, G_PARAM_READWRITE));
    g_object_class_install_property(
        oc, PROP_LABEL, g_param_spec_string("label", nullptr, nullptr, nullptr, G_PARAM_READWRITE));
    GType t = G_TYPE_FROM_CLASS(klass);
    signals[SIG_CHANGED] = g_signal_new("changed", t, G_SIGNAL_RUN_LAST, 0, nullptr, nullptr,
                                        nullptr, G_TYPE_NONE, 2, G_TYPE_INT, G_TYPE_STRING);
    signals[SIG_QUERY] =
        g_signal_new("query", t, G_SIGNAL_RUN_LAST, 0, g_signal_accumulator_true_handled, nullptr,
                     nullptr, G_TYPE_BOOLEAN, 1, G_TYPE_INT);
    signals[SIG_HIDDEN] =
        g_signal_new("hidden", t, GSignalFlags(G_SIGNAL_RUN_LAST | G_SIGNAL_NO_HOOKS), 0, nullptr,
                     nullptr, nullptr, G_TYPE_NONE, 0);
    signals[SIG_POKED] =
        g_signal_new("poked", t, GSignalFlags(G_SIGNAL_RUN_LAST | G_SIGNAL_DETAILED), 0, nullptr,
                     nullptr, nullptr, G_TYPE_NONE, 0);
}

static void test_emitter_init(TestEmitter*) {}

namespace {

/// Owns one reference to a TestEmitter.
struct Emitter {
    TestEmitter* p = TEST_EMITTER(g_object_new(TEST_TYPE_EMITTER, nullptr));
    Emitter() = default;
    Emitter(const Emitter&) = delete;
    Emitter& operator=(const Emitter&) = delete;
    ~Emitter() { reset(); }
    void reset() {
        if (p)
            g_object_unref(std::exchange(p, nullptr));
    }
    operator gpointer() const { return p; }
    GObject* obj() const { return G_OBJECT(p); }
};

void emit_changed(gpointer obj, int n, const char* s) {
    g_signal_emit(obj, signals[SIG_CHANGED], 0, n, s);
}

gboolean emit_query(gpointer obj, int n) {
    gboolean handled = FALSE;
    g_signal_emit(obj, signals[SIG_QUERY], 0, n, &handled);
    return handled;
}

/// Waits for one "changed" emission of `obj` and keeps it in `out`.
Tasklet<> receive_changed(gpointer obj, Emission& out) {
    WaitForSignal sig(obj, "changed");
    out = co_await sig;
}

} // namespace

TEST_CASE("a tasklet waiting on a signal resumes with copies of its arguments", "[signal]") {
    Emitter e;
    Emission got;
    auto t = [](gpointer obj, Emission& got) -> Tasklet<> {
        WaitForSignal sig(obj, "changed");
        got = co_await sig;
        CHECK(sig.object() == G_OBJECT(obj));
        REQUIRE(sig.args().size() == 2);
        CHECK(g_value_get_int(&sig.args()[0]) == 5);
    }(e, got);
    REQUIRE(t.state() == tasklet::State::suspended);

    char* text = g_strdup("five");
    emit_changed(e, 5, text);
    g_free(text); // the Emission holds its own copy

    REQUIRE(t.done());
    t.return_value();
    CHECK(got.object == e.obj());
    CHECK_FALSE(got.destroyed);
    REQUIRE(got.args.size() == 2);
    CHECK(got.arg<int>(0) == 5);
    CHECK(got.arg<long>(0) == 5);
    CHECK(got.arg<std::string>(1) == "five");
    CHECK(std::string(got.arg<const char*>(1)) == "five");
    CHECK(G_OBJECT(e.p)->ref_count == 2); // ours and the Emission's strong reference
}

TEST_CASE("an Emission is a value type that owns its references", "[signal]") {
    Emitter e;
    Emission first;
    auto t = receive_changed(e, first);
    emit_changed(e, 1, "one");
    REQUIRE(t.done());
    {
        Emission copy = first;
        CHECK(copy.object == e.obj());
        CHECK(copy.arg<std::string>(1) == "one");
        CHECK(G_OBJECT(e.p)->ref_count == 3);
        CHECK(copy.args[1].data[0].v_pointer != first.args[1].data[0].v_pointer); // deep copy
        Emission moved = std::move(copy);
        CHECK(copy.object == nullptr);
        CHECK(copy.args.empty());
        CHECK(G_OBJECT(e.p)->ref_count == 3);
    }
    CHECK(G_OBJECT(e.p)->ref_count == 2);
    first = Emission{};
    CHECK(G_OBJECT(e.p)->ref_count == 1);
}

TEST_CASE("arg<V>() reports a bad index and a type mismatch clearly", "[signal]") {
    Emitter e;
    Emission got;
    auto t = receive_changed(e, got);
    emit_changed(e, 300, nullptr);
    REQUIRE(t.done());
    CHECK_THROWS_AS(got.arg<int>(2), std::out_of_range);
    CHECK_THROWS_AS(got.arg<std::string>(0), std::invalid_argument);
    CHECK_THROWS_AS(got.arg<bool>(0), std::invalid_argument);
    CHECK_THROWS_AS(got.arg<int>(1), std::invalid_argument);
    CHECK_THROWS_AS(got.arg<GObject*>(1), std::invalid_argument);
    CHECK_THROWS_AS(got.arg<std::int8_t>(0), std::invalid_argument); // 300 does not fit
    CHECK(got.arg<std::string>(1).empty());                          // a null string
    CHECK(got.arg<const char*>(1) == nullptr);
    CHECK_THROWS_AS(got.arg<double>(0), std::invalid_argument); // no implicit int -> double
}

TEST_CASE("arg<V>() reads an integer as a character type or an enum on any underlying type, "
          "range-checked",
          "[signal]") {
    Emitter e;
    Emission got;
    auto t = receive_changed(e, got);
    emit_changed(e, 65, nullptr);
    REQUIRE(t.done());
    enum class Flag : bool { off, on };
    enum class Letter : char { a = 'a', big_a = 'A' };
    CHECK(got.arg<gchar>(0) == 'A');
    CHECK(got.arg<char>(0) == 'A');
    CHECK(got.arg<char16_t>(0) == u'A');
    CHECK(got.arg<char32_t>(0) == U'A');
    CHECK(got.arg<wchar_t>(0) == L'A');
    CHECK(got.arg<Letter>(0) == Letter::big_a);
    CHECK_THROWS_AS(got.arg<Flag>(0), std::invalid_argument); // 65 is not a bool

    Emission zero, big;
    auto t0 = receive_changed(e, zero);
    emit_changed(e, 1, nullptr);
    auto t1 = receive_changed(e, big);
    emit_changed(e, 300, nullptr);
    REQUIRE((t0.done() && t1.done()));
    CHECK(zero.arg<Flag>(0) == Flag::on);
    CHECK_THROWS_AS(big.arg<char>(0), std::invalid_argument); // 300 does not fit
    CHECK(big.arg<char16_t>(0) == 300);
}

TEST_CASE("the tasklet runs inside the emission, before later handlers", "[signal]") {
    Emitter e;
    std::vector<std::string> order;
    auto t = [](gpointer obj, std::vector<std::string>& order) -> Tasklet<> {
        WaitForSignal sig(obj, "changed");
        co_await sig;
        order.push_back("tasklet");
    }(e, order);
    g_signal_connect(e.p, "changed", G_CALLBACK(+[](TestEmitter*, int, const char*, gpointer d) {
                         static_cast<std::vector<std::string>*>(d)->push_back("later handler");
                     }),
                     &order);
    order.push_back("emit");
    emit_changed(e, 1, "x");
    order.push_back("emit returned");
    CHECK(order == std::vector<std::string>{"emit", "tasklet", "later handler", "emit returned"});
    CHECK(t.done());
}

TEST_CASE("a detailed signal fires only for its detail", "[signal]") {
    Emitter e;
    std::vector<std::string> seen;
    auto t = [](gpointer obj, std::vector<std::string>& seen) -> Tasklet<> {
        WaitForSignal sig(obj, "notify::value");
        auto em = co_await sig;
        seen.push_back(em.arg<GParamSpec*>(0)->name);
    }(e, seen);
    g_object_set(e.p, "label", "not this one", nullptr);
    CHECK(seen.empty());
    CHECK_FALSE(t.done());
    g_object_set(e.p, "value", 42, nullptr);
    CHECK(seen == std::vector<std::string>{"value"});
    CHECK(t.done());
}

TEST_CASE("the GType form fires for any instance of the type and object() says which", "[signal]") {
    Emitter a, b;
    std::vector<GObject*> who;
    std::vector<int> values;
    auto t = [](std::vector<GObject*>& who, std::vector<int>& values) -> Tasklet<> {
        WaitForSignal sig(TEST_TYPE_EMITTER, "changed");
        for (int i = 0; i < 2; ++i) {
            Emission em = co_await sig;
            CHECK(em.object == sig.object());
            who.push_back(em.object);
            values.push_back(em.arg<int>(0));
        }
    }(who, values);
    emit_changed(b, 1, "b");
    emit_changed(a, 2, "a");
    REQUIRE(t.done());
    t.return_value();
    CHECK(who == std::vector<GObject*>{b.obj(), a.obj()});
    CHECK(values == std::vector<int>{1, 2});
}

TEST_CASE("the GType form of an interface's signal fires for its implementations", "[signal]") {
    GListStore* store = g_list_store_new(G_TYPE_OBJECT);
    auto t = [](GListStore* store) -> Tasklet<> {
        WaitForSignal sig(G_TYPE_LIST_MODEL, "items-changed");
        Emission em = co_await sig;
        CHECK(em.object == G_OBJECT(store));
        CHECK(em.arg<guint>(0) == 0); // position
        CHECK(em.arg<guint>(2) == 1); // added
    }(store);
    Emitter item;
    g_list_store_append(store, item.p);
    REQUIRE(t.done());
    t.return_value();
    g_object_unref(store);
}

TEST_CASE("the GType form does not keep the last emitter alive", "[signal]") {
    WaitForSignal sig(TEST_TYPE_EMITTER, "changed");
    auto e = std::make_unique<Emitter>();
    auto t = [](WaitForSignal& sig) -> Tasklet<> { co_await sig; }(sig);
    emit_changed(*e, 1, "x");
    REQUIRE(t.done());
    CHECK(sig.object() == e->obj());
    e.reset(); // finalized: the condition held no strong reference
    CHECK(sig.object() == nullptr);
}

TEST_CASE("bad instances, types and signal names are invalid arguments", "[signal]") {
    Emitter e;
    GParamSpec* not_an_object = g_param_spec_int("x", nullptr, nullptr, 0, 1, 0, G_PARAM_READABLE);
    g_param_spec_ref_sink(not_an_object);
    CHECK_THROWS_AS(WaitForSignal(not_an_object, "notify"), std::invalid_argument);
    CHECK_THROWS_AS(WaitForSignal(static_cast<gpointer>(nullptr), "changed"),
                    std::invalid_argument);
    CHECK_THROWS_AS(WaitForSignal(e, "no-such-signal"), std::invalid_argument);
    CHECK_THROWS_AS(WaitForSignal(e, nullptr), std::invalid_argument);
    CHECK_THROWS_AS(WaitForSignal(e, "changed::detail"), std::invalid_argument); // not detailed
    CHECK_NOTHROW(WaitForSignal(e, "poked::anything"));
    CHECK_THROWS_AS(WaitForSignal(G_TYPE_INT, "changed"), std::invalid_argument);
    CHECK_THROWS_AS(WaitForSignal(G_TYPE_INVALID, "changed"), std::invalid_argument);
    CHECK_THROWS_AS(WaitForSignal(TEST_TYPE_EMITTER, "no-such-signal"), std::invalid_argument);
    CHECK_THROWS_AS(WaitForSignal(TEST_TYPE_EMITTER, "hidden"), std::invalid_argument);
    CHECK_NOTHROW(WaitForSignal(e, "hidden")); // the instance form does not need hooks
    CHECK_THROWS_AS(WaitForSignal(G_TYPE_OBJECT, "notify"), std::invalid_argument); // NO_HOOKS
    CHECK_NOTHROW(WaitForSignal(G_TYPE_LIST_MODEL, "items-changed")); // an interface's signal
    g_param_spec_unref(not_an_object);
}

TEST_CASE("an object finalized while a tasklet waits wakes it as destroyed", "[signal]") {
    auto e = std::make_unique<Emitter>();
    int wakes = 0;
    auto t = [](gpointer obj, int& wakes) -> Tasklet<bool> {
        WaitForSignal sig(obj, "changed");
        Emission em = co_await sig;
        ++wakes;
        CHECK(em.destroyed);
        CHECK(em.object == nullptr);
        CHECK(em.args.empty());
        CHECK(sig.destroyed());
        CHECK(sig.object() == nullptr);
        // Waiting again on a dead object does not hang either.
        Emission again = co_await sig;
        ++wakes;
        co_return again.destroyed;
    }(*e, wakes);
    e.reset(); // the last reference: disposed and finalized, the tasklet runs inside
    CHECK(wakes == 1);
    CHECK(test::run_with_watchdog(t, 5));
    CHECK(wakes == 2);
}

TEST_CASE("an object finalized while nobody waits makes the next wait complete as destroyed",
          "[signal]") {
    auto e = std::make_unique<Emitter>();
    WaitForSignal sig(*e, "changed");
    e.reset();
    CHECK(sig.destroyed());
    auto t = [](WaitForSignal& sig) -> Tasklet<bool> {
        Emission em = co_await sig;
        co_return em.destroyed;
    }(sig);
    CHECK(test::run_with_watchdog(t, 5));
}

TEST_CASE("a signal returns the zero value unless the tasklet sets one", "[signal]") {
    Emitter e;
    int later_calls = 0;
    auto t = [](gpointer obj) -> Tasklet<> {
        WaitForSignal sig(obj, "query");
        CHECK_FALSE(sig.can_set_return_value());
        CHECK_THROWS_AS(sig.set_return_value(true), std::logic_error); // outside an emission
        for (;;) {
            Emission em = co_await sig;
            CHECK(sig.can_set_return_value());
            int n = em.arg<int>(0);
            if (n == 1)
                continue; // keep the default: FALSE, the emission goes on
            if (n == 2)
                sig.set_return_value(TRUE); // handled: the emission stops here
            if (n == 3) {
                GValue v = G_VALUE_INIT;
                g_value_set_boolean(g_value_init(&v, G_TYPE_BOOLEAN), TRUE);
                sig.set_return_value(v);
                g_value_unset(&v);
            }
            if (n == 4) {
                CHECK_THROWS_AS(sig.set_return_value("text"), std::invalid_argument);
                CHECK_THROWS_AS(sig.set_return_value(static_cast<gpointer>(nullptr)),
                                std::invalid_argument);
                break;
            }
        }
    }(e);
    // Connected after the tasklet's handler, so it runs later in each emission.
    g_signal_connect(e.p, "query", G_CALLBACK(+[](TestEmitter*, int, gpointer d) -> gboolean {
                         ++*static_cast<int*>(d);
                         return FALSE;
                     }),
                     &later_calls);
    CHECK_FALSE(emit_query(e, 1));
    CHECK(later_calls == 1);
    CHECK(emit_query(e, 2));
    CHECK(later_calls == 1); // stopped before the later handler
    CHECK(emit_query(e, 3));
    CHECK(later_calls == 1);
    CHECK_FALSE(emit_query(e, 4));
    CHECK(later_calls == 2);
    REQUIRE(t.done());
    t.return_value();
}

TEST_CASE("set_return_value is refused by the GType form and by signals returning nothing",
          "[signal]") {
    Emitter e;
    auto t = [](gpointer obj) -> Tasklet<> {
        WaitForSignal by_type(TEST_TYPE_EMITTER, "query");
        co_await by_type;
        CHECK_THROWS_AS(by_type.set_return_value(TRUE), std::logic_error);
        WaitForSignal no_return(obj, "changed");
        co_await no_return;
        CHECK_THROWS_AS(no_return.set_return_value(1), std::logic_error);
    }(e);
    CHECK_FALSE(emit_query(e, 1));
    emit_changed(e, 1, "x");
    REQUIRE(t.done());
    t.return_value();
}

TEST_CASE("a signal awaited in a loop keeps one connection", "[signal]") {
    Emitter e;
    std::vector<gulong> ids;
    auto t = [](gpointer obj, std::vector<gulong>& ids) -> Tasklet<int> {
        WaitForSignal sig(obj, "changed");
        int sum = 0;
        for (int i = 0; i < 3; ++i) {
            Emission em = co_await sig;
            sum += em.arg<int>(0);
            CHECK(handler_count(obj, signals[SIG_CHANGED]) == 1);
            ids.push_back(g_signal_handler_find(obj, G_SIGNAL_MATCH_ID, signals[SIG_CHANGED], 0,
                                                nullptr, nullptr, nullptr));
        }
        co_return sum;
    }(e, ids);
    for (int i = 1; i <= 3; ++i)
        emit_changed(e, i, "x");
    REQUIRE(t.done());
    CHECK(t.return_value() == 6);
    REQUIRE(ids.size() == 3);
    CHECK(ids[0] != 0);
    CHECK(ids[0] == ids[1]);
    CHECK(ids[1] == ids[2]);
    CHECK(handler_count(e, signals[SIG_CHANGED]) == 0); // disconnected when it ended
}

TEST_CASE("a temporary condition ending inside its own emission is safe", "[signal]") {
    Emitter e;
    auto t = [](gpointer obj) -> Tasklet<int> {
        Emission em = co_await WaitForSignal(obj, "changed");
        co_return em.arg<int>(0);
    }(e);
    emit_changed(e, 9, "x");
    REQUIRE(t.done());
    CHECK(t.return_value() == 9);
    CHECK(handler_count(e, signals[SIG_CHANGED]) == 0);
}

TEST_CASE("cancelling a tasklet waiting on a signal disconnects it", "[signal]") {
    Emitter e;
    auto t = [](gpointer obj) -> Tasklet<> { co_await WaitForSignal(obj, "changed"); }(e);
    CHECK(handler_count(e, signals[SIG_CHANGED]) == 1);
    t.cancel();
    CHECK(t.cancelled());
    CHECK(handler_count(e, signals[SIG_CHANGED]) == 0);
    emit_changed(e, 1, "x"); // nothing left to call
}

TEST_CASE("GCancellable::cancelled wakes a tasklet", "[signal]") {
    GCancellable* c = g_cancellable_new();
    auto t = [](GCancellable* c) -> Tasklet<bool> {
        Emission em = co_await WaitForSignal(c, "cancelled");
        co_return em.object == G_OBJECT(c) && em.args.empty();
    }(c);
    CHECK_FALSE(t.done());
    g_cancellable_cancel(c);
    REQUIRE(t.done());
    CHECK(t.return_value());
    g_object_unref(c);
}

TEST_CASE("GSimpleAction::activate delivers its GVariant parameter", "[signal]") {
    GSimpleAction* action = g_simple_action_new("act", G_VARIANT_TYPE_INT32);
    auto t = [](GSimpleAction* action) -> Tasklet<int> {
        WaitForSignal sig(action, "activate");
        Emission em = co_await sig;
        GVariant* v = em.arg<GVariant*>(0);
        CHECK_THROWS_AS(em.arg<GParamSpec*>(0), std::invalid_argument);
        co_return g_variant_get_int32(v);
    }(action);
    g_action_activate(G_ACTION(action), g_variant_new_int32(7));
    REQUIRE(t.done());
    CHECK(t.return_value() == 7);
    g_object_unref(action);
}

TEST_CASE("a signal waited on inside any() with a timeout", "[signal]") {
    Emitter e;
    auto t = [](gpointer obj) -> Tasklet<bool> {
        WaitForSignal sig(obj, "changed");
        tasklet::WaitForTimeout timeout(60000);
        tasklet::Event& ev = co_await tasklet::any(sig, timeout);
        co_return ev.is(sig) && sig.args().size() == 2;
    }(e);
    g_idle_add(
        [](gpointer obj) -> gboolean {
            emit_changed(obj, 3, "three");
            return G_SOURCE_REMOVE;
        },
        e.p);
    CHECK(test::run_with_watchdog(t, 5));
    CHECK(handler_count(e, signals[SIG_CHANGED]) == 0);
}

TEST_CASE("a tasklet that drops the last reference inside an emission sees the destruction next",
          "[signal]") {
    TestEmitter* obj = TEST_EMITTER(g_object_new(TEST_TYPE_EMITTER, nullptr));
    auto t = [](TestEmitter* obj) -> Tasklet<std::vector<bool>> {
        WaitForSignal sig(obj, "changed");
        std::vector<bool> destroyed;
        Emission em = co_await sig;
        destroyed.push_back(em.destroyed);
        em = Emission{};     // drop the Emission's reference too
        g_object_unref(obj); // the last one: finalized when the emission ends
        em = co_await sig;   // same connection, then the weak notify
        destroyed.push_back(em.destroyed);
        co_return destroyed;
    }(obj);
    emit_changed(obj, 1, "x");
    REQUIRE(t.done());
    CHECK(t.return_value() == std::vector<bool>{false, true});
}

TEST_CASE("an emission on another thread is ignored with a warning", "[signal]") {
    Emitter e;
    test::LogCapture log;
    auto t = [](gpointer obj) -> Tasklet<int> {
        Emission em = co_await WaitForSignal(obj, "changed");
        co_return em.arg<int>(0);
    }(e);
    GThread* th = g_thread_new(
        "emitter",
        [](gpointer obj) -> gpointer {
            emit_changed(obj, 1, "elsewhere");
            return nullptr;
        },
        e.p);
    g_thread_join(th);
    CHECK_FALSE(t.done());
    CHECK(log.count(G_LOG_LEVEL_WARNING, "another thread") == 1);
    emit_changed(e, 2, "here");
    REQUIRE(t.done());
    CHECK(t.return_value() == 2);
}

// ---- API.md conformance ----

TEST_CASE("co_await on a WaitForSignal yields an Emission with the members API.md lists",
          "[signal]") {
    static_assert(
        std::is_same_v<decltype(operator co_await(std::declval<WaitForSignal&>()).await_resume()),
                       Emission>);
    static_assert(std::is_same_v<decltype(Emission::object), GObject*>);
    static_assert(std::is_same_v<decltype(Emission::args), std::vector<GValue>>);
    static_assert(std::is_same_v<decltype(Emission::destroyed), bool>);
    static_assert(std::is_same_v<decltype(std::declval<const Emission&>().arg<int>(0)), int>);
    const WaitForSignal* w = nullptr;
    static_assert(std::is_same_v<decltype(w->object()), GObject*>);
    static_assert(std::is_same_v<decltype(w->args()), std::span<const GValue>>);
    static_assert(std::is_same_v<decltype(w->destroyed()), bool>);

    Emitter e;
    auto t = [](gpointer obj) -> Tasklet<bool> {
        WaitForSignal sig(obj, "changed");
        Emission em = co_await sig;
        // The Emission is the condition's last emission, as a value.
        co_return em.object == sig.object() && em.args.size() == sig.args().size() &&
            em.destroyed == sig.destroyed() && em.arg<int>(0) == g_value_get_int(&sig.args()[0]);
    }(e);
    emit_changed(e, 12, "twelve");
    REQUIRE(t.done());
    CHECK(t.return_value());
}

TEST_CASE("the GType form takes a type macro spelled as in GLib and sees every instance",
          "[signal]") {
    GCancellable* a = g_cancellable_new();
    GCancellable* b = g_cancellable_new();
    auto t = [](GCancellable* a, GCancellable* b) -> Tasklet<int> {
        WaitForSignal sig(G_TYPE_CANCELLABLE, "cancelled");
        int seen = 0;
        for (int i = 0; i < 2; ++i) {
            Emission em = co_await sig;
            seen += em.object == G_OBJECT(a) ? 1 : em.object == G_OBJECT(b) ? 10 : 100;
        }
        co_return seen;
    }(a, b);
    g_cancellable_cancel(b);
    g_cancellable_cancel(a);
    REQUIRE(t.done());
    CHECK(t.return_value() == 11);
    g_object_unref(a);
    g_object_unref(b);
}
