// WaitForSignal around an object's end (dispose and finalize inside or around emissions),
// handler return values with an accumulator, details in the type form, nested main loops run
// from a type-form wait, and type-form waits on a worker thread. The basics: test_signal.
#include "support.hpp"

#include <gio/gio.h>

#include <atomic>
#include <csignal>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <sys/wait.h>

// "changed" (int) -> void; "query" (int) -> gboolean (g_signal_accumulator_true_handled).
// Its dispose emits "changed" (-1) before chaining up, as GtkWidget emits "destroy".
G_BEGIN_DECLS
#define RV_TYPE_EMITTER (rv_emitter_get_type())
G_DECLARE_FINAL_TYPE(RvEmitter, rv_emitter, RV, EMITTER, GObject)
G_END_DECLS

struct _RvEmitter {
    GObject parent;
    gboolean emit_in_dispose;
};

G_DEFINE_TYPE(RvEmitter, rv_emitter, G_TYPE_OBJECT)

namespace {
guint rv_changed;
guint rv_query;
guint rv_poked;
} // namespace

static void rv_emitter_dispose(GObject* obj) {
    RvEmitter* self = RV_EMITTER(obj);
    if (self->emit_in_dispose) {
        self->emit_in_dispose = FALSE;
        g_signal_emit(obj, rv_changed, 0, -1);
    }
    G_OBJECT_CLASS(rv_emitter_parent_class)->dispose(obj);
}

static void rv_emitter_class_init(RvEmitterClass* klass) {
    G_OBJECT_CLASS(klass)->dispose = rv_emitter_dispose;
    GType t = G_TYPE_FROM_CLASS(klass);
    rv_changed = g_signal_new("changed", t, G_SIGNAL_RUN_LAST, 0, nullptr, nullptr, nullptr,
                              G_TYPE_NONE, 1, G_TYPE_INT);
    rv_query = g_signal_new("query", t, G_SIGNAL_RUN_LAST, 0, g_signal_accumulator_true_handled,
                            nullptr, nullptr, G_TYPE_BOOLEAN, 1, G_TYPE_INT);
    rv_poked = g_signal_new("poked", t, GSignalFlags(G_SIGNAL_RUN_LAST | G_SIGNAL_DETAILED), 0,
                            nullptr, nullptr, nullptr, G_TYPE_NONE, 0);
}

static void rv_emitter_init(RvEmitter*) {}

using namespace tasklet;

namespace {
GObject* new_emitter(bool emit_in_dispose = false) {
    auto* o = RV_EMITTER(g_object_new(RV_TYPE_EMITTER, nullptr));
    o->emit_in_dispose = emit_in_dispose;
    return G_OBJECT(o);
}
} // namespace

// the type form records the emitter in a GWeakRef during its dispose.
TEST_CASE("the GType form forgets an emitter that emitted during its own dispose") {
    WaitForSignal sig(RV_TYPE_EMITTER, "changed");
    int value = 0;
    auto t = [](WaitForSignal& sig, int& value) -> Tasklet<> {
        Emission e = co_await sig;
        value = e.arg<int>(0);
    }(sig, value);
    GObject* obj = new_emitter(true);
    g_object_unref(obj); // dispose emits "changed"; then finalized
    REQUIRE(t.done());
    CHECK(value == -1);
    CHECK(sig.object() == nullptr);
}

namespace {
gboolean emit_query(gpointer obj, int n) {
    gboolean handled = FALSE;
    g_signal_emit(obj, rv_query, 0, n, &handled);
    return handled;
}
} // namespace

// a condition created on the object while it is being disposed (from the weak
// notification that woke its tasklet) is itself told about the end.
TEST_CASE("a condition made on an object inside its dispose notification completes as destroyed") {
    GObject* obj = new_emitter();
    auto t = [](GObject* obj) -> Tasklet<int> {
        WaitForSignal first(obj, "changed");
        Emission a = co_await first; // woken inside the dispose
        if (!a.destroyed)
            co_return 1;
        WaitForSignal second(obj, "changed"); // the object is still a GObject here
        Emission b = co_await second;
        co_return b.destroyed ? 0 : 2;
    }(obj);
    g_object_unref(obj);
    CHECK(test::run_with_watchdog(t, 5) == 0);
}

// g_object_run_dispose() from inside the emission that resumed the tasklet (as
// gtk_widget_destroy() from a "clicked" waiter does): the kept condition ends as destroyed,
// and a later emission of the still-alive object does not reach it.
TEST_CASE("an object disposed by its waiter inside the emission makes the next wait complete "
          "as destroyed") {
    GObject* obj = new_emitter();
    std::vector<int> seen;
    auto t = [](GObject* obj, std::vector<int>& seen) -> Tasklet<> {
        WaitForSignal sig(obj, "changed");
        Emission e = co_await sig;
        seen.push_back(e.arg<int>(0));
        g_object_run_dispose(obj); // we are running: the event is kept for the next wait
        e = co_await sig;
        seen.push_back(e.destroyed ? 100 : e.arg<int>(0));
        e = co_await sig; // and the one after (from the main loop)
        seen.push_back(e.destroyed ? 100 : e.arg<int>(0));
    }(obj, seen);
    g_signal_emit(obj, rv_changed, 0, 1);
    g_signal_emit(obj, rv_changed, 0, 2); // after dispose: nobody listens
    CHECK(test::handler_count(obj, rv_changed) == 0);
    test::run_with_watchdog(t, 5);
    CHECK(seen == std::vector<int>{1, 100, 100});
    g_object_unref(obj);
}

// an Emission taken during the dispose emission keeps the object alive (resurrected);
// the weak notification that follows still wakes the wait as destroyed.
TEST_CASE("an Emission received during dispose keeps the object alive, and the wait still "
          "ends as destroyed") {
    GObject* obj = new_emitter(true);
    bool finalized = false;
    g_object_weak_ref(
        obj, [](gpointer f, GObject*) { *static_cast<bool*>(f) = true; }, &finalized);
    auto t = [](GObject* obj) -> Tasklet<bool> {
        WaitForSignal sig(obj, "changed");
        Emission e = co_await sig; // emitted from dispose: a strong reference on the object
        Emission d = co_await sig; // the weak notification of that same dispose
        co_return e.object == obj&& e.arg<int>(0) == -1 && d.destroyed && !d.object;
    }(obj);
    g_object_unref(obj);
    CHECK(test::run_with_watchdog(t, 5));
}

// with a true_handled accumulator, the first waiter's TRUE stops the emission: the
// second waiter is not resumed and still waits for the next emission.
TEST_CASE("a waiter that handles a true_handled emission stops it before later waiters") {
    GObject* obj = new_emitter();
    std::vector<std::string> trace;
    auto waiter = [](GObject* obj, const char* name, bool handle,
                     std::vector<std::string>& trace) -> Tasklet<> {
        WaitForSignal sig(obj, "query");
        for (int i = 0; i < 2; ++i) {
            Emission e = co_await sig;
            trace.push_back(std::string(name) + std::to_string(e.arg<int>(0)));
            if (handle && e.arg<int>(0) == 1)
                sig.set_return_value(true);
        }
    };
    auto a = waiter(obj, "a", true, trace);
    auto b = waiter(obj, "b", false, trace);
    CHECK(emit_query(obj, 1));
    CHECK_FALSE(emit_query(obj, 2));
    CHECK(trace == std::vector<std::string>{"a1", "a2", "b2"});
    CHECK(a.done());
    CHECK_FALSE(b.done());
    b.cancel();
    g_object_unref(obj);
}

// the type form filters by detail (its hook sees every detail).
TEST_CASE("the GType form with a detail fires only for that detail") {
    GObject* obj = new_emitter();
    std::vector<std::string> seen;
    auto t = [](std::vector<std::string>& seen) -> Tasklet<> {
        WaitForSignal only_a(RV_TYPE_EMITTER, "poked::a");
        WaitForSignal all(RV_TYPE_EMITTER, "poked");
        for (int i = 0; i < 3; ++i) {
            Event& e = co_await any(only_a, all);
            seen.push_back(e.is(only_a) ? "a" : "all");
        }
    }(seen);
    g_signal_emit(obj, rv_poked, g_quark_from_static_string("b"));
    g_signal_emit(obj, rv_poked, g_quark_from_static_string("a")); // only_a, then all
    REQUIRE(t.done());
    t.return_value();
    CHECK(seen == std::vector<std::string>{"all", "a", "all"});
    g_object_unref(obj);
}

// a heap condition destroyed by its tasklet inside the idle delivery that completes a
// wait on a finalized object.
TEST_CASE("a condition on a finalized object destroyed inside its idle delivery is safe") {
    GObject* obj = new_emitter();
    auto sig = std::make_unique<WaitForSignal>(obj, "changed");
    g_object_unref(obj); // finalized while nobody waits
    auto t = [](std::unique_ptr<WaitForSignal>& sig) -> Tasklet<bool> {
        Emission e = co_await *sig; // completes from an idle callback
        sig.reset();                // destroyed inside that callback
        co_await WaitForIdle();
        co_return e.destroyed;
    }(sig);
    CHECK(test::run_with_watchdog(t, 5));
}

// a tasklet resumed by the type form's hook runs a modal (nested) main loop; inside
// it, emissions of the same signal (nested hook calls) wake another tasklet that waits on
// temporaries once each, and the modal tasklet's own kept condition gets the last one.
TEST_CASE("type-form waits inside a nested main loop run from the same signal's hook") {
    GObject* obj = new_emitter();
    int other_wakes = 0;
    bool modal_done = false;
    auto other = [](int& wakes) -> Tasklet<> {
        for (;;) {
            co_await WaitForSignal(RV_TYPE_EMITTER, "changed"); // a temporary each time
            ++wakes;
        }
    }(other_wakes);
    auto modal = [](GObject* obj, bool& done) -> Tasklet<int> {
        WaitForSignal sig(RV_TYPE_EMITTER, "changed");
        co_await sig; // resumed inside the hook of emission 1
        GMainLoop* loop = g_main_loop_new(nullptr, FALSE);
        int n = 0;
        struct Ctx {
            GObject* obj;
            GMainLoop* loop;
            int* n;
        } c{obj, loop, &n};
        guint id = g_timeout_add(
            1,
            [](gpointer d) -> gboolean {
                auto* c = static_cast<Ctx*>(d);
                g_signal_emit(c->obj, rv_changed, 0, 100 + ++*c->n);
                if (*c->n < 50)
                    return G_SOURCE_CONTINUE;
                g_main_loop_quit(c->loop);
                return G_SOURCE_REMOVE;
            },
            &c);
        guint wd = g_timeout_add(
            5000,
            [](gpointer l) -> gboolean {
                g_main_loop_quit(static_cast<GMainLoop*>(l));
                return G_SOURCE_REMOVE;
            },
            loop);
        g_main_loop_run(loop);
        if (n < 50)
            g_source_remove(id);
        g_source_remove(wd);
        g_main_loop_unref(loop);
        done = true;
        Emission e = co_await sig; // the last emission seen while we ran: kept
        co_return e.arg<int>(0);
    }(obj, modal_done);
    g_signal_emit(obj, rv_changed, 0, 1);
    CHECK(modal_done);
    REQUIRE(modal.done());
    CHECK(modal.return_value() == 150);
    CHECK(other_wakes == 51); // emission 1 and the 50 nested ones, once each
    other.cancel();
    g_object_unref(obj);
}

// ---- threads --------------------------------------------------------------------------------

// the type form's hook is per thread: a tasklet on a worker thread sees only that
// thread's emissions (silently), and the hook goes away with the thread (LSan: nothing leaks;
// an emission after the thread ended calls nothing of it).
TEST_CASE("a GType-form wait on a worker thread sees only that thread's emissions") {
    GObject* obj = new_emitter();
    GMainContext* ctx = g_main_context_new();
    std::atomic<int> state{0}; // 1: the worker waits; 2: main has emitted
    int got = 0;
    bool woken_by_main = true;
    bool woken_by_own = false;
    std::thread worker([&] {
        g_main_context_push_thread_default(ctx);
        {
            auto t = [](int& got) -> Tasklet<> {
                Emission e = co_await WaitForSignal(RV_TYPE_EMITTER, "changed");
                got = e.arg<int>(0);
            }(got);
            state = 1;
            while (state != 2)
                std::this_thread::yield();
            woken_by_main = t.done(); // main's emission is not ours
            g_signal_emit(obj, rv_changed, 0, 7);
            woken_by_own = t.done();
        }
        g_main_context_pop_thread_default(ctx);
    });
    while (state != 1)
        std::this_thread::yield();
    test::LogCapture log;
    g_signal_emit(obj, rv_changed, 0, 1);
    state = 2;
    worker.join();
    CHECK_FALSE(woken_by_main);
    CHECK(woken_by_own);
    CHECK(got == 7);
    CHECK(log.lines.empty());
    g_signal_emit(obj, rv_changed, 0, 2); // the worker's hook is gone
    g_main_context_unref(ctx);
    g_object_unref(obj);
}
