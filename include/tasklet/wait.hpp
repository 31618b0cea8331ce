// tasklet — WaitCondition, Event, get_event(), any().
#pragma once

#include "detail/fwd.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <type_traits>

namespace tasklet {

/// Base class of everything a tasklet can wait for (kiwi's WaitCondition).
///
/// Neither copyable nor movable. A condition is armed by at most one tasklet at a time.
/// Armed conditions persist: awaiting again a condition that was part of the previous wait
/// keeps it armed (its sources are not re-created); conditions not part of the next wait are
/// disarmed, and all are disarmed when the tasklet ends or the condition is destroyed.
///
/// A custom condition overrides arm() and disarm(), calls fire() when its event happens,
/// and calls `if (armed()) disarm();` in its own destructor. `co_await` on it yields Event&.
class WaitCondition {
public:
    WaitCondition(const WaitCondition&) = delete;
    WaitCondition& operator=(const WaitCondition&) = delete;
    /// Unlinks it from its tasklet's wait: a destroyed condition never fires.
    virtual ~WaitCondition();

    /// True while its event is being delivered (from fire() until the tasklet's next wait).
    bool triggered() const noexcept { return triggered_; }
    /// True while a tasklet waits on it (or may wait on it again: see persistence above).
    bool armed() const noexcept { return armed_; }
    /// The tasklet it is armed for, if any.
    AnyTasklet owner() const;

protected:
    WaitCondition() = default;
    /// Start watching: attach sources to context(). Called on the tasklet's thread.
    virtual void arm() = 0;
    /// Stop watching: remove them. Must not throw (it is logged), and must not call fire():
    /// when the library disarms, an event then is dropped, and when the subclass destructor
    /// does, the owner would resume inside that destructor. (A C API whose cancel call runs
    /// the completion callback at once: detach the callback first.) Called by the library,
    /// it sees armed() already false, and may let go of what owns the condition (destroying
    /// it: the library touches nothing of it after).
    virtual void disarm() = 0;
    /// Delivers the event now: the owner resumes at once, inside this call. Returns true if
    /// the owner waits on this condition again (keep watching); false if it was disarmed —
    /// it may then already be destroyed: touch no member after. An event that arrives while
    /// the owner is not suspended (it is running, e.g. inside a nested main loop) is kept
    /// and completes the owner's next wait on this condition at once.
    bool fire();
    /// The owner's main context (borrowed); only meaningful while armed.
    GMainContext* context() const;

private:
    /// Called when the condition stays armed into its owner's next wait (it was part of the
    /// previous one too). A condition whose event can no longer come from its sources (a
    /// WaitForTasklet whose tasklet already ended) calls fire() here, so the wait completes
    /// at once instead of never. Default: nothing.
    virtual void kept_armed() {}

    bool fire_impl(Message* message);

    detail::PromiseBase* owner_ = nullptr;
    WaitCondition* prev_ = nullptr; // the owner's wait list, in wait order
    WaitCondition* next_ = nullptr;
    bool* destroyed_ = nullptr; // set by the destructor while fire() is on the stack
    std::uint16_t epoch_ = 0;
    bool armed_ = false;
    bool triggered_ = false;
    bool pending_ = false;
    bool is_messages_ = false;

    friend class detail::PromiseBase;
    friend struct detail::Access;
    friend class WaitForMessages;
};

/// The event that resumed a tasklet: which condition fired and, for messages, which message.
class Event {
public:
    /// What fired (for a message: the WaitForMessages that accepted it). Null after a
    /// cancellation, or once the condition that fired was destroyed.
    WaitCondition* condition() const noexcept { return cond_; }
    /// True if `c` is what fired: `if (e.is(timeout))` after `co_await any(timeout, ...)`.
    bool is(const WaitCondition& c) const noexcept { return cond_ == &c; }
    /// True if what fired is the end of tasklet `t` (a WaitForTasklet waiting for it, such
    /// as the one any() makes for a tasklet handle): `if (e.is(worker)) ...`.
    bool is(const AnyTasklet& t) const noexcept;
    /// `dynamic_cast<C*>(condition())`.
    template <class C> C* as() const noexcept { return dynamic_cast<C*>(cond_); }
    /// The message received, else nullptr.
    Message* message() noexcept { return msg_; }

private:
    WaitCondition* cond_ = nullptr;
    Message* msg_ = nullptr;
    friend class detail::PromiseBase;
    friend class WaitCondition;
};

inline bool operator==(const Event& e, const WaitCondition& c) noexcept { return e.is(c); }

/// The event that last resumed the current tasklet; valid until its next suspension.
/// std::logic_error outside a tasklet.
Event& get_event();

namespace detail {
template <class C> class SingleAwaiter;
template <std::size_t N, std::size_t K> class AnyAwaiter;
class SpanAwaiter;

template <class A>
inline constexpr bool is_handle_v = std::is_base_of_v<AnyTasklet, std::remove_cvref_t<A>>;
template <class A>
inline constexpr bool is_condition_v = std::is_base_of_v<WaitCondition, std::remove_cvref_t<A>>;
} // namespace detail

/// `co_await any(c1, c2, ...)`: waits until the first of them fires and yields Event&.
/// Arguments are conditions (lvalues or temporaries; a temporary lives until the end of the
/// full expression) and tasklet handles (waited for as by WaitForTasklet; the one that fires
/// stays valid, through get_event(), until the next suspension).
// clang-format off
template <class... Cs>
    requires((detail::is_condition_v<Cs> || detail::is_handle_v<Cs>) && ...)
auto any(Cs&&... cs);
// clang-format on

/// The runtime-sized form of any(): waits on the conditions `cs` points to.
detail::SpanAwaiter any(std::span<WaitCondition* const> cs);

/// `co_await cond`: yields the condition's result (Event& for custom conditions).
// clang-format off
template <class C>
    requires detail::is_condition_v<C>
detail::SingleAwaiter<std::remove_reference_t<C>> operator co_await(C&& c) noexcept;
// clang-format on

} // namespace tasklet

#define TASKLET_WAIT_DONE
#include "messages.hpp"
#include "tasklet_type.hpp"
#if defined(TASKLET_TASKLET_TYPE_DONE) && defined(TASKLET_MESSAGES_DONE)
#include "detail/runtime.hpp"
#endif
