// Specification of idle.hpp: WaitForIdle (once per iteration while armed, priorities, scale).
#include "support.hpp"

#include <string>
#include <vector>

using namespace tasklet;

TEST_CASE("a WaitForIdle kept armed fires once per main-loop iteration") {
    test::PrivateContext ctx;
    int fired = 0;
    auto body = [&]() -> Tasklet<> {
        WaitForIdle idle;
        for (int i = 0; i < 5; ++i) {
            co_await idle;
            ++fired;
        }
    };
    auto t = body();
    CHECK(fired == 0);
    for (int i = 1; i <= 5; ++i) {
        g_main_context_iteration(ctx.get(), FALSE); // never blocks: no watchdog needed
        CHECK(fired == i);
    }
    CHECK(t.done());
}

TEST_CASE("co_await on a WaitForIdle yields void; its default priority is DEFAULT_IDLE") {
    WaitForIdle idle;
    CHECK(idle.priority() == G_PRIORITY_DEFAULT_IDLE);
    CHECK(WaitForIdle(G_PRIORITY_HIGH_IDLE).priority() == G_PRIORITY_HIGH_IDLE);
    bool named = false;
    auto body = [&]() -> Tasklet<> {
        static_assert(std::is_void_v<decltype(operator co_await(idle).await_resume())>);
        co_await idle;
        named = get_event().is(idle);
    };
    test::run_with_watchdog(body());
    CHECK(named);
}

TEST_CASE("a WaitForIdle does not fire while a source of higher priority is ready") {
    test::PrivateContext ctx;
    std::vector<std::string> order;
    auto body = [&]() -> Tasklet<> {
        co_await WaitForIdle();
        order.push_back("tasklet");
    };
    auto t = body();
    int glib_runs = 0;
    struct Data {
        std::vector<std::string>* order;
        int* runs;
    } data{&order, &glib_runs};
    GSource* busy = g_idle_source_new(); // ready every iteration, for three of them
    g_source_set_priority(busy, G_PRIORITY_DEFAULT);
    g_source_set_callback(
        busy,
        [](gpointer p) -> gboolean {
            auto* d = static_cast<Data*>(p);
            d->order->push_back("glib");
            return ++*d->runs < 3 ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
        },
        &data, nullptr);
    g_source_attach(busy, ctx.get());
    g_source_unref(busy);
    test::run_until([&] { return t.done(); }, 10, ctx.get());
    CHECK(order == std::vector<std::string>{"glib", "glib", "glib", "tasklet"});
}

TEST_CASE("WaitForIdle's priority is respected against a GLib idle source") {
    test::PrivateContext ctx;
    std::vector<std::string> order;
    auto add_glib_idle = [&](int priority) {
        GSource* s = g_idle_source_new();
        g_source_set_priority(s, priority);
        g_source_set_callback(
            s,
            [](gpointer p) -> gboolean {
                static_cast<std::vector<std::string>*>(p)->push_back("glib");
                return G_SOURCE_REMOVE;
            },
            &order, nullptr);
        g_source_attach(s, ctx.get());
        g_source_unref(s);
    };
    auto body = [&](int priority) -> Tasklet<> {
        co_await WaitForIdle(priority);
        order.push_back("tasklet");
    };

    SECTION("a higher-priority WaitForIdle fires first") {
        add_glib_idle(G_PRIORITY_DEFAULT_IDLE);
        auto t = body(G_PRIORITY_HIGH_IDLE);
        test::run_until([&] { return t.done() && order.size() == 2; }, 10, ctx.get());
        CHECK(order == std::vector<std::string>{"tasklet", "glib"});
    }
    SECTION("a lower-priority WaitForIdle fires after") {
        auto t = body(G_PRIORITY_LOW);
        add_glib_idle(G_PRIORITY_DEFAULT_IDLE);
        test::run_until([&] { return t.done() && order.size() == 2; }, 10, ctx.get());
        CHECK(order == std::vector<std::string>{"glib", "tasklet"});
    }
}

TEST_CASE("a tasklet looping on WaitForIdle does not starve a default-priority timeout") {
    bool stop = false;
    int spins = 0;
    auto spinner = [&]() -> Tasklet<> {
        WaitForIdle idle;
        while (!stop) {
            co_await idle;
            ++spins;
        }
    };
    auto waiter = [&]() -> Tasklet<> {
        co_await WaitForTimeout(20);
        stop = true;
    };
    auto s = spinner();
    auto w = waiter();
    test::run_until([&] { return s.done() && w.done(); });
    CHECK(spins > 0);
}

TEST_CASE("1000 tasklets on idles all complete, each idle firing once per iteration") {
    test::PrivateContext ctx;
    constexpr int n = 1000;
    int total = 0;
    auto body = [&]() -> Tasklet<> {
        WaitForIdle idle;
        for (int i = 0; i < 3; ++i) {
            co_await idle;
            ++total;
        }
    };
    std::vector<Tasklet<>> ts;
    for (int i = 0; i < n; ++i)
        ts.push_back(body());
    g_main_context_iteration(ctx.get(), FALSE);
    CHECK(total == n); // every one fired once in that iteration, none twice
    test::run_until([&] { return total == 3 * n; }, 20, ctx.get());
    for (auto& t : ts)
        CHECK(t.done());
}
