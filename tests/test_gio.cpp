// GIO async calls through tasklet::async(), and GError as tasklet::Error — with real GIO:
// files, a local TCP service, subprocesses.
#include "support.hpp"

#include <tasklet/tasklet.hpp>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <fcntl.h>
#include <memory>
#include <stdexcept>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

using namespace tasklet;
using detail::ObjectRef;

namespace {

/// A temporary directory, removed with its files.
struct TempDir {
    std::string path;
    TempDir() {
        GError* e = nullptr;
        char* p = g_dir_make_tmp("tasklet-gio-XXXXXX", &e);
        REQUIRE(p);
        path = p;
        g_free(p);
    }
    ~TempDir() {
        GDir* d = g_dir_open(path.c_str(), 0, nullptr);
        while (const char* n = d ? g_dir_read_name(d) : nullptr)
            g_unlink((path + "/" + n).c_str());
        if (d)
            g_dir_close(d);
        g_rmdir(path.c_str());
    }
    std::string file(const char* name) const { return path + "/" + name; }
};

/// Sits between GIO and the tasklet's callback to see the call's real outcome: it finishes
/// the call itself (with `finish`), records the error, then forwards to the tasklet's
/// callback — which, for an abandoned wait, must be a harmless no-op.
struct Spy {
    bool called = false;
    bool failed = false;
    GQuark domain = 0;
    int code = 0;
    using Finish = gboolean (*)(GObject*, GAsyncResult*, GError**);
    Finish finish = nullptr;

    struct Hop {
        Spy* spy;
        GAsyncReadyCallback cb;
        gpointer data;
    };
    /// Wraps the (cb, data) a tasklet::async() starter received.
    std::pair<GAsyncReadyCallback, gpointer> wrap(GAsyncReadyCallback cb, gpointer data) {
        return {&Spy::relay, new Hop{this, cb, data}};
    }
    static void relay(GObject* src, GAsyncResult* r, gpointer d) {
        std::unique_ptr<Hop> hop(static_cast<Hop*>(d));
        Spy* s = hop->spy;
        s->called = true;
        GError* e = nullptr;
        if (s->finish && !s->finish(src, r, &e)) {
            s->failed = true;
            s->domain = e->domain;
            s->code = e->code;
            g_error_free(e);
        }
        hop->cb(src, r, hop->data);
    }
};

ObjectRef<GFile> file_for(const std::string& path) {
    return ObjectRef<GFile>::adopt(g_file_new_for_path(path.c_str()));
}

Tasklet<std::string> load(GFile* file) {
    AsyncResult r = co_await async([&](GCancellable* c, GAsyncReadyCallback cb, gpointer data) {
        g_file_load_contents_async(file, c, cb, data);
    });
    char* contents = nullptr;
    gsize len = 0;
    g_file_load_contents_finish(file, r, &contents, &len, nullptr, throw_on_error());
    std::string s(contents, len);
    g_free(contents);
    co_return s;
}

} // namespace

// ---- errors -----------------------------------------------------------------------------

TEST_CASE("tasklet::Error carries the GError's domain, code and message") {
    GError* e = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no such thing");
    try {
        throw_if_error(e);
        FAIL("throw_if_error did not throw");
    } catch (const Error& ex) {
        CHECK(ex.domain() == G_IO_ERROR);
        CHECK(ex.code() == G_IO_ERROR_NOT_FOUND);
        CHECK(ex.matches(G_IO_ERROR, G_IO_ERROR_NOT_FOUND));
        CHECK(std::string(ex.what()) == "no such thing");
    }
    CHECK(e == nullptr); // taken over and freed
    GError* none = nullptr;
    CHECK_NOTHROW(throw_if_error(none));
}

TEST_CASE("GErrorOut owns the error a call reports and check() throws it") {
    GErrorOut err;
    gchar* contents = nullptr;
    CHECK_FALSE(g_file_get_contents("/nonexistent/tasklet/file", &contents, nullptr, err));
    REQUIRE(err);
    CHECK(g_error_matches(err.get(), G_FILE_ERROR, G_FILE_ERROR_NOENT));
    CHECK_THROWS_AS(err.check(), Error);
    CHECK_FALSE(err);
    CHECK_NOTHROW(err.check());
}

TEST_CASE("throw_on_error() throws after the call, and not while another exception unwinds") {
    gchar* contents = reinterpret_cast<gchar*>(1);
    try {
        g_file_get_contents("/nonexistent/tasklet/file", &contents, nullptr, throw_on_error());
        FAIL("no exception");
    } catch (const Error& ex) {
        CHECK(ex.matches(G_FILE_ERROR, G_FILE_ERROR_NOENT));
    }
    CHECK(contents == nullptr); // the call returned (and set its out-parameters) first

    struct Other {};
    auto other_first = [] {
        struct Thrower {
            ~Thrower() noexcept(false) { throw Other{}; }
        };
        // Other propagates while throw_on_error still holds an error: it must not throw too.
        gchar* contents = nullptr;
        (void)(g_file_get_contents("/nonexistent", &contents, nullptr, throw_on_error()),
               Thrower{});
    };
    CHECK_THROWS_AS(other_first(), Other);
}

// ---- files ------------------------------------------------------------------------------

TEST_CASE("a file loads with one co_await and its finish function in the next line") {
    TempDir dir;
    std::string path = dir.file("hello.txt");
    REQUIRE(g_file_set_contents(path.c_str(), "hello, tasklet", -1, nullptr));
    auto f = file_for(path);
    CHECK(test::run_with_watchdog(load(f.get())) == "hello, tasklet");
}

TEST_CASE("a missing file is tasklet::Error with G_IO_ERROR_NOT_FOUND") {
    TempDir dir;
    auto f = file_for(dir.file("missing"));
    auto t = load(f.get());
    try {
        test::run_with_watchdog(t);
        FAIL("no exception");
    } catch (const Error& e) {
        CHECK(e.domain() == G_IO_ERROR);
        CHECK(e.code() == G_IO_ERROR_NOT_FOUND);
        CHECK_FALSE(std::string(e.what()).empty());
    }
}

TEST_CASE("a WaitForAsync awaited again runs its call again") {
    TempDir dir;
    std::string path = dir.file("twice.txt");
    REQUIRE(g_file_set_contents(path.c_str(), "x", -1, nullptr));
    auto f = file_for(path);
    int starts = 0;
    auto body = [&]() -> Tasklet<int> {
        WaitForAsync op([&](GCancellable* c, GAsyncReadyCallback cb, gpointer data) {
            ++starts;
            g_file_query_info_async(f.get(), G_FILE_ATTRIBUTE_STANDARD_SIZE, G_FILE_QUERY_INFO_NONE,
                                    G_PRIORITY_DEFAULT, c, cb, data);
        });
        int done = 0;
        for (int i = 0; i < 3; ++i) {
            AsyncResult r = co_await op;
            ObjectRef<GFileInfo> info =
                ObjectRef<GFileInfo>::adopt(g_file_query_info_finish(f.get(), r, throw_on_error()));
            done += g_file_info_get_size(info.get()) == 1;
        }
        co_return done;
    };
    CHECK(test::run_with_watchdog(body()) == 3);
    CHECK(starts == 3);
}

TEST_CASE("a call that completes inside its starter completes the wait at once") {
    auto body = []() -> Tasklet<bool> {
        AsyncResult r = co_await async([](GCancellable*, GAsyncReadyCallback cb, gpointer data) {
            GTask* task = g_task_new(nullptr, nullptr, nullptr, nullptr);
            g_task_return_boolean(task, TRUE);
            cb(nullptr, G_ASYNC_RESULT(task), data); // synchronously, as some C APIs do
            g_object_unref(task);
        });
        co_return g_task_propagate_boolean(G_TASK(r.get()), nullptr);
    };
    auto t = body();
    REQUIRE(t.done()); // it never suspended
    CHECK(t.return_value());
}

namespace {
/// A starter whose first call completes from an idle callback and every later one inside
/// the starter itself, as some C APIs do; records how deep on the C stack each call started.
struct SyncStarter {
    std::vector<std::uintptr_t>* depths;
    std::string payload; // read after the callback: freed under the starter if it nests
    bool first_async = true;

    void operator()(GCancellable*, GAsyncReadyCallback cb, gpointer data) const {
        char probe = 0;
        depths->push_back(reinterpret_cast<std::uintptr_t>(&probe));
        GTask* task = g_task_new(nullptr, nullptr, nullptr, nullptr);
        g_task_return_boolean(task, TRUE);
        if (first_async && depths->size() == 1) {
            struct Later {
                GAsyncReadyCallback cb;
                gpointer data;
                GTask* task;
            };
            g_idle_add_once(
                [](gpointer p) {
                    std::unique_ptr<Later> l(static_cast<Later*>(p));
                    l->cb(nullptr, G_ASYNC_RESULT(l->task), l->data);
                    g_object_unref(l->task);
                },
                new Later{cb, data, task});
            return;
        }
        cb(nullptr, G_ASYNC_RESULT(task), data);
        g_object_unref(task);
        CHECK(payload.size() == 100); // touches the capture after the call completed
    }
};
} // namespace

TEST_CASE("calls that complete inside the starter, awaited in a loop, do not nest") {
    constexpr int n = 2000;
    std::vector<std::uintptr_t> depths;
    auto body = [&]() -> Tasklet<int> {
        WaitForAsync op(SyncStarter{&depths, std::string(100, 'x')});
        int done = 0;
        for (int i = 0; i < n; ++i) {
            AsyncResult r = co_await op;
            done += g_task_propagate_boolean(G_TASK(r.get()), nullptr);
        }
        co_return done;
    };
    CHECK(test::run_with_watchdog(body()) == n);
    REQUIRE(depths.size() >= std::size_t(n));
    auto [lo, hi] = std::minmax_element(depths.begin(), depths.end());
    CHECK(*hi - *lo < 64 * 1024); // nesting would grow the stack by a frame per call
}

TEST_CASE("a call completed inside the starter, awaited again, runs the call again") {
    std::vector<std::uintptr_t> depths;
    auto body = [&]() -> Tasklet<int> {
        WaitForAsync op(SyncStarter{&depths, std::string(100, 'x'), false});
        WaitForIdle idle;
        int done = 0;
        for (int i = 0; i < 6; ++i) {
            if (i % 3 == 0)
                co_await idle; // leaves op out: its next wait arms it afresh
            AsyncResult r = co_await op;
            done += g_task_propagate_boolean(G_TASK(r.get()), nullptr);
        }
        co_return done;
    };
    CHECK(test::run_with_watchdog(body()) == 6);
    CHECK(depths.size() == 6);
}

TEST_CASE(
    "a condition destroyed by its tasklet right after a synchronous result is not used after") {
    std::vector<std::uintptr_t> depths;
    auto body = [&]() -> Tasklet<int> {
        int done = 0;
        {
            WaitForAsync op(SyncStarter{&depths, std::string(100, 'y')});
            for (int i = 0; i < 3; ++i) {
                AsyncResult r = co_await op;
                done += g_task_propagate_boolean(G_TASK(r.get()), nullptr);
            }
        } // destroyed after a result the re-run delivered
        co_await WaitForIdle();
        co_return done;
    };
    CHECK(test::run_with_watchdog(body()) == 3);
    CHECK(depths.size() == 3);
}

TEST_CASE("a starter that throws makes the co_await throw, and nothing is left behind") {
    auto body = []() -> Tasklet<std::string> {
        try {
            co_await async([](GCancellable*, GAsyncReadyCallback, gpointer) {
                throw std::runtime_error("cannot start");
            });
        } catch (const std::runtime_error& e) {
            co_return e.what();
        }
        co_return "no exception";
    };
    CHECK(test::run_with_watchdog(body()) == "cannot start");
    CHECK_THROWS_AS(WaitForAsync(WaitForAsync::Starter()), std::invalid_argument);
}

TEST_CASE("a file load cancelled while blocked stops, and its late callback is harmless") {
    // A FIFO with no writer blocks the load in open(): the call is surely in flight.
    TempDir dir;
    std::string path = dir.file("fifo");
    REQUIRE(mkfifo(path.c_str(), 0600) == 0);
    auto f = file_for(path);
    Spy spy;
    spy.finish = [](GObject* src, GAsyncResult* r, GError** e) {
        char* contents = nullptr;
        gboolean ok = g_file_load_contents_finish(G_FILE(src), r, &contents, nullptr, nullptr, e);
        g_free(contents);
        return ok;
    };
    bool resumed = false;
    auto body = [&]() -> Tasklet<> {
        co_await async([&](GCancellable* c, GAsyncReadyCallback cb, gpointer data) {
            auto [scb, sdata] = spy.wrap(cb, data);
            g_file_load_contents_async(f.get(), c, scb, sdata);
        });
        resumed = true;
    };
    auto t = body();
    // Wait until GIO's worker thread is inside open(): then a non-blocking writer can open.
    int wfd = -1;
    for (int i = 0; i < 10000 && wfd < 0; ++i) {
        wfd = open(path.c_str(), O_WRONLY | O_NONBLOCK);
        if (wfd < 0) {
            REQUIRE(errno == ENXIO);
            g_usleep(1000);
        }
    }
    REQUIRE(wfd >= 0);
    t.cancel();
    CHECK(t.done()); // at once: nothing waited for GIO
    CHECK(t.cancelled());
    CHECK_FALSE(resumed);
    CHECK(write(wfd, "data", 4) == 4);
    close(wfd);
    test::run_until([&] { return spy.called; });
    CHECK(spy.failed); // the load did not read the data: it stopped
    CHECK(spy.domain == G_IO_ERROR);
    CHECK(spy.code == G_IO_ERROR_CANCELLED);
    CHECK_FALSE(resumed);
}

// ---- sockets ----------------------------------------------------------------------------

namespace {

/// A GSocketService on 127.0.0.1, ephemeral port; each connection is served by a tasklet
/// that answers "ping" with "pong" (or, if `silent`, never writes anything).
struct Server {
    ObjectRef<GSocketService> service = ObjectRef<GSocketService>::adopt(g_socket_service_new());
    std::vector<Tasklet<>> sessions;
    guint16 port = 0;
    bool silent = false;
    std::string received;

    Server() {
        ObjectRef<GInetAddress> lo =
            ObjectRef<GInetAddress>::adopt(g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4));
        ObjectRef<GSocketAddress> addr =
            ObjectRef<GSocketAddress>::adopt(g_inet_socket_address_new(lo.get(), 0));
        GSocketAddress* effective = nullptr;
        GErrorOut err;
        g_socket_listener_add_address(G_SOCKET_LISTENER(service.get()), addr.get(),
                                      G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, nullptr,
                                      &effective, err);
        err.check();
        port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(effective));
        g_object_unref(effective);
        g_signal_connect(service.get(), "incoming", G_CALLBACK(&Server::incoming), this);
        g_socket_service_start(service.get());
    }
    ~Server() {
        g_socket_service_stop(service.get());
        g_socket_listener_close(G_SOCKET_LISTENER(service.get()));
        g_signal_handlers_disconnect_by_data(service.get(), this);
        for (auto& s : sessions)
            s.cancel();
    }

    static gboolean incoming(GSocketService*, GSocketConnection* conn, GObject*, gpointer self) {
        auto* s = static_cast<Server*>(self);
        s->sessions.push_back(s->serve(ObjectRef<GSocketConnection>::ref(conn)));
        return TRUE;
    }

    Tasklet<> serve(ObjectRef<GSocketConnection> conn) {
        GInputStream* in = g_io_stream_get_input_stream(G_IO_STREAM(conn.get()));
        GOutputStream* out = g_io_stream_get_output_stream(G_IO_STREAM(conn.get()));
        char buf[16];
        AsyncResult r = co_await async([&](GCancellable* c, GAsyncReadyCallback cb, gpointer d) {
            g_input_stream_read_async(in, buf, sizeof buf, G_PRIORITY_DEFAULT, c, cb, d);
        });
        gssize n = g_input_stream_read_finish(in, r, throw_on_error());
        received.assign(buf, static_cast<std::size_t>(n));
        if (silent) {
            co_await WaitForMessages("never");
        }
        r = co_await async([&](GCancellable* c, GAsyncReadyCallback cb, gpointer d) {
            g_output_stream_write_all_async(out, "pong", 4, G_PRIORITY_DEFAULT, c, cb, d);
        });
        g_output_stream_write_all_finish(out, r, nullptr, throw_on_error());
    }
};

Tasklet<ObjectRef<GSocketConnection>> connect_to(guint16 port) {
    ObjectRef<GSocketClient> client = ObjectRef<GSocketClient>::adopt(g_socket_client_new());
    AsyncResult r = co_await async([&](GCancellable* c, GAsyncReadyCallback cb, gpointer d) {
        g_socket_client_connect_to_host_async(client.get(), "127.0.0.1", port, c, cb, d);
    });
    co_return ObjectRef<GSocketConnection>::adopt(
        g_socket_client_connect_to_host_finish(client.get(), r, throw_on_error()));
}

} // namespace

TEST_CASE("a GSocketClient and a GSocketService exchange data, each side one tasklet") {
    Server server;
    auto client = [&]() -> Tasklet<std::string> {
        ObjectRef<GSocketConnection> conn = co_await connect_to(server.port);
        GInputStream* in = g_io_stream_get_input_stream(G_IO_STREAM(conn.get()));
        GOutputStream* out = g_io_stream_get_output_stream(G_IO_STREAM(conn.get()));
        AsyncResult r = co_await async([&](GCancellable* c, GAsyncReadyCallback cb, gpointer d) {
            g_output_stream_write_all_async(out, "ping", 4, G_PRIORITY_DEFAULT, c, cb, d);
        });
        g_output_stream_write_all_finish(out, r, nullptr, throw_on_error());
        char buf[16];
        gsize n = 0;
        r = co_await async([&](GCancellable* c, GAsyncReadyCallback cb, gpointer d) {
            g_input_stream_read_all_async(in, buf, 4, G_PRIORITY_DEFAULT, c, cb, d);
        });
        g_input_stream_read_all_finish(in, r, &n, throw_on_error());
        co_return std::string(buf, n);
    };
    CHECK(test::run_with_watchdog(client()) == "pong");
    CHECK(server.received == "ping");
}

TEST_CASE("a socket read cancelled mid-flight stops, and its late callback is harmless") {
    Server server;
    server.silent = true;
    Spy spy;
    spy.finish = [](GObject* src, GAsyncResult* r, GError** e) -> gboolean {
        return g_input_stream_read_finish(G_INPUT_STREAM(src), r, e) >= 0;
    };
    bool connected = false;
    bool resumed = false;
    char buf[16];
    auto client = [&]() -> Tasklet<> {
        ObjectRef<GSocketConnection> conn = co_await connect_to(server.port);
        GInputStream* in = g_io_stream_get_input_stream(G_IO_STREAM(conn.get()));
        GOutputStream* out = g_io_stream_get_output_stream(G_IO_STREAM(conn.get()));
        g_output_stream_write_all(out, "ping", 4, nullptr, nullptr, throw_on_error());
        connected = true;
        co_await async([&](GCancellable* c, GAsyncReadyCallback cb, gpointer d) {
            auto [scb, sdata] = spy.wrap(cb, d);
            g_input_stream_read_async(in, buf, sizeof buf, G_PRIORITY_DEFAULT, c, scb, sdata);
        });
        resumed = true;
    };
    auto t = client();
    REQUIRE(test::run_until([&] { return connected && server.received == "ping"; }));
    REQUIRE_FALSE(t.done()); // the read is in flight: the server never answers
    t.cancel();
    CHECK(t.done());
    CHECK(t.cancelled());
    test::run_until([&] { return spy.called; });
    CHECK(spy.failed);
    CHECK(spy.domain == G_IO_ERROR);
    CHECK(spy.code == G_IO_ERROR_CANCELLED);
    CHECK_FALSE(resumed);
}

// ---- subprocesses -----------------------------------------------------------------------

namespace {

ObjectRef<GSubprocess> spawn(std::initializer_list<const char*> argv) {
    std::vector<const char*> args(argv);
    args.push_back(nullptr);
    GErrorOut err;
    GSubprocess* p = g_subprocess_newv(args.data(), G_SUBPROCESS_FLAGS_NONE, err);
    err.check();
    return ObjectRef<GSubprocess>::adopt(p);
}

Tasklet<> wait_check(GSubprocess* p) {
    AsyncResult r = co_await async([&](GCancellable* c, GAsyncReadyCallback cb, gpointer d) {
        g_subprocess_wait_check_async(p, c, cb, d);
    });
    g_subprocess_wait_check_finish(p, r, throw_on_error());
}

} // namespace

TEST_CASE("a tasklet waits for a GSubprocess; a failing one is tasklet::Error") {
    auto ok = spawn({"true"});
    CHECK_NOTHROW(test::run_with_watchdog(wait_check(ok.get())));
    CHECK(g_subprocess_get_successful(ok.get()));

    auto bad = spawn({"sh", "-c", "exit 3"});
    try {
        test::run_with_watchdog(wait_check(bad.get()));
        FAIL("no exception");
    } catch (const Error& e) {
        CHECK(e.domain() == G_SPAWN_EXIT_ERROR);
        CHECK(e.code() == 3);
    }
}

TEST_CASE("a subprocess wait cancelled mid-flight ends at once; the child keeps running") {
    auto child = spawn({"sleep", "30"});
    Spy spy;
    spy.finish = [](GObject* src, GAsyncResult* r, GError** e) {
        return g_subprocess_wait_check_finish(G_SUBPROCESS(src), r, e);
    };
    ObjectRef<GCancellable> cancellable;
    auto body = [&]() -> Tasklet<> {
        co_await async([&](GCancellable* c, GAsyncReadyCallback cb, gpointer d) {
            cancellable = ObjectRef<GCancellable>::ref(c);
            auto [scb, sdata] = spy.wrap(cb, d);
            g_subprocess_wait_check_async(child.get(), c, scb, sdata);
        });
    };
    auto t = body();
    REQUIRE_FALSE(t.done());
    REQUIRE_FALSE(g_cancellable_is_cancelled(cancellable.get()));
    auto start = std::chrono::steady_clock::now();
    t.cancel();
    CHECK(t.done());
    CHECK(t.cancelled());
    CHECK(g_cancellable_is_cancelled(cancellable.get()));
    CHECK_THROWS_AS(t.return_value(), Cancelled);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
    test::run_until([&] { return spy.called; }); // the wait itself was cancelled in GIO
    CHECK(spy.failed);
    CHECK(spy.code == G_IO_ERROR_CANCELLED);
    CHECK(g_subprocess_get_identifier(child.get()) != nullptr); // not reaped: still running
    g_subprocess_force_exit(child.get());
    CHECK(g_subprocess_wait(child.get(), nullptr, nullptr));
}

TEST_CASE("in any(), the call a timeout beat is cancelled when the tasklet moves on") {
    auto child = spawn({"sleep", "30"});
    GCancellable* seen = nullptr;
    auto body = [&]() -> Tasklet<bool> {
        WaitForAsync op([&](GCancellable* c, GAsyncReadyCallback cb, gpointer d) {
            seen = c;
            g_subprocess_wait_async(child.get(), c, cb, d);
        });
        WaitForTimeout t(20);
        Event& e = co_await any(op, t);
        bool timed_out = e.is(t);
        ObjectRef<GCancellable> keep = ObjectRef<GCancellable>::ref(op.cancellable());
        bool cancelled_while_armed = g_cancellable_is_cancelled(keep.get());
        co_await WaitForIdle(); // not including op: op is disarmed
        co_return timed_out && !cancelled_while_armed && g_cancellable_is_cancelled(keep.get());
    };
    CHECK(test::run_with_watchdog(body()));
    CHECK(seen != nullptr);
    test::drain();
    g_subprocess_force_exit(child.get());
    CHECK(g_subprocess_wait(child.get(), nullptr, nullptr));
}

TEST_CASE("a call kept armed across waits continues until it completes") {
    auto child = spawn({"sh", "-c", "sleep 0.2"});
    int starts = 0;
    auto body = [&]() -> Tasklet<int> {
        WaitForAsync op([&](GCancellable* c, GAsyncReadyCallback cb, gpointer d) {
            ++starts;
            g_subprocess_wait_check_async(child.get(), c, cb, d);
        });
        WaitForTimeout tick(10);
        int ticks = 0;
        while (!(co_await any(op, tick)).is(op))
            ++ticks;
        g_subprocess_wait_check_finish(child.get(), op.result(), throw_on_error());
        co_return ticks;
    };
    CHECK(test::run_with_watchdog(body()) > 0);
    CHECK(starts == 1);
}
