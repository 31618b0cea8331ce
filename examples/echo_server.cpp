// A TCP echo server: one tasklet accepts connections, one tasklet per connection echoes
// what it reads, all waiting with WaitForIO on GSockets.
//
//   ./echo_server                  serve on 127.0.0.1 (ephemeral port, printed) until Ctrl-C
//   ./echo_server --self-test N    also run a client tasklet in the same process that sends
//                                  N lines over loopback, checks the echoes, and exits 0
#include <tasklet/tasklet.hpp>

#include <gio/gio.h>
#include <glib-unix.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using tasklet::Tasklet;
using tasklet::WaitForIO;
using Socket = tasklet::detail::ObjectRef<GSocket>;

GMainLoop* mainloop;
int exit_status = 0;
std::vector<tasklet::AnyTasklet> connections; // live serve() tasklets, cancelled at exit

void fail(const char* what, GError* error) {
    std::fprintf(stderr, "echo_server: %s: %s\n", what, error ? error->message : "failed");
    if (error)
        g_error_free(error);
    std::exit(1);
}

/// Sends all of `data`, waiting for G_IO_OUT whenever the socket's buffer is full.
/// False if the peer went away.
Tasklet<bool> send_all(GSocket* s, std::string data) {
    std::size_t done = 0;
    while (done < data.size()) {
        GError* error = nullptr;
        gssize n = g_socket_send(s, data.data() + done, data.size() - done, nullptr, &error);
        if (n >= 0) {
            done += static_cast<std::size_t>(n);
            continue;
        }
        bool would_block = g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
        g_error_free(error);
        if (!would_block)
            co_return false;
        co_await WaitForIO(s, G_IO_OUT);
    }
    co_return true;
}

/// Echoes one connection until the peer closes it.
Tasklet<> serve(Socket conn) {
    GSocket* s = conn.get();
    WaitForIO readable(s); // kept armed across the loop: one GSource for the connection
    char buf[4096];
    for (;;) {
        co_await readable;
        GError* error = nullptr;
        gssize n = g_socket_receive(s, buf, sizeof buf, nullptr, &error);
        if (n < 0 && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
            g_error_free(error);
            continue;
        }
        if (error)
            g_error_free(error);
        if (n <= 0 || !co_await send_all(s, std::string(buf, static_cast<std::size_t>(n))))
            break; // closed by the peer (HUP or end of stream), or an error
    }
    g_socket_close(s, nullptr);
}

/// Accepts connections forever, starting one serve() tasklet for each (fire and forget:
/// a tasklet keeps itself alive until it ends).
Tasklet<> accept_loop(Socket listener) {
    WaitForIO incoming(listener.get());
    for (;;) {
        co_await incoming;
        GSocket* conn = g_socket_accept(listener.get(), nullptr, nullptr);
        if (!conn)
            continue; // the client gave up meanwhile
        g_socket_set_blocking(conn, FALSE);
        tasklet::AnyTasklet t = serve(Socket::adopt(conn));
        if (!t.done()) {
            connections.push_back(t);
            t.add_join_callback([](tasklet::AnyTasklet ended) { std::erase(connections, ended); });
        }
    }
}

/// Connects to 127.0.0.1:`port`, sends `lines` lines one at a time and checks each echo.
Tasklet<bool> client(guint16 port, int lines) {
    GError* error = nullptr;
    Socket s = Socket::adopt(
        g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error));
    if (!s)
        fail("socket", error);
    g_socket_set_blocking(s.get(), FALSE);
    GInetAddress* lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    GSocketAddress* addr = g_inet_socket_address_new(lo, port);
    g_object_unref(lo);
    bool connected = g_socket_connect(s.get(), addr, nullptr, &error);
    g_object_unref(addr);
    if (!connected) {
        if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_PENDING))
            fail("connect", error);
        g_error_free(error);
        error = nullptr;
        co_await WaitForIO(s.get(), G_IO_OUT); // a non-blocking connect completes
        if (!g_socket_check_connect_result(s.get(), &error))
            fail("connect", error);
    }

    WaitForIO readable(s.get());
    std::string pending;
    for (int i = 0; i < lines; ++i) {
        std::string line = "line " + std::to_string(i) + "\n";
        if (!co_await send_all(s.get(), line))
            co_return false;
        while (pending.find('\n') == std::string::npos) {
            GIOCondition c = co_await readable;
            char buf[256];
            gssize n = g_socket_receive(s.get(), buf, sizeof buf, nullptr, nullptr);
            if (n > 0)
                pending.append(buf, static_cast<std::size_t>(n));
            else if (n == 0 || (c & (G_IO_HUP | G_IO_ERR)))
                co_return false; // the server closed the connection early
        }
        std::size_t end = pending.find('\n') + 1;
        if (pending.compare(0, end, line) != 0)
            co_return false;
        pending.erase(0, end);
    }
    g_socket_close(s.get(), nullptr);
    co_return true;
}

Tasklet<> self_test(guint16 port, int lines) {
    bool ok = co_await client(port, lines);
    std::printf(ok ? "self-test: %d lines echoed correctly\n"
                   : "self-test: FAILED after %d lines\n",
                lines);
    exit_status = ok ? 0 : 1;
    g_main_loop_quit(mainloop);
}

} // namespace

int main(int argc, char** argv) {
    int self_test_lines = -1;
    bool usage = argc != 1;
    if (argc == 3 && std::strcmp(argv[1], "--self-test") == 0) {
        char* end = nullptr;
        long n = std::strtol(argv[2], &end, 10);
        usage = end == argv[2] || *end != '\0' || n < 0 || n > 1000000;
        self_test_lines = static_cast<int>(n);
    }
    if (usage) {
        std::fprintf(stderr, "usage: %s [--self-test N]   (N: 0..1000000 lines)\n", argv[0]);
        return 2;
    }

    GError* error = nullptr;
    Socket listener = Socket::adopt(
        g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error));
    if (!listener)
        fail("socket", error);
    GInetAddress* lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    GSocketAddress* any_port = g_inet_socket_address_new(lo, 0);
    g_object_unref(lo);
    bool bound = g_socket_bind(listener.get(), any_port, TRUE, &error);
    g_object_unref(any_port);
    if (!bound || !g_socket_listen(listener.get(), &error))
        fail("bind/listen", error);
    g_socket_set_blocking(listener.get(), FALSE);

    GSocketAddress* local = g_socket_get_local_address(listener.get(), &error);
    if (!local)
        fail("local address", error);
    guint16 port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local));
    g_object_unref(local);
    std::printf("listening on 127.0.0.1:%u\n", port);
    std::fflush(stdout);

    mainloop = g_main_loop_new(nullptr, FALSE);
    guint sigint = g_unix_signal_add(
        SIGINT,
        [](gpointer loop) -> gboolean {
            g_main_loop_quit(static_cast<GMainLoop*>(loop));
            return G_SOURCE_CONTINUE; // removed by main() below
        },
        mainloop);
    auto server = accept_loop(listener);
    if (self_test_lines >= 0)
        self_test(port, self_test_lines);
    g_main_loop_run(mainloop);
    // Cancelling a waiting tasklet resumes it with tasklet::Cancelled: its locals (the
    // sockets, the WaitForIOs and their sources) are released as it unwinds.
    server.cancel();
    g_source_remove(sigint);
    while (!connections.empty())
        connections.front().cancel();
    g_main_loop_unref(mainloop);
    return exit_status;
}
