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
    T& retval() { return detail::ended_result<T>(target(), "WaitForTasklet::retval()"); }
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
    void retval() { detail::ended_result<void>(target(), "WaitForTasklet::retval()"); }
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

    // `t` outlives this awaiter: borrowed, not copied (see JoinWaiter::Borrow). Neither
    // its promise nor the waiting one is kept here (every frame suspended in `co_await t`
    // would carry them): the target is the waiter's once made (while suspended, `t` may be
    // reassigned), else still `t`'s.
    explicit JoinAwaiter(const Tasklet<T>& t) : t_(t) {
        if (!Access::promise(t))
            throw std::invalid_argument("tasklet: WaitForTasklet: empty tasklet handle");
    }
    bool await_ready() const noexcept { return false; }
    template <class P> bool await_suspend(std::coroutine_handle<P> h) {
        PromiseBase& p = promise_of(h);
        const PromiseBase& target = *Access::promise(t_);
        // Spawn-and-await, the usual case: the tasklet has already ended, so unless a
        // condition must be disarmed the wait is over before anything is made or armed.
        // (A tasklet of another context goes the long way, which refuses one of another
        // thread's.)
        if (target.sched_ == p.sched_ && target.ended() && p.begin_wait_done())
            return false;
        w_.emplace(t_, JoinWaiter::Borrow{});
        WaitCondition* c = &*w_;
        return !p.begin_wait(&c, 1);
    }
    result_type await_resume() {
        // Without a waiter the wait was over in await_suspend(), which did not suspend: no
        // cancel can be due (it would have taken the long way).
        if (w_)
            tls_current->after_resume(); // the tasklet resumed is the one running
        // It has ended (the wait is over): its result is read straight from its promise,
        // which `t_` (or the waiter's own reference) keeps alive.
        auto& target = static_cast<PromiseStorage<T>&>(w_ ? w_->target() : *Access::promise(t_));
        if constexpr (std::is_void_v<T>)
            target.value();
        else if constexpr (Rvalue)
            return std::move(target.value());
        else
            return target.value();
    }

private:
    const Tasklet<T>& t_;
    std::optional<WaitForTasklet<T>> w_; // only made when the tasklet has not ended
};

template <std::size_t N, std::size_t K> void AnyAwaiter<N, K>::add(const AnyTasklet& t) {
    owned_[k_] = std::make_shared<WaitForTasklet<void>>(t);
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
