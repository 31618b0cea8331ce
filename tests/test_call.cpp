// WaitForCall: direct calls, GLib C callbacks (sources, signals, async results), and calls
// that arrive after the WaitForCall is gone.
#include "support.hpp"

#include <gio/gio.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include <unistd.h>

using tasklet::Tasklet;
using tasklet::WaitForCall;

static_assert(std::is_same_v<decltype(WaitForCall<gboolean()>::c_callback()), GSourceFunc>);
static_assert(std::is_same_v<decltype(WaitForCall<void(GObject*, GAsyncResult*)>::c_callback()),
                             GAsyncReadyCallback>);
static_assert(std::is_same_v<WaitForCall<int(const std::string&, int)>::Arguments,
                             std::tuple<std::string, int>>);

TEST_CASE("operator() resumes the tasklet with the arguments and returns the value it chose",
          "[call]") {
    WaitForCall<int(int, int)> add(-1);
    auto t = [](WaitForCall<int(int, int)>& add) -> Tasklet<int> {
        int calls = 0;
        for (;;) {
            auto [a, b] = co_await add;
            ++calls;
            if (a == 0)
                co_return calls;
            add.return_value = a + b;
        }
    }(add);
    CHECK(add(2, 3) == 5);
    CHECK(add.args() == std::tuple{2, 3});
    CHECK(add(10, 20) == 30);
    CHECK(add.args() == std::tuple{10, 20});
    CHECK(add(0, 0) == 30); // the tasklet ended without changing return_value
    REQUIRE(t.done());
    CHECK(t.return_value() == 3);
}

TEST_CASE("the call returns only after the tasklet has run up to its next suspension", "[call]") {
    WaitForCall<void(std::string)> w;
    std::vector<std::string> order;
    auto t = [](WaitForCall<void(std::string)>& w, std::vector<std::string>& order) -> Tasklet<> {
        auto [s] = co_await w;
        order.push_back("tasklet got " + s);
    }(w, order);
    order.push_back("call");
    w("hello");
    order.push_back("call returned");
    CHECK(order == std::vector<std::string>{"call", "tasklet got hello", "call returned"});
    CHECK(t.done());
}

TEST_CASE("calls made while nobody waits are queued and delivered in order", "[call]") {
    WaitForCall<int(int)> w(7);
    CHECK_THROWS_AS(w.args(), std::logic_error); // no call yet
    CHECK(w(1) == 7);                            // nobody waited: the value as it stood
    CHECK(w(2) == 7);
    CHECK(w.args() == std::tuple{2}); // the last call made
    CHECK(w.queued() == 2);
    auto t = [](WaitForCall<int(int)>& w) -> Tasklet<std::vector<int>> {
        std::vector<int> got;
        for (int i = 0; i < 3; ++i) {
            auto [n] = co_await w; // the first two complete at once
            got.push_back(n);
            w.return_value = n * 100;
        }
        co_return got;
    }(w);
    CHECK(w.queued() == 0);
    CHECK_FALSE(t.done()); // took 1 and 2 without suspending; waits for the third
    CHECK(w(3) == 300);
    REQUIRE(t.done());
    CHECK(t.return_value() == std::vector<int>{1, 2, 3});
}

TEST_CASE("calls the tasklet makes itself while running complete its next waits", "[call]") {
    WaitForCall<void(int)> w;
    auto t = [](WaitForCall<void(int)>& w) -> Tasklet<std::vector<int>> {
        std::vector<int> got;
        auto [first] = co_await w;
        got.push_back(first);
        w(10); // armed by us but we are running: queued, not lost
        w(20);
        for (int i = 0; i < 2; ++i) {
            auto [n] = co_await w;
            got.push_back(n);
        }
        co_return got;
    }(w);
    w(1);
    REQUIRE(t.done());
    CHECK(t.return_value() == std::vector<int>{1, 10, 20});
}

TEST_CASE("queued calls are all delivered through any() too", "[call]") {
    WaitForCall<void(int)> w;
    auto t = [](WaitForCall<void(int)>& w) -> Tasklet<int> {
        w(1);
        w(2);
        w(3);
        tasklet::WaitForTimeout never(60000);
        int events = 0;
        for (int i = 0; i < 3; ++i) {
            tasklet::Event& ev = co_await tasklet::any(w, never);
            if (ev.is(w))
                ++events;
        }
        co_return events;
    }(w);
    CHECK(t.done()); // each queued call completes the next wait at once: no loop iteration
    CHECK(test::run_with_watchdog(t, 5) == 3);
}

TEST_CASE("a tasklet that destroys the WaitForCall inside the call sets the answer", "[call]") {
    auto w = std::make_unique<WaitForCall<std::string(int)>>("initial");
    auto t = [](std::unique_ptr<WaitForCall<std::string(int)>>& w) -> Tasklet<> {
        co_await *w;
        w->return_value = "chosen";
        w.reset(); // destroyed inside its own call
    }(w);
    CHECK((*w)(1) == "chosen");
    CHECK_FALSE(w);
    CHECK(t.done());
}

TEST_CASE("a WaitForCall registered with g_timeout_add ticks its tasklet", "[call]") {
    auto t = []() -> Tasklet<int> {
        WaitForCall<gboolean()> tick(G_SOURCE_CONTINUE);
        g_timeout_add(1, tick.c_callback(), tick.c_data());
        int ticks = 0;
        for (;;) {
            co_await tick;
            if (++ticks == 3) {
                // c_data() is transfer none: the source must go with the WaitForCall.
                // Returning G_SOURCE_REMOVE from this very call does it.
                tick.return_value = G_SOURCE_REMOVE;
                co_return ticks;
            }
        }
    }();
    CHECK(test::run_with_watchdog(t, 5) == 3);
    test::drain();
}

TEST_CASE("a GLib signal handler made with c_callback() receives the signal's arguments",
          "[call]") {
    GListStore* store = g_list_store_new(G_TYPE_OBJECT);
    using Changed = WaitForCall<void(GListModel*, guint, guint, guint)>;
    auto changed = std::make_unique<Changed>();
    gulong id = g_signal_connect_data(store, "items-changed", G_CALLBACK(Changed::c_callback()),
                                      changed->c_data_full(), Changed::c_closure_notify(),
                                      GConnectFlags(0));
    auto t = [](Changed& changed) -> Tasklet<std::tuple<GListModel*, guint, guint, guint>> {
        co_return co_await changed;
    }(*changed);
    GObject* item = G_OBJECT(g_simple_action_new("x", nullptr));
    g_list_store_append(store, item);
    REQUIRE(t.done());
    CHECK(t.return_value() == std::tuple{G_LIST_MODEL(store), 0u, 0u, 1u});
    // The handler outlives the WaitForCall: later emissions are harmless no-ops.
    changed.reset();
    g_list_store_append(store, item);
    CHECK(g_signal_handler_is_connected(store, id));
    g_object_unref(item);
    g_object_unref(store); // disconnects: the closure notify releases the trampoline
}

TEST_CASE("a source firing after its WaitForCall is destroyed is a safe no-op", "[call]") {
    // Under AddressSanitizer this proves no use after free and no leak.
    SECTION("the value held at destruction removes the source") {
        auto w = std::make_unique<WaitForCall<gboolean()>>(G_SOURCE_REMOVE);
        guint id = g_timeout_add_full(G_PRIORITY_DEFAULT, 1, w->c_callback(), w->c_data_full(),
                                      w->c_destroy_notify());
        w.reset();
        CHECK(test::run_until(
            [&] { return g_main_context_find_source_by_id(nullptr, id) == nullptr; }, 5));
    }
    SECTION("a source kept alive keeps calling harmlessly until removed") {
        auto w = std::make_unique<WaitForCall<gboolean()>>(G_SOURCE_CONTINUE);
        int fired = 0;
        guint id = g_timeout_add_full(G_PRIORITY_DEFAULT, 1, w->c_callback(), w->c_data_full(),
                                      w->c_destroy_notify());
        guint counter = g_timeout_add(
            1,
            [](gpointer n) -> gboolean {
                ++*static_cast<int*>(n);
                return G_SOURCE_CONTINUE;
            },
            &fired);
        w.reset();
        CHECK(test::run_until([&] { return fired >= 5; }, 5));
        CHECK(g_main_context_find_source_by_id(nullptr, id) != nullptr); // still there
        g_source_remove(id); // the destroy notify frees the trampoline
        g_source_remove(counter);
    }
}

TEST_CASE("c_data_once() serves a GAsyncReadyCallback", "[call]") {
    char* path = nullptr;
    int fd = g_file_open_tmp("tasklet-call-XXXXXX", &path, nullptr);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, "abc", 3) == 3);
    close(fd);
    GFile* file = g_file_new_for_path(path);

    SECTION("the tasklet finishes the operation inside the callback") {
        auto t = [](GFile* file) -> Tasklet<std::string> {
            WaitForCall<void(GObject*, GAsyncResult*)> done;
            g_file_load_contents_async(file, nullptr, done.c_callback(), done.c_data_once());
            auto [source, result] = co_await done;
            char* data = nullptr;
            gsize len = 0;
            GError* error = nullptr;
            // The result is valid here: the tasklet runs inside the callback.
            if (!g_file_load_contents_finish(G_FILE(source), result, &data, &len, nullptr,
                                             &error)) {
                std::string msg = error->message;
                g_error_free(error);
                throw std::runtime_error(msg);
            }
            std::string s(data, len);
            g_free(data);
            co_return s;
        }(file);
        CHECK(test::run_with_watchdog(t, 5) == "abc");
    }
    SECTION("a tasklet that gave up before the callback leaves nothing behind") {
        bool called = false;
        {
            WaitForCall<void(GObject*, GAsyncResult*)> done;
            g_file_load_contents_async(file, nullptr, done.c_callback(), done.c_data_once());
            g_file_load_contents_async(
                file, nullptr,
                [](GObject*, GAsyncResult*, gpointer c) { *static_cast<bool*>(c) = true; },
                &called);
        } // destroyed; the one-shot reference keeps the C side alive until the callback
        CHECK(test::run_until([&] { return called; }, 5));
        test::drain();
    }
    g_file_delete(file, nullptr, nullptr);
    g_object_unref(file);
    g_free(path);
}

TEST_CASE("cancelling a tasklet waiting on a call leaves later calls queued", "[call]") {
    WaitForCall<int(int)> w(5);
    auto t = [](WaitForCall<int(int)>& w) -> Tasklet<> { co_await w; }(w);
    t.cancel();
    CHECK(t.cancelled());
    CHECK(w(1) == 5);
    CHECK(w.queued() == 1);
    auto u = [](WaitForCall<int(int)>& w) -> Tasklet<int> {
        auto [n] = co_await w;
        co_return n;
    }(w);
    REQUIRE(u.done());
    CHECK(u.return_value() == 1);
}

TEST_CASE("c_callback() with c_data() behaves like operator()", "[call]") {
    WaitForCall<int(int, const char*)> w(3);
    auto cb = w.c_callback();
    CHECK(cb(1, "one", w.c_data()) == 3); // nobody waits: queued
    auto t = [](WaitForCall<int(int, const char*)>& w) -> Tasklet<int> {
        auto [n, s] = co_await w;
        w.return_value = n + 40;
        (void)s;
        auto [m, s2] = co_await w;
        co_return m + (std::string(s2) == "two" ? 1000 : 0);
    }(w);
    CHECK(cb(2, "two", w.c_data()) == 41);
    REQUIRE(t.done());
    CHECK(t.return_value() == 1002);
    CHECK(std::get<0>(w.args()) == 2);
}

TEST_CASE("a call pending when the tasklet waits on something else is kept for later", "[call]") {
    WaitForCall<void(int)> w;
    auto t = [](WaitForCall<void(int)>& w) -> Tasklet<std::vector<int>> {
        std::vector<int> got;
        auto [a] = co_await w;
        got.push_back(a);
        w(2);                                // pending for our next wait on w...
        co_await tasklet::WaitForTimeout(1); // ...which this one is not: w is disarmed
        auto [b] = co_await w;               // re-armed: completes at once with 2
        got.push_back(b);
        co_return got;
    }(w);
    w(1);
    CHECK(test::run_with_watchdog(t, 5) == std::vector<int>{1, 2});
}

// ---- API.md conformance ----

TEST_CASE("a WaitForCall made without a return value answers R{}", "[call]") {
    WaitForCall<int(int)> number;
    WaitForCall<std::string()> text;
    WaitForCall<gboolean()> source;
    CHECK(number.return_value == 0);
    CHECK(text.return_value.empty());
    CHECK(source.return_value == FALSE);
    CHECK(number(1) == 0); // nobody waits: queued, answered with the value as it stands
    CHECK(text().empty());
    CHECK(source() == FALSE);
}

TEST_CASE("co_await on a WaitForCall yields a tuple of the decayed argument types", "[call]") {
    using Call = WaitForCall<void(const std::string&, int&&, const char*)>;
    static_assert(std::is_same_v<decltype(operator co_await(std::declval<Call&>()).await_resume()),
                                 std::tuple<std::string, int, const char*>>);
    static_assert(std::is_same_v<decltype(std::declval<const Call&>().args()),
                                 const std::tuple<std::string, int, const char*>&>);
    static_assert(std::is_same_v<decltype(Call::c_callback()),
                                 void (*)(const std::string&, int&&, const char*, gpointer)>);
    static_assert(std::is_same_v<decltype(std::declval<const Call&>().c_data()), gpointer>);
    Call call;
    auto t = [](Call& call) -> Tasklet<std::string> {
        std::tuple<std::string, int, const char*> got = co_await call;
        co_return std::get<0>(got) + std::to_string(std::get<1>(got)) + std::get<2>(got);
    }(call);
    {
        std::string temporary = "copied-";
        call(temporary, 7, "!");
        temporary.assign(20, 'x'); // the tuple holds its own copy
    }
    REQUIRE(t.done());
    CHECK(t.return_value() == "copied-7!");
}
