// tasklet — WaitForProcess: wait until a child process ends (kiwi's WaitForProcess).
#pragma once

#include "detail/source.hpp"

#include <algorithm>
#include <cerrno>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include <sys/types.h>
#include <sys/wait.h>

namespace tasklet {

/// Fires when the child process `pid` ends; `co_await` yields its wait status (as from
/// waitpid(); decode it with exited()/exit_code() or signaled()/term_signal(), or
/// g_spawn_check_wait_status()).
///
/// The pid must be a child of this process that nobody else reaps (spawn it with
/// G_SPAWN_DO_NOT_REAP_CHILD, and watch it with one WaitForProcess only): GLib's child watch
/// reaps it. A pid that is not (or no longer) a child is detected when the condition is
/// armed: that `co_await` throws std::system_error with `std::errc::no_child_process`
/// instead of waiting forever; a pid another WaitForProcess is watching makes it throw
/// std::logic_error (the second watch would get a made-up status). Once the process has ended,
/// every further wait on the condition completes at once with the same status. A child that ends
/// while nobody waits on its WaitForProcess stays a zombie until the next wait on one (which then
/// completes in the next main-loop iteration).
class WaitForProcess : public detail::SourceCondition {
public:
    /// `pid <= 0` is std::invalid_argument.
    explicit WaitForProcess(GPid pid, int priority = G_PRIORITY_DEFAULT)
        : SourceCondition(priority), pid_(pid) {
        if (pid <= 0)
            throw std::invalid_argument("tasklet: WaitForProcess: pid must be positive");
    }
    ~WaitForProcess() override {
        if (armed())
            disarm();
        release(); // a watch kept by disarm() goes with the condition (its source member)
    }

    /// The process waited for.
    GPid pid() const noexcept { return pid_; }
    /// True once the process has ended (and was reaped).
    bool ended() const noexcept { return ended_; }
    /// Its wait status; std::logic_error before it ended.
    int status() const {
        if (!ended_)
            throw std::logic_error("tasklet: WaitForProcess::status(): the process has not ended");
        return status_;
    }
    /// True if it ended by exiting (WIFEXITED).
    bool exited() const noexcept { return ended_ && WIFEXITED(status_); }
    /// Its exit code (WEXITSTATUS) if it exited, else -1.
    int exit_code() const noexcept { return exited() ? WEXITSTATUS(status_) : -1; }
    /// True if it was killed by a signal (WIFSIGNALED).
    bool signaled() const noexcept { return ended_ && WIFSIGNALED(status_); }
    /// The signal that killed it (WTERMSIG) if signaled(), else 0.
    int term_signal() const noexcept { return signaled() ? WTERMSIG(status_) : 0; }

protected:
    void arm() override {
        if (refused_) { // that refusal was for one wait: the other watch may be gone by now
            refused_ = false;
            error_ = nullptr;
        }
        if (!ended_ && !error_ && source())
            return; // a watch kept from an earlier wait (see disarm()) still brings the status
        if (!ended_ && !error_ && !is_child(pid_))
            error_ = std::make_exception_ptr(
                std::system_error(ECHILD, std::generic_category(),
                                  "tasklet: WaitForProcess: pid " + std::to_string(pid_) +
                                      " is not a child of this process, or was reaped elsewhere"));
        if (!ended_ && !error_ && !claim()) {
            error_ = std::make_exception_ptr(
                std::logic_error("tasklet: WaitForProcess: pid " + std::to_string(pid_) +
                                 " is already watched by another WaitForProcess"));
            refused_ = true;
        }
        if (ended_ || error_) {
            fire(); // the owner is running: its wait completes at once
            return;
        }
        try {
            SourceCondition::arm();
        } catch (...) {
            release();
            throw;
        }
    }
    // Without pidfds (older GLib, or valgrind) GLib reaps the child on its worker thread as
    // soon as it exits and keeps the status in the child watch until that dispatches here:
    // destroying the watch then would lose the status for good (the next wait would throw
    // ECHILD). Such a watch stays until it dispatches (it only records the status) or the
    // condition is destroyed.
    void disarm() override {
        if (source() && !ended_ && !is_child(pid_))
            return;
        release();
        SourceCondition::disarm();
    }

    /// GLib's child watch (while the outcome is unknown).
    GSource* create_source() override {
        GSource* s = g_child_watch_source_new(pid_);
        bind_callback(s, &on_child);
        g_source_set_static_name(s, "tasklet WaitForProcess");
        return s;
    }

private:
    // Awaited again once the outcome is known (the child watch is gone: GLib removes it after
    // its one dispatch): the wait completes at once with the same status or error.
    void kept_armed() override {
        if (refused_)
            arm(); // asks again
        else if (ended_ || error_)
            fire();
        else
            SourceCondition::kept_armed();
    }

    // waitid() without reaping: ECHILD means no waitable child with that pid.
    static bool is_child(GPid pid) noexcept {
        siginfo_t info{};
        int r;
        do
            r = waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT);
        while (r < 0 && errno == EINTR);
        return !(r < 0 && errno == ECHILD);
    }

    // The pids watched right now, process-wide (pids are): one WaitForProcess each. Never
    // destroyed, so a condition that outlives static destruction can still release.
    struct Watched {
        std::mutex mutex;
        std::vector<GPid> pids;
    };
    static Watched& watched() {
        static Watched& w = *new Watched;
        return w;
    }
    bool claim() {
        Watched& w = watched();
        std::lock_guard lock(w.mutex);
        if (std::find(w.pids.begin(), w.pids.end(), pid_) != w.pids.end())
            return false;
        w.pids.push_back(pid_);
        claimed_ = true;
        return true;
    }
    void release() noexcept {
        if (!claimed_)
            return;
        Watched& w = watched();
        std::lock_guard lock(w.mutex);
        w.pids.erase(std::find(w.pids.begin(), w.pids.end(), pid_));
        claimed_ = false;
    }

    static void on_child(GPid, gint status, gpointer data) {
        auto& self = from_data<WaitForProcess>(data);
        self.release();
        self.status_ = status;
        self.ended_ = true;
        if (self.armed())
            self.deliver(); // a child watch dispatches once; GLib removes it whatever we return
    }

    int await_result() const {
        if (error_)
            std::rethrow_exception(error_);
        return status_;
    }
    friend struct detail::Access;

    GPid pid_;
    int status_ = 0;
    bool ended_ = false;
    bool claimed_ = false; // its pid is in watched()
    bool refused_ = false; // error_ is the refusal of a pid watched by another condition
    std::exception_ptr error_;
};

} // namespace tasklet
