// "No leak on cancel, ever": one scenario tasklet passes through every kind of await the library
// has; the driver lets the first k of them complete, cancels the tasklet at await k, and checks
// that nothing is left behind — no armed condition, no attached GSource, no signal handler, no
// pending GIO call or worker job (ASan/LSan check the memory).
#include "scenario.hpp"

#include <chrono>
#include <csignal>
#include <memory>

#include <sys/wait.h>

using namespace tasklet;
using namespace std::chrono_literals;
using enum test::Kind;

namespace {

/// How the scenario waits: on conditions owned by the fixture (their armed() is checked
/// afterwards) or on temporaries (destroyed while Cancelled propagates); and whether it
/// catches Cancelled and returns normally.
struct Mode {
    bool temporaries;
    bool catches;
};

/// The scenario's resources, a bystander tasklet it waits on in any(), and one condition of each
/// kind owned here (destroyed before the resources some of them point into).
struct Fixture {
    explicit Fixture(char* read_buffer) : kit(read_buffer) {}
    ~Fixture() { bystander.cancel(); }

    /// Is any condition owned here still armed?
    bool any_armed() const {
        return timeout.armed() || idle.armed() || io.armed() || sig.armed() || proc.armed() ||
               call.armed() || msgs.armed() || join.armed() || long_timeout.armed() ||
               any_msgs.armed() || op.armed() || thread.armed();
    }

    test::Kit kit;
    Tasklet<> bystander = []() -> Tasklet<> { co_await WaitForMessages("never"); }();
    int point = -1; // the await the scenario is at

    WaitForTimeout timeout{5};
    WaitForIdle idle;
    WaitForIO io{kit.io_r};
    WaitForSignal sig{kit.action, "activate"};
    WaitForProcess proc{kit.child};
    WaitForCall<int(int)> call{0};
    WaitForMessages msgs{"go"};
    WaitForTasklet<> join{kit.other};
    WaitForTimeout long_timeout{24h};
    WaitForMessages any_msgs{"any"};
    WaitForAsync op{kit.starter()};
    WaitForThread<int> thread{kit.worker()};
};

/// Passes through every await once; returns the sum of what they yielded (-1 if it caught
/// Cancelled).
Tasklet<int> scenario(Fixture& f, Mode m) {
    test::Kit& kit = f.kit;
    int total = 0;
    try {
        f.point = k_timeout;
        if (m.temporaries)
            co_await WaitForTimeout(5);
        else
            co_await f.timeout;
        total += 1;

        f.point = k_idle;
        if (m.temporaries)
            co_await WaitForIdle();
        else
            co_await f.idle;
        total += 1;

        f.point = k_io;
        // (if/else, not `?:`: GCC 12 mishandles temporaries of co_await inside `?:`)
        GIOCondition c;
        if (m.temporaries)
            c = co_await WaitForIO(kit.io_r);
        else
            c = co_await f.io;
        total += (c & G_IO_IN) && kit.take_byte();

        f.point = k_signal;
        Emission e;
        if (m.temporaries)
            e = co_await WaitForSignal(kit.action, "activate");
        else
            e = co_await f.sig;
        total += e.object == G_OBJECT(kit.action);

        f.point = k_process;
        int status;
        if (m.temporaries)
            status = co_await WaitForProcess(kit.child);
        else
            status = co_await f.proc;
        kit.child_reaped = true;
        total += WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;

        f.point = k_call;
        if (m.temporaries) {
            WaitForCall<int(int)> local(0);
            kit.call_target = &local;
            auto [x] = co_await local;
            local.return_value = x + 1; // kept by the call, which outlives `local`
            total += x == 41;
        } else {
            kit.call_target = &f.call;
            auto [x] = co_await f.call;
            f.call.return_value = x + 1;
            total += x == 41;
        }
        kit.call_target = nullptr;

        f.point = k_messages;
        if (m.temporaries) {
            Message msg = co_await WaitForMessages("go");
            total += msg.name == "go";
        } else {
            Message msg = co_await f.msgs;
            total += msg.name == "go";
        }

        f.point = k_join;
        if (m.temporaries)
            co_await kit.other;
        else
            co_await f.join;
        total += kit.other_ended;

        f.point = k_any;
        if (m.temporaries) {
            Event& ev = co_await any(WaitForTimeout(24h), WaitForMessages("any"), f.bystander);
            total += ev.message() && ev.message()->name == "any";
        } else {
            Event& ev = co_await any(f.long_timeout, f.any_msgs, f.bystander);
            total += ev.is(f.any_msgs);
        }

        f.point = k_async;
        AsyncResult r;
        if (m.temporaries)
            r = co_await async(kit.starter());
        else
            r = co_await f.op;
        total += kit.read_finished(r);

        f.point = k_thread;
        int v;
        if (m.temporaries)
            v = co_await run_in_thread(kit.worker());
        else
            v = co_await f.thread;
        total += v == 7;

        f.point = n_kinds;
    } catch (const Cancelled&) {
        if (!m.catches)
            throw;
        co_return -1; // (co_return, not co_await, is allowed in a handler)
    }
    co_return total;
}

constexpr int all_points = 11;
static_assert(all_points == n_kinds);

/// Runs the scenario through the first `cancel_at` awaits and cancels it at the next one
/// (cancel_at == n_kinds: it runs to the end). Checks that nothing is left behind.
void run_once(GMainContext* ctx, std::size_t baseline, int cancel_at, Mode m) {
    INFO("cancelled at await " << cancel_at << " ("
                               << (cancel_at < n_kinds ? test::kind_name(cancel_at)
                                                       : "(none: runs to the end)")
                               << "), " << (m.temporaries ? "temporary" : "fixture-owned")
                               << " conditions, " << (m.catches ? "catching" : "not catching")
                               << " Cancelled");
    char read_buffer[16] = {};
    std::weak_ptr<test::Gate> gate_alive;
    gpointer stream_alive = nullptr;
    {
        Fixture f(read_buffer);
        gate_alive = f.kit.gate;
        stream_alive = f.kit.in;
        g_object_add_weak_pointer(G_OBJECT(f.kit.in), &stream_alive);

        Tasklet<int> t = scenario(f, m);
        for (int p = 0; p < cancel_at; ++p) {
            REQUIRE(test::run_until([&] { return f.point == p && !t.done(); }, 10, ctx));
            REQUIRE(t.state() == State::suspended);
            f.kit.complete(p, t);
            REQUIRE(test::run_until([&] { return f.point > p || t.done(); }, 10, ctx));
        }
        REQUIRE(test::run_until([&] { return f.point == cancel_at || t.done(); }, 10, ctx));
        if (cancel_at < n_kinds) {
            REQUIRE(t.state() == State::suspended);
            t.cancel();
            REQUIRE(t.done());
            if (m.catches) {
                CHECK_FALSE(t.cancelled());
                CHECK(t.return_value() == -1);
            } else {
                CHECK(t.cancelled());
                CHECK_THROWS_AS(t.return_value(), Cancelled);
            }
        } else {
            REQUIRE(test::run_until([&] { return t.done(); }, 10, ctx));
            CHECK(t.return_value() == all_points);
        }
        CHECK_FALSE(f.any_armed());
        CHECK(test::handler_count(f.kit.action, "activate") == 0);
        // Everything the scenario attached was removed synchronously — except a GIO call or a
        // worker job in flight, whose late completion GLib delivers from the main loop.
        if (cancel_at != k_async && cancel_at != k_thread)
            CHECK(test::attached_sources(ctx) == baseline);
        CHECK_FALSE(f.bystander.done()); // cancelling one tasklet touches no other
    }
    // The late completions arrive, find nobody waiting, and free everything they held.
    // (run_until's own watchdog is one more source while it runs.)
    CHECK(test::run_until(
        [&] {
            return gate_alive.expired() && stream_alive == nullptr &&
                   test::attached_sources(ctx) == baseline + 1;
        },
        10, ctx));
    CHECK(test::attached_sources(ctx) == baseline);
    if (stream_alive)
        g_object_remove_weak_pointer(G_OBJECT(stream_alive), &stream_alive);
}

} // namespace

TEST_CASE("cancelling at any await point leaves no armed condition, source or handler behind",
          "[cancel]") {
    test::PrivateContext pc;
    // Warm-up: the scheduler's lanes (one long-lived GSource per priority in use) are created
    // on first use and live on; the baseline counts them.
    {
        char buf[16] = {};
        Fixture f(buf);
        Tasklet<int> t = scenario(f, Mode{false, false});
        for (int p = 0; p < n_kinds; ++p) {
            REQUIRE(test::run_until([&] { return f.point == p; }, 10, pc.get()));
            f.kit.complete(p, t);
        }
        REQUIRE(test::run_until([&] { return t.done(); }, 10, pc.get()));
        REQUIRE(t.return_value() == all_points);
    }
    test::drain(pc.get());
    const std::size_t baseline = test::attached_sources(pc.get());
    INFO("baseline: " << baseline << " sources");
    CHECK(baseline <= 2); // the scheduler's default and idle lanes

    const int variant = GENERATE(0, 1, 2, 3);
    const Mode mode{(variant & 1) != 0, (variant & 2) != 0};
    for (int k = 0; k <= n_kinds; ++k)
        run_once(pc.get(), baseline, k, mode);
}
