// tasklet — Tasklet<T>, AnyTasklet, State, deferred(), run(), run_until_complete().
#pragma once

#include "detail/fwd.hpp"

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>

namespace tasklet {

/// A handle to a tasklet whose result type is erased.
///
/// Cheap to copy (on the tasklet's own thread a plain increment, elsewhere an atomic one),
/// compared by identity, hashable. A tasklet keeps itself alive until it ends, so dropping
/// every handle never stops it; after it ends its result lives as long as a handle does.
/// Handles may be copied, moved and dropped on any thread; a handle copied on the tasklet's
/// own thread and dropped on another gives its reference back through the tasklet's main
/// context, so if it was the last one the frame is freed at that context's next iteration.
/// Other operations are for the thread that runs the tasklet's main context, except
/// send_message() and cancel() (any thread).
class AnyTasklet {
public:
    /// An empty handle (`operator bool` is false).
    AnyTasklet() noexcept = default;
    /// Another handle to the same tasklet (compares equal to `o`).
    AnyTasklet(const AnyTasklet& o) noexcept;
    /// Takes over `o`'s tasklet; `o` becomes empty.
    AnyTasklet(AnyTasklet&& o) noexcept : p_(std::exchange(o.p_, 0)) {}
    /// Makes this a handle to `o`'s tasklet, releasing the one it had.
    AnyTasklet& operator=(AnyTasklet o) noexcept {
        std::swap(p_, o.p_);
        return *this;
    }
    ~AnyTasklet();

    /// running, suspended (waiting or not started), msgsend, or zombie (ended).
    State state() const;
    /// `state() == State::zombie`.
    bool done() const;
    /// Starts a tasklet made by deferred(); std::logic_error if it was already started or
    /// has ended (cancelled before it started).
    void start() const;
    /// Queues `m` for this tasklet and delivers it per its message actions. `m.dest` is set
    /// to this tasklet if empty (std::invalid_argument if it names another). Any thread:
    /// from another thread the message is handed to the tasklet's context.
    void send_message(Message m) const;
    /// Calls `cb` once when the tasklet ends; if it has already ended, `cb` runs from the
    /// main loop soon after. Never lost unless removed. An empty `cb` is
    /// std::invalid_argument.
    JoinId add_join_callback(std::function<void(AnyTasklet)> cb) const;
    /// False if the callback already ran or was removed.
    bool remove_join_callback(JoinId id) const;
    /// Asks the tasklet to stop (see README, "Stopping a tasklet"). Any thread.
    void cancel() const;
    /// True if it ended because of cancellation.
    bool cancelled() const;
    /// The GMainContext the tasklet belongs to (borrowed).
    GMainContext* context() const;
    /// An optional name, used in log lines.
    void set_name(std::string name) const;
    /// The name given with set_name(), or an empty string.
    std::string name() const;

    /// False for an empty handle (default-constructed or moved from).
    explicit operator bool() const noexcept { return p_ != 0; }
    friend bool operator==(const AnyTasklet& a, const AnyTasklet& b) noexcept {
        return a.ptr() == b.ptr();
    }

protected:
    /// @private A reference counted on the tasklet's own thread (`shared` false) or in the
    /// atomic count other threads use.
    struct Adopt {
        bool shared = false;
    };
    /// @private Tasklet<T> adopts the reference its promise made for it.
    AnyTasklet(detail::PromiseBase* p, Adopt a) noexcept
        : p_(reinterpret_cast<std::uintptr_t>(p) | (a.shared ? shared_bit : 0)) {}
    /// @private The tasklet's state; std::logic_error for an empty handle.
    detail::PromiseBase& promise() const;
    /// @private
    detail::PromiseBase* ptr() const noexcept {
        return reinterpret_cast<detail::PromiseBase*>(p_ & ~shared_bit);
    }

    /// @private The promise's address; its low bit tells which count holds the reference.
    static constexpr std::uintptr_t shared_bit = 1;
    /// @private
    std::uintptr_t p_ = 0;
    friend struct detail::Access;
    friend struct std::hash<AnyTasklet>;
};

namespace detail {
template <class T, bool Rvalue> class JoinAwaiter;
}

/// A handle to a tasklet returning `T` (void or an object type).
///
/// A function returning `Tasklet<T>` whose body uses `co_await`/`co_return` is a tasklet
/// body; calling it starts the tasklet at once, up to its first suspension.
template <class T> class Tasklet : public AnyTasklet {
    static_assert(std::is_void_v<T> || (std::is_object_v<T> && !std::is_array_v<T>),
                  "Tasklet<T>: T must be void or an object type");

public:
    /// Makes a function returning Tasklet<T> a coroutine (C++ coroutine machinery).
    using promise_type = detail::Promise<T>;
    /// The result type `T`.
    using value_type = T;

    Tasklet() noexcept = default;

    /// The value it returned; rethrows the exception it ended with; std::logic_error if it
    /// has not ended.
    std::add_lvalue_reference_t<T> return_value() const;

    /// `co_await t`: waits until it ends and yields `T&` (rvalue handle: `T&&`); rethrows.
    detail::JoinAwaiter<T, false> operator co_await() const&;
    /// `co_await std::move(t)` or `co_await make()`: yields `T&&`, so the value can be moved
    /// out (other handles to the tasklet then see a moved-from value).
    detail::JoinAwaiter<T, true> operator co_await() &&;

private:
    Tasklet(detail::PromiseBase* p, Adopt a) noexcept : AnyTasklet(p, a) {}
    friend class detail::Promise<T>;
    friend struct detail::Access;
};

/// Kiwi's `run`: returns `t`.
template <class T> Tasklet<T> run(Tasklet<T> t) { return t; }

/// Creates the tasklet `f(args...)` without starting it; start it with start(). `f` and
/// `args` are kept alive with the tasklet (take parameters by value in the body).
template <class F, class... Args> auto deferred(F f, Args... args);

/// Iterates `t`'s main context until `t` ends (starting it if it was deferred) and returns
/// its value (moved out) or rethrows. std::logic_error if called from inside a tasklet, for
/// an empty handle, or when another thread owns the context.
template <class T> T run_until_complete(Tasklet<T> t);

} // namespace tasklet

/// Hashes a tasklet handle by identity, consistent with `operator==`.
template <> struct std::hash<tasklet::AnyTasklet> {
    /// The hash of the tasklet `t` refers to.
    std::size_t operator()(const tasklet::AnyTasklet& t) const noexcept {
        return std::hash<const void*>{}(t.ptr());
    }
};
/// Hashes a Tasklet<T> like the AnyTasklet it converts to.
template <class T> struct std::hash<tasklet::Tasklet<T>> : std::hash<tasklet::AnyTasklet> {};

#define TASKLET_TASKLET_TYPE_DONE
#include "messages.hpp"
#include "wait.hpp"
#if defined(TASKLET_WAIT_DONE) && defined(TASKLET_MESSAGES_DONE)
#include "detail/runtime.hpp"
#endif
