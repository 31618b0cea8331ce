// Calls in flight when their tasklet is cancelled, or their condition is awaited again:
// async() (GIO), run_in_thread() and WaitForCall, beyond the basics in test_gio,
// test_thread_pool and test_call.
#include "support.hpp"
#include "tsan_glib.hpp"

#include <tasklet/call.hpp>
#include <tasklet/gio.hpp>
#include <tasklet/thread.hpp>

#include <gio/gio.h>
#include <glib-unix.h>
#include <glib/gstdio.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <stdexcept>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

using namespace tasklet;
using detail::ObjectRef;

namespace {

/// A socket pair whose one end is a GSocketConnection's (pollable) input stream: a read on it
/// stays in flight until something is written to `w` or the read is cancelled.
struct Pipe {
    int w = -1;
    ObjectRef<GSocketConnection> conn;
    GInputStream* in = nullptr;
    Pipe() {
        int fds[2];
        REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
        w = fds[1];
        GSocket* sock = g_socket_new_from_fd(fds[0], nullptr); // owns fds[0]
        REQUIRE(sock);
        conn = ObjectRef<GSocketConnection>::adopt(
            g_socket_connection_factory_create_connection(sock));
        g_object_unref(sock);
        in = g_io_stream_get_input_stream(G_IO_STREAM(conn.get()));
    }
    ~Pipe() { close(w); }
};

/// A starter reading up to 16 bytes of `in` into `buf` (which must outlive the read).
WaitForAsync::Starter read_into(GInputStream* in, char* buf) {
    return [in, buf](GCancellable* c, GAsyncReadyCallback cb, gpointer d) {
        g_input_stream_read_async(in, buf, 16, G_PRIORITY_DEFAULT, c, cb, d);
    };
}

} // namespace

// ---- cancellation while a co_await arms its call --------------------------------------------

// PromiseBase::begin_wait() checks cancel_requested_ before it arms the conditions, and
// finish_wait() never checks it again. A cancel() made while the co_await is arming (here from
// inside the starter; likewise from a "cancelled" handler run by disarming the previous wait's
// call, or any user code reached from arm()) leaves the tasklet suspended on a wait that may
// never end: the cancellation only takes effect at the co_await after it.
TEST_CASE("a tasklet cancelled while its co_await starts the call does not stay suspended",
          "[gio][cancel]") {
    Pipe pipe;
    char buf[16];
    AnyTasklet self;
    bool resumed = false;
    auto body = [&]() -> Tasklet<> {
        co_await async([&](GCancellable* c, GAsyncReadyCallback cb, gpointer d) {
            self.cancel(); // e.g. reached from code the starter calls
            g_input_stream_read_async(pipe.in, buf, sizeof buf, G_PRIORITY_DEFAULT, c, cb, d);
        });
        resumed = true;
    };
    auto t = deferred(body);
    self = t;
    t.start();
    // Nothing is ever written: only the cancellation can end the wait.
    bool ended = test::run_until([&] { return t.done(); }, 2.0);
    CHECK(ended);
    if (!ended)
        t.cancel(); // the second cancel() does resume it
    CHECK(t.done());
    CHECK(t.cancelled());
    CHECK_FALSE(resumed);
    self = {};
    test::drain(); // the cancelled read's late callback frees its trampoline
}

// a cancel() that came while the tasklet ran makes its next `co_await async(...)` throw
// before the starter runs: no call is started for a wait that will not happen.
TEST_CASE("a tasklet cancelled while running does not start the call of its next co_await",
          "[gio][cancel]") {
    int starts = 0;
    AnyTasklet self;
    auto body = [&]() -> Tasklet<> {
        self.cancel(); // running: a request
        co_await async([&](GCancellable*, GAsyncReadyCallback, gpointer) { ++starts; });
    };
    auto t = deferred(body);
    self = t;
    t.start();
    REQUIRE(t.done());
    CHECK(t.cancelled());
    CHECK(starts == 0);
    self = {};
}

// ---- WaitForAsync shared by tasklets ---------------------------------------------------------

// a WaitForAsync that outlives a tasklet cancelled during its call can be awaited by
// another tasklet: that one starts a fresh call (fresh GCancellable) and gets its own result,
// and the first call's late (cancelled) callback is ignored.
TEST_CASE("a WaitForAsync abandoned by a cancelled tasklet serves the next tasklet a fresh call",
          "[gio]") {
    Pipe pipe;
    static char buf[16];
    WaitForAsync op(read_into(pipe.in, buf));
    auto first = [](WaitForAsync& op) -> Tasklet<> { co_await op; }(op);
    REQUIRE_FALSE(first.done());
    ObjectRef<GCancellable> c1 = ObjectRef<GCancellable>::ref(op.cancellable());
    first.cancel();
    REQUIRE(first.cancelled());
    CHECK(g_cancellable_is_cancelled(c1.get()));
    CHECK_FALSE(op.armed());
    // The first read is still in GIO (its callback not yet dispatched): the stream refuses a
    // second read until then, so let the late callback come first.
    test::drain();
    auto second = [](WaitForAsync& op, GInputStream* in) -> Tasklet<std::string> {
        AsyncResult r = co_await op;
        gssize n = g_input_stream_read_finish(in, r, throw_on_error());
        co_return std::string(buf, static_cast<std::size_t>(n));
    }(op, pipe.in);
    REQUIRE_FALSE(second.done());
    CHECK(op.cancellable() != c1.get());
    CHECK_FALSE(g_cancellable_is_cancelled(op.cancellable()));
    REQUIRE(write(pipe.w, "hi", 2) == 2);
    CHECK(test::run_with_watchdog(second, 5) == "hi");
}

// ---- the context a call completes in --------------------------------------------------------

// a call started while another context is thread-default (here: the test pushed one and
// iterates the tasklet's own context explicitly, as a program running a second loop does)
// still completes in the tasklet's context, because AsyncOp::begin() pushes that context
// around the starter. Without it GTask would attach its completion to the pushed context,
// which nobody iterates (verified: removing the push makes this test hang to its watchdog).
// The tasklet is resumed by an idle (the scheduler's dispatch) before each start: a GTask
// callback would have pushed the right context already.
TEST_CASE("a call re-armed while another context is thread-default completes in the "
          "tasklet's context",
          "[gio]") {
    auto t = []() -> Tasklet<int> {
        WaitForAsync op([](GCancellable* c, GAsyncReadyCallback cb, gpointer d) {
            GTask* task = g_task_new(nullptr, c, cb, d); // captures the thread-default context
            g_task_return_boolean(task, TRUE);           // completes from an idle there
            g_object_unref(task);
        });
        int ok = 0;
        for (int i = 0; i < 2; ++i) {
            co_await WaitForIdle(); // leaves `op` out: the next co_await arms it afresh
            AsyncResult r = co_await op;
            ok += g_task_propagate_boolean(G_TASK(r.get()), nullptr);
        }
        co_return ok;
    }();
    GMainContext* home = t.context();
    test::PrivateContext other; // thread-default from here on, never iterated
    REQUIRE(g_main_context_get_thread_default() != home);
    REQUIRE(test::run_until([&] { return t.done(); }, 5.0, home));
    CHECK(t.return_value() == 2);
}

// ---- WaitForCall --------------------------------------------------------------------------

// a pending call (made while its tasklet ran) that the tasklet took through any() counts
// as delivered: when the tasklet then ends, WaitForCall::disarm() does not put it back in the
// queue, so the next tasklet does not receive it a second time.
TEST_CASE("a call taken through any() is not delivered again after its tasklet ends", "[call]") {
    using Call = WaitForCall<void(int)>;
    Call w;
    auto a = [](Call& w) -> Tasklet<int> {
        w(1); // not armed yet: queued
        WaitForTimeout never(60000);
        Event& e = co_await any(w, never); // completes at once with call 1
        co_return e.is(w) ? std::get<0>(w.args()) : -1;
    }(w);
    REQUIRE(a.done());
    CHECK(a.return_value() == 1);
    CHECK(w.queued() == 0);
    auto b = [](Call& w) -> Tasklet<int> {
        auto [n] = co_await w;
        co_return n;
    }(w);
    CHECK_FALSE(b.done()); // call 1 is not delivered twice
    w(2);
    REQUIRE(b.done());
    CHECK(b.return_value() == 2);
}

// ---- WaitForThread: the function of an abandoned run --------------------------------------

// A run the tasklet stopped waiting for keeps going on its worker thread; the condition
// awaited again must not run the same function object on a second thread meanwhile (a data
// race on any state it has): the new run waits for the abandoned one.
TEST_CASE("a WaitForThread awaited again does not run its function concurrently with an "
          "abandoned run",
          "[thread]") {
    struct Shared {
        std::atomic<int> inside{0};
        std::atomic<int> max_inside{0};
        std::atomic<int> runs{0};
        std::atomic<int> finished{0};
        std::atomic<bool> release{false};
    };
    auto s = std::make_shared<Shared>();
    auto body = [](std::shared_ptr<Shared> s) -> Tasklet<int> {
        WaitForThread<int> work = run_in_thread([s] {
            int now = ++s->inside;
            int seen = s->max_inside.load();
            while (now > seen && !s->max_inside.compare_exchange_weak(seen, now)) {
            }
            int run = ++s->runs;
            while (run == 1 && !s->release.load())
                g_usleep(1000);
            --s->inside;
            ++s->finished;
            return run;
        });
        WaitForTimeout soon(20);
        Event& e = co_await any(work, soon); // the first run blocks: the timeout wins
        REQUIRE(e.is(soon));
        co_await WaitForIdle();  // leaves `work` out: its run is abandoned, still going
        int run = co_await work; // a second run of the same function object
        co_return run;
    }(s);
    // The first run is let go only once the second has been asked for, long enough for a
    // second worker to have entered the function if nothing held it back.
    auto releaser = [](std::shared_ptr<Shared> s) -> Tasklet<> {
        co_await WaitForTimeout(200);
        s->release = true;
    }(s);
    CHECK(test::run_with_watchdog(body, 10) == 2);
    CHECK(s->max_inside.load() == 1); // never two runs at once
    CHECK(test::run_until([&] { return s->finished.load() == 2; }, 5));
    test::drain(); // the abandoned run's late completion
}

// ---- memory a cancelled call still uses -----------------------------------------------------

namespace {

/// True once some thread of this process is blocked in read(2) into `buf` (x86-64: syscall 0).
bool thread_blocked_in_read(const void* buf) {
    GDir* d = g_dir_open("/proc/self/task", 0, nullptr);
    if (!d)
        return false;
    char want[48];
    g_snprintf(want, sizeof want, " 0x%lx ", reinterpret_cast<unsigned long>(buf));
    bool found = false;
    while (const char* tid = g_dir_read_name(d)) {
        std::string path = std::string("/proc/self/task/") + tid + "/syscall";
        gchar* text = nullptr;
        if (g_file_get_contents(path.c_str(), &text, nullptr, nullptr)) {
            found = found || (g_str_has_prefix(text, "0 ") && strstr(text, want));
            g_free(text);
        }
    }
    g_dir_close(d);
    return found;
}

/// Wakes the thread-default context every few milliseconds while it lives, for run_until()
/// predicates that poll state no source reports.
struct Ticker {
    detail::SourcePtr s{g_timeout_source_new(2)};
    Ticker() {
        g_source_set_callback(
            s.get(), [](gpointer) -> gboolean { return G_SOURCE_CONTINUE; }, nullptr, nullptr);
        g_source_attach(s.get(), g_main_context_get_thread_default());
    }
};

} // namespace

// On a stream GIO reads in a worker thread (a GFileInputStream on a FIFO here), cancelling
// cannot interrupt a read(2) already blocked: it completes later, into the memory it was
// given. A starter that owns that memory (a buffer captured by shared_ptr) is kept until
// the call's callback has run, so the late read lands in live memory and the buffer goes
// after it. (With the buffer gone at the cancel, AddressSanitizer reports a
// heap-use-after-free written by GIO's worker.)
TEST_CASE("a read cancelled while GIO's worker is in read(2) lands in the starter's buffer, "
          "which lives until the late callback",
          "[gio][cancel]") {
    gchar* dir = g_dir_make_tmp("tasklet-test-XXXXXX", nullptr);
    REQUIRE(dir);
    std::string path = std::string(dir) + "/fifo";
    REQUIRE(mkfifo(path.c_str(), 0600) == 0);
    int writer = open(path.c_str(), O_RDWR | O_NONBLOCK); // so opening to read won't block
    REQUIRE(writer >= 0);
    GFile* file = g_file_new_for_path(path.c_str());
    GFileInputStream* stream = g_file_read(file, nullptr, nullptr);
    REQUIRE(stream);
    bool read_done = false;
    std::weak_ptr<std::vector<char>> watch;
    auto body = [](GInputStream* in, bool& read_done,
                   std::weak_ptr<std::vector<char>>& watch) -> Tasklet<> {
        auto buf = std::make_shared<std::vector<char>>(64);
        watch = buf;
        // Named first: GCC 12 destroys the captures of a lambda written inside a co_await
        // operand twice (README, "Compiler notes").
        auto start = [in, buf](GCancellable* c, GAsyncReadyCallback cb, gpointer d) {
            g_input_stream_read_async(in, buf->data(), buf->size(), G_PRIORITY_DEFAULT, c, cb, d);
        };
        co_await async(std::move(start));
        read_done = true;
    }(G_INPUT_STREAM(stream), read_done, watch);
    const void* where = watch.lock()->data();
    {
        Ticker poll;
        REQUIRE(test::run_until([&] { return thread_blocked_in_read(where); }, 5.0));
    }
    body.cancel();
    REQUIRE(body.cancelled());
    body = {};
    std::shared_ptr<std::vector<char>> buf = watch.lock();
    REQUIRE(buf); // the call still uses it
    REQUIRE(write(writer, "0123456789abcdef", 16) == 16);
    CHECK(
        test::run_until([&] { return !g_input_stream_has_pending(G_INPUT_STREAM(stream)); }, 5.0));
    CHECK(std::string(buf->data(), 16) == "0123456789abcdef"); // the late read landed here
    buf.reset();
    CHECK(watch.expired()); // released with the late callback
    CHECK_FALSE(read_done);
    g_object_unref(stream);
    g_object_unref(file);
    close(writer);
    g_unlink(path.c_str());
    g_rmdir(dir);
    g_free(dir);
}
