// tasklet — blocking work off the loop: run a function on GLib's worker threads and await it.
#pragma once

#include "gio.hpp"
#include "tasklet_type.hpp"

#include <gio/gio.h>

#include <atomic>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace tasklet {

namespace detail {

template <class F>
using thread_result_t =
    std::decay_t<typename std::conditional_t<std::is_invocable_v<F&, GCancellable*>,
                                             std::invoke_result<F&, GCancellable*>,
                                             std::invoke_result<F&>>::type>;

template <class R> struct ThreadSlot { std::optional<R> value; };
template <> struct ThreadSlot<void> {};

} // namespace detail

/// Runs a function on a worker thread of GIO's thread pool (`g_task_run_in_thread`) and
/// waits for it; `co_await` resumes the tasklet on its own thread and context, and yields the
/// function's result (moved out) or rethrows its exception. Make one with run_in_thread().
///
/// A running function cannot be interrupted. If the tasklet stops waiting — it is cancelled
/// (`co_await` throws Cancelled at once), the condition is destroyed, or the tasklet's next
/// wait does not include it — the function keeps running to completion on its thread and
/// its result or exception is discarded. The function may take a `GCancellable*`, which is
/// cancelled when the condition is disarmed (see WaitForAsync), to stop early on its own.
/// The function and its result are always destroyed on the tasklet's thread. Awaited again
/// after it completed (kept armed), it runs the function again. Runs of one condition never
/// overlap: awaited again while an abandoned run is still going, the new run waits for it on
/// its worker thread, so the function need not be safe to run concurrently with itself.
template <class R> class WaitForThread : public detail::AsyncOp {
    static_assert(std::is_void_v<R> || (std::is_object_v<R> && !std::is_array_v<R>),
                  "WaitForThread<R>: R must be void or an object type");

public:
    /// `f` is called as `f(GCancellable*)` if it can be, else as `f()`, and must return R
    /// (after decay). It may be move-only; it is kept (and called again for a repeated wait)
    /// until the condition and the last job using it are gone. A null function pointer is
    /// std::invalid_argument.
    // clang-format off
    template <class F>
        requires(!std::is_same_v<std::remove_cvref_t<F>, WaitForThread>)
    explicit WaitForThread(F&& f)
        : fn_(std::make_shared<HeldFn<std::decay_t<F>>>(std::forward<F>(f))),
          call_(&invoke<std::decay_t<F>>) {
        using Fn = std::decay_t<F>;
        if constexpr (std::is_pointer_v<Fn> || std::is_member_pointer_v<Fn>)
            if (static_cast<HeldFn<Fn>*>(fn_.get())->fn == nullptr)
                throw std::invalid_argument("tasklet: WaitForThread: null function pointer");
    }
    // clang-format on
    /// Stops waiting; a run in progress completes on its thread and is discarded.
    ~WaitForThread() override {
        if (armed())
            disarm();
    }

    /// The result of the last run (R& for an object type); rethrows its exception;
    /// std::logic_error while it has not completed.
    std::add_lvalue_reference_t<R> result() {
        if (start_error_)
            std::rethrow_exception(start_error_);
        if (!job_ || !done_)
            throw std::logic_error("tasklet: WaitForThread::result(): the function has not "
                                   "completed");
        if (job_->error)
            std::rethrow_exception(job_->error);
        if constexpr (!std::is_void_v<R>)
            return *job_->slot.value;
    }

protected:
    /// A fresh job for one run of the function (the AsyncOp protocol in detail/).
    std::shared_ptr<void> new_call() override {
        start_error_ = nullptr;
        done_ = false;
        job_ = std::make_shared<Job>(fn_, call_);
        return job_;
    }
    /// Runs the job on GLib's thread pool (GTask); completion comes back on our context.
    void start(GCancellable* c, GAsyncReadyCallback cb, gpointer data) override {
        GTask* task = g_task_new(nullptr, c, cb, data);
        // The result travels in the job; the task only signals completion, so a cancelled
        // cancellable must not turn a finished run into an error.
        g_task_set_check_cancellable(task, FALSE);
        g_task_set_task_data(task, job_.get(), nullptr); // kept alive by the trampoline
        job_->posted.store(true, std::memory_order_release);
        g_task_run_in_thread(task, &run);
        g_object_unref(task);
    }
    /// Notes whether the job ran to its end (its result or exception is in the job).
    void completed(GAsyncResult*) noexcept override {
        done_ = job_->finished.load(std::memory_order_acquire);
    }
    /// Keeps what starting the job threw, to rethrow it from `co_await`.
    void start_failed(std::exception_ptr e) noexcept override { start_error_ = std::move(e); }
    void disarm() override {
        bool running = pending();
        AsyncOp::disarm();
        if (running)
            job_.reset(); // the run is abandoned: its result is no longer ours
    }

private:
    // The function, shared by the condition and its jobs, with the lock that keeps its runs
    // from overlapping.
    struct Held {
        std::mutex running;
    };
    template <class F> struct HeldFn : Held {
        template <class A> explicit HeldFn(A&& f) : fn(std::forward<A>(f)) {}
        F fn;
    };
    using Call = R (*)(Held*, GCancellable*);

    // Hand-off between the threads. GLib orders it already (the task queue, then the
    // completion source), but with synchronisation ThreadSanitizer cannot see (futexes,
    // uninstrumented atomics): the two flags state the same order in C++ terms.
    struct Job {
        Job(std::shared_ptr<Held> f, Call c) : fn(std::move(f)), call(c) {}
        ~Job() { (void)finished.load(std::memory_order_acquire); }
        std::shared_ptr<Held> fn;
        Call call;
        detail::ThreadSlot<R> slot;
        std::exception_ptr error;
        std::atomic<bool> posted{false};   // release: the job is ready for the worker
        std::atomic<bool> finished{false}; // release: the worker is done with the job
    };

    template <class F> static R invoke(Held* f, GCancellable* c) {
        F& fn = static_cast<HeldFn<F>*>(f)->fn;
        if constexpr (std::is_invocable_v<F&, GCancellable*>)
            return static_cast<R>(fn(c));
        else
            return static_cast<R>(fn());
    }

    // On the worker thread. Only the job is touched: the trampoline keeps it alive until the
    // completion callback, which GTask runs only after this function has returned.
    static void run(GTask* task, gpointer, gpointer data, GCancellable* c) {
        Job* job = static_cast<Job*>(data);
        (void)job->posted.load(std::memory_order_acquire);
        try {
            std::lock_guard lock(job->fn->running); // after an abandoned run, if one still goes
            if constexpr (std::is_void_v<R>)
                job->call(job->fn.get(), c);
            else
                job->slot.value.emplace(job->call(job->fn.get(), c));
        } catch (...) {
            job->error = std::current_exception();
        }
        job->finished.store(true, std::memory_order_release);
        g_task_return_boolean(task, TRUE);
    }

    R await_result() {
        if constexpr (std::is_void_v<R>)
            result();
        else
            return std::move(result());
    }
    friend struct detail::Access;

    std::shared_ptr<Held> fn_;
    Call call_;
    std::shared_ptr<Job> job_;
    std::exception_ptr start_error_;
    bool done_ = false;
};

/// `co_await tasklet::run_in_thread(f)`: runs `f()` (or `f(GCancellable*)`) on a worker
/// thread and yields its result; see WaitForThread.
///
///     std::string text = co_await tasklet::run_in_thread([path] { return slurp(path); });
template <class F> WaitForThread<detail::thread_result_t<std::decay_t<F>>> run_in_thread(F&& f) {
    return WaitForThread<detail::thread_result_t<std::decay_t<F>>>(std::forward<F>(f));
}

} // namespace tasklet
