// tasklet — WaitForTasklet<T>: wait for a tasklet to end (kiwi's WaitForTasklet).
#pragma once

#include "tasklet_type.hpp"

#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace tasklet {

/// Waits until a tasklet ends; `co_await` yields `T&` (its return value) or rethrows the
/// exception it ended with. If the tasklet has already ended, the wait completes at once.
/// Waiting for oneself is std::logic_error; an empty handle is std::invalid_argument.
template <class T> class WaitForTasklet : public detail::JoinWaiter {
public:
    /// Waits for `t`.
    explicit WaitForTasklet(Tasklet<T> t) : JoinWaiter(std::move(t)) {}
    /// @private For `co_await t`: waits on `t` without copying the handle.
    WaitForTasklet(const Tasklet<T>& t, Borrow b) : JoinWaiter(t, b) {}

    /// The tasklet's return value (kiwi's `.retval`); rethrows; std::logic_error before it
    /// ended.
    T& retval() {
        detail::PromiseBase& p = target(); // kept alive by this condition's reference
        if (!p.ended())
            throw std::logic_error("tasklet: WaitForTasklet::retval(): the tasklet has not ended");
        return static_cast<detail::Promise<T>&>(p).value();
    }
    /// The tasklet waited for.
    Tasklet<T> tasklet() const { return detail::Access::share_as<T>(&target()); }

private:
    T& await_result() { return retval(); }
    friend struct detail::Access;
};

/// WaitForTasklet for a tasklet of any result type: yields nothing but rethrows.
template <> class WaitForTasklet<void> : public detail::JoinWaiter {
public:
    /// Waits for `t`.
    explicit WaitForTasklet(AnyTasklet t) : JoinWaiter(std::move(t)) {}
    /// @private For `co_await t`: waits on `t` without copying the handle.
    WaitForTasklet(const AnyTasklet& t, Borrow b) : JoinWaiter(t, b) {}

    /// Rethrows the exception the tasklet ended with; std::logic_error before it ended.
    void retval() {
        detail::PromiseBase& p = target();
        if (!p.ended())
            throw std::logic_error("tasklet: WaitForTasklet::retval(): the tasklet has not ended");
        p.rethrow_if_failed();
    }
    /// The tasklet waited for.
    Tasklet<void> tasklet() const { return detail::Access::share_as<void>(&target()); }

private:
    void await_result() { retval(); }
    friend struct detail::Access;
};

namespace detail {

// What `co_await t` yields: T& (T&& for an rvalue handle), nothing for Tasklet<void>. A
// trait, because std::conditional_t would form `void&` for T = void.
template <class T, bool Rvalue> struct join_result {
    using type = std::conditional_t<Rvalue, T&&, T&>;
};
template <bool Rvalue> struct join_result<void, Rvalue> { using type = void; };

/// `co_await t` on a tasklet handle.
template <class T, bool Rvalue> class JoinAwaiter {
public:
    using result_type = typename join_result<T, Rvalue>::type;

    // `t` outlives this awaiter: borrowed, not copied (see JoinWaiter::Borrow).
    explicit JoinAwaiter(const Tasklet<T>& t) : t_(t), target_(Access::promise(t)) {
        if (!target_)
            throw std::invalid_argument("tasklet: WaitForTasklet: empty tasklet handle");
    }
    bool await_ready() const noexcept { return false; }
    template <class P> bool await_suspend(std::coroutine_handle<P> h) {
        p_ = &promise_of(h);
        // Spawn-and-await, the usual case: the tasklet has already ended, so unless a
        // condition must be disarmed the wait is over before anything is made or armed.
        // (A tasklet of another context goes the long way, which refuses one of another
        // thread's.)
        if (target_->sched_ == p_->sched_ && target_->ended() && p_->begin_wait_done())
            return false;
        w_.emplace(t_, JoinWaiter::Borrow{});
        WaitCondition* c = &*w_;
        return !p_->begin_wait(&c, 1);
    }
    result_type await_resume() {
        p_->after_resume();
        // It has ended (the wait is over): its result is read straight from its promise,
        // which `t_` (or the waiter's own reference) keeps alive.
        if constexpr (std::is_void_v<T>)
            target_->rethrow_if_failed();
        else if constexpr (Rvalue)
            return std::move(static_cast<Promise<T>*>(target_)->value());
        else
            return static_cast<Promise<T>*>(target_)->value();
    }

private:
    const Tasklet<T>& t_;
    PromiseBase* target_;
    std::optional<WaitForTasklet<T>> w_; // only made when the tasklet has not ended
    PromiseBase* p_ = nullptr;
};

template <std::size_t N, std::size_t K> void AnyAwaiter<N, K>::add(const AnyTasklet& t) {
    owned_[k_] = std::make_unique<WaitForTasklet<void>>(t);
    conds_[n_++] = owned_[k_++].get();
}

} // namespace detail

template <class T> detail::JoinAwaiter<T, false> Tasklet<T>::operator co_await() const& {
    return detail::JoinAwaiter<T, false>(*this);
}

template <class T> detail::JoinAwaiter<T, true> Tasklet<T>::operator co_await() && {
    return detail::JoinAwaiter<T, true>(*this);
}

} // namespace tasklet
