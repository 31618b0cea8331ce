// tasklet — testing helpers: a virtual clock that makes WaitForTimeout instant and
// deterministic in tests. Not part of the umbrella header: include <tasklet/testing.hpp>.
#pragma once

#include "tasklet.hpp"

#include <atomic>
#include <chrono>
#include <stdexcept>

namespace tasklet::testing {

/// Replaces the scheduler's clock while alive: time stands still until advance() moves it,
/// and advancing fires every WaitForTimeout that becomes due at its own deadline, in
/// deadline order, without sleeping.
///
///     tasklet::testing::VirtualClock clock;
///     auto t = reminder();                    // co_await WaitForTimeout(std::chrono::hours(1))
///     clock.advance(std::chrono::hours(1));   // returns at once; t has run past its wait
///
/// Virtual time starts at the real monotonic time of construction, so timers armed before
/// keep their deadlines. Only the tasklet scheduler's timers (WaitForTimeout and whatever is
/// built on the scheduler) follow it; GLib's own sources (`g_timeout_add`, GIO timeouts)
/// keep real time. Install one clock at a time (else std::logic_error), on the thread that
/// runs the tasklets, while no other thread runs tasklets. When it is destroyed real time
/// resumes; timers still pending keep their virtual deadlines.
class VirtualClock {
public:
    /// Installs the clock at the current monotonic time.
    VirtualClock() : now_(g_get_monotonic_time()) {
        if (detail::clock_hook.now)
            throw std::logic_error("tasklet::testing::VirtualClock: a clock is already installed");
        start_ = now_.load();
        detail::clock_hook = detail::ClockHook{&VirtualClock::read, this};
    }
    /// Uninstalls it: real time resumes.
    ~VirtualClock() { detail::clock_hook = detail::ClockHook{}; }
    VirtualClock(const VirtualClock&) = delete;
    VirtualClock& operator=(const VirtualClock&) = delete;

    /// Moves time forward by `d` (rounded up to whole µs; negative, NaN, or past what the
    /// clock holds — a gint64 of µs, less room for the longest timeout's next two deadlines —
    /// std::invalid_argument).
    /// Iterates the calling thread's thread-default main context: first what is ready now,
    /// then, for each timer deadline up to the new time in order, sets the clock to that
    /// deadline and dispatches what is due — so periodic timers tick once per period, and
    /// timers armed by the tasklets that run meanwhile fire too if they fall in the window.
    /// Ends with the clock at exactly now() + d. Not from inside a tasklet (std::logic_error).
    /// Timers that keep being due without time moving (a 0 ms periodic timeout) make it give
    /// up after 100,000 dispatches at one instant (std::runtime_error).
    /// Called again from a callback it dispatches, the clock never goes back: the outer call
    /// ends at the later of the two times.
    template <class Rep, class Period> void advance(std::chrono::duration<Rep, Period> d) {
        // Written so that NaN fails too (every comparison with it is false).
        if (!(d >= d.zero()))
            throw std::invalid_argument(
                "tasklet::testing::VirtualClock::advance(): negative or NaN");
        // Checked before the conversion, which an enormous duration would overflow.
        if (!(std::chrono::duration<double, std::micro>(d).count() <
              static_cast<double>(limit - now())))
            throw std::invalid_argument(
                "tasklet::testing::VirtualClock::advance(): beyond what the clock can hold");
        advance_us(static_cast<gint64>(std::chrono::ceil<std::chrono::microseconds>(d).count()));
    }

    /// The virtual time (µs, on the scale of g_get_monotonic_time()).
    gint64 now() const noexcept { return now_.load(std::memory_order_relaxed); }
    /// How far the clock was advanced since it was installed.
    std::chrono::microseconds elapsed() const noexcept {
        return std::chrono::microseconds(now() - start_);
    }

private:
    static gint64 read(void* self) noexcept { return static_cast<VirtualClock*>(self)->now(); }

    void advance_us(gint64 us) {
        if (detail::tls_current)
            throw std::logic_error(
                "tasklet::testing::VirtualClock::advance() called from inside a tasklet");
        detail::Scheduler* s = detail::Scheduler::for_thread_default();
        struct Unref {
            detail::Scheduler* s;
            ~Unref() { s->release(); }
        } unref{s};
        const gint64 target = now() + us;
        dispatch_ready(s->context());
        // Each pass moves the clock to the earliest deadline; a timer that stays due without
        // the clock moving (a 0 ms periodic timeout) would loop forever: give up loudly once
        // 100,000 dispatches (and passes) went by at one instant.
        long stalled = 0;
        for (gint64 next; (next = s->next_deadline()) <= target;) {
            if (next > now()) {
                now_.store(next, std::memory_order_relaxed);
                stalled = 0;
            }
            stalled += 1 + dispatch_ready(s->context());
            if (stalled > 100000)
                throw std::runtime_error(
                    "tasklet::testing::VirtualClock::advance(): timers keep being due without "
                    "time moving (a 0 ms periodic timeout, or timers starved by busy sources of "
                    "a higher priority)");
        }
        if (target > now()) // a nested advance() may have gone further
            now_.store(target, std::memory_order_relaxed);
        dispatch_ready(s->context());
    }

    // Runs what is ready now; bounded, so a busy idle source cannot hang the test. Returns
    // how many iterations dispatched something.
    static int dispatch_ready(GMainContext* ctx) {
        int n = 0;
        while (n < 10000 && g_main_context_iteration(ctx, FALSE))
            ++n;
        return n;
    }

    // The clock stops short of the end of gint64 by two periods of the longest timeout, so
    // that a timer's deadline (now + interval, then + interval again) cannot overflow.
    static constexpr gint64 limit = G_MAXINT64 - 2 * (gint64{G_MAXUINT} * 1000);
    std::atomic<gint64> now_;
    gint64 start_ = 0;
};

} // namespace tasklet::testing
