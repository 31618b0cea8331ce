// tasklet — WaitForCall: wait until a callback is called (kiwi's WaitForCall).
#pragma once

#include "detail/glib.hpp"
#include "tasklet_type.hpp"

#include <atomic>
#include <deque>
#include <memory>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>

namespace tasklet {

template <class Signature> class WaitForCall; // defined for function types R(Args...) only

namespace detail {

template <class R> struct CallResult {
    /// What operator() (and the C callback) returns: set it from the tasklet, while it runs
    /// inside the call, to choose the answer.
    R return_value;
};
template <> struct CallResult<void> {};

// The C side of a WaitForCall: a small reference-counted object that outlives the
// WaitForCall as long as C code holds a counted reference. The WaitForCall holds one
// reference; c_data_full() and c_data_once() hand out more; a call in progress holds one
// for its duration (the tasklet may destroy the WaitForCall inside it).
template <class R, class... Args> class CallTrampoline {
public:
    using Owner = WaitForCall<R(Args...)>;

    // What a `gpointer` from c_data*() points to: the trampoline, and whether the pointer
    // is a one-shot reference released by its first call.
    struct Ticket {
        CallTrampoline* trampoline;
        bool once;
    };

    explicit CallTrampoline(Owner* owner) noexcept : owner_(owner), self_{this, false} {}
    CallTrampoline(const CallTrampoline&) = delete;
    CallTrampoline& operator=(const CallTrampoline&) = delete;

    void ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
    void unref() noexcept {
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1)
            delete this; // the last reference: the WaitForCall and every C holder are done
    }

    Ticket* ticket() noexcept { return &self_; }

    // The WaitForCall is going away: later calls answer with its last return_value.
    void detach(Owner& owner) noexcept {
        if constexpr (!std::is_void_v<R>)
            saved_.emplace(std::move(owner.return_value));
        owner_ = nullptr;
    }

    R call(Args... args) {
        ref();
        struct Release {
            CallTrampoline* t;
            ~Release() { t->unref(); }
        } release{this};
        if (owner_)
            owner_->accept(std::forward<Args>(args)...); // may destroy the owner
        if constexpr (!std::is_void_v<R>)
            return answer();
    }

    // The owner's return_value, or the one it held when it was destroyed.
    R answer() const requires(!std::is_void_v<R>) {
        return owner_ ? owner_->return_value : *saved_;
    }

    static R thunk(Args... args, gpointer data) noexcept {
        auto* ticket = static_cast<Ticket*>(data);
        CallTrampoline* t = ticket->trampoline;
        // One reference for the duration of this call: a one-shot ticket's own (dropped
        // with it, after the call), else a new one. Read the ticket before calling: the
        // trampoline's own ticket (c_data()) dies with it.
        std::unique_ptr<Ticket> once(ticket->once ? ticket : nullptr);
        if (!once)
            t->ref();
        struct Release {
            CallTrampoline* t;
            ~Release() { t->unref(); }
        } release{t};
        try {
            return t->call(std::forward<Args>(args)...);
        } catch (...) {
            log_callback_exception("a WaitForCall C callback"); // never into C code
            if constexpr (!std::is_void_v<R>)
                return t->answer();
        }
    }

    static void release(gpointer data) noexcept { static_cast<Ticket*>(data)->trampoline->unref(); }
    static void release_closure(gpointer data, GClosure*) noexcept { release(data); }

private:
    ~CallTrampoline() = default;

    std::atomic<unsigned> refs_{1};
    Owner* owner_;
    Ticket self_;
    std::optional<std::conditional_t<std::is_void_v<R>, char, R>> saved_;
};

} // namespace detail

/// A callable that a tasklet waits on (kiwi's WaitForCall): hand it (or its C form) to code
/// that calls back, then `co_await` it. `co_await` yields the call's arguments as
/// `std::tuple<std::decay_t<Args>...>`.
///
/// `operator()` records the arguments and resumes the waiting tasklet at once, inside the
/// call; when the tasklet has suspended again, the call returns `return_value` as the
/// tasklet left it — so the tasklet chooses the answer (or, if it destroyed the WaitForCall
/// meanwhile, the value it held then). Calls are never lost: a call that arrives while no
/// tasklet waits (or while its tasklet is busy) is queued, returns `return_value` at once,
/// and the next `co_await` completes at once with the oldest undelivered call. Arguments
/// are stored decayed: pointers are copied as pointers, so pointed-to data must outlive
/// their delivery (a tasklet resumed inside the call can use them at once).
///
/// C APIs (GLib's "user data last" convention): pass `c_callback()` with one of
///  - `c_data()`: transfer none — valid only while this WaitForCall lives. For callbacks
///    that cannot outlive it (you disconnect or remove the source first).
///  - `c_data_full()` with `c_destroy_notify()` (or `c_closure_notify()` for
///    g_signal_connect_data()): a counted reference for APIs that take a destroy notify
///    (g_timeout_add_full, g_idle_add_full, g_signal_connect_data, ...). A call after this
///    WaitForCall is gone is a safe no-op returning the value return_value held at
///    destruction; the memory is freed by the destroy notify.
///  - `c_data_once()`: a counted reference released by the first call, for one-shot
///    callbacks without a destroy notify (GAsyncReadyCallback). Exactly one call must
///    follow (otherwise it leaks; a second call is a use after free).
///
/// Thread: the tasklet's. Calls from other threads are not supported (post them to the
/// tasklet's main context first). Only the reference counting is thread-safe, so a destroy
/// notify may run anywhere.
template <class R, class... Args>
class WaitForCall<R(Args...)> : public WaitCondition, public detail::CallResult<R> {
    using Trampoline = detail::CallTrampoline<R, Args...>;
    static_assert(std::is_void_v<R> || (std::is_object_v<R> && std::is_copy_constructible_v<R>),
                  "WaitForCall<R(Args...)>: R must be void or a copyable object type");
    static_assert((std::is_copy_constructible_v<std::decay_t<Args>> && ...),
                  "WaitForCall<R(Args...)>: arguments are stored as copies (decayed), so each "
                  "must be copyable; pass a move-only object by pointer or shared_ptr");

public:
    /// The arguments of one call.
    using Arguments = std::tuple<std::decay_t<Args>...>;
    /// The C callback type: `R (*)(Args..., gpointer user_data)`.
    using CCallback = R (*)(Args..., gpointer);

    /// For `R = void`.
    WaitForCall() requires std::is_void_v<R> : tramp_(new Trampoline(this)) {}
    /// For other `R`: the initial `return_value`.
    // clang-format off
    template <class U = R>
    requires(!std::is_void_v<U>) explicit WaitForCall(std::type_identity_t<U> return_value = U{})
        : detail::CallResult<R>{std::move(return_value)}, tramp_(new Trampoline(this)) {}
    // clang-format on

    ~WaitForCall() override {
        if (armed())
            disarm();
        tramp_->detach(*this);
        tramp_->unref();
    }

    /// Records `args`, resumes the waiting tasklet inside this call (or queues the call),
    /// and returns `return_value` as it stands afterwards.
    R operator()(Args... args) { return tramp_->call(std::forward<Args>(args)...); }

    /// The arguments of the last call made. std::logic_error before the first call.
    const Arguments& args() const {
        if (!last_)
            throw std::logic_error("tasklet: WaitForCall::args(): not called yet");
        return *last_;
    }
    /// Calls made but not yet delivered to a tasklet.
    std::size_t queued() const noexcept { return queue_.size(); }

    /// A plain function pointer `R (*)(Args..., gpointer)` that calls this WaitForCall
    /// through the `gpointer` from c_data(), c_data_full() or c_data_once(). It never lets
    /// an exception into C code (it logs a g_critical and returns return_value).
    static CCallback c_callback() noexcept { return &Trampoline::thunk; }
    /// User data for c_callback(), transfer none: valid while this WaitForCall lives.
    gpointer c_data() const noexcept { return tramp_->ticket(); }
    /// User data for c_callback(), transfer full: one counted reference, released by
    /// c_destroy_notify() (or c_closure_notify()). Calls after this WaitForCall is gone are
    /// safe no-ops.
    gpointer c_data_full() const noexcept {
        tramp_->ref();
        return tramp_->ticket();
    }
    /// Releases a reference from c_data_full(); pass it as the GDestroyNotify.
    static GDestroyNotify c_destroy_notify() noexcept { return &Trampoline::release; }
    /// The same as a GClosureNotify, for g_signal_connect_data().
    static GClosureNotify c_closure_notify() noexcept { return &Trampoline::release_closure; }
    /// User data for c_callback() that owns one reference until its first call, which
    /// releases it: for one-shot callbacks without a destroy notify (GAsyncReadyCallback).
    gpointer c_data_once() const {
        auto ticket = std::make_unique<typename Trampoline::Ticket>(
            typename Trampoline::Ticket{tramp_, true});
        tramp_->ref();
        return ticket.release(); // freed by the first call
    }

protected:
    void arm() override {
        if (!queue_.empty())
            pump(); // a call arrived while nobody waited: the wait completes at once
    }
    void disarm() override {
        // A delivery that was pending when the owner moved on without taking it goes back
        // to the front of the queue.
        if (inflight_ && detail::Access::pending(*this) && current_)
            queue_.push_front(std::move(*current_));
        inflight_ = false;
    }

private:
    friend Trampoline;
    friend struct detail::Access;

    // A call whose arguments throw on copy is not recorded at all (and not delivered).
    template <class... A> void accept(A&&... args) {
        auto fresh = std::make_unique<Arguments>(std::forward<A>(args)...);
        queue_.push_back(*fresh);
        last_ = std::move(fresh); // cannot throw: args() never shows half of a call
        pump();
    }

    bool owner_suspended() const noexcept {
        detail::PromiseBase* p = detail::Access::owner(*this);
        return p && p->state_ == State::suspended;
    }

    // Delivers queued calls, oldest first, one at a time. A suspended owner resumes at once
    // (and, waiting on us again, gets the next); a busy one gets a pending event that
    // completes its next wait on us. Returns false when fire() said the condition was
    // disarmed: it may be destroyed, so the caller touches nothing after.
    bool pump() {
        while (armed() && !queue_.empty()) {
            if (inflight_) {
                if (detail::Access::pending(*this))
                    return true; // the owner has not taken the previous one yet
                inflight_ = false;
            }
            current_.emplace(std::move(queue_.front()));
            queue_.pop_front();
            if (owner_suspended()) {
                if (!fire())
                    return false;
                continue;
            }
            inflight_ = true;
            fire(); // pending: the owner is running
            return true;
        }
        return true;
    }

    // Awaited again: the rest of the queue. (A delivery taken through any() never reaches
    // await_result(), so this is where the next queued call goes out.)
    void kept_armed() override { pump(); }

    Arguments await_result() {
        if (!current_)
            throw std::logic_error("tasklet: WaitForCall: no call to deliver");
        inflight_ = false;
        Arguments a = std::move(*current_);
        current_.reset();
        pump(); // more queued: the owner is running, so this only makes the next one pending
        return a;
    }

    Trampoline* tramp_;
    std::deque<Arguments> queue_;      // calls not yet delivered, oldest first
    std::optional<Arguments> current_; // the call being delivered
    std::unique_ptr<Arguments> last_;  // the last call made (args())
    bool inflight_ = false;            // current_ was delivered as a pending event
};

} // namespace tasklet
