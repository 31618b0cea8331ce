// tasklet — internal: the coroutine promise shared by every tasklet, and its awaiters.
// Do not include directly; include <tasklet/tasklet.hpp>.
//
// The coroutine frame is the tasklet: one allocation holds the body's state, the promise
// (reference count, wait list, event, message queue) and the result. Handles count
// references; a running or suspended tasklet holds one on itself until it ends.
#pragma once

#include "../messages.hpp"
#include "../tasklet_type.hpp"
#include "../wait.hpp"
#include "scheduler.hpp"

#include <atomic>
#include <coroutine>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace tasklet::detail {

/// The tasklet whose body runs on this thread right now (null outside tasklets).
inline constinit thread_local PromiseBase* tls_current = nullptr;
/// A tasklet that just ended names here the tasklet awaiting it; the resume() loop that ran
/// the ended one resumes it next. A trampoline rather than symmetric transfer, so a chain of
/// 100,000 tasklets awaiting each other unwinds in constant stack even where the compiler
/// does not turn the transfer into a tail call (-O0, sanitizers).
inline constinit thread_local PromiseBase* tls_handoff = nullptr;
/// Set by deferred() for the promise it is about to create.
inline constinit thread_local bool tls_defer_next = false;

struct ActionEntry {
    const std::string* name;
    MessageAction action;
    WaitForMessages* cond;
};

struct JoinEntry {
    std::uint64_t id;
    std::function<void(AnyTasklet)> fn;
};

/// A queued message. Nodes never move: a message taken from the queue is delivered from
/// its node (the event points to it) until the receiver's next wait.
struct MessageNode {
    Message msg;
    MessageNode* prev;
    MessageNode* next;
};

/// Undelivered messages in arrival order: a doubly linked list of nodes, so that taking or
/// dropping a message anywhere is O(1) and moves nothing. Freed nodes are kept for reuse (a
/// few), so a steady flow of queued messages allocates nothing.
class MessageQueue {
public:
    MessageQueue() = default;
    MessageQueue(const MessageQueue&) = delete;
    MessageQueue& operator=(const MessageQueue&) = delete;
    ~MessageQueue() {
        clear();
        while (MessageNode* n = spare_) {
            spare_ = n->next;
            ::operator delete(n);
        }
    }

    bool empty() const noexcept { return head_ == nullptr; }
    MessageNode* front() const noexcept { return head_; }

    MessageNode* push_back(Message&& m) {
        MessageNode* n = spare_;
        if (n) {
            spare_ = n->next;
            --spare_count_;
        } else {
            n = static_cast<MessageNode*>(::operator new(sizeof(MessageNode)));
        }
        new (&n->msg) Message(std::move(m));
        n->prev = tail_;
        n->next = nullptr;
        (tail_ ? tail_->next : head_) = n;
        tail_ = n;
        return n;
    }
    /// Takes `n` out of the queue; its message stays in it until recycle(n).
    void unlink(MessageNode* n) noexcept {
        (n->prev ? n->prev->next : head_) = n->next;
        (n->next ? n->next->prev : tail_) = n->prev;
    }
    /// Destroys the message of an unlinked node and frees the node.
    void recycle(MessageNode* n) noexcept {
        n->msg.~Message();
        if (spare_count_ < max_spare) {
            n->next = spare_;
            spare_ = n;
            ++spare_count_;
        } else {
            ::operator delete(n);
        }
    }
    void clear() noexcept {
        while (MessageNode* n = head_) {
            unlink(n);
            recycle(n);
        }
    }

private:
    static constexpr std::size_t max_spare = 8;
    MessageNode* head_ = nullptr;
    MessageNode* tail_ = nullptr;
    MessageNode* spare_ = nullptr;
    std::size_t spare_count_ = 0;
};

/// What only some tasklets need; allocated on first use to keep the frame small.
struct Extras {
    // Out of line: inlined, it would weigh on every frame's destruction.
    G_GNUC_NO_INLINE ~Extras() {}
    MessageQueue queue;                // undelivered messages, arrival order
    MessageNode* unfiltered = nullptr; // the first not yet filtered against the actions
                                       // (those after it neither), or null
    std::vector<ActionEntry> actions;  // current message actions, resolved
    MessageNode* taken = nullptr;      // a queued message being delivered (unlinked)
    std::vector<JoinEntry> joins;      // join callbacks not yet run (a vector: an empty
                                       // std::deque allocates ~600 bytes)
    std::string name;
    std::shared_ptr<WaitCondition> keepalive; // a WaitForTasklet made by any() that fired
    std::shared_ptr<void> deferred_fn;        // the callable of deferred(), kept with the frame
};

/// Base of WaitForTasklet: waits for another tasklet to end.
class JoinWaiter : public WaitCondition {
public:
    ~JoinWaiter() override;
    /// True if it waits for the tasklet `t` is a handle to.
    bool waits_for(const AnyTasklet& t) const noexcept;
    struct Borrow {};

protected:
    explicit JoinWaiter(AnyTasklet target);
    /// For `co_await t`: borrows `target` and takes a reference of its own only when the
    /// wait may suspend (the target has not ended). Until then no other code runs, so the
    /// handle object is still there; while suspended, it might be reassigned. So the usual
    /// spawn-and-await (the target has already ended) pays no atomic copy of the handle.
    JoinWaiter(const AnyTasklet& target, Borrow);
    void arm() override;
    void disarm() override;
    PromiseBase& target() const noexcept;

    AnyTasklet target_;

private:
    void kept_armed() override;

    JoinWaiter* jprev_ = nullptr;
    JoinWaiter* jnext_ = nullptr;
    bool linked_ = false;
    bool borrowed_ = false; // target_ holds no reference (see Borrow)
    friend class PromiseBase;
    template <class, bool> friend class JoinAwaiter;
};

class PromiseBase {
public:
    PromiseBase();
    ~PromiseBase();
    PromiseBase(const PromiseBase&) = delete;
    PromiseBase& operator=(const PromiseBase&) = delete;

    // ---- references (biased reference counting)
    // On the tasklet's own thread (its scheduler's home) references are counted in
    // local_refs_ with plain instructions; other threads use the atomic shared_refs_, which
    // also holds one reference for all the local ones while there are any. A reference
    // taken on the home thread and dropped on another is handed back to the home thread
    // (posted to its main context), so local_refs_ is only ever touched there.

    /// Takes a reference for a new handle; true if it is counted as shared.
    bool ref() noexcept {
        if (sched_->on_home_thread()) {
            if (local_refs_++ == 0)
                shared_refs_.fetch_add(1, std::memory_order_relaxed);
            return false;
        }
        shared_refs_.fetch_add(1, std::memory_order_relaxed);
        return true;
    }
    /// Drops a reference taken by ref() (`shared` as it returned).
    void unref(bool shared) noexcept {
        if (!shared && sched_->on_home_thread()) {
            if (local_refs_ > 1) {
                --local_refs_; // the usual case, inline
                return;
            }
            unref_last_local();
            return;
        }
        unref_slow(shared);
    }
    /// The last local reference goes (on the home thread). If the token is all the shared
    /// count holds, no handle exists anywhere, so no other thread can be adding one: no
    /// locked instruction needed. (A thread dropping its last shared reference just now made
    /// the count 1 with a release that this acquire sees.)
    G_GNUC_NO_INLINE void unref_last_local() noexcept {
        local_refs_ = 0;
        if (shared_refs_.load(std::memory_order_acquire) == 1) {
            shared_refs_.store(0, std::memory_order_relaxed);
            destroy_frame(this);
            return;
        }
        unref_shared();
    }
    /// A shared reference, or a local one dropped on another thread than the home.
    G_GNUC_NO_INLINE void unref_slow(bool shared) noexcept {
        if (shared)
            unref_shared();
        else
            hand_back();
    }
    void unref_shared() noexcept {
        if (shared_refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            if (sched_->on_home_thread())
                destroy_frame(this);
            else
                destroy_on_home(); // its parameters and result may be GTK objects
        }
    }
    void hand_back() noexcept;
    void destroy_on_home() noexcept;
    static void destroy_frame(PromiseBase* p) noexcept;

    // ---- life cycle
    void start_now();
    void start();
    void resume() noexcept;
    /// The body has completed: true if nobody holds a handle (the frame is freed as the body
    /// completes), else false, the self reference dropped (which may have freed the frame).
    bool final_ready() noexcept;
    bool final_rare() noexcept;
    void final_cleanup() noexcept;
    void unhandled() noexcept;
    void cancel_here();
    void cancel();
    void rethrow_if_failed();
    bool ended() const noexcept { return state_ == State::zombie; }

    // ---- waiting
    bool begin_wait(WaitCondition* const* conds, std::size_t n);
    /// A wait whose event is already there, when no condition of an earlier wait is still
    /// armed and no cancellation is due: nothing to arm or disarm, the event is reset and
    /// the wait is over (true). False: use begin_wait().
    bool begin_wait_done() noexcept {
        if (head_ || cancel_requested_)
            return false;
        reset_event();
        return true;
    }
    bool finish_wait(WaitCondition* const* conds, std::size_t n);
    void begin_full_wait(WaitCondition* const* conds, std::size_t n);
    void reset_event() noexcept;
    void reset_extras_event() noexcept;
    void drop_keepalive() noexcept;
    void after_resume();
    Event& event() noexcept { return event_; }

    // ---- messages
    // By reference, and never copied on the way: a message accepted at once is delivered in
    // place (the event points to `m`, which outlives the receiver's run); one queued is
    // moved from `m` into the queue.
    void deliver(Message& m);
    void send(Message& m);
    void post_message(Message& m);

    // ---- join callbacks
    std::uint64_t add_join(std::function<void(AnyTasklet)> cb);
    bool remove_join(std::uint64_t id);

    Extras& extras() {
        if (!extras_)
            extras_ = std::make_unique<Extras>();
        return *extras_;
    }
    std::string describe() const;

    // The handle get_return_object() makes, and (unless deferred) the reference the running
    // tasklet holds on itself, are counted at construction (see PromiseBase()).
    std::uint32_t local_refs_ = 0;              // home thread only
    std::atomic<std::uint32_t> shared_refs_{0}; // other threads', +1 while local_refs_ > 0
    State state_ = State::suspended;
    bool cancelled_ = false;
    bool observed_ = false; // someone saw the exception it ended with
    // Touched on the home thread only: packed, so the counts above cost no frame space.
    // Set from the start unless deferred: the body starts in initial_suspend, before anyone
    // else sees the frame.
    bool started_ : 1 = true;
    bool deferred_ : 1 = false;
    bool resume_cancel_ : 1 = false;    // resumed by cancel(): the pending co_await throws
    bool cancel_requested_ : 1 = false; // cancel() while running: the next co_await throws
    bool actions_dirty_ : 1 = false;
    bool self_shared_ : 1 = false;     // how the self reference (and, until the body
                                       // starts, the first handle's) is counted
    std::uint8_t unused_bits_ : 2 = 0; // initialized, so the byte is stored whole
    std::uint16_t epoch_ = 0;          // equality only: a kept condition is always
                                       // stamped with the previous wait's
    Scheduler* sched_;
    std::coroutine_handle<> handle_;
    WaitCondition* head_ = nullptr; // armed conditions, in wait order
    WaitCondition* tail_ = nullptr;
    Event event_;
    JoinWaiter* waiters_ = nullptr; // WaitForTasklets waiting for this tasklet, FIFO
    union {
        JoinWaiter* waiters_tail_ = nullptr;
        // destroy_frame()'s queue. Shares the word: a dead tasklet has no waiters (they hold
        // handles), so waiters_tail_ is never read again once the frame is queued for death.
        PromiseBase* next_dead_;
    };
    std::exception_ptr error_;
    std::unique_ptr<Extras> extras_;

private:
    void link_back(WaitCondition* c) noexcept;
    void unlink(WaitCondition* c) noexcept;
    void disarm_one(WaitCondition* c) noexcept;
    void disarm_all() noexcept;
    void arm_one(WaitCondition* c);
    /// A cancel() that came while the tasklet was running: this co_await throws it.
    void throw_if_cancel_requested() {
        if (cancel_requested_) {
            cancel_requested_ = false;
            throw Cancelled();
        }
    }
    /// `c` is what resumes the tasklet (with message `m`, if any).
    void set_event(WaitCondition* c, Message* m = nullptr) noexcept;
    void log_dropped(const Message& m, const char* why) const;
    void resolve_actions();
    bool filter_queue(bool take);
    bool filter_pass(bool take, MessageNode*& dropped);
    // Out of line: drops are rare, and destructors inlined into filter_queue() weigh on every
    // wait that filters (+20 instructions per message in ping_pong).
    G_GNUC_NO_INLINE static void destroy_dropped(MessageNode* list) noexcept {
        while (MessageNode* n = list) {
            list = n->next;
            n->msg.~Message();
            ::operator delete(n);
        }
    }
    bool refilter_while_waiting(Message* m, AnyTasklet& keep);
    MessageNode* enqueue(Message& m, AnyTasklet& keep);
    const ActionEntry* action_for(const std::string& name) const noexcept;
    void end_without_running() noexcept;
    /// ~PromiseBase()'s rare part: logs an exception nobody observed, frees the extras.
    void end_rare() noexcept;
    void run_joins() noexcept;
    void run_joins_now() noexcept;
    PromiseBase* notify_waiters(bool allow_handoff) noexcept;
    void forget(WaitCondition* c) noexcept;
    friend class tasklet::WaitCondition;
    friend class JoinWaiter;
};

/// The awaiter of initial_suspend: starts the body at once unless created by deferred().
/// Empty, so it takes no room in the frame: the promise comes from the handle.
struct InitialAwaiter {
    bool await_ready() const noexcept { return false; }
    template <class P> void await_suspend(std::coroutine_handle<P> h) const {
        // The body runs inside this call, up to its first suspension; it may end and free
        // the frame: only the local reference is used.
        PromiseBase& promise = h.promise();
        if (!promise.deferred_)
            promise.resume(); // started_ is set already
    }
    void await_resume() const noexcept {}
};

/// The awaiter of final_suspend: ends the tasklet and hands over to the tasklet awaiting it.
/// Empty, so it takes no room in the frame: the promise comes from the handle.
struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
    // Not suspending (false: the frame is freed as the body completes) when nobody holds a
    // handle; else final_ready() has dropped the self reference, which may have freed it.
    template <class P> bool await_suspend(std::coroutine_handle<P> h) noexcept {
        return !h.promise().final_ready();
    }
    void await_resume() const noexcept {}
};

template <class T> class PromiseStorage : public PromiseBase {
public:
    void return_value(const T& v) { value_.emplace(v); }
    void return_value(T&& v) { value_.emplace(std::move(v)); }
    T& value() {
        rethrow_if_failed();
        return *value_;
    }

private:
    std::optional<T> value_;
};

template <> class PromiseStorage<void> : public PromiseBase {
public:
    void return_void() noexcept {}
    void value() { rethrow_if_failed(); }
};

[[noreturn]] inline void throw_not_ended(const char* caller) {
    throw std::logic_error(std::string("tasklet: ") + caller + ": the tasklet has not ended");
}

/// The result of the tasklet of `p`, which must have ended: its value, or the exception it
/// ended with, rethrown. Before it has ended: std::logic_error naming `caller`.
template <class T> std::add_lvalue_reference_t<T> ended_result(PromiseBase& p, const char* caller) {
    if (!p.ended())
        throw_not_ended(caller);
    return static_cast<PromiseStorage<T>&>(p).value();
}

#if defined(__SANITIZE_ADDRESS__)
#define TASKLET_FRAME_POOL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TASKLET_FRAME_POOL 0
#endif
#endif
#ifndef TASKLET_FRAME_POOL
#define TASKLET_FRAME_POOL 1
#endif

/// Coroutine frames come from a per-thread cache of freed frames, by size (16-byte classes up
/// to 1016 bytes), so a tasklet spawned in a loop costs no trip to malloc. The memory is plain
/// operator new memory: a frame freed on another thread simply joins that thread's cache,
/// and any thread may hand it back to operator delete. Each class keeps at most a few frames
/// and a thread's cache is emptied when the thread exits. Off under AddressSanitizer, so a
/// use of a freed frame is still caught.
struct FrameCache {
    static constexpr std::size_t step = 16;
    static constexpr std::size_t classes = 64;
    static constexpr std::uint8_t per_class = 32;
    // Class k holds sizes 16k-7 .. 16k+8, allocated as 16k+8: with glibc's 8-byte chunk
    // header that is a whole number of 16-byte units, so rounding up wastes no memory.
    static constexpr std::size_t size_class(std::size_t n) noexcept { return (n + 7) / step; }
    static constexpr std::size_t class_size(std::size_t k) noexcept { return k * step + 8; }
    struct Node {
        Node* next;
    };
    Node* head[classes];
    std::uint8_t count[classes];
    bool reaper_armed; // and the thread is not exiting: frames freed can be cached
    bool closed;       // the thread is exiting: frames freed from now on go straight back
};
// Trivially destructible, so reaching it costs no guard; the reaper frees what it holds.
inline constinit thread_local FrameCache frame_cache{};

struct FrameReaper {
    bool armed = false;
    ~FrameReaper() {
        frame_cache.closed = true;
        frame_cache.reaper_armed = false;
        for (FrameCache::Node*& h : frame_cache.head)
            while (FrameCache::Node* f = h) {
                h = f->next;
                ::operator delete(f);
            }
    }
};
inline thread_local FrameReaper frame_reaper;

inline void* allocate_frame(std::size_t n) {
#if TASKLET_FRAME_POOL
    std::size_t k = FrameCache::size_class(n);
    if (k < FrameCache::classes) {
        FrameCache& c = frame_cache;
        if (FrameCache::Node* f = c.head[k]) {
            c.head[k] = f->next;
            --c.count[k];
            return f;
        }
        return ::operator new(FrameCache::class_size(k));
    }
#endif
    return ::operator new(n);
}

#if TASKLET_FRAME_POOL
inline void cache_frame(void* p, std::size_t k) noexcept {
    FrameCache& c = frame_cache;
    auto* f = static_cast<FrameCache::Node*>(p);
    f->next = c.head[k];
    c.head[k] = f;
    ++c.count[k];
}

/// The first frame this thread frees, or one it cannot cache.
G_GNUC_NO_INLINE inline void free_frame_slow(void* p, std::size_t k) noexcept {
    FrameCache& c = frame_cache;
    if (k < FrameCache::classes && c.count[k] < FrameCache::per_class && !c.closed) {
        c.reaper_armed = true;
        frame_reaper.armed = true; // constructs it: its destructor empties the cache
        cache_frame(p, k);
        return;
    }
    ::operator delete(p);
}
#endif

[[gnu::always_inline]] inline void free_frame(void* p, std::size_t n) noexcept {
#if TASKLET_FRAME_POOL
    std::size_t k = FrameCache::size_class(n);
    FrameCache& c = frame_cache;
    if (k < FrameCache::classes && c.count[k] < FrameCache::per_class && c.reaper_armed) {
        cache_frame(p, k);
        return;
    }
    free_frame_slow(p, k);
#else
    (void)n;
    ::operator delete(p);
#endif
}

template <class T> class Promise : public PromiseStorage<T> {
public:
    static void* operator new(std::size_t n) { return allocate_frame(n); }
    static void operator delete(void* p, std::size_t n) noexcept { free_frame(p, n); }

    Tasklet<T> get_return_object() noexcept;
    InitialAwaiter initial_suspend() noexcept { return {}; }
    FinalAwaiter final_suspend() noexcept { return {}; }
    void unhandled_exception() noexcept { this->unhandled(); }
};

/// Reaches what the public classes keep private.
struct Access {
    static PromiseBase* promise(const AnyTasklet& t) noexcept { return t.ptr(); }
    template <class T> static Tasklet<T> adopt(PromiseBase* p, bool shared) noexcept {
        return Tasklet<T>(p, AnyTasklet::Adopt{shared});
    }
    template <class T> static Tasklet<T> share_as(PromiseBase* p) noexcept {
        return adopt<T>(p, p->ref());
    }
    static AnyTasklet share(PromiseBase* p) noexcept {
        return AnyTasklet(p, AnyTasklet::Adopt{p->ref()});
    }
    /// A handle that holds no reference: give it up with forget(), never let it drop one.
    static AnyTasklet borrow(const AnyTasklet& t) noexcept {
        return AnyTasklet(t.ptr(), AnyTasklet::Adopt{});
    }
    static void forget(AnyTasklet& t) noexcept { t.p_ = 0; }
    static PromiseBase* owner(const WaitCondition& c) noexcept { return c.owner_; }
    /// True while a fire() made when the owner was not suspended awaits its next wait.
    static bool pending(const WaitCondition& c) noexcept { return c.pending_; }
    /// Forgets such a fire (the event it stood for no longer counts).
    static void drop_pending(WaitCondition& c) noexcept { c.pending_ = false; }
    template <class C> static decltype(auto) await_result(C& c, PromiseBase& p) {
        if constexpr (requires { c.await_result(); })
            return c.await_result();
        else
            return (p.event());
    }
    static const std::vector<std::pair<std::string, MessageAction>>&
    actions(const WaitForMessages& w) noexcept {
        return w.actions_;
    }
    static bool fire_message(WaitCondition& c, Message* m) { return c.fire_impl(m); }
};

template <class T> Tasklet<T> Promise<T>::get_return_object() noexcept {
    this->handle_ = std::coroutine_handle<Promise>::from_promise(*this);
    return Access::adopt<T>(this, this->self_shared_);
}

template <class P> PromiseBase& promise_of(std::coroutine_handle<P> h) {
    static_assert(std::is_base_of_v<PromiseBase, P>,
                  "tasklet awaitables can only be awaited inside a tasklet body");
    return h.promise();
}

/// `co_await cond` on one condition.
template <class C> class SingleAwaiter {
public:
    explicit SingleAwaiter(C& c) noexcept : c_(c) {}
    bool await_ready() const noexcept { return false; }
    template <class P> bool await_suspend(std::coroutine_handle<P> h) {
        WaitCondition* c = &c_;
        return !promise_of(h).begin_wait(&c, 1);
    }
    // The tasklet resumed is the one running: no promise pointer is kept in the frame.
    decltype(auto) await_resume() {
        PromiseBase& p = *tls_current;
        p.after_resume();
        return Access::await_result(c_, p);
    }

private:
    C& c_;
};

/// `co_await any(...)` with N arguments, K of them tasklet handles (waited for by
/// WaitForTasklets this awaiter owns).
template <std::size_t N, std::size_t K> class AnyAwaiter {
public:
    bool await_ready() const noexcept { return false; }
    template <class P> bool await_suspend(std::coroutine_handle<P> h) {
        p_ = &promise_of(h);
        return !p_->begin_wait(conds_.data(), N);
    }
    Event& await_resume() {
        p_->after_resume();
        // get_event() must stay valid until the next suspension, after this awaiter is gone
        // (shared: the awaiter, kept in a variable, may be awaited again).
        for (auto& w : owned_)
            if (p_->event_.condition() == w.get())
                p_->extras().keepalive = w;
        return p_->event_;
    }

    void add(WaitCondition& c) noexcept { conds_[n_++] = &c; }
    void add(const AnyTasklet& t);

private:
    std::array<WaitCondition*, N> conds_{};
    std::array<std::shared_ptr<WaitForTasklet<void>>, K> owned_;
    std::size_t n_ = 0;
    std::size_t k_ = 0;
    PromiseBase* p_ = nullptr;
};

/// `co_await any(span)`.
class SpanAwaiter {
public:
    explicit SpanAwaiter(std::span<WaitCondition* const> conds) noexcept : conds_(conds) {}
    bool await_ready() const noexcept { return false; }
    template <class P> bool await_suspend(std::coroutine_handle<P> h) {
        p_ = &promise_of(h);
        return !p_->begin_wait(conds_.data(), conds_.size());
    }
    Event& await_resume() {
        p_->after_resume();
        return p_->event_;
    }

private:
    std::span<WaitCondition* const> conds_;
    PromiseBase* p_ = nullptr;
};

/// `co_await Message(...)`: delivers synchronously and never suspends.
class SendAwaiter {
public:
    /// `co_await Message(...)`: the temporary lives until the co_await completes, and the
    /// message is delivered from there.
    explicit SendAwaiter(Message& m) noexcept : m_(&m) {}
    /// `co_await message` on an lvalue: a copy is sent.
    explicit SendAwaiter(const Message& m, bool) : own_(m), m_(&*own_) {}
    SendAwaiter(const SendAwaiter&) = delete;
    SendAwaiter& operator=(const SendAwaiter&) = delete;
    bool await_ready() const noexcept { return false; }
    template <class P> bool await_suspend(std::coroutine_handle<P> h) {
        promise_of(h).send(*m_);
        return false;
    }
    void await_resume() const noexcept {}

private:
    std::optional<Message> own_;
    Message* m_;
};

} // namespace tasklet::detail
