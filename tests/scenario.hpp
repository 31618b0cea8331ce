// Every kind of await a tasklet has, for the tests that drive a tasklet through each of them
// (test_cancel_points: cancelled at each; test_faults: throwing after each). Here: the list of
// kinds, the resources behind one await of each kind, and the means to make each complete.
// The co_await itself stays in each test's own tasklet body: what it awaits (a temporary
// condition or one owned elsewhere) and what it does after resuming is what each test is about.
#pragma once

#include "support.hpp"

#include <tasklet/call.hpp>
#include <tasklet/gio.hpp>
#include <tasklet/io.hpp>
#include <tasklet/process.hpp>
#include <tasklet/signal.hpp>
#include <tasklet/thread.hpp>

#include <gio/gio.h>
#include <glib-unix.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>

#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace test {

/// The kinds of await, in the order test_cancel_points' scenario passes through them.
enum Kind {
    k_timeout,
    k_idle,
    k_io,
    k_signal,
    k_process,
    k_call,
    k_messages,
    k_join,
    k_any,
    k_async,
    k_thread,
    n_kinds
};

/// The name of the condition (or function) behind kind `k`, for INFO messages.
inline const char* kind_name(int k) {
    static const char* const names[] = {"WaitForTimeout",  "WaitForIdle",    "WaitForIO",
                                        "WaitForSignal",   "WaitForProcess", "WaitForCall",
                                        "WaitForMessages", "WaitForTasklet", "any()",
                                        "tasklet::async",  "run_in_thread"};
    static_assert(std::size(names) == n_kinds);
    return names[k];
}

/// Starts `sleep 30` as a child the caller must reap (G_SPAWN_DO_NOT_REAP_CHILD).
inline GPid spawn_sleeper() {
    const char* argv[] = {"sleep", "30", nullptr};
    GPid pid = 0;
    REQUIRE(g_spawn_async(nullptr, const_cast<char**>(argv), nullptr,
                          GSpawnFlags(G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH), nullptr,
                          nullptr, &pid, nullptr));
    return pid;
}

/// What the worker-thread function of Kit::worker() shares with the test. Outlives the Kit:
/// the function may still be running on its thread after the tasklet was cancelled.
struct Gate {
    std::mutex m;
    std::condition_variable cv;
    bool release = false;
};

/// The resources behind one await of each kind, and complete() to make the await of a kind
/// complete. A tasklet that waits on a WaitForCall of its own sets `call_target` to it.
struct Kit {
    /// `read_buffer` (16 bytes) receives what the stream read of starter() reads; pass one that
    /// outlives the Kit where that read may still be pending when the Kit goes (a cancelled
    /// tasklet::async). Without one, the Kit's own buffer is used.
    explicit Kit(char* read_buffer = nullptr) : buf(read_buffer ? read_buffer : own_buf) {
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
        child = spawn_sleeper();
        // Waits only for a message (no source of its own); counts that it ended.
        other = [](int& ended) -> tasklet::Tasklet<> {
            co_await tasklet::WaitForMessages("end");
            ++ended;
        }(other_ended);
    }
    ~Kit() {
        other.cancel();
        if (!child_reaped) {
            kill(child, SIGKILL);
            int status;
            while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
            }
        }
        g_object_unref(action);
        g_object_unref(conn); // a read still pending keeps the stream alive until it ends
        close(io_r);
        close(io_w);
        close(peer);
    }
    Kit(const Kit&) = delete;
    Kit& operator=(const Kit&) = delete;

    /// For tasklet::async: reads up to 16 bytes of `in` into `buf`.
    tasklet::WaitForAsync::Starter starter() const {
        return [in = in, buf = buf](GCancellable* c, GAsyncReadyCallback cb, gpointer d) {
            g_input_stream_read_async(in, buf, 16, G_PRIORITY_DEFAULT, c, cb, d);
        };
    }
    /// Did the read of starter() take the byte complete() sent for k_async?
    bool read_finished(GAsyncResult* r) const {
        return g_input_stream_read_finish(in, r, nullptr) == 1 && buf[0] == 'y';
    }
    /// Takes the byte complete() wrote for k_io off the pipe.
    bool take_byte() const {
        char byte;
        return read(io_r, &byte, 1) == 1;
    }
    /// For run_in_thread: returns 7 once complete() released it, -7 if cancelled first.
    std::function<int(GCancellable*)> worker() const {
        return [gate = gate](GCancellable* c) -> int {
            using namespace std::chrono_literals;
            std::unique_lock lock(gate->m);
            while (!gate->release && !g_cancellable_is_cancelled(c))
                gate->cv.wait_for(lock, 1ms); // the cancellable has no wakeup of its own here
            return gate->release ? 7 : -7;
        };
    }

    /// Makes the await of `kind` complete for the tasklet `t` suspended at it: a signal, a call
    /// or a message resumes `t` inside this call; the others need the main loop to run after.
    void complete(int kind, const tasklet::AnyTasklet& t) {
        switch (kind) {
        case k_timeout:
        case k_idle:
            break;
        case k_io:
            REQUIRE(write(io_w, "x", 1) == 1);
            break;
        case k_signal:
            g_action_activate(G_ACTION(action), nullptr); // returns normally: nothing escapes
            break;
        case k_process:
            REQUIRE(kill(child, SIGKILL) == 0);
            break;
        case k_call:
            REQUIRE(call_target != nullptr);
            CHECK((*call_target)(41) == 42); // the tasklet chose the answer
            break;
        case k_messages:
            t.send_message(tasklet::Message("go"));
            break;
        case k_join:
            other.send_message(tasklet::Message("end"));
            break;
        case k_any:
            t.send_message(tasklet::Message("any"));
            break;
        case k_async:
            REQUIRE(write(peer, "y", 1) == 1);
            break;
        case k_thread: {
            std::lock_guard lock(gate->m);
            gate->release = true;
            gate->cv.notify_all();
            break;
        }
        }
    }

    char own_buf[16] = {};
    char* buf;
    int io_r = -1, io_w = -1, peer = -1; // a pipe (k_io), our end of a socket pair (k_async)
    GSocketConnection* conn = nullptr;   // the other end, whose input stream is `in`
    GInputStream* in = nullptr;
    GSimpleAction* action = nullptr; // its "activate" is the signal of k_signal
    GPid child = 0;
    bool child_reaped = false; // set by a tasklet whose WaitForProcess reaped the child
    std::shared_ptr<Gate> gate = std::make_shared<Gate>();
    int other_ended = 0;
    tasklet::Tasklet<> other; // the tasklet of k_join: ends on the message "end"
    tasklet::WaitForCall<int(int)>* call_target = nullptr;
};

} // namespace test
