// tasklet — WaitForIO: wait until a file descriptor, GIOChannel or GSocket is ready
// (kiwi's WaitForIO).
#pragma once

#include "detail/source.hpp"

#include <gio/gio.h>
#include <glib-unix.h>

#include <memory>
#include <stdexcept>

namespace tasklet {

/// Fires when the watched file descriptor, GIOChannel or GSocket reports one of `cond`;
/// `co_await` yields the GIOCondition that occurred (also condition()). G_IO_HUP, G_IO_ERR
/// and G_IO_NVAL are always reported, even if not asked for, so a peer that closes is seen.
///
/// Level-triggered, like the underlying GLib source: a tasklet that does not consume the
/// readiness (read the data, stop waiting after HUP) is woken again at once. Awaited again
/// while armed (a read loop) it keeps its GSource: nothing is re-created per wait. A GSocket
/// with a timeout (g_socket_set_timeout()) is reported ready (the conditions asked for) when
/// the timeout passes without an event, as GLib's socket source does; the read that follows
/// fails with G_IO_ERROR_TIMED_OUT.
///
/// Ownership: it never closes or takes ownership of a file descriptor (keep it open while
/// armed); it holds a reference on a GIOChannel or GSocket while it exists.
class WaitForIO : public detail::SourceCondition {
public:
    /// Watches the file descriptor `fd` (not owned). A negative `fd` is std::invalid_argument.
    explicit WaitForIO(int fd, GIOCondition cond = G_IO_IN, int priority = G_PRIORITY_DEFAULT)
        : SourceCondition(priority), fd_(fd), cond_(cond) {
        if (fd < 0)
            throw std::invalid_argument("tasklet: WaitForIO: negative file descriptor");
    }
    /// Watches `channel` (a reference is held). Null, or a channel on a negative fd, is
    /// std::invalid_argument.
    explicit WaitForIO(GIOChannel* channel, GIOCondition cond = G_IO_IN,
                       int priority = G_PRIORITY_DEFAULT)
        : SourceCondition(priority), cond_(cond) {
        if (!channel)
            throw std::invalid_argument("tasklet: WaitForIO: null GIOChannel");
        if (g_io_channel_unix_get_fd(channel) < 0)
            throw std::invalid_argument("tasklet: WaitForIO: GIOChannel on a negative fd");
        channel_.reset(g_io_channel_ref(channel));
    }
    /// Watches `socket` (a reference is held). Null or closed is std::invalid_argument; one
    /// closed later makes the wait report G_IO_NVAL.
    explicit WaitForIO(GSocket* socket, GIOCondition cond = G_IO_IN,
                       int priority = G_PRIORITY_DEFAULT)
        : SourceCondition(priority), cond_(cond) {
        if (!G_IS_SOCKET(socket))
            throw std::invalid_argument("tasklet: WaitForIO: null or invalid GSocket");
        if (g_socket_is_closed(socket))
            throw std::invalid_argument("tasklet: WaitForIO: closed GSocket");
        socket_ = detail::ObjectRef<GSocket>::ref(socket);
    }
    ~WaitForIO() override {
        if (armed())
            disarm();
    }

    /// The condition that occurred last (0 before the first event).
    GIOCondition condition() const noexcept { return occurred_; }
    /// The conditions asked for (G_IO_HUP, G_IO_ERR and G_IO_NVAL are watched besides).
    GIOCondition requested() const noexcept { return cond_; }
    /// The watched file descriptor, or -1 for the GIOChannel and GSocket forms.
    int fd() const noexcept { return fd_; }
    /// The watched channel, or null (borrowed).
    GIOChannel* channel() const noexcept { return channel_.get(); }
    /// The watched socket, or null (borrowed).
    GSocket* socket() const noexcept { return socket_.get(); }

protected:
    void arm() override {
        if (!closed_socket())
            SourceCondition::arm();
    }
    void kept_armed() override {
        if (!closed_socket())
            SourceCondition::kept_armed();
    }

    /// A GLib watch on the fd, channel or socket (the SourceCondition protocol in detail/).
    GSource* create_source() override {
        auto watched = static_cast<GIOCondition>(cond_ | always);
        GSource* s;
        if (channel_) {
            s = g_io_create_watch(channel_.get(), watched);
            bind_callback(s, &on_channel);
        } else if (socket_) {
            s = g_socket_create_source(socket_.get(), watched, nullptr);
            bind_callback(s, &on_socket);
        } else {
            s = g_unix_fd_source_new(fd_, watched);
            // Without this GLib blocks the source for the length of every dispatch, which
            // removes and re-adds its fd to the context's poll set each time.
            g_source_set_can_recurse(s, TRUE);
            bind_callback(s, &on_fd);
        }
        g_source_set_static_name(s, "tasklet WaitForIO");
        return s;
    }

private:
    static constexpr GIOCondition always =
        static_cast<GIOCondition>(G_IO_HUP | G_IO_ERR | G_IO_NVAL);

    // GLib has no watch on a closed GSocket (it warns and returns a source that never fires),
    // and one closed while watched is reported once, then no longer polled: every wait on
    // it reports G_IO_NVAL at once, as for a closed fd. True if that is the case.
    bool closed_socket() {
        if (!socket_ || !g_socket_is_closed(socket_.get()))
            return false;
        SourceCondition::disarm();
        occurred_ = G_IO_NVAL;
        fire(); // the owner is running: its wait completes at once
        return true;
    }
    gboolean occurred(GIOCondition c) noexcept {
        occurred_ = c;
        return deliver();
    }
    static gboolean on_fd(gint, GIOCondition c, gpointer data) {
        return from_data<WaitForIO>(data).occurred(c);
    }
    static gboolean on_channel(GIOChannel*, GIOCondition c, gpointer data) {
        return from_data<WaitForIO>(data).occurred(c);
    }
    static gboolean on_socket(GSocket*, GIOCondition c, gpointer data) {
        return from_data<WaitForIO>(data).occurred(c);
    }
    GIOCondition await_result() const noexcept { return occurred_; }
    friend struct detail::Access;

    struct ChannelUnref {
        void operator()(GIOChannel* c) const noexcept { g_io_channel_unref(c); }
    };

    int fd_ = -1;
    std::unique_ptr<GIOChannel, ChannelUnref> channel_;
    detail::ObjectRef<GSocket> socket_;
    GIOCondition cond_;
    GIOCondition occurred_ = static_cast<GIOCondition>(0);
};

} // namespace tasklet
