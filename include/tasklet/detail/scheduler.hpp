// tasklet — internal: the per-GMainContext scheduler.
// Do not include directly; include <tasklet/tasklet.hpp>.
//
// One Scheduler per GMainContext, shared by every tasklet created there. It attaches one
// long-lived GSource ("lane") per priority in use; a lane owns a 4-ary heap of armed
// timeouts and a list of armed idles, so a pending timeout costs nothing per main-loop
// iteration and a resumption allocates nothing. The default-priority lane also carries the
// queue of work handed over from other threads (send_message/cancel) and of callbacks
// deferred to the next iteration (join callbacks of ended tasklets).
//
// Lifetimes: a lane's state lives in its GSource's allocation and is freed by GLib's
// finalize, so GLib's own reference during prepare/check/dispatch keeps it valid even if the
// Scheduler goes away meanwhile. The Scheduler is reference counted by the tasklets bound to
// it (and by a per-thread cache); it holds a reference on its GMainContext.
#pragma once

#include "../wait.hpp"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <iterator>
#include <limits>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

namespace tasklet::detail {

/// Testing hook: when set, the scheduler's notion of "now" (µs, monotonic scale).
struct ClockHook {
    gint64 (*now)(void*) = nullptr;
    void* data = nullptr;
};
inline ClockHook clock_hook;

inline gint64 monotonic_now() noexcept {
    return clock_hook.now ? clock_hook.now(clock_hook.data) : g_get_monotonic_time();
}

class Lane;
class LaneCondition;

/// Logs the exception being handled, thrown by `what_ran` (a callback that must not throw
/// into GLib). Call only from a catch block.
inline void log_callback_exception(const char* what_ran) noexcept {
    try {
        throw;
    } catch (const std::exception& e) {
        g_log(log_domain, G_LOG_LEVEL_CRITICAL, "exception in %s: %s", what_ran, e.what());
    } catch (...) {
        g_log(log_domain, G_LOG_LEVEL_CRITICAL, "unknown exception in %s", what_ran);
    }
}

/// Its address names the running thread: comparing it is cheaper than std::thread::id.
inline constinit thread_local char tls_thread_marker = 0;

/// Intrusive doubly linked list of lane conditions (idle list, or a dispatch batch).
struct LaneList {
    LaneCondition* head = nullptr;
    LaneCondition* tail = nullptr;
    bool empty() const noexcept { return head == nullptr; }
    void push_back(LaneCondition* c) noexcept;
    void remove(LaneCondition* c) noexcept;
    LaneCondition* pop_front() noexcept;
    void take_all(LaneList& from) noexcept;
};

/// Base of the conditions the scheduler serves itself (WaitForTimeout, WaitForIdle): they
/// sit on a lane's timer heap or idle list while armed, and `co_await` yields void.
class LaneCondition : public WaitCondition {
public:
    /// The GLib priority it was made with.
    int priority() const noexcept { return priority_; }

protected:
    explicit LaneCondition(int priority) noexcept : priority_(priority) {}
    /// Leaves the lane. (Only lane fields are touched, so doing it here, after the subclass
    /// is gone, is safe.)
    ~LaneCondition() override {
        if (armed())
            unqueue();
    }
    void disarm() override { unqueue(); }
    /// Back on the lane when the owner's wait takes the event it kept pending (see
    /// Lane::run_batch()).
    void kept_armed() override;
    /// Its event came while the owner was running and waits for the owner's next wait.
    bool event_pending() const noexcept;

    /// Queue on the lane's idle list (fires once per main-loop iteration while armed).
    void queue_idle();
    /// Queue on the lane's timer heap for `deadline` (µs, monotonic).
    void queue_timer(gint64 deadline);
    /// Take it off whatever lane queue holds it. Safe at any time.
    void unqueue() noexcept;
    bool queued() const noexcept { return list_ != nullptr || heap_index_ != npos; }
    /// Called by the lane after fire() returned true and nothing re-queued it meanwhile.
    virtual void requeue(gint64 now) = 0;

    int priority_;
    // The lane's: when it was queued on a timer heap (see Lane::order_by_queueing()). Here,
    // it fills the padding after priority_.
    std::uint32_t heap_seq_ = 0;
    gint64 deadline_ = 0;

private:
    void await_result() const noexcept {}
    friend struct Access;

    static constexpr std::uint32_t npos = std::numeric_limits<std::uint32_t>::max();
    // On a list, the previous condition; on a timer heap, that heap's lane (a list knows its
    // own ends): one word for both keeps the frame of a tasklet on a timeout 8 bytes smaller.
    union {
        LaneCondition* lprev_ = nullptr;
        Lane* heap_lane_;
    };
    LaneCondition* lnext_ = nullptr;
    LaneList* list_ = nullptr;
    std::uint32_t heap_index_ = npos; // 32 bits: a subclass's field fits in the tail padding
    friend class Lane;
    friend struct LaneList;
};

/// Starts loading the frame of the tasklet `c` is armed for into the cache.
void prefetch_owner(LaneCondition* c) noexcept;

/// One GSource of a scheduler, at one priority.
class Lane {
public:
    static Lane* create(GMainContext* ctx, int priority);
    /// Detaches the source and drops the scheduler's reference; the Lane itself is freed by
    /// GLib's finalize once GLib no longer uses the source.
    void detach() noexcept;
    int priority() const noexcept { return priority_; }
    /// The earliest timer deadline queued here (µs), G_MAXINT64 if none (for VirtualClock).
    gint64 next_deadline() const noexcept {
        return heap_.empty() ? G_MAXINT64 : heap_.front().deadline;
    }

    void push_idle(LaneCondition* c) noexcept;
    void push_timer(LaneCondition* c);
    void remove(LaneCondition* c) noexcept;

    void post(std::function<void()> fn);  // any thread
    void defer(std::function<void()> fn); // owner thread, next dispatch

private:
    struct Source {
        GSource base;
        Lane* lane;
    };
    explicit Lane(int priority) noexcept : priority_(priority) {}

    // The lane pointer is published with release and read with acquire: post() may create a
    // lane on another thread, and GLib's own locking (which orders this for real) is
    // invisible to ThreadSanitizer. A plain load on x86; keeps TSan runs free of false races.
    static Lane& of(GSource* s) noexcept {
        return *std::atomic_ref<Lane*>(reinterpret_cast<Source*>(s)->lane)
                    .load(std::memory_order_acquire);
    }
    static gboolean prepare(GSource* s, gint* timeout) noexcept;
    static gboolean check(GSource* s) noexcept;
    static gboolean dispatch(GSource* s, GSourceFunc, gpointer) noexcept;
    static void finalize(GSource* s) noexcept;
    static GSourceFuncs* funcs() noexcept;

    // A batch left unfinished by a dispatch that is running a nested main loop counts too.
    bool has_immediate() const noexcept {
        return !idles_.empty() || (batch_ && !batch_->empty()) || !local_.empty() ||
               (handover_ && handover_->next < handover_->work.size()) ||
               inbox_flag_.load(std::memory_order_acquire);
    }
    gint64 now(GSource* s) const noexcept {
        return clock_hook.now ? clock_hook.now(clock_hook.data) : g_source_get_time(s);
    }
    /// Closures taken from the inbox (or the local queue) by one dispatch, and how far it
    /// got: a nested dispatch (a closure ran a nested main loop) runs the rest first, so the
    /// order of what was posted holds.
    struct HandOver {
        std::vector<std::function<void()>> work;
        std::size_t next = 0;
    };
    static void run_work(HandOver& h) noexcept;
    void run_handed_over() noexcept;
    void run_batch(gint64 now) noexcept;

    void heap_up(std::size_t i) noexcept;
    void heap_down(std::size_t i) noexcept;
    static void order_by_queueing(LaneList& list, std::size_t n) noexcept;
    /// A heap entry carries its deadline: sifting compares deadlines in the heap's own array
    /// without touching the conditions (with 100,000 timers, each touch is a cache miss).
    struct Timer {
        gint64 deadline;
        LaneCondition* cond;
    };
    void heap_set(std::size_t i, Timer t) noexcept {
        heap_[i] = t;
        t.cond->heap_index_ = static_cast<std::uint32_t>(i);
    }

    int priority_;
    GSource* source_ = nullptr;
    LaneList idles_;
    LaneList* batch_ = nullptr;    // the batch of the innermost dispatch running now
    HandOver* handover_ = nullptr; // the closures of the innermost dispatch running now
    std::vector<Timer> heap_;      // 4-ary: half the depth of a binary heap, children share a line
    std::uint32_t next_seq_ = 0;   // numbers the timers queued (LaneCondition::heap_seq_)
    std::vector<std::function<void()>> local_;
    std::mutex inbox_mutex_;
    std::vector<std::function<void()>> inbox_;
    std::atomic<bool> inbox_flag_{false};
};

/// The tasklet runtime of one GMainContext.
class Scheduler {
public:
    /// The scheduler of the thread-default context, with a reference for the caller.
    static Scheduler* for_thread_default();

    void unref(std::uint32_t n = 1) noexcept;
    /// Gives back a reference from for_thread_default(): to this thread's stock when it is
    /// this thread's cached scheduler (no locked instruction), else unref().
    void release() noexcept;
    struct Cache;
    struct CacheReaper;
    GMainContext* context() const noexcept { return ctx_; }
    Lane& lane(int priority);
    /// The earliest timer deadline of all lanes (µs), G_MAXINT64 if none (for VirtualClock).
    gint64 next_deadline() const noexcept {
        gint64 d = G_MAXINT64;
        std::lock_guard lock(lanes_mutex_);
        for (const Lane* l : lanes_)
            d = std::min(d, l->next_deadline());
        return d;
    }
    /// True on the scheduler's home thread: the only one that runs its tasklets — the thread
    /// that created it, or, once that thread has exited, the next one that uses it.
    bool on_home_thread() const noexcept {
        return home_.load(std::memory_order_relaxed) == &tls_thread_marker;
    }
    /// Makes this thread the home if the home thread has exited; true if it did.
    bool adopt_if_orphaned() noexcept;
    struct HomeReaper;
    /// Runs `fn` on the home thread from the main loop. Any thread; wakes the context.
    void post(std::function<void()> fn) { default_lane().post(std::move(fn)); }
    /// Runs `fn` at the next iteration of the main loop. Home thread only.
    void defer(std::function<void()> fn) { default_lane().defer(std::move(fn)); }

    Scheduler(const Scheduler&) = delete;
    Scheduler& operator=(const Scheduler&) = delete;
    ~Scheduler();

private:
    explicit Scheduler(GMainContext* ctx);
    static Scheduler* acquire(GMainContext* ctx);
    static Scheduler* for_context_slow(GMainContext* ctx);
    bool try_ref() noexcept;
    void destroy() noexcept;
    /// The default-priority lane, made on first use: every lane is a source GLib prepares and
    /// checks on every iteration, so a context whose tasklets only wait for idles runs one
    /// source, not two. Any thread (post() may be the first user).
    Lane& default_lane() {
        Lane* l = default_lane_.load(std::memory_order_acquire);
        return l ? *l : add_lane(G_PRIORITY_DEFAULT);
    }
    Lane& add_lane(int priority);

    struct Registry {
        std::mutex mutex;
        std::unordered_map<GMainContext*, Scheduler*> map;
    };
    static Registry& registry() {
        static Registry r;
        return r;
    }

    std::atomic<std::uint32_t> refs_{1};
    GMainContext* ctx_;
    // Compared with &tls_thread_marker; null once the home thread has exited (a later thread
    // may get the same thread-local address, and must not pass for home by accident).
    std::atomic<const char*> home_;
    std::atomic<Lane*> default_lane_{nullptr};
    Lane* idle_lane_ = nullptr;      // home thread only
    mutable std::mutex lanes_mutex_; // lanes_ may grow from another thread (post())
    std::vector<Lane*> lanes_;
};

// ---- LaneList ---------------------------------------------------------------------------

inline void LaneList::push_back(LaneCondition* c) noexcept {
    c->list_ = this;
    c->lnext_ = nullptr;
    c->lprev_ = tail;
    if (tail)
        tail->lnext_ = c;
    else
        head = c;
    tail = c;
}

inline void LaneList::remove(LaneCondition* c) noexcept {
    (c->lprev_ ? c->lprev_->lnext_ : head) = c->lnext_;
    (c->lnext_ ? c->lnext_->lprev_ : tail) = c->lprev_;
    c->lprev_ = c->lnext_ = nullptr;
    c->list_ = nullptr;
}

inline LaneCondition* LaneList::pop_front() noexcept {
    LaneCondition* c = head;
    if (c)
        remove(c);
    return c;
}

inline void LaneList::take_all(LaneList& from) noexcept {
    for (LaneCondition* c = from.head; c; c = c->lnext_)
        c->list_ = this;
    if (from.empty())
        return;
    if (tail) {
        tail->lnext_ = from.head;
        from.head->lprev_ = tail;
    } else {
        head = from.head;
    }
    tail = from.tail;
    from.head = from.tail = nullptr;
}

// ---- Lane -------------------------------------------------------------------------------

inline GSourceFuncs* Lane::funcs() noexcept {
    static GSourceFuncs f = {&Lane::prepare,  &Lane::check, &Lane::dispatch,
                             &Lane::finalize, nullptr,      nullptr};
    return &f;
}

inline Lane* Lane::create(GMainContext* ctx, int priority) {
    auto lane = std::unique_ptr<Lane>(new Lane(priority));
    GSource* s = g_source_new(funcs(), sizeof(Source));
    std::atomic_ref<Lane*>(reinterpret_cast<Source*>(s)->lane)
        .store(lane.get(), std::memory_order_release);
    lane->source_ = s;
    g_source_set_priority(s, priority);
    // A tasklet may run a nested main loop; the lane must keep serving the others meanwhile.
    g_source_set_can_recurse(s, TRUE);
    g_source_set_static_name(s, "tasklet scheduler");
    g_source_attach(s, ctx);
    return lane.release(); // owned by the source from now on; freed in finalize()
}

inline void Lane::detach() noexcept {
    GSource* s = std::exchange(source_, nullptr);
    g_source_destroy(s);
    g_source_unref(s);
}

inline void Lane::finalize(GSource* s) noexcept { std::unique_ptr<Lane> owned(&of(s)); }

inline void Lane::push_idle(LaneCondition* c) noexcept { idles_.push_back(c); }

inline void Lane::push_timer(LaneCondition* c) {
    c->heap_lane_ = this;
    c->heap_seq_ = next_seq_++;
    heap_.push_back(Timer{c->deadline_, c});
    heap_up(heap_.size() - 1); // sets c->heap_index_
}

inline void Lane::remove(LaneCondition* c) noexcept {
    if (c->list_) {
        c->list_->remove(c);
    } else if (c->heap_index_ != LaneCondition::npos) {
        std::size_t i = c->heap_index_;
        c->heap_index_ = LaneCondition::npos;
        Timer last = heap_.back();
        heap_.pop_back();
        if (last.cond != c) {
            heap_set(i, last);
            heap_up(i);
            heap_down(last.cond->heap_index_);
        }
    }
}

inline void Lane::heap_up(std::size_t i) noexcept {
    Timer t = heap_[i];
    while (i > 0) {
        std::size_t parent = (i - 1) / 4;
        if (heap_[parent].deadline <= t.deadline)
            break;
        heap_set(i, heap_[parent]);
        i = parent;
    }
    heap_set(i, t);
}

inline void Lane::heap_down(std::size_t i) noexcept {
    Timer t = heap_[i];
    const std::size_t n = heap_.size();
    const Timer* h = heap_.data();
    for (;;) {
        const std::size_t first = 4 * i + 1;
        if (first >= n)
            break;
        // The earliest of the children (the leftmost on a tie). With all four present (the
        // usual case) that is three comparisons without a loop or bounds checks.
        std::size_t child = first;
        gint64 best = h[first].deadline;
        if (first + 3 < n) {
            const gint64 d1 = h[first + 1].deadline, d2 = h[first + 2].deadline,
                         d3 = h[first + 3].deadline;
            const std::size_t c01 = d1 < best ? first + 1 : first;
            const gint64 b01 = d1 < best ? d1 : best;
            const std::size_t c23 = d3 < d2 ? first + 3 : first + 2;
            const gint64 b23 = d3 < d2 ? d3 : d2;
            child = b23 < b01 ? c23 : c01;
            best = b23 < b01 ? b23 : b01;
        } else {
            for (std::size_t k = first + 1; k < n; ++k)
                if (h[k].deadline < best) {
                    best = h[k].deadline;
                    child = k;
                }
        }
        if (t.deadline <= best)
            break;
        heap_set(i, h[child]);
        i = child;
    }
    heap_set(i, t);
}

// Timers with equal deadlines fire in the order they were queued, as GLib's own timeouts
// do; the heap gives them in no particular order, so such a run — the last `n` of `list` —
// is sorted here (by a wrap-safe comparison of the sequence). Runs are rare and short in real
// time (deadlines are µs), and the rule under a virtual clock. Keeping the heap itself in
// that order measured 30 % slower with 100,000 timers: ties would make sifts go deeper and
// read the conditions.
inline void Lane::order_by_queueing(LaneList& list, std::size_t n) noexcept {
    LaneCondition* small[32];
    std::vector<LaneCondition*> big;
    LaneCondition** v = small;
    if (n > std::size(small)) {
        try {
            big.resize(n);
        } catch (...) {
            return; // out of memory: they fire in the order the heap gave them
        }
        v = big.data();
    }
    for (std::size_t i = n; i-- > 0;) {
        v[i] = list.tail;
        list.remove(list.tail);
    }
    std::sort(v, v + n, [](const LaneCondition* a, const LaneCondition* b) {
        return static_cast<std::int32_t>(a->heap_seq_ - b->heap_seq_) < 0;
    });
    for (std::size_t i = 0; i < n; ++i)
        list.push_back(v[i]);
}

inline void Lane::post(std::function<void()> fn) {
    // All under the lock: the home thread cannot take the inbox, run `fn` and so perhaps
    // drop the last reference on the scheduler (freeing this lane) before this call is done
    // with the lane. What `fn` holds keeps the scheduler alive until it has run.
    std::lock_guard lock(inbox_mutex_);
    inbox_.push_back(std::move(fn));
    inbox_flag_.store(true, std::memory_order_release);
    g_main_context_wakeup(g_source_get_context(source_));
}

inline void Lane::defer(std::function<void()> fn) { local_.push_back(std::move(fn)); }

inline gboolean Lane::prepare(GSource* s, gint* timeout) noexcept {
    Lane& l = of(s);
    *timeout = -1;
    if (l.has_immediate()) {
        *timeout = 0;
        return TRUE;
    }
    if (l.heap_.empty())
        return FALSE;
    gint64 now = l.now(s);
    gint64 due = l.heap_.front().deadline;
    if (due <= now) {
        *timeout = 0;
        return TRUE;
    }
    if (!clock_hook.now) // under a virtual clock only advancing it makes a timer due
        *timeout = static_cast<gint>(std::min<gint64>((due - now + 999) / 1000, G_MAXINT));
    return FALSE;
}

inline gboolean Lane::check(GSource* s) noexcept {
    Lane& l = of(s);
    return l.has_immediate() || (!l.heap_.empty() && l.heap_.front().deadline <= l.now(s));
}

inline void Lane::run_work(HandOver& h) noexcept {
    while (h.next < h.work.size()) {
        try {
            h.work[h.next++]();
        } catch (...) {
            log_callback_exception("a deferred call");
        }
    }
}

inline void Lane::run_handed_over() noexcept {
    if (handover_)
        run_work(*handover_); // nested: first what the dispatch further up did not run yet
    auto run_taken = [this](std::vector<std::function<void()>>& from) {
        HandOver h;
        h.work.swap(from);
        HandOver* outer = std::exchange(handover_, &h);
        run_work(h);
        handover_ = outer;
    };
    if (inbox_flag_.load(std::memory_order_acquire)) {
        std::vector<std::function<void()>> taken;
        {
            std::lock_guard lock(inbox_mutex_);
            taken.swap(inbox_);
            inbox_flag_.store(false, std::memory_order_relaxed);
        }
        run_taken(taken);
    }
    if (!local_.empty())
        run_taken(local_);
}

inline gboolean Lane::dispatch(GSource* s, GSourceFunc, gpointer) noexcept {
    Lane& l = of(s);
    l.run_handed_over();
    // Only timers need the time; reading it takes the context's lock, so an idle-only lane
    // skips it (a fired idle's requeue() ignores `now`). An outer batch taken over by a
    // nested dispatch may hold timers: then the time is read.
    l.run_batch(l.heap_.empty() && !l.batch_ ? 0 : l.now(s));
    return G_SOURCE_CONTINUE;
}

// Fires every timer that is due and every idle queued when the dispatch began, once each.
// The batch lives on this stack frame: a condition disarmed or destroyed meanwhile takes
// itself out of it, and one that fires and stays armed is re-queued for a later iteration.
// A tasklet may run a nested main loop from inside fire(): the nested dispatch then takes
// over what the outer batch had not fired yet, so no tasklet starves behind a modal loop.
inline void Lane::run_batch(gint64 now) noexcept {
    LaneList batch;
    if (batch_)
        batch.take_all(*batch_);
    LaneList* outer = std::exchange(batch_, &batch);
    gint64 run_deadline = 0; // the last timers taken, which share this deadline
    std::size_t run = 0;
    while (!heap_.empty() && heap_.front().deadline <= now) {
        // One of the root's children is the next to come out.
        for (std::size_t k = 1; k < 5 && k < heap_.size(); ++k)
            __builtin_prefetch(heap_[k].cond, 1);
        const gint64 deadline = heap_.front().deadline;
        LaneCondition* c = heap_.front().cond;
        remove(c);
        if (run != 0 && deadline == run_deadline) {
            ++run;
        } else {
            if (run > 1)
                order_by_queueing(batch, run);
            run_deadline = deadline;
            run = 1;
        }
        batch.push_back(c);
    }
    if (run > 1)
        order_by_queueing(batch, run);
    batch.take_all(idles_);
    while (LaneCondition* c = batch.pop_front()) {
        // With thousands of tasklets due at once, each one's frame is a cache miss: fetch
        // the next one's while this one runs.
        if (LaneCondition* next = batch.head)
            prefetch_owner(next);
        // An owner that is running (a nested main loop) keeps the event pending: the
        // condition waits off the lane until that is consumed (kept_armed()), so a due
        // timer or an idle does not keep the nested loop busy or starve lower priorities.
        if (c->fire() && !c->queued() && !c->event_pending())
            c->requeue(now);
    }
    batch_ = outer;
}

// ---- Scheduler --------------------------------------------------------------------------

/// Armed on a thread that is home to a scheduler: when the thread exits, its schedulers
/// lose their home, and the next thread that uses one (creates a tasklet on its context, or
/// gives back a reference from its main loop) becomes their home. The references counted on
/// the old thread pass to it: that thread can no longer touch them.
struct Scheduler::HomeReaper {
    bool armed = false;
    ~HomeReaper() {
        Registry& r = registry();
        std::lock_guard lock(r.mutex);
        for (auto& entry : r.map) {
            const char* me = &tls_thread_marker;
            entry.second->home_.compare_exchange_strong(me, nullptr, std::memory_order_acq_rel);
        }
    }
};
inline thread_local Scheduler::HomeReaper home_reaper;

inline Scheduler::Scheduler(GMainContext* ctx)
    : ctx_(g_main_context_ref(ctx)), home_(&tls_thread_marker) {
    home_reaper.armed = true; // constructs it: its destructor runs when this thread exits
}

inline bool Scheduler::adopt_if_orphaned() noexcept {
    const char* none = nullptr;
    if (home_.load(std::memory_order_relaxed) != nullptr ||
        !home_.compare_exchange_strong(none, &tls_thread_marker, std::memory_order_acq_rel))
        return false;
    home_reaper.armed = true;
    return true;
}

inline Scheduler::~Scheduler() {
    for (Lane* l : lanes_)
        l->detach();
    g_main_context_unref(ctx_);
}

inline Lane& Scheduler::lane(int priority) {
    if (priority == G_PRIORITY_DEFAULT)
        return default_lane();
    if (priority == G_PRIORITY_DEFAULT_IDLE && idle_lane_)
        return *idle_lane_;
    return add_lane(priority);
}

inline Lane& Scheduler::add_lane(int priority) {
    std::lock_guard lock(lanes_mutex_);
    for (Lane* l : lanes_)
        if (l->priority() == priority)
            return *l;
    lanes_.reserve(lanes_.size() + 1); // so that push_back cannot throw after create()
    Lane* l = Lane::create(ctx_, priority);
    lanes_.push_back(l);
    if (priority == G_PRIORITY_DEFAULT_IDLE)
        idle_lane_ = l;
    if (priority == G_PRIORITY_DEFAULT)
        default_lane_.store(l, std::memory_order_release);
    return *l;
}

inline bool Scheduler::try_ref() noexcept {
    std::uint32_t n = refs_.load(std::memory_order_relaxed);
    while (n != 0)
        if (refs_.compare_exchange_weak(n, n + 1, std::memory_order_relaxed))
            return true;
    return false;
}

inline void Scheduler::unref(std::uint32_t n) noexcept {
    if (refs_.fetch_sub(n, std::memory_order_acq_rel) == n)
        destroy();
}

// The last reference went away: out of line, as it is rare (inlined, it would weigh on every
// tasklet's destruction).
G_GNUC_NO_INLINE inline void Scheduler::destroy() noexcept {
    {
        Registry& r = registry();
        std::lock_guard lock(r.mutex);
        auto it = r.map.find(ctx_);
        if (it != r.map.end() && it->second == this)
            r.map.erase(it);
    }
    std::unique_ptr<Scheduler> dying(this);
}

inline Scheduler* Scheduler::acquire(GMainContext* ctx) {
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    auto it = r.map.find(ctx);
    if (it != r.map.end() && it->second->try_ref()) {
        it->second->adopt_if_orphaned();
        return it->second;
    }
    auto fresh = std::unique_ptr<Scheduler>(new Scheduler(ctx));
    r.map[ctx] = fresh.get();
    return fresh.release();
}

/// Each thread keeps the scheduler of the thread-default context it last created a tasklet
/// in (one reference), so creating tasklets in a loop takes no registry lock and does not
/// build and tear down lanes every time; plus a stock of references taken in bulk, so a
/// tasklet created and freed on this thread takes and gives back its reference without a
/// locked instruction. Trivially destructible: reaching it costs no guard; CacheReaper
/// gives everything back when the thread exits.
struct Scheduler::Cache {
    static constexpr std::uint32_t batch = 256;
    static constexpr std::uint32_t max_stock = 4 * batch;
    GMainContext* ctx;
    Scheduler* sched;
    std::uint32_t stock; // references on sched held for tasklets to come
    bool reaper_armed;
    bool closed; // the thread is exiting: references go straight back

    void drop() noexcept {
        if (Scheduler* s = std::exchange(sched, nullptr))
            s->unref(1 + std::exchange(stock, 0));
        ctx = nullptr;
    }
};
inline constinit thread_local Scheduler::Cache scheduler_cache{};

struct Scheduler::CacheReaper {
    bool armed = false;
    ~CacheReaper() {
        scheduler_cache.closed = true;
        scheduler_cache.drop();
    }
};
inline thread_local Scheduler::CacheReaper scheduler_cache_reaper;

inline Scheduler* Scheduler::for_thread_default() {
    GMainContext* ctx = g_main_context_get_thread_default();
    if (!ctx)
        ctx = g_main_context_default();
    Cache& cache = scheduler_cache;
    if (cache.ctx == ctx && cache.stock != 0) { // a closed cache holds no context
        --cache.stock;
        return cache.sched;
    }
    return for_context_slow(ctx);
}

// Another context than last time, or the stock ran out: kept out of line, so the usual
// case inlined into every tasklet's construction stays short.
G_GNUC_NO_INLINE inline Scheduler* Scheduler::for_context_slow(GMainContext* ctx) {
    Cache& cache = scheduler_cache;
    if (cache.ctx != ctx || cache.closed) {
        Scheduler* s = acquire(ctx);
        if (cache.closed)
            return s;
        cache.drop();
        cache.sched = s;
        cache.ctx = ctx;
        if (!cache.reaper_armed) {
            cache.reaper_armed = true;
            scheduler_cache_reaper.armed = true; // constructs it: its destructor empties the cache
        }
    }
    if (cache.stock == 0) {
        cache.sched->refs_.fetch_add(Cache::batch, std::memory_order_relaxed);
        cache.stock = Cache::batch;
    }
    --cache.stock;
    return cache.sched;
}

inline void Scheduler::release() noexcept {
    Cache& cache = scheduler_cache;
    if (cache.sched == this && cache.stock < Cache::max_stock) {
        ++cache.stock;
        return;
    }
    unref();
}

} // namespace tasklet::detail
