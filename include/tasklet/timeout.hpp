// tasklet — WaitForTimeout: wait for an amount of time (kiwi's WaitForTimeout).
#pragma once

#include "tasklet_type.hpp"

#include <chrono>
#include <concepts>
#include <stdexcept>
#include <type_traits>

namespace tasklet {

/// Fires `ms` milliseconds after it is armed, at `priority`. Awaited again while armed it is
/// a periodic timer: ticks keep a fixed period from the first deadline, without drift. A
/// tick late by less than a period keeps the schedule (the next one comes on time); one late
/// by a period or more stands for the missed ones, and the period restarts from it (no burst
/// of catch-up ticks). restart() starts the count again. Timeouts of one priority with equal
/// deadlines fire in the order they were armed, as GLib's own do. `co_await` yields void.
/// Served by the scheduler's timer heap: a pending timeout costs nothing per main-loop
/// iteration.
class WaitForTimeout : public detail::LaneCondition {
public:
    /// A timeout of `ms` milliseconds, dispatched at GLib priority `priority`.
    explicit WaitForTimeout(guint ms, int priority = G_PRIORITY_DEFAULT) noexcept
        : LaneCondition(priority), ms_(ms) {}
    /// Any integer type; negative or over G_MAXUINT: std::invalid_argument.
    template <std::integral I>
    explicit WaitForTimeout(I ms, int priority = G_PRIORITY_DEFAULT)
        : LaneCondition(priority), ms_(checked(ms)) {}
    /// A std::chrono duration, rounded up to whole milliseconds; negative, NaN or over
    /// G_MAXUINT ms: std::invalid_argument.
    template <class Rep, class Period>
    explicit WaitForTimeout(std::chrono::duration<Rep, Period> d, int priority = G_PRIORITY_DEFAULT)
        : LaneCondition(priority), ms_(checked_duration(d)) {}
    /// The interval, in milliseconds.
    guint timeout() const noexcept { return ms_; }
    /// The GLib priority it was made with.
    using LaneCondition::priority;
    /// Starts the count again from now (if armed; otherwise the count starts when armed). A
    /// tick that came while the tasklet was running and was not taken yet is dropped.
    void restart() {
        if (armed()) {
            unqueue();
            detail::Access::drop_pending(*this);
            queue_timer(detail::monotonic_now() + interval_us());
        }
    }

protected:
    void arm() override { queue_timer(detail::monotonic_now() + interval_us()); }

private:
    template <class I> static guint checked(I ms) {
        bool negative = false;
        if constexpr (std::is_signed_v<I>)
            negative = ms < 0;
        if (negative || static_cast<unsigned long long>(ms) > G_MAXUINT)
            throw std::invalid_argument("tasklet: WaitForTimeout: interval out of range");
        return static_cast<guint>(ms);
    }
    // Range-checked before the conversion: an enormous duration would overflow in it.
    template <class Rep, class Period>
    static guint checked_duration(std::chrono::duration<Rep, Period> d) {
        // Written so that NaN fails too (every comparison with it is false).
        if (!(d >= d.zero() && std::chrono::duration<double, std::milli>(d).count() <= G_MAXUINT))
            throw std::invalid_argument("tasklet: WaitForTimeout: interval out of range");
        return checked(std::chrono::ceil<std::chrono::milliseconds>(d).count());
    }
    gint64 interval_us() const noexcept { return gint64{ms_} * 1000; }
    void requeue(gint64 now) override {
        // More than a period late: the tick that just fired stands for the missed ones, and
        // the period continues from it (no burst of catch-up ticks).
        gint64 next = deadline_ + interval_us();
        queue_timer(next < now ? now + interval_us() : next);
    }

    guint ms_;
};

} // namespace tasklet
