// WaitForIO: file descriptors, GIOChannels and GSockets, with real pipes and socketpairs.
#include "support.hpp"

#include <gio/gio.h>
#include <glib-unix.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

using tasklet::Tasklet;
using tasklet::WaitForIO;

namespace {

/// Owns one file descriptor.
class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    Fd& operator=(Fd&& o) noexcept {
        close();
        fd_ = std::exchange(o.fd_, -1);
        return *this;
    }
    ~Fd() { close(); }
    int get() const { return fd_; }
    int release() { return std::exchange(fd_, -1); }
    void close() {
        if (fd_ >= 0)
            ::close(std::exchange(fd_, -1));
    }

private:
    int fd_ = -1;
};

struct Pipe {
    Fd r, w;
};

Pipe make_pipe() {
    int fds[2];
    REQUIRE(g_unix_open_pipe(fds, FD_CLOEXEC, nullptr));
    REQUIRE(g_unix_set_fd_nonblocking(fds[0], TRUE, nullptr));
    REQUIRE(g_unix_set_fd_nonblocking(fds[1], TRUE, nullptr));
    return Pipe{Fd(fds[0]), Fd(fds[1])};
}

std::pair<Fd, Fd> make_socketpair() {
    int fds[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    return {Fd(fds[0]), Fd(fds[1])};
}

/// A GSocket over one end of a fresh socketpair (the GSocket owns its fd).
tasklet::detail::ObjectRef<GSocket> socket_from(Fd& fd) {
    GError* error = nullptr;
    GSocket* s = g_socket_new_from_fd(fd.get(), &error);
    REQUIRE(s != nullptr);
    fd.release(); // now owned by the GSocket
    return tasklet::detail::ObjectRef<GSocket>::adopt(s);
}

bool has(GIOCondition c, GIOCondition bit) { return (c & bit) != 0; }

GMainContext* ctx() { return g_main_context_default(); }

/// Counts main-loop iterations while `ms` milliseconds pass: a busy source makes it huge.
int iterations_during(guint ms) {
    bool expired = false;
    guint id = g_timeout_add(
        ms,
        [](gpointer data) -> gboolean {
            *static_cast<bool*>(data) = true;
            return G_SOURCE_REMOVE;
        },
        &expired);
    int n = 0;
    while (!expired) {
        g_main_context_iteration(ctx(), TRUE);
        ++n;
    }
    (void)id;
    return n;
}

} // namespace

TEST_CASE("a reader and a writer tasklet exchange a byte through a pipe", "[io]") {
    Pipe p = make_pipe();
    auto reader = [](int fd) -> Tasklet<std::string> {
        GIOCondition c = co_await WaitForIO(fd);
        char buf[8];
        ssize_t n = read(fd, buf, sizeof buf);
        co_return std::string(has(c, G_IO_IN) ? "in:" : "?:") + std::string(buf, n > 0 ? n : 0);
    }(p.r.get());
    auto writer = [](int fd) -> Tasklet<GIOCondition> {
        WaitForIO out(fd, G_IO_OUT);
        GIOCondition c = co_await out;
        REQUIRE(write(fd, "x", 1) == 1);
        co_return out.condition() == c ? c : static_cast<GIOCondition>(0);
    }(p.w.get());
    CHECK(has(test::run_with_watchdog(writer), G_IO_OUT));
    CHECK(test::run_with_watchdog(reader) == "in:x");
}

TEST_CASE("G_IO_OUT is reported for a writable pipe, and only what occurred", "[io]") {
    Pipe p = make_pipe();
    auto t = [](int fd) -> Tasklet<GIOCondition> {
        co_return co_await WaitForIO(fd, G_IO_OUT);
    }(p.w.get());
    CHECK(test::run_with_watchdog(t) == G_IO_OUT);
}

TEST_CASE("a peer that closes is seen as G_IO_HUP and leaves no busy loop", "[io]") {
    Pipe p = make_pipe();
    int wakeups = 0;
    std::string data;
    auto reader = [](int fd, int& wakeups, std::string& data) -> Tasklet<GIOCondition> {
        WaitForIO io(fd);
        for (;;) {
            GIOCondition c = co_await io;
            ++wakeups;
            char buf[64];
            ssize_t n = read(fd, buf, sizeof buf);
            if (n > 0)
                data.append(buf, static_cast<std::size_t>(n));
            if (has(c, G_IO_HUP) && n <= 0)
                co_return c;
        }
    }(p.r.get(), wakeups, data);
    REQUIRE(write(p.w.get(), "abc", 3) == 3);
    p.w.close();
    GIOCondition last = test::run_with_watchdog(reader);
    CHECK(has(last, G_IO_HUP));
    CHECK(data == "abc");
    CHECK(wakeups <= 3); // data (maybe with HUP), then HUP with nothing left to read
    // The reader's fd is still open and still hung up: nothing may keep waking the loop.
    CHECK(iterations_during(100) < 20);
    CHECK(fcntl(p.r.get(), F_GETFD) != -1); // and WaitForIO did not close it
}

TEST_CASE("G_IO_HUP is reported by every form even when not asked for", "[io]") {
    SECTION("file descriptor") {
        Pipe p = make_pipe();
        auto t = [](int fd) -> Tasklet<GIOCondition> {
            co_return co_await WaitForIO(fd, G_IO_PRI);
        }(p.r.get());
        p.w.close();
        CHECK(has(test::run_with_watchdog(t), G_IO_HUP));
    }
    SECTION("GIOChannel") {
        Pipe p = make_pipe();
        GIOChannel* ch = g_io_channel_unix_new(p.r.get());
        auto t = [](GIOChannel* ch) -> Tasklet<GIOCondition> {
            co_return co_await WaitForIO(ch, G_IO_PRI);
        }(ch);
        g_io_channel_unref(ch); // the condition holds its own reference
        p.w.close();
        CHECK(has(test::run_with_watchdog(t), G_IO_HUP));
    }
    SECTION("GSocket") {
        auto [a, b] = make_socketpair();
        auto sock = socket_from(a);
        auto t = [](GSocket* s) -> Tasklet<GIOCondition> {
            co_return co_await WaitForIO(s, G_IO_PRI);
        }(sock.get());
        b.close();
        CHECK(has(test::run_with_watchdog(t), G_IO_HUP));
    }
}

TEST_CASE("a read loop keeps one GSource for all its waits", "[io]") {
    Pipe p = make_pipe();
    constexpr int count = 100;
    std::set<GSource*> sources;
    std::set<guint> ids;
    int bytes = 0;
    int wakeups = 0;
    auto reader = [](int fd, std::set<GSource*>& sources, std::set<guint>& ids, int& bytes,
                     int& wakeups) -> Tasklet<> {
        WaitForIO io(fd);
        while (bytes < count) {
            co_await io;
            ++wakeups;
            sources.insert(io.source());
            ids.insert(g_source_get_id(io.source()));
            char c;
            while (read(fd, &c, 1) == 1)
                ++bytes;
        }
    }(p.r.get(), sources, ids, bytes, wakeups);
    auto writer = [](int fd) -> Tasklet<> {
        tasklet::WaitForIdle idle;
        for (int i = 0; i < count; ++i) {
            REQUIRE(write(fd, "x", 1) == 1);
            co_await idle; // the reader wakes in between
        }
    }(p.w.get());
    test::run_with_watchdog(writer);
    test::run_with_watchdog(reader);
    CHECK(bytes == count);
    CHECK(wakeups > 10);        // it did suspend and wake many times...
    CHECK(sources.size() == 1); // ...on the same source
    CHECK(ids.size() == 1);
}

TEST_CASE("a negative fd, a null channel and a null socket are invalid arguments", "[io]") {
    CHECK_THROWS_AS(WaitForIO(-1), std::invalid_argument);
    CHECK_THROWS_AS(WaitForIO(static_cast<GIOChannel*>(nullptr)), std::invalid_argument);
    CHECK_THROWS_AS(WaitForIO(static_cast<GSocket*>(nullptr)), std::invalid_argument);
}

TEST_CASE("the GIOChannel form reports readable data", "[io]") {
    Pipe p = make_pipe();
    GIOChannel* ch = g_io_channel_unix_new(p.r.get());
    auto t = [](GIOChannel* ch) -> Tasklet<std::string> {
        WaitForIO io(ch);
        CHECK(io.channel() == ch);
        GIOCondition c = co_await io;
        char buf[16];
        gsize n = 0;
        g_io_channel_read_chars(ch, buf, sizeof buf, &n, nullptr);
        co_return std::string(has(c, G_IO_IN) ? "in:" : "?:") + std::string(buf, n);
    }(ch);
    REQUIRE(write(p.w.get(), "hi", 2) == 2);
    CHECK(test::run_with_watchdog(t) == "in:hi");
    g_io_channel_unref(ch);
}

TEST_CASE("two GSockets echo 10,000 messages", "[io]") {
    auto [a, b] = make_socketpair();
    auto client_sock = socket_from(a);
    auto server_sock = socket_from(b);
    constexpr int count = 10000;
    constexpr gsize len = 8;

    auto echo = [](GSocket* s) -> Tasklet<int> {
        WaitForIO io(s);
        int echoed = 0;
        char buf[256];
        for (;;) {
            co_await io;
            gssize n = g_socket_receive_with_blocking(s, buf, sizeof buf, FALSE, nullptr, nullptr);
            if (n <= 0)
                co_return echoed; // peer closed
            gssize sent = g_socket_send_with_blocking(s, buf, n, TRUE, nullptr, nullptr);
            REQUIRE(sent == n);
            echoed += static_cast<int>(n);
        }
    }(server_sock.get());

    auto client = [](GSocket* s) -> Tasklet<int> {
        WaitForIO readable(s);
        int ok = 0;
        for (int i = 0; i < count; ++i) {
            char msg[len + 1];
            g_snprintf(msg, sizeof msg, "%07d\n", i);
            REQUIRE(g_socket_send_with_blocking(s, msg, len, TRUE, nullptr, nullptr) ==
                    static_cast<gssize>(len));
            char reply[len];
            gsize got = 0;
            while (got < len) {
                co_await readable;
                gssize n = g_socket_receive_with_blocking(s, reply + got, len - got, FALSE, nullptr,
                                                          nullptr);
                REQUIRE(n > 0);
                got += static_cast<gsize>(n);
            }
            if (std::memcmp(reply, msg, len) == 0)
                ++ok;
        }
        g_socket_shutdown(s, FALSE, TRUE, nullptr);
        co_return ok;
    }(client_sock.get());

    CHECK(test::run_with_watchdog(client, 60) == count);
    CHECK(test::run_with_watchdog(echo, 10) == count * static_cast<int>(len));
}

TEST_CASE("any() over IO and a timeout: the timeout wins and the IO source is removed", "[io]") {
    Pipe p = make_pipe(); // nothing is ever written
    guint io_source = 0;
    bool attached_during_next_wait = true;
    auto t = [](int fd, guint& io_source, bool& attached) -> Tasklet<bool> {
        WaitForIO io(fd);
        tasklet::WaitForTimeout timeout(10);
        tasklet::Event& e = co_await tasklet::any(io, timeout);
        bool timeout_won = e.is(timeout);
        io_source = g_source_get_id(io.source());
        co_await tasklet::WaitForIdle(); // io is not part of this wait: it is disarmed
        attached = io.source() != nullptr ||
                   g_main_context_find_source_by_user_data(ctx(), &io) != nullptr;
        co_return timeout_won;
    }(p.r.get(), io_source, attached_during_next_wait);
    CHECK(test::run_with_watchdog(t));
    CHECK_FALSE(attached_during_next_wait);
    REQUIRE(io_source != 0);
    CHECK(g_main_context_find_source_by_id(ctx(), io_source) == nullptr);
}

TEST_CASE("cancelling a tasklet waiting on IO removes its source", "[io]") {
    Pipe p = make_pipe(); // nothing is ever written
    WaitForIO* seen = nullptr;
    auto t = [](int fd, WaitForIO*& seen) -> Tasklet<> {
        WaitForIO io(fd);
        seen = &io;
        co_await io;
    }(p.r.get(), seen);
    REQUIRE(t.state() == tasklet::State::suspended);
    REQUIRE(seen->source() != nullptr);
    guint id = g_source_get_id(seen->source());
    CHECK(g_main_context_find_source_by_id(ctx(), id) == seen->source());
    t.cancel();
    CHECK(t.cancelled());
    CHECK(g_main_context_find_source_by_id(ctx(), id) == nullptr);
}

TEST_CASE("a temporary WaitForIO destroyed inside its own wakeup is safe", "[io]") {
    Pipe p = make_pipe();
    auto t = [](int fd) -> Tasklet<int> {
        int n = 0;
        for (int i = 0; i < 3; ++i) {
            co_await WaitForIO(fd); // a new condition and source each time, freed in dispatch
            char c;
            if (read(fd, &c, 1) == 1)
                ++n;
        }
        co_return n;
    }(p.r.get());
    REQUIRE(write(p.w.get(), "abc", 3) == 3);
    CHECK(test::run_with_watchdog(t) == 3);
}

// ---- API.md conformance ----

TEST_CASE("WaitForIO asks for G_IO_IN at G_PRIORITY_DEFAULT unless told otherwise", "[io]") {
    Pipe p = make_pipe();
    GIOChannel* ch = g_io_channel_unix_new(p.r.get());
    auto [a, b] = make_socketpair();
    auto sock = socket_from(a);
    WaitForIO by_fd(p.r.get());
    WaitForIO by_channel(ch);
    WaitForIO by_socket(sock.get());
    g_io_channel_unref(ch); // the condition holds its own reference
    for (const WaitForIO* w : {&by_fd, &by_channel, &by_socket}) {
        CHECK(w->requested() == G_IO_IN);
        CHECK(w->priority() == G_PRIORITY_DEFAULT);
        CHECK(w->condition() == static_cast<GIOCondition>(0)); // nothing occurred yet
    }
    WaitForIO out(p.w.get(), G_IO_OUT, G_PRIORITY_HIGH);
    CHECK(out.requested() == G_IO_OUT);
    CHECK(out.priority() == G_PRIORITY_HIGH);
    static_assert(std::is_same_v<decltype(out.condition()), GIOCondition>);
    static_assert(std::is_same_v<decltype(operator co_await(out).await_resume()), GIOCondition>);
}

TEST_CASE("G_IO_ERR is reported even when not asked for", "[io]") {
    // On Linux the write end of a pipe whose reader is gone polls as POLLERR.
    Pipe p = make_pipe();
    p.r.close();
    auto t = [](int fd) -> Tasklet<GIOCondition> {
        co_return co_await WaitForIO(fd, G_IO_IN);
    }(p.w.get());
    GIOCondition c = test::run_with_watchdog(t);
    CHECK(has(c, G_IO_ERR));
    CHECK_FALSE(has(c, G_IO_IN));
}

TEST_CASE("the GSocket form reports readable data with the condition that occurred", "[io]") {
    auto [a, b] = make_socketpair();
    auto sock = socket_from(a);
    auto t = [](GSocket* s) -> Tasklet<std::string> {
        WaitForIO io(s, G_IO_IN);
        CHECK(io.socket() == s);
        GIOCondition c = co_await io;
        CHECK(io.condition() == c);
        char buf[16];
        gssize n = g_socket_receive(s, buf, sizeof buf, nullptr, nullptr);
        co_return std::string(has(c, G_IO_IN) ? "in:" : "?:") +
            std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
    }(sock.get());
    REQUIRE(write(b.get(), "ok", 2) == 2);
    CHECK(test::run_with_watchdog(t) == "in:ok");
}
