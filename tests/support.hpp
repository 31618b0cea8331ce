// Test helpers: run the main loop with a watchdog, capture the library's log lines.
#pragma once

#include "catch.hpp"

#include <tasklet/tasklet.hpp>

#include <glib-object.h>
#include <glib.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace test {

/// A flag set by a timeout on `ctx` after `ms` milliseconds; the source goes with the object
/// (so a test that fails early leaves nothing behind that writes to its stack).
class Deadline {
public:
    Deadline(guint ms, GMainContext* ctx) : s_(g_timeout_source_new(ms)) {
        g_source_set_callback(
            s_.get(),
            [](gpointer self) -> gboolean {
                static_cast<Deadline*>(self)->expired_ = true;
                return G_SOURCE_REMOVE;
            },
            this, nullptr);
        g_source_attach(s_.get(), ctx);
    }
    Deadline(const Deadline&) = delete;
    Deadline& operator=(const Deadline&) = delete;
    bool expired() const noexcept { return expired_; }

private:
    tasklet::detail::SourcePtr s_;
    bool expired_ = false;
};

/// Iterates `ctx` (default: the thread-default context) until `done()` is true. Fails the
/// test (instead of hanging) when `seconds` pass first.
inline bool run_until(const std::function<bool()>& done, double seconds = 10.0,
                      GMainContext* ctx = nullptr) {
    if (!ctx)
        ctx = g_main_context_get_thread_default();
    if (!ctx)
        ctx = g_main_context_default();
    Deadline watchdog(static_cast<guint>(seconds * 1000), ctx);
    while (!done() && !watchdog.expired())
        g_main_context_iteration(ctx, TRUE);
    if (watchdog.expired())
        FAIL_CHECK("watchdog: the main loop did not reach the expected state within " << seconds
                                                                                      << " s");
    return !watchdog.expired();
}

/// Runs the loop until `t` ends (watchdog: `seconds`) and returns its result (rethrows).
template <class T> T run_with_watchdog(tasklet::Tasklet<T> t, double seconds = 10.0) {
    if (!run_until([&] { return t.done(); }, seconds, t.context())) {
        t.cancel();
        throw std::runtime_error("watchdog expired");
    }
    if constexpr (std::is_void_v<T>)
        t.return_value();
    else
        return std::move(t.return_value());
}

/// Counts the main-loop iterations of `ctx` (null: the thread-default) while it lives: a
/// source whose prepare runs once per iteration. For "does not spin the loop" checks.
class IterationCounter {
public:
    explicit IterationCounter(int& count, GMainContext* ctx = nullptr)
        : s_(g_source_new(&funcs, sizeof(Source))) {
        reinterpret_cast<Source*>(s_.get())->count = &count;
        g_source_attach(s_.get(), ctx ? ctx : g_main_context_get_thread_default());
    }

private:
    struct Source {
        GSource base;
        int* count;
    };
    static gboolean prepare(GSource* s, gint* timeout) {
        ++*reinterpret_cast<Source*>(s)->count;
        *timeout = -1;
        return FALSE;
    }
    static inline GSourceFuncs funcs = {prepare, nullptr, nullptr, nullptr, nullptr, nullptr};
    tasklet::detail::SourcePtr s_;
};

/// Starts `sh -c script` as a child the caller must reap (G_SPAWN_DO_NOT_REAP_CHILD).
inline GPid spawn_shell(const std::string& script) {
    const char* argv[] = {"sh", "-c", script.c_str(), nullptr};
    GPid pid = 0;
    GError* error = nullptr;
    bool ok =
        g_spawn_async(nullptr, const_cast<char**>(argv), nullptr,
                      static_cast<GSpawnFlags>(G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH),
                      nullptr, nullptr, &pid, &error);
    if (!ok) {
        std::string what = error->message;
        g_error_free(error);
        FAIL("spawn failed: " << what);
    }
    return pid;
}

/// Runs pending work of `ctx` without blocking (bounded, so a busy source cannot hang it).
inline void drain(GMainContext* ctx = nullptr, int max_iterations = 10000) {
    if (!ctx)
        ctx = g_main_context_default();
    for (int i = 0; i < max_iterations && g_main_context_iteration(ctx, FALSE); ++i) {
    }
}

/// How many sources are attached to `ctx` right now (probes every source id GLib has handed
/// out so far; for leak checks in tests only).
inline std::size_t attached_sources(GMainContext* ctx = nullptr) {
    if (!ctx)
        ctx = g_main_context_default();
    GSource* probe = g_idle_source_new();
    guint last = g_source_attach(probe, ctx);
    g_source_destroy(probe);
    g_source_unref(probe);
    std::size_t n = 0;
    for (guint id = 1; id < last; ++id)
        if (g_main_context_find_source_by_id(ctx, id))
            ++n;
    return n;
}

/// How many unblocked handlers are connected to `signal_id` on `instance`. (GLib has no count:
/// each handler found is blocked to hide it from the next search, and all are unblocked after.)
inline std::size_t handler_count(gpointer instance, guint signal_id) {
    std::vector<gulong> found;
    while (gulong h = g_signal_handler_find(
               instance, GSignalMatchType(G_SIGNAL_MATCH_ID | G_SIGNAL_MATCH_UNBLOCKED), signal_id,
               0, nullptr, nullptr, nullptr)) {
        g_signal_handler_block(instance, h);
        found.push_back(h);
    }
    for (gulong h : found)
        g_signal_handler_unblock(instance, h);
    return found.size();
}

/// handler_count() for the signal named `signal` of `instance`'s type.
inline std::size_t handler_count(gpointer instance, const char* signal) {
    return handler_count(instance, g_signal_lookup(signal, G_OBJECT_TYPE(instance)));
}

/// A fresh GMainContext pushed as thread-default for the scope, so that nothing else (other
/// tests' leftovers, the default context's sources) takes part in what a test counts.
class PrivateContext {
public:
    PrivateContext() : ctx_(g_main_context_new()) { g_main_context_push_thread_default(ctx_); }
    ~PrivateContext() {
        g_main_context_pop_thread_default(ctx_);
        g_main_context_unref(ctx_);
    }
    PrivateContext(const PrivateContext&) = delete;
    PrivateContext& operator=(const PrivateContext&) = delete;
    GMainContext* get() const { return ctx_; }

private:
    GMainContext* ctx_;
};

/// Captures messages logged under the "tasklet" domain while alive.
class LogCapture {
public:
    struct Line {
        GLogLevelFlags level;
        std::string text;
    };
    LogCapture() {
        id_ = g_log_set_handler(
            "tasklet",
            static_cast<GLogLevelFlags>(G_LOG_LEVEL_MASK | G_LOG_FLAG_FATAL | G_LOG_FLAG_RECURSION),
            [](const gchar*, GLogLevelFlags level, const gchar* message, gpointer self) {
                static_cast<LogCapture*>(self)->lines.push_back(
                    {static_cast<GLogLevelFlags>(level & G_LOG_LEVEL_MASK), message});
            },
            this);
    }
    ~LogCapture() { g_log_remove_handler("tasklet", id_); }
    LogCapture(const LogCapture&) = delete;
    LogCapture& operator=(const LogCapture&) = delete;

    std::size_t count(GLogLevelFlags level, const std::string& needle = "") const {
        std::size_t n = 0;
        for (const Line& l : lines)
            if (l.level == level && l.text.find(needle) != std::string::npos)
                ++n;
        return n;
    }
    std::vector<Line> lines;

private:
    guint id_ = 0;
};

/// A condition fired by hand (trigger()); counts arm() and disarm() calls, and runs the
/// optional hooks inside them.
class Manual : public tasklet::WaitCondition {
public:
    ~Manual() override {
        if (armed())
            disarm();
    }
    bool trigger() { return fire(); }
    int arms = 0;
    int disarms = 0;
    std::function<void()> on_arm;
    std::function<void()> on_disarm;

protected:
    void arm() override {
        ++arms;
        if (on_arm)
            on_arm();
    }
    void disarm() override {
        ++disarms;
        if (on_disarm)
            on_disarm();
    }
};

/// Blocks a thread until another one opens it, for at most `seconds` (for tests that order
/// threads; a main loop waits with run_until() instead).
struct ThreadGate {
    std::mutex m;
    std::condition_variable cv;
    bool open = false;
    void set() {
        {
            std::lock_guard lock(m);
            open = true;
        }
        cv.notify_all();
    }
    bool wait(double seconds = 10.0) {
        std::unique_lock lock(m);
        return cv.wait_for(lock, std::chrono::duration<double>(seconds), [&] { return open; });
    }
};

} // namespace test
