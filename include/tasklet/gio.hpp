// tasklet — GIO async calls: one co_await per `*_async`/`*_finish` pair; GError as exceptions.
#pragma once

#include "detail/glib.hpp"
#include "tasklet_type.hpp"

#include <gio/gio.h>

#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace tasklet {

// ---- GError -----------------------------------------------------------------------------

/// A GError as a C++ exception: what() is the error's message; domain() and code() say which
/// error it is, as `g_error_matches()` would.
class Error : public std::runtime_error {
public:
    /// Copies domain, code and message of `e` (which stays owned by the caller).
    explicit Error(const GError& e) : Error(e.domain, e.code, e.message ? e.message : "") {}
    /// An error of `domain` and `code` whose what() is `message`.
    Error(GQuark domain, int code, const std::string& message)
        : std::runtime_error(message), domain_(domain), code_(code) {}

    /// The error domain, e.g. G_IO_ERROR.
    GQuark domain() const noexcept { return domain_; }
    /// The code within the domain, e.g. G_IO_ERROR_NOT_FOUND.
    int code() const noexcept { return code_; }
    /// `g_error_matches()` for the exception.
    bool matches(GQuark domain, int code) const noexcept {
        return domain_ == domain && code_ == code;
    }

private:
    GQuark domain_;
    int code_;
};

/// If `*error` is set: frees it, sets it to null and throws it as tasklet::Error. Takes the
/// GError over (transfer full) in every case.
inline void throw_if_error(GError*& error) {
    if (!error)
        return;
    Error e(*error);
    g_clear_error(&error);
    throw e;
}

/// A `GError**` out-parameter that owns what it receives.
///
///     tasklet::GErrorOut err;
///     gboolean ok = g_file_load_contents_finish(file, r, &data, &len, nullptr, err);
///     err.check(); // throws tasklet::Error if the call failed
class GErrorOut {
public:
    /// Holds no error.
    GErrorOut() = default;
    GErrorOut(const GErrorOut&) = delete;
    GErrorOut& operator=(const GErrorOut&) = delete;
    /// Frees the error received, if any.
    ~GErrorOut() { g_clear_error(&error_); }

    /// Passes it as the `GError**` of a call; a previous error is freed first.
    operator GError**() noexcept {
        g_clear_error(&error_);
        return &error_;
    }
    /// The error received, or null (still owned by this object).
    GError* get() const noexcept { return error_; }
    /// True if a call reported an error.
    explicit operator bool() const noexcept { return error_ != nullptr; }
    /// Throws the error received as tasklet::Error (and forgets it); does nothing if none.
    void check() { throw_if_error(error_); }

private:
    GError* error_ = nullptr;
};

/// The inline form of GErrorOut: pass `throw_on_error()` as the `GError**` argument and the
/// error, if any, is thrown as tasklet::Error at the end of the full expression (after the
/// call has returned and its other out-parameters are set). Use it only as a temporary
/// argument, and not in an expression that also has a `co_await` (`co_await` into a variable
/// first): it tells whether another exception is propagating — then it does not throw — by
/// std::uncaught_exceptions(), which a suspension in between makes meaningless (a tasklet
/// resumed from a destructor during unwinding would lose the error).
///
///     g_autofree char* data = nullptr;
///     g_file_load_contents_finish(file, r, &data, &len, nullptr, tasklet::throw_on_error());
class throw_on_error {
public:
    /// Remembers how many exceptions are propagating, to know at the end whether it may throw.
    throw_on_error() noexcept : uncaught_(std::uncaught_exceptions()) {}
    throw_on_error(const throw_on_error&) = delete;
    throw_on_error& operator=(const throw_on_error&) = delete;
    /// Throws the error the call reported, as tasklet::Error (never while unwinding).
    // Throwing from a destructor is what lets the error surface in the same line; it is safe
    // because the object is a temporary and does not throw during stack unwinding.
    ~throw_on_error() noexcept(false) {
        if (error_ && std::uncaught_exceptions() == uncaught_)
            throw_if_error(error_);
        g_clear_error(&error_);
    }
    /// The `GError**` argument of the call.
    operator GError**() && noexcept { return &error_; }

private:
    GError* error_ = nullptr;
    int uncaught_;
};

// ---- AsyncResult --------------------------------------------------------------------------

/// Owns one reference to the GAsyncResult an async call completed with; converts to
/// `GAsyncResult*` so it can be passed straight to the matching `*_finish` function.
class AsyncResult {
public:
    /// Holds no result.
    AsyncResult() = default;
    /// Takes a new reference to `r` (transfer none).
    static AsyncResult ref(GAsyncResult* r) noexcept {
        AsyncResult a;
        a.r_ = detail::ObjectRef<GAsyncResult>::ref(r);
        return a;
    }

    /// The result (borrowed: valid while this object holds it).
    GAsyncResult* get() const noexcept { return r_.get(); }
    /// get(), so the object can be passed as the `GAsyncResult*` of a `*_finish` function.
    operator GAsyncResult*() const noexcept { return r_.get(); }
    /// True if it holds a result.
    explicit operator bool() const noexcept { return r_.get() != nullptr; }
    /// The object the call was made on (`g_async_result_get_source_object`; borrowed), or
    /// null.
    GObject* source_object() const noexcept {
        if (!r_)
            return nullptr;
        GObject* o = g_async_result_get_source_object(r_.get());
        if (o)
            g_object_unref(o); // still referenced by the result
        return o;
    }

private:
    detail::ObjectRef<GAsyncResult> r_; // copyable and movable: shares the reference
};

// ---- the shared plumbing of WaitForAsync and WaitForThread ------------------------------

namespace detail {

class AsyncOp;

/// The user_data of one in-flight call. GIO calls a GAsyncReadyCallback exactly once, so the
/// callback owns the trampoline and frees it; the condition only points at it and, when it
/// stops waiting (disarm, destruction), sets `op` to null. A callback that arrives after that
/// — after the tasklet was cancelled, or the condition destroyed — finds nothing to resume
/// and only frees the trampoline; the GAsyncResult is GIO's (transfer none), which releases
/// it and whatever unclaimed value it carries.
struct AsyncTrampoline {
    AsyncOp* op;
    std::shared_ptr<void> keep; // what the call itself uses; released on the tasklet's thread
};

/// Base of conditions that run one GIO-style async call per wait: arm() starts it with a
/// fresh GCancellable, the callback fires the condition, and disarm() cancels a call still in
/// flight. Awaited again after it fired (kept armed), it starts the call again.
class AsyncOp : public WaitCondition {
public:
    /// The cancellable of the current (or last) call; cancelled when the condition stops
    /// waiting for it. Borrowed; null before the first call.
    GCancellable* cancellable() const noexcept { return cancellable_.get(); }
    /// True while a call is in flight.
    bool pending() const noexcept { return trampoline_ != nullptr; }

protected:
    AsyncOp() = default;
    ~AsyncOp() override = default;

    /// Starts the call, which must end by calling `cb(source, result, data)` once. If it
    /// throws, it must not have started it.
    virtual void start(GCancellable* c, GAsyncReadyCallback cb, gpointer data) = 0;
    /// The call completed: keep what the tasklet will read. Must not throw.
    virtual void completed(GAsyncResult* result) noexcept = 0;
    /// A start() that threw: keep the exception for the tasklet to see.
    virtual void start_failed(std::exception_ptr e) noexcept = 0;
    /// Called before each start(): returns state the new call uses, which is kept alive
    /// until its callback has run (even if the condition is gone by then) and released on
    /// the tasklet's thread.
    virtual std::shared_ptr<void> new_call() { return {}; }

    void arm() override { begin(); }
    void disarm() override {
        if (AsyncTrampoline* t = std::exchange(trampoline_, nullptr)) {
            // Detach first: cancelling may complete the call synchronously.
            t->op = nullptr;
            g_cancellable_cancel(cancellable_.get());
        }
    }

private:
    void begin() {
        cancellable_ = ObjectRef<GCancellable>::adopt(g_cancellable_new());
        auto t = std::make_unique<AsyncTrampoline>(AsyncTrampoline{this, new_call()});
        trampoline_ = t.get();
        // GIO delivers the callback to the thread-default context of the caller: make that
        // the tasklet's context even if another one is pushed while the tasklet runs.
        GMainContext* ctx = context();
        g_main_context_push_thread_default(ctx);
        try {
            start(cancellable_.get(), &AsyncOp::ready, t.get());
        } catch (...) {
            g_main_context_pop_thread_default(ctx);
            if (trampoline_ == t.get())
                trampoline_ = nullptr; // the call never started: the trampoline is ours
            else
                t.release(); // the callback ran (and freed it) before the starter threw
            throw;
        }
        t.release(); // the callback owns it now (it has already, if it ran inside start())
        // begin() runs inside the tasklet's co_await (arm(), kept_armed()): a callback that
        // already ran only marked the event pending, the tasklet did not resume.
        g_main_context_pop_thread_default(ctx);
    }

    static void ready(GObject*, GAsyncResult* result, gpointer data) noexcept {
        std::unique_ptr<AsyncTrampoline> t(static_cast<AsyncTrampoline*>(data)); // called once
        AsyncOp* op = t->op;
        if (!op)
            return; // a late callback: the tasklet no longer waits for it
        op->trampoline_ = nullptr;
        t.reset(); // releases what the call used, here on the tasklet's thread
        op->completed(result);
        op->fire();
    }

    // Awaited again after it fired: runs the call again. The tasklet is running (inside its
    // co_await), so a call that completes inside the starter only marks the event pending
    // and the co_await completes at once — a loop over such calls never nests the tasklet
    // inside its own starter. Nothing to do while a call is in flight or its result waits.
    void kept_armed() override {
        if (trampoline_ || Access::pending(*this))
            return;
        try {
            begin();
        } catch (...) {
            start_failed(std::current_exception());
            fire(); // pending: the co_await rethrows it
        }
    }

    ObjectRef<GCancellable> cancellable_;
    AsyncTrampoline* trampoline_ = nullptr;
};

} // namespace detail

// ---- WaitForAsync -----------------------------------------------------------------------

/// Runs one GIO-style async call and waits for it to complete. `co_await` yields the
/// AsyncResult, to pass to the matching `*_finish` function.
///
///     tasklet::AsyncResult r = co_await tasklet::async(
///         [&](GCancellable* c, GAsyncReadyCallback cb, gpointer data) {
///             g_file_load_contents_async(file, c, cb, data);
///         });
///     g_file_load_contents_finish(file, r, &data, &len, nullptr, tasklet::throw_on_error());
///
/// The starter is called when the condition is armed (on the tasklet's thread, with the
/// tasklet's context as thread-default, so the callback comes back there) and must start
/// exactly one call that ends with `cb(source, result, data)`. The starter must pass the
/// GCancellable on: it is cancelled when the condition is disarmed before the call completed
/// — when it is destroyed (a temporary: as soon as Cancelled propagates out of the
/// co_await), when its tasklet ends (cancellation included), or when the tasklet's next wait
/// does not include it. A callback that arrives after that is ignored safely. A cancelled
/// call may still be using what it was given (a read in a worker thread cannot be
/// interrupted): the starter itself is kept until the call's callback has run, so memory
/// the call writes into is safe if the starter owns it — capture the buffer by
/// `std::shared_ptr`, not a reference to the tasklet's own. While it stays
/// armed (e.g. `any(op, timeout)` awaited in a loop) the call keeps going; awaited again
/// after it completed, it starts the call again. If the starter throws, the co_await throws
/// that (and the starter must not have started the call).
///
/// The callback must come on the tasklet's thread: GIO's do (they come to the context that
/// was thread-default when the call started, the tasklet's). Wrap a C API that calls back
/// from a thread of its own with g_main_context_invoke(). GIO streams run one operation at
/// a time, and a cancelled one holds the stream until its late callback has run: a read
/// started on the same stream before that fails with G_IO_ERROR_PENDING — keep the read
/// condition armed across waits instead (`any(read, timeout)` in a loop, with `read` made
/// once).
class WaitForAsync : public detail::AsyncOp {
public:
    /// `void start(GCancellable*, GAsyncReadyCallback, gpointer)`.
    using Starter = std::function<void(GCancellable*, GAsyncReadyCallback, gpointer)>;

    /// An empty starter is std::invalid_argument.
    explicit WaitForAsync(Starter start) {
        if (!start)
            throw std::invalid_argument("tasklet: WaitForAsync: empty starter");
        start_ = std::make_shared<Starter>(std::move(start));
    }
    /// Cancels a call still in flight.
    ~WaitForAsync() override {
        if (armed())
            disarm();
    }

    /// The result of the last completed call (null before); rethrows what the starter threw.
    const AsyncResult& result() const {
        if (error_)
            std::rethrow_exception(error_);
        return result_;
    }

protected:
    /// Starts one call of the wrapped `*_async` function (the AsyncOp protocol in detail/).
    void start(GCancellable* c, GAsyncReadyCallback cb, gpointer data) override {
        result_ = AsyncResult();
        error_ = nullptr;
        (*start_)(c, cb, data);
    }
    /// Each call keeps the starter (and so what it captured) until its callback has run.
    std::shared_ptr<void> new_call() override { return start_; }
    /// Keeps the call's result for result() and `co_await`.
    void completed(GAsyncResult* r) noexcept override { result_ = AsyncResult::ref(r); }
    /// Keeps what the starter threw, to rethrow it from result() and `co_await`.
    void start_failed(std::exception_ptr e) noexcept override { error_ = std::move(e); }

private:
    AsyncResult await_result() const { return result(); }
    friend struct detail::Access;

    std::shared_ptr<Starter> start_;
    AsyncResult result_;
    std::exception_ptr error_;
};

/// `co_await tasklet::async(starter)`: see WaitForAsync.
// clang-format off
template <class F>
    requires std::is_invocable_v<F&, GCancellable*, GAsyncReadyCallback, gpointer>
WaitForAsync async(F&& start) {
    return WaitForAsync(WaitForAsync::Starter(std::forward<F>(start)));
}
// clang-format on

} // namespace tasklet
