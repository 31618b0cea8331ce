// "No leak on cancel, ever": one scenario tasklet passes through every kind of await the library
// has; the driver lets the first k of them complete, cancels the tasklet at await k, and checks
// that nothing is left behind — no armed condition, no attached GSource, no signal handler, no
// pending GIO call or worker job (ASan/LSan check the memory).
#include "support.hpp"

#include <tasklet/call.hpp>
#include <tasklet/gio.hpp>
#include <tasklet/io.hpp>
#include <tasklet/process.hpp>
#include <tasklet/signal.hpp>
#include <tasklet/thread.hpp>

#include <gio/gio.h>
#include <glib-unix.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace tasklet;
using namespace std::chrono_literals;

namespace {

/// The awaits of the scenario, in the order it passes through them.
enum Point {
    p_timeout,
    p_idle,
    p_io,
    p_signal,
    p_process,
    p_call,
    p_messages,
    p_join,
    p_any,
    p_async,
    p_thread,
    n_points
};

const char* point_name(int p) {
    static const char* const names[] = {"WaitForTimeout", "WaitForIdle",    "WaitForIO",
                                        "WaitForSignal",  "WaitForProcess", "WaitForCall",
                                        "WaitForMessages", "WaitForTasklet", "any()",
                                        "tasklet::async",  "run_in_thread"};
    return p >= 0 && p < n_points ? names[p] : "(none: runs to the end)";
}

/// How the scenario waits: on conditions owned by the fixture (their armed() is checked
/// afterwards) or on temporaries (destroyed while Cancelled propagates); and whether it
/// catches Cancelled and returns normally.
struct Mode {
    bool temporaries;
    bool catches;
};

/// What the worker-thread function shares with the test. Outlives the fixture: the function
/// may still be running on its thread after the tasklet was cancelled.
struct Gate {
    std::mutex m;
    std::condition_variable cv;
    bool release = false;
};

struct Fixture {
    explicit Fixture(char* read_buffer) : buf(read_buffer) {
        int fds[2];
        REQUIRE(g_unix_open_pipe(fds, FD_CLOEXEC, nullptr));
        io_r = fds[0];
        io_w = fds[1];
        REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
        peer = fds[1];
        GSocket* sock = g_socket_new_from_fd(fds[0], nullptr); // owns fds[0]
        REQUIRE(sock != nullptr);
        conn = g_socket_connection_factory_create_connection(sock);
        g_object_unref(sock);
        in = g_io_stream_get_input_stream(G_IO_STREAM(conn));

        action = g_simple_action_new("act", nullptr);
        const char* argv[] = {"sleep", "30", nullptr};
        REQUIRE(g_spawn_async(nullptr, const_cast<char**>(argv), nullptr,
                              GSpawnFlags(G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH),
                              nullptr, nullptr, &child, nullptr));

        // Two helper tasklets that wait only for messages (no sources of their own).
        other = [](int& ended) -> Tasklet<> {
            co_await WaitForMessages("end");
            ++ended;
        }(other_ended);
        bystander = []() -> Tasklet<> { co_await WaitForMessages("never"); }();

        timeout = std::make_unique<WaitForTimeout>(5);
        idle = std::make_unique<WaitForIdle>();
        io = std::make_unique<WaitForIO>(io_r);
        sig = std::make_unique<WaitForSignal>(action, "activate");
        proc = std::make_unique<WaitForProcess>(child);
        call = std::make_unique<WaitForCall<int(int)>>(0);
        msgs = std::make_unique<WaitForMessages>("go");
        join = std::make_unique<WaitForTasklet<>>(other);
        long_timeout = std::make_unique<WaitForTimeout>(24h);
        any_msgs = std::make_unique<WaitForMessages>("any");
        op = std::make_unique<WaitForAsync>(starter());
        thread = std::make_unique<WaitForThread<int>>(worker());
    }

    ~Fixture() {
        other.cancel();
        bystander.cancel();
        if (!child_reaped) {
            kill(child, SIGKILL);
            int status;
            while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
            }
        }
        // Conditions first: some point into the resources below.
        thread.reset();
        op.reset();
        sig.reset();
        io.reset();
        proc.reset();
        g_object_unref(action);
        g_object_unref(conn); // a read still pending keeps the stream alive until it ends
        close(io_r);
        close(io_w);
        close(peer);
    }

    WaitForAsync::Starter starter() {
        return [in = in, buf = buf](GCancellable* c, GAsyncReadyCallback cb, gpointer d) {
            g_input_stream_read_async(in, buf, 16, G_PRIORITY_DEFAULT, c, cb, d);
        };
    }
    std::function<int(GCancellable*)> worker() {
        return [gate = gate](GCancellable* c) -> int {
            std::unique_lock lock(gate->m);
            while (!gate->release && !g_cancellable_is_cancelled(c))
                gate->cv.wait_for(lock, 1ms); // the cancellable has no wakeup of its own here
            return gate->release ? 7 : -7;
        };
    }

    /// Is any condition owned here still armed?
    bool any_armed() const {
        return timeout->armed() || idle->armed() || io->armed() || sig->armed() ||
               proc->armed() || call->armed() || msgs->armed() || join->armed() ||
               long_timeout->armed() || any_msgs->armed() || op->armed() || thread->armed();
    }
    std::size_t activate_handlers() const {
        guint id = g_signal_lookup("activate", G_TYPE_SIMPLE_ACTION);
        std::size_t n = 0;
        // Blocking a found handler hides it from the next search; unblock them all after.
        std::vector<gulong> found;
        while (gulong h = g_signal_handler_find(action,
                                                GSignalMatchType(G_SIGNAL_MATCH_ID |
                                                                 G_SIGNAL_MATCH_UNBLOCKED),
                                                id, 0, nullptr, nullptr, nullptr)) {
            g_signal_handler_block(action, h);
            found.push_back(h);
            ++n;
        }
        for (gulong h : found)
            g_signal_handler_unblock(action, h);
        return n;
    }

    char* buf;
    int io_r = -1, io_w = -1, peer = -1;
    GSocketConnection* conn = nullptr;
    GInputStream* in = nullptr;
    GSimpleAction* action = nullptr;
    GPid child = 0;
    bool child_reaped = false;
    std::shared_ptr<Gate> gate = std::make_shared<Gate>();
    int other_ended = 0;
    Tasklet<> other, bystander;

    int point = -1;                              // the await the scenario is at
    WaitForCall<int(int)>* call_target = nullptr; // the WaitForCall it waits on

    std::unique_ptr<WaitForTimeout> timeout;
    std::unique_ptr<WaitForIdle> idle;
    std::unique_ptr<WaitForIO> io;
    std::unique_ptr<WaitForSignal> sig;
    std::unique_ptr<WaitForProcess> proc;
    std::unique_ptr<WaitForCall<int(int)>> call;
    std::unique_ptr<WaitForMessages> msgs;
    std::unique_ptr<WaitForTasklet<>> join;
    std::unique_ptr<WaitForTimeout> long_timeout;
    std::unique_ptr<WaitForMessages> any_msgs;
    std::unique_ptr<WaitForAsync> op;
    std::unique_ptr<WaitForThread<int>> thread;
};

/// Passes through every await once; returns the sum of what they yielded (-1 if it caught
/// Cancelled).
Tasklet<int> scenario(Fixture& f, Mode m) {
    int total = 0;
    try {
        f.point = p_timeout;
        if (m.temporaries)
            co_await WaitForTimeout(5);
        else
            co_await *f.timeout;
        total += 1;

        f.point = p_idle;
        if (m.temporaries)
            co_await WaitForIdle();
        else
            co_await *f.idle;
        total += 1;

        f.point = p_io;
        // (if/else, not `?:`: GCC 12 mishandles temporaries of co_await inside `?:`)
        GIOCondition c;
        if (m.temporaries)
            c = co_await WaitForIO(f.io_r);
        else
            c = co_await *f.io;
        char byte;
        if ((c & G_IO_IN) && read(f.io_r, &byte, 1) == 1)
            total += 1;

        f.point = p_signal;
        Emission e;
        if (m.temporaries)
            e = co_await WaitForSignal(f.action, "activate");
        else
            e = co_await *f.sig;
        total += e.object == G_OBJECT(f.action);

        f.point = p_process;
        int status;
        if (m.temporaries)
            status = co_await WaitForProcess(f.child);
        else
            status = co_await *f.proc;
        f.child_reaped = true;
        total += WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;

        f.point = p_call;
        if (m.temporaries) {
            WaitForCall<int(int)> local(0);
            f.call_target = &local;
            auto [x] = co_await local;
            local.return_value = x + 1; // kept by the call, which outlives `local`
            total += x == 41;
        } else {
            f.call_target = f.call.get();
            auto [x] = co_await *f.call;
            f.call->return_value = x + 1;
            total += x == 41;
        }
        f.call_target = nullptr;

        f.point = p_messages;
        if (m.temporaries) {
            Message msg = co_await WaitForMessages("go");
            total += msg.name == "go";
        } else {
            Message msg = co_await *f.msgs;
            total += msg.name == "go";
        }

        f.point = p_join;
        if (m.temporaries)
            co_await f.other;
        else
            co_await *f.join;
        total += f.other_ended;

        f.point = p_any;
        if (m.temporaries) {
            Event& ev =
                co_await any(WaitForTimeout(24h), WaitForMessages("any"), f.bystander);
            total += ev.message() && ev.message()->name == "any";
        } else {
            Event& ev = co_await any(*f.long_timeout, *f.any_msgs, f.bystander);
            total += ev.is(*f.any_msgs);
        }

        f.point = p_async;
        AsyncResult r;
        if (m.temporaries)
            r = co_await async(f.starter());
        else
            r = co_await *f.op;
        total += g_input_stream_read_finish(f.in, r, nullptr) == 1 && f.buf[0] == 'y';

        f.point = p_thread;
        int v;
        if (m.temporaries)
            v = co_await run_in_thread(f.worker());
        else
            v = co_await *f.thread;
        total += v == 7;

        f.point = n_points;
    } catch (const Cancelled&) {
        if (!m.catches)
            throw;
        co_return -1; // (co_return, not co_await, is allowed in a handler)
    }
    co_return total;
}

/// Makes the await the scenario is suspended at (`p`) complete.
void complete(Fixture& f, int p, const AnyTasklet& t) {
    switch (p) {
    case p_timeout:
    case p_idle:
        break; // the main loop completes them
    case p_io:
        REQUIRE(write(f.io_w, "x", 1) == 1);
        break;
    case p_signal:
        g_action_activate(G_ACTION(f.action), nullptr);
        break;
    case p_process:
        REQUIRE(kill(f.child, SIGKILL) == 0);
        break;
    case p_call:
        REQUIRE(f.call_target != nullptr);
        CHECK((*f.call_target)(41) == 42); // the tasklet chose the answer
        break;
    case p_messages:
        t.send_message(Message("go"));
        break;
    case p_join:
        f.other.send_message(Message("end"));
        break;
    case p_any:
        t.send_message(Message("any"));
        break;
    case p_async:
        REQUIRE(write(f.peer, "y", 1) == 1);
        break;
    case p_thread: {
        std::lock_guard lock(f.gate->m);
        f.gate->release = true;
        f.gate->cv.notify_all();
        break;
    }
    }
}

constexpr int all_points = 11;
static_assert(all_points == n_points);

/// Runs the scenario through the first `cancel_at` awaits and cancels it at the next one
/// (cancel_at == n_points: it runs to the end). Checks that nothing is left behind.
void run_once(GMainContext* ctx, std::size_t baseline, int cancel_at, Mode m) {
    INFO("cancelled at await " << cancel_at << " (" << point_name(cancel_at) << "), "
                               << (m.temporaries ? "temporary" : "fixture-owned")
                               << " conditions, " << (m.catches ? "catching" : "not catching")
                               << " Cancelled");
    char read_buffer[16] = {};
    std::weak_ptr<Gate> gate_alive;
    gpointer stream_alive = nullptr;
    {
        Fixture f(read_buffer);
        gate_alive = f.gate;
        stream_alive = f.in;
        g_object_add_weak_pointer(G_OBJECT(f.in), &stream_alive);

        Tasklet<int> t = scenario(f, m);
        for (int p = 0; p < cancel_at; ++p) {
            REQUIRE(test::run_until([&] { return f.point == p && !t.done(); }, 10, ctx));
            REQUIRE(t.state() == State::suspended);
            complete(f, p, t);
            REQUIRE(test::run_until([&] { return f.point > p || t.done(); }, 10, ctx));
        }
        REQUIRE(test::run_until([&] { return f.point == cancel_at || t.done(); }, 10, ctx));
        if (cancel_at < n_points) {
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
        CHECK(f.activate_handlers() == 0);
        // Everything the scenario attached was removed synchronously — except a GIO call or a
        // worker job in flight, whose late completion GLib delivers from the main loop.
        if (cancel_at != p_async && cancel_at != p_thread)
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
        for (int p = 0; p < n_points; ++p) {
            REQUIRE(test::run_until([&] { return f.point == p; }, 10, pc.get()));
            complete(f, p, t);
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
    for (int k = 0; k <= n_points; ++k)
        run_once(pc.get(), baseline, k, mode);
}
