// tasklet — internal: definitions of the core runtime (handles, waiting, messages, joins).
// Do not include directly; include <tasklet/tasklet.hpp>.
#pragma once

#include "promise.hpp"
#include "scheduler.hpp"

#include <stdexcept>
#include <string>
#include <type_traits>

namespace tasklet {

namespace detail {

inline std::string describe_exception(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        return ex.what();
    } catch (...) {
        return "unknown exception (not derived from std::exception)";
    }
}

inline std::atomic<std::uint64_t> next_join_id{1};

// ---- PromiseBase: life cycle -------------------------------------------------------------

inline PromiseBase::PromiseBase() : sched_(Scheduler::for_thread_default()) {
    // The handle get_return_object() makes and, unless deferred, the self reference (the
    // body starts before anyone else sees the frame): counted now, with plain stores.
    std::uint32_t n = 2;
    if (tls_defer_next) { // made by deferred(): a read, not a write, in the usual case
        deferred_ = true;
        started_ = false;
        tls_defer_next = false;
        n = 1;
    }
    // (Not home, rarely: maybe the home thread has exited; then this one adopts it.)
    if (sched_->on_home_thread() || sched_->adopt_if_orphaned()) {
        local_refs_ = n;
        shared_refs_.store(1, std::memory_order_relaxed);
    } else {
        self_shared_ = true;
        shared_refs_.store(n, std::memory_order_relaxed);
    }
}

// Short, so that it inlines into every frame's destroy: what only a tasklet that failed or
// used its extras needs is out of line.
[[gnu::always_inline]] inline PromiseBase::~PromiseBase() {
    if (error_ || extras_) [[unlikely]]
        end_rare();
    sched_->release();
}

G_GNUC_NO_INLINE inline void PromiseBase::end_rare() noexcept {
    if (error_ && !observed_ && !cancelled_) {
        std::string what = describe_exception(error_);
        g_log(log_domain, G_LOG_LEVEL_CRITICAL,
              "%s ended with an exception that nobody observed: %s", describe().c_str(),
              what.c_str());
    }
    extras_.reset();
}

// Frees a frame whose last reference went away. A frame owns handles of other tasklets (its
// parameters, its locals' results), so freeing one may free another: a thread-local queue
// turns that cascade into a loop, so a chain of 100,000 tasklets frees in constant stack.
inline void PromiseBase::destroy_frame(PromiseBase* p) noexcept {
    static thread_local PromiseBase* queue = nullptr;
    static thread_local bool active = false;
    if (active) {
        p->next_dead_ = queue;
        queue = p;
        return;
    }
    active = true;
    p->handle_.destroy();
    while (queue) {
        PromiseBase* next = std::exchange(queue, queue->next_dead_);
        next->handle_.destroy();
    }
    active = false;
}

// The last reference went away on another thread than the home: the frame (its parameters,
// its result, what deferred() keeps) is destroyed on the home thread, from its main loop,
// like a handed-back reference. The frame keeps the scheduler alive meanwhile.
G_GNUC_NO_INLINE inline void PromiseBase::destroy_on_home() noexcept {
    try {
        sched_->post([this] { destroy_frame(this); });
    } catch (...) { // out of memory: here, rather than never
        destroy_frame(this);
    }
}

// A reference counted on the home thread, dropped on another: the home thread drops it.
G_GNUC_NO_INLINE inline void PromiseBase::hand_back() noexcept {
    try {
        sched_->post([this] {
            sched_->adopt_if_orphaned(); // the thread that counted it may be gone
            if (sched_->on_home_thread()) {
                unref(false);
                return;
            }
            // The context runs on another thread than its tasklets' home (not supported):
            // handing the reference back again would go round forever.
            g_log(log_domain, G_LOG_LEVEL_CRITICAL,
                  "%s: its context is run by another thread than the one its tasklets belong "
                  "to (not supported); a handle's reference cannot be given back: the frame "
                  "is leaked",
                  describe().c_str());
        });
    } catch (...) { // out of memory: the frame is never freed, but nothing breaks
        g_log(log_domain, G_LOG_LEVEL_CRITICAL,
              "could not hand a tasklet reference back to its thread: the frame is leaked");
    }
}

inline std::string PromiseBase::describe() const {
    if (extras_ && !extras_->name.empty())
        return "tasklet '" + extras_->name + "'";
    char buf[48];
    g_snprintf(buf, sizeof buf, "tasklet %p", static_cast<const void*>(this));
    return buf;
}

// The caller has counted the reference the tasklet keeps on itself until it ends.
inline void PromiseBase::start_now() {
    started_ = true;
    resume();
}

inline void PromiseBase::start() {
    if (started_ || ended())
        throw std::logic_error(std::string("tasklet: start(): the tasklet ") +
                               (started_ ? "was already started" : "has ended (cancelled)"));
    self_shared_ = ref(); // the tasklet keeps itself alive until it ends
    start_now();
}

inline void PromiseBase::resume() noexcept {
    PromiseBase* prev = tls_current;
    PromiseBase* p = this;
    do {
        // The thread that resumes a tasklet runs its context: if the home thread has
        // exited, this one becomes the home (it may never create a tasklet there).
        if (!p->sched_->on_home_thread()) [[unlikely]]
            p->sched_->adopt_if_orphaned();
        tls_current = p;
        p->state_ = State::running;
        p->handle_.resume(); // `p` may be freed from here on
        p = std::exchange(tls_handoff, nullptr);
    } while (p);
    tls_current = prev;
}

inline void PromiseBase::unhandled() noexcept {
    error_ = std::current_exception();
    try {
        throw;
    } catch (const Cancelled&) {
        cancelled_ = true;
    } catch (...) {
    }
}

inline bool PromiseBase::final_ready() noexcept {
    state_ = State::zombie;
    // A tasklet that armed nothing, has no extras and no waiters (one spawned and awaited
    // after it ended) skips the rest.
    if (head_ || extras_ || waiters_) {
        final_cleanup();
    } else {
        event_ = Event{};
        tls_current = nullptr;
    }
    // The usual case, first: a handle is held on the home thread (one spawned and awaited),
    // so the frame stays and the self reference goes, as unref() would drop it.
    if (!self_shared_ && sched_->on_home_thread() && local_refs_ > 1) {
        --local_refs_;
        return false;
    }
    return final_rare();
}

// Nobody holds a handle (the frame is freed as the body completes), or a handle is held on
// another thread, or the tasklet runs on another thread than its home.
G_GNUC_NO_INLINE inline bool PromiseBase::final_rare() noexcept {
    // Nobody holds a handle: the frame is freed as the body completes. (Another thread
    // could only add a reference by copying a handle it holds, which would show here.)
    bool alone = local_refs_ == (self_shared_ ? 0u : 1u) &&
                 shared_refs_.load(std::memory_order_acquire) == 1;
    if (!tls_handoff && alone) {
        local_refs_ = 0;
        shared_refs_.store(0, std::memory_order_relaxed);
        return true;
    }
    unref(self_shared_); // may free the frame
    return false;
}

G_GNUC_NO_INLINE inline void PromiseBase::final_cleanup() noexcept {
    disarm_all(); // inside the tasklet still, as in any other wait (get_event() works)
    event_ = Event{};
    if (extras_) {
        extras_->queue.clear();
        extras_->unfiltered = nullptr;
        extras_->actions.clear();
        if (MessageNode* n = std::exchange(extras_->taken, nullptr))
            extras_->queue.recycle(n);
        extras_->keepalive.reset();
    }
    // Join callbacks and waiters run as if from the main loop, not inside this tasklet.
    tls_current = nullptr;
    run_joins();
    tls_handoff = notify_waiters(true);
}

inline void PromiseBase::end_without_running() noexcept {
    state_ = State::zombie;
    cancelled_ = true;
    error_ = std::make_exception_ptr(Cancelled());
    if (extras_) { // what was queued for it, and the senders those messages hold, go now
        extras_->queue.clear();
        extras_->unfiltered = nullptr;
    }
    run_joins();
    notify_waiters(false);
}

inline void PromiseBase::cancel_here() {
    switch (state_) {
    case State::zombie:
        return;
    case State::suspended:
        if (!started_) {
            AnyTasklet keep = Access::share(this);
            end_without_running();
            return;
        }
        resume_cancel_ = true;
        resume();
        return;
    case State::running:
    case State::msgsend:
        cancel_requested_ = true;
        return;
    }
}

inline void PromiseBase::cancel() {
    if (sched_->on_home_thread()) {
        cancel_here();
        return;
    }
    sched_->post([t = Access::share(this)] { Access::promise(t)->cancel_here(); });
}

inline void PromiseBase::rethrow_if_failed() {
    if (error_) {
        observed_ = true;
        std::rethrow_exception(error_);
    }
}

// ---- PromiseBase: waiting ----------------------------------------------------------------

inline void PromiseBase::link_back(WaitCondition* c) noexcept {
    c->next_ = nullptr;
    c->prev_ = tail_;
    (tail_ ? tail_->next_ : head_) = c;
    tail_ = c;
}

inline void PromiseBase::unlink(WaitCondition* c) noexcept {
    (c->prev_ ? c->prev_->next_ : head_) = c->next_;
    (c->next_ ? c->next_->prev_ : tail_) = c->prev_;
    c->prev_ = c->next_ = nullptr;
}

inline void PromiseBase::disarm_one(WaitCondition* c) noexcept {
    // disarm() is user code: it may destroy the condition itself (it let go of what owns
    // it). The destructor unlinks it (forget()) and reports it through this flag; armed() is
    // already false, so a subclass destructor does not call disarm() a second time.
    bool destroyed = false;
    bool* outer = std::exchange(c->destroyed_, &destroyed);
    c->armed_ = false;
    try {
        c->disarm();
    } catch (...) {
        log_callback_exception("WaitCondition::disarm()");
    }
    if (destroyed) {
        if (outer)
            *outer = true;
        return;
    }
    c->destroyed_ = outer;
    unlink(c);
    c->owner_ = nullptr;
    c->armed_ = c->pending_ = c->triggered_ = false;
    if (c->is_messages_)
        actions_dirty_ = true;
}

inline void PromiseBase::disarm_all() noexcept {
    while (head_)
        disarm_one(head_);
}

// A condition being destroyed: it has stopped its own watching already.
inline void PromiseBase::forget(WaitCondition* c) noexcept {
    unlink(c);
    if (event_.cond_ == c)
        event_.cond_ = nullptr;
    if (c->is_messages_) {
        actions_dirty_ = true;
        // A WaitForMessages of the wait under way is gone: a queued message that the
        // actions left now accept is delivered from the main loop, soon after.
        if (state_ == State::suspended && started_ && extras_ && !extras_->queue.empty()) {
            try {
                sched_->defer([t = Access::share(this)] {
                    PromiseBase* p = Access::promise(t);
                    AnyTasklet none;
                    if (p->state_ == State::suspended && p->actions_dirty_)
                        p->refilter_while_waiting(nullptr, none);
                });
            } catch (...) { // out of memory: delivered with the next message or wait instead
            }
        }
    }
}

// The actions changed while the tasklet waits (a WaitForMessages of its wait was destroyed):
// the queue is filtered against them, and the first message they accept, in arrival order,
// is delivered — before `m`, if a message is arriving, which then queues behind it. False
// if none is accepted (`m` untouched).
// The messages it drops are destroyed last, after the delivery (see filter_queue()).
inline bool PromiseBase::refilter_while_waiting(Message* m, AnyTasklet& keep) {
    resolve_actions();
    MessageNode* dropped = nullptr;
    // Takes the first accepted into the event, as a wait does.
    const bool took = filter_pass(true, dropped);
    if (took) {
        if (m)
            extras_->unfiltered = enqueue(*m, keep); // filtered at the next wait
        Access::fire_message(*event_.cond_, event_.msg_);
    }
    destroy_dropped(dropped); // touches nothing of this tasklet, which may be gone
    return took;
}

inline void PromiseBase::arm_one(WaitCondition* c) {
    c->owner_ = this;
    c->armed_ = true;
    c->pending_ = false;
    link_back(c);
    if (c->is_messages_)
        actions_dirty_ = true;
    try {
        c->arm(); // may fire() at once: the event is then pending
    } catch (...) {
        unlink(c);
        c->owner_ = nullptr;
        c->armed_ = c->pending_ = false;
        throw;
    }
}

// Starts a wait on `conds` (in wait order). Conditions of the previous wait that are part of
// this one stay armed; the others are disarmed. Returns true when an event is already there
// (a pending fire, or a queued message now accepted): the co_await completes at once.
inline bool PromiseBase::begin_wait(WaitCondition* const* conds, std::size_t n) {
    if (n == 1 && conds[0] == head_ && head_ && !head_->next_) {
        // The usual loop body: one condition, the one the previous wait was on.
        throw_if_cancel_requested();
        reset_event();
        head_->triggered_ = false;
        head_->kept_armed();
    } else if (n == 1 && !head_ && conds[0] && !conds[0]->owner_) {
        // The other usual one: one fresh condition (`co_await WaitForTimeout(10)`), nothing
        // armed from before. Stamped with the current epoch, which the next full wait passes.
        throw_if_cancel_requested();
        reset_event();
        conds[0]->epoch_ = epoch_;
        arm_one(conds[0]);
    } else {
        begin_full_wait(conds, n);
    }
    return finish_wait(conds, n); // one call site: inlined
}

// Any wait: checks the arguments, disarms what the previous wait armed and this one does
// not include, keeps what it includes (in this wait's order), arms the rest.
inline void PromiseBase::begin_full_wait(WaitCondition* const* conds, std::size_t n) {
    if (n == 0)
        throw std::invalid_argument("tasklet: any() needs at least one condition");
    for (std::size_t i = 0; i < n; ++i) {
        if (!conds[i])
            throw std::invalid_argument("tasklet: any(): null condition");
        if (conds[i]->owner_ && conds[i]->owner_ != this)
            throw std::logic_error("tasklet: the condition is armed by another tasklet");
    }
    throw_if_cancel_requested();
    reset_event();
    ++epoch_;
    for (std::size_t i = 0; i < n; ++i)
        conds[i]->epoch_ = epoch_;
    // disarm() is user code that may destroy other conditions of the list (they unlink
    // themselves): the walk goes on from the last condition kept (stamped for this wait, so
    // never disarmed here), not from a `next` saved before the call.
    WaitCondition* kept = nullptr;
    for (WaitCondition* c = head_; c; c = kept ? kept->next_ : head_) {
        c->triggered_ = false;
        if (c->epoch_ != epoch_)
            disarm_one(c);
        else
            kept = c;
    }
    if (extras_)
        drop_keepalive();
    std::size_t message_conds = 0;
    for (std::size_t i = 0; i < n; ++i)
        message_conds += conds[i]->is_messages_ ? 1 : 0;
    for (std::size_t i = 0; i < n; ++i) {
        WaitCondition* c = conds[i];
        if (c->armed_) {
            unlink(c); // keep the list in wait order: "the later one wins" for messages
            link_back(c);
            // With several WaitForMessages the order decides which wins: re-resolve them.
            if (c->is_messages_ && message_conds > 1)
                actions_dirty_ = true;
            c->kept_armed();
        } else {
            arm_one(c);
        }
    }
}

inline void PromiseBase::set_event(WaitCondition* c, Message* m) noexcept {
    c->triggered_ = true;
    event_.cond_ = c;
    event_.msg_ = m;
}

// Short and inline: a tasklet with no extras (most) only clears its event.
inline void PromiseBase::reset_event() noexcept {
    event_ = Event{};
    if (extras_)
        reset_extras_event();
}

G_GNUC_NO_INLINE inline void PromiseBase::reset_extras_event() noexcept {
    if (MessageNode* n = std::exchange(extras_->taken, nullptr))
        extras_->queue.recycle(n);
    drop_keepalive();
}

// The WaitForTasklet that any() made and that fired lives until the next wait — longer if
// that wait awaits it again (through get_event()): then it is armed, and goes once a wait
// leaves it out.
inline void PromiseBase::drop_keepalive() noexcept {
    if (extras_->keepalive && !extras_->keepalive->armed_)
        extras_->keepalive.reset();
}

// The conditions are armed: resolves the message actions if they changed, then looks for
// an event that is already there — a pending fire, else an accepted queued message.
inline bool PromiseBase::finish_wait(WaitCondition* const* conds, std::size_t n) {
    if (actions_dirty_)
        resolve_actions();
    bool queued = extras_ && !extras_->queue.empty();
    for (std::size_t i = 0; i < n; ++i) {
        WaitCondition* c = conds[i];
        if (c->pending_) {
            if (queued && extras_->unfiltered)
                filter_queue(false);
            c->pending_ = false;
            set_event(c);
            return true;
        }
    }
    // One pass filters what arrived since the last wait and takes the first accepted message
    // (it may also be one queued earlier: a wait takes one message at a time).
    if (queued && filter_queue(true))
        return true;
    // Arming runs user code (a call's starter, a handler run by the previous wait's
    // disarm): a cancel made there must not be left for a wait that may never end. The
    // co_await completes at once and throws Cancelled, its conditions armed, as for any
    // cancel. (With an event already there, that is delivered, and the next co_await throws.)
    if (cancel_requested_) [[unlikely]] {
        cancel_requested_ = false;
        resume_cancel_ = true;
        return true;
    }
    state_ = State::suspended;
    return false;
}

inline void PromiseBase::after_resume() {
    if (resume_cancel_) {
        resume_cancel_ = false;
        event_ = Event{};
        throw Cancelled();
    }
}

// ---- PromiseBase: messages ---------------------------------------------------------------

// Message names are short: compared in place rather than through a call to memcmp.
inline bool same_name(const std::string& a, const std::string& b) noexcept {
    const std::size_t n = a.size();
    if (n != b.size())
        return false;
    const char* p = a.data();
    const char* q = b.data();
    for (std::size_t i = 0; i < n; ++i)
        if (p[i] != q[i])
            return false;
    return true;
}

inline const ActionEntry* PromiseBase::action_for(const std::string& name) const noexcept {
    if (!extras_)
        return nullptr;
    for (const ActionEntry& e : extras_->actions)
        if (same_name(*e.name, name))
            return &e;
    return nullptr;
}

// Resolves the current actions from the armed WaitForMessages (later in the wait wins). The
// whole queue is then filtered again against them.
inline void PromiseBase::resolve_actions() {
    Extras& x = extras();
    x.actions.clear();
    for (WaitCondition* c = head_; c; c = c->next_) {
        if (!c->is_messages_)
            continue;
        auto* w = static_cast<WaitForMessages*>(c);
        for (const auto& [name, action] : Access::actions(*w)) {
            ActionEntry* found = nullptr;
            for (ActionEntry& e : x.actions)
                if (*e.name == name)
                    found = &e;
            if (found)
                *found = ActionEntry{&name, action, w};
            else
                x.actions.push_back(ActionEntry{&name, action, w});
        }
    }
    actions_dirty_ = false;
    x.unfiltered = x.queue.front();
}

// Drops the messages that arrived since the queue was last filtered and whose name is
// discarded or has no action. With `take`, also delivers the first accepted message (in
// arrival order) into the event, from its node (returns true). For a running tasklet (a
// wait under way).
//
// Destroying a message runs user code — its value's destructor, or the end of a tasklet
// only its sender handle kept — which may send this tasklet a message or cancel it. So the
// dropped ones are destroyed after the pass, when the queue and the event are consistent;
// what arrived meanwhile is filtered by another pass.
inline bool PromiseBase::filter_queue(bool take) {
    for (;;) {
        MessageNode* dropped = nullptr;
        const bool took = filter_pass(take, dropped);
        if (!dropped)
            return took;
        destroy_dropped(dropped);
        if (took || !extras_->unfiltered)
            return took;
    }
}

// One pass of filter_queue(): the dropped messages are unlinked onto `dropped`, undestroyed.
inline bool PromiseBase::filter_pass(bool take, MessageNode*& dropped) {
    Extras& x = *extras_;
    const ActionEntry* taken = nullptr;
    MessageNode* n = x.queue.front();
    auto take_node = [&](MessageNode* node, const ActionEntry* e) {
        x.queue.unlink(node);
        x.taken = node;
        if (!node->msg.dest)
            node->msg.dest = Access::share(this); // see enqueue()
        taken = e;
    };
    // Already filtered: only looked at for an accepted one to take.
    for (; take && n && n != x.unfiltered; n = n->next) {
        const ActionEntry* e = action_for(n->msg.name);
        if (e && e->action == MessageAction::accept) {
            take_node(n, e);
            break;
        }
    }
    for (n = x.unfiltered; n;) {
        MessageNode* next = n->next;
        const ActionEntry* e = action_for(n->msg.name);
        if (!e || e->action == MessageAction::discard) {
            if (!e)
                log_dropped(n->msg, "no wait accepts or defers it");
            x.queue.unlink(n);
            n->next = dropped;
            dropped = n;
        } else if (take && !taken && e->action == MessageAction::accept) {
            take_node(n, e);
        }
        n = next;
    }
    x.unfiltered = nullptr;
    if (!taken)
        return false;
    set_event(taken->cond, &x.taken->msg);
    return true;
}

inline void PromiseBase::log_dropped(const Message& m, const char* why) const {
    g_log(log_domain, G_LOG_LEVEL_DEBUG, "%s: message '%s' dropped: %s", describe().c_str(),
          m.name.c_str(), why);
}

// A message queued for a tasklet that has not started does not hold its destination: the
// queue belongs to the destination, so that would be a cycle keeping alive a tasklet nobody
// can reach (a deferred one never started). Its `dest` moves to `keep`, which the caller
// drops last (it may be the last reference: nothing is touched after), and is set again
// when the message is taken. (A started tasklet holds itself until it ends, and its end
// clears the queue: no cycle.)
inline MessageNode* PromiseBase::enqueue(Message& m, AnyTasklet& keep) {
    MessageNode* n = extras().queue.push_back(std::move(m));
    if (!started_)
        keep = std::move(n->msg.dest);
    return n;
}

inline void PromiseBase::deliver(Message& m) {
    AnyTasklet keep; // destroyed last; see enqueue()
    if (ended()) {
        log_dropped(m, "the tasklet has ended");
        return;
    }
    if (state_ != State::suspended || !started_) {
        // Running, sending, or not started yet: filtered at its next wait.
        MessageNode* n = enqueue(m, keep);
        if (!extras_->unfiltered)
            extras_->unfiltered = n;
        return;
    }
    if (actions_dirty_) {
        if (refilter_while_waiting(&m, keep))
            return;
        // The messages it dropped may have run user code that changed this tasklet: look
        // again (it is alive: `m.dest` holds it).
        return deliver(m);
    }
    const ActionEntry* e = action_for(m.name); // no entry without Extras: none allocated
    if (!e) {
        log_dropped(m, "no wait accepts or defers it");
        return;
    }
    switch (e->action) {
    case MessageAction::discard:
        return;
    case MessageAction::defer:
        enqueue(m, keep); // filtered already (the actions are current)
        return;
    case MessageAction::accept:
        // Delivered in place: the receiver runs until its next suspension inside this call,
        // while `m` (the sender's) is alive, and its next wait resets the event.
        Access::fire_message(*e->cond, &m);
        return;
    }
}

inline void PromiseBase::post_message(Message& m) {
    if (sched_->on_home_thread()) {
        deliver(m);
        return;
    }
    sched_->post([m = std::move(m)]() mutable {
        PromiseBase* dest = Access::promise(m.dest);
        dest->deliver(m);
    });
}

inline void PromiseBase::send(Message& m) {
    if (!m.dest)
        throw std::invalid_argument("tasklet: co_await Message(...): the message has no dest");
    m.sender = Access::share(this);
    // No extra handle on the destination: until the message is dropped, queued or delivered
    // its own `dest` keeps the destination alive, and nothing below touches it after that.
    PromiseBase* dest = Access::promise(m.dest);
    state_ = State::msgsend;
    try {
        dest->post_message(m);
    } catch (...) {
        state_ = State::running;
        throw;
    }
    state_ = State::running;
    throw_if_cancel_requested();
}

// ---- PromiseBase: join -------------------------------------------------------------------

inline std::uint64_t PromiseBase::add_join(std::function<void(AnyTasklet)> cb) {
    std::uint64_t id = next_join_id.fetch_add(1, std::memory_order_relaxed);
    extras().joins.push_back(JoinEntry{id, std::move(cb)});
    if (ended())
        sched_->defer([t = Access::share(this)] { Access::promise(t)->run_joins(); });
    return id;
}

inline bool PromiseBase::remove_join(std::uint64_t id) {
    if (!extras_)
        return false;
    auto& joins = extras_->joins;
    for (auto it = joins.begin(); it != joins.end(); ++it) {
        if (it->id == id) {
            joins.erase(it);
            return true;
        }
    }
    return false;
}

inline void PromiseBase::run_joins() noexcept {
    if (extras_ && !extras_->joins.empty())
        run_joins_now();
}

// Runs the callbacks there are now, in order; one removed meanwhile does not run. One added
// meanwhile (ids only grow) is left to the run add_join() scheduled: "soon after", from the
// main loop, as for any callback added after the end.
G_GNUC_NO_INLINE inline void PromiseBase::run_joins_now() noexcept {
    const std::uint64_t limit = next_join_id.load(std::memory_order_relaxed);
    while (extras_ && !extras_->joins.empty() && extras_->joins.front().id < limit) {
        JoinEntry e = std::move(extras_->joins.front());
        extras_->joins.erase(extras_->joins.begin());
        try {
            e.fn(Access::share(this));
        } catch (...) {
            log_callback_exception("a join callback");
        }
    }
}

// Wakes every WaitForTasklet waiting for this (ended) tasklet, in the order they started
// waiting. With allow_handoff, the last one's owner is not resumed here but returned, for
// the resume() loop to run right after this tasklet's frame has suspended.
inline PromiseBase* PromiseBase::notify_waiters(bool allow_handoff) noexcept {
    while (JoinWaiter* w = waiters_) {
        waiters_ = w->jnext_;
        (waiters_ ? waiters_->jprev_ : waiters_tail_) = nullptr;
        w->jnext_ = nullptr;
        w->linked_ = false;
        PromiseBase* o = w->owner_;
        if (allow_handoff && !waiters_ && o && o->state_ == State::suspended) {
            o->set_event(w);
            o->state_ = State::running;
            return o;
        }
        static_cast<WaitCondition*>(w)->fire();
    }
    return nullptr;
}

// ---- JoinWaiter --------------------------------------------------------------------------

inline JoinWaiter::JoinWaiter(AnyTasklet target) : target_(std::move(target)) {
    if (!target_)
        throw std::invalid_argument("tasklet: WaitForTasklet: empty tasklet handle");
}

inline JoinWaiter::JoinWaiter(const AnyTasklet& target, Borrow)
    : target_(Access::borrow(target)), borrowed_(true) {
    if (!target_)
        throw std::invalid_argument("tasklet: WaitForTasklet: empty tasklet handle");
}

inline JoinWaiter::~JoinWaiter() {
    if (armed())
        disarm();
    if (borrowed_)
        Access::forget(target_);
}

inline bool JoinWaiter::waits_for(const AnyTasklet& t) const noexcept {
    return Access::promise(target_) == Access::promise(t);
}

inline PromiseBase& JoinWaiter::target() const noexcept { return *Access::promise(target_); }

inline void JoinWaiter::arm() {
    PromiseBase& t = target();
    if (&t == Access::owner(*this))
        throw std::logic_error("tasklet: a tasklet cannot wait for itself");
    // Its end is announced on its own thread, which would resume the waiter there.
    if (!t.sched_->on_home_thread())
        throw std::logic_error("tasklet: cannot wait for a tasklet whose context runs on "
                               "another thread (send it a message, or a join callback)");
    if (t.ended()) {
        fire(); // the owner is running: the event is pending and completes the wait at once
        return;
    }
    if (borrowed_) { // it will suspend: hold the target from now on (see Borrow)
        Access::forget(target_);
        target_ = Access::share(&t);
        borrowed_ = false;
    }
    jprev_ = t.waiters_tail_;
    jnext_ = nullptr;
    (t.waiters_tail_ ? t.waiters_tail_->jnext_ : t.waiters_) = this;
    t.waiters_tail_ = this;
    linked_ = true;
}

// Awaited again after its tasklet ended (it left the waiters list when it fired).
inline void JoinWaiter::kept_armed() {
    if (!linked_ && target().ended())
        fire();
}

inline void JoinWaiter::disarm() {
    if (!linked_)
        return;
    PromiseBase& t = target();
    (jprev_ ? jprev_->jnext_ : t.waiters_) = jnext_;
    (jnext_ ? jnext_->jprev_ : t.waiters_tail_) = jprev_;
    jprev_ = jnext_ = nullptr;
    linked_ = false;
}

// ---- LaneCondition -----------------------------------------------------------------------

inline void prefetch_owner(LaneCondition* c) noexcept {
    // The promise and the coroutine frame's header just before it: what resuming reads first.
    // A prefetch never faults, whatever the address.
    const char* p = reinterpret_cast<const char*>(Access::owner(*c));
    __builtin_prefetch(p - 16, 1);
    __builtin_prefetch(p + 48, 1);
    __builtin_prefetch(p + 112, 1);
}

inline bool LaneCondition::event_pending() const noexcept { return Access::pending(*this); }

inline void LaneCondition::kept_armed() {
    if (event_pending() && !queued())
        requeue(monotonic_now());
}

inline void LaneCondition::unqueue() noexcept {
    if (heap_index_ != npos)
        heap_lane_->remove(this);
    else if (list_)
        list_->remove(this);
}

inline void LaneCondition::queue_idle() {
    Access::owner(*this)->sched_->lane(priority_).push_idle(this);
}

inline void LaneCondition::queue_timer(gint64 deadline) {
    deadline_ = deadline;
    Access::owner(*this)->sched_->lane(priority_).push_timer(this);
}

} // namespace detail

// ---- AnyTasklet --------------------------------------------------------------------------

// Inline on purpose: a handle copy or drop on the tasklet's own thread is a few plain
// instructions, which a call would double.
[[gnu::always_inline]] inline AnyTasklet::AnyTasklet(const AnyTasklet& o) noexcept {
    if (detail::PromiseBase* p = o.ptr())
        p_ = reinterpret_cast<std::uintptr_t>(p) | (p->ref() ? shared_bit : 0);
}

[[gnu::always_inline]] inline AnyTasklet::~AnyTasklet() {
    if (detail::PromiseBase* p = ptr())
        p->unref((p_ & shared_bit) != 0);
}

inline detail::PromiseBase& AnyTasklet::promise() const {
    if (!p_)
        throw std::logic_error("tasklet: operation on an empty tasklet handle");
    return *ptr();
}

inline State AnyTasklet::state() const { return promise().state_; }
inline bool AnyTasklet::done() const { return promise().ended(); }
inline void AnyTasklet::start() const { promise().start(); }
inline bool AnyTasklet::cancelled() const { return promise().cancelled_; }
inline void AnyTasklet::cancel() const { promise().cancel(); }
inline GMainContext* AnyTasklet::context() const { return promise().sched_->context(); }
inline void AnyTasklet::set_name(std::string name) const {
    promise().extras().name = std::move(name);
}

inline std::string AnyTasklet::name() const {
    detail::PromiseBase& p = promise();
    return p.extras_ ? p.extras_->name : std::string();
}

inline void AnyTasklet::send_message(Message m) const {
    detail::PromiseBase& p = promise();
    if (!m.dest)
        m.dest = *this;
    else if (m.dest != *this)
        throw std::invalid_argument(
            "tasklet: send_message(): the message's dest is another tasklet");
    p.post_message(m);
}

inline JoinId AnyTasklet::add_join_callback(std::function<void(AnyTasklet)> cb) const {
    if (!cb)
        throw std::invalid_argument("tasklet: add_join_callback(): empty callback");
    return JoinId(promise().add_join(std::move(cb)));
}

inline bool AnyTasklet::remove_join_callback(JoinId id) const {
    return promise().remove_join(id.value_);
}

template <class T> std::add_lvalue_reference_t<T> Tasklet<T>::return_value() const {
    return detail::ended_result<T>(promise(), "return_value()");
}

// ---- WaitCondition -----------------------------------------------------------------------

inline WaitCondition::~WaitCondition() {
    if (destroyed_)
        *destroyed_ = true;
    if (owner_)
        owner_->forget(this);
}

inline AnyTasklet WaitCondition::owner() const {
    return owner_ ? detail::Access::share(owner_) : AnyTasklet();
}

inline GMainContext* WaitCondition::context() const {
    return owner_ ? owner_->sched_->context() : nullptr;
}

inline bool WaitCondition::fire() { return fire_impl(nullptr); }

inline bool WaitCondition::fire_impl(Message* message) {
    detail::PromiseBase* p = owner_;
    if (!p)
        return false;
    if (p->state_ != State::suspended) {
        pending_ = true; // delivered by the owner's next wait on this condition
        return true;
    }
    // The owner may destroy this condition while it runs (a temporary condition, or the
    // tasklet ends): the destructor reports it through this flag on our stack.
    bool destroyed = false;
    bool* outer = std::exchange(destroyed_, &destroyed);
    p->set_event(this, message);
    p->resume();
    if (destroyed) {
        if (outer)
            *outer = true;
        return false;
    }
    destroyed_ = outer;
    return armed_;
}

inline bool Event::is(const AnyTasklet& t) const noexcept {
    auto* w = dynamic_cast<const detail::JoinWaiter*>(cond_);
    return w && t && w->waits_for(t);
}

inline Event& get_event() {
    detail::PromiseBase* p = detail::tls_current;
    if (!p)
        throw std::logic_error("tasklet: get_event() called outside a tasklet");
    return p->event_;
}

// clang-format off
template <class C>
    requires detail::is_condition_v<C>
detail::SingleAwaiter<std::remove_reference_t<C>> operator co_await(C&& c) noexcept {
    return detail::SingleAwaiter<std::remove_reference_t<C>>(c);
}
// clang-format on

// clang-format off
template <class... Cs>
    requires((detail::is_condition_v<Cs> || detail::is_handle_v<Cs>) && ...)
auto any(Cs&&... cs) {
    static_assert(sizeof...(Cs) > 0, "tasklet::any() needs at least one condition");
    constexpr std::size_t handles = (std::size_t{detail::is_handle_v<Cs>} + ... + 0);
    detail::AnyAwaiter<sizeof...(Cs), handles> a;
    (a.add(cs), ...);
    return a;
}
// clang-format on

inline detail::SpanAwaiter any(std::span<WaitCondition* const> cs) {
    return detail::SpanAwaiter(cs);
}

// ---- Messages ----------------------------------------------------------------------------

inline WaitForMessages::WaitForMessages(NameList accept, NameList defer, NameList discard) {
    is_messages_ = true;
    auto add = [this](const NameList& names, MessageAction action) {
        for (const std::string& n : names.names()) {
            if (n.empty())
                throw std::invalid_argument("tasklet: WaitForMessages: empty message name");
            for (const auto& entry : actions_)
                if (entry.first == n)
                    throw std::invalid_argument("tasklet: WaitForMessages: message name '" + n +
                                                "' is listed twice");
            actions_.emplace_back(n, action);
        }
    };
    add(accept, MessageAction::accept);
    add(defer, MessageAction::defer);
    add(discard, MessageAction::discard);
}

inline WaitForMessages::~WaitForMessages() {
    if (armed())
        disarm();
}

inline void WaitForMessages::arm() {} // the owner resolves its actions when the wait begins
inline void WaitForMessages::disarm() {}

inline const MessageAction* WaitForMessages::action_for(std::string_view name) const noexcept {
    for (const auto& [n, action] : actions_)
        if (n == name)
            return &action;
    return nullptr;
}

inline Message WaitForMessages::await_result() {
    Message* m = detail::Access::owner(*this)->event().message();
    return *m;
}

inline detail::SendAwaiter operator co_await(Message&& m) noexcept {
    return detail::SendAwaiter(m);
}
inline detail::SendAwaiter operator co_await(const Message& m) {
    return detail::SendAwaiter(m, true);
}

// ---- free functions ----------------------------------------------------------------------

template <class F, class... Args> auto deferred(F f, Args... args) {
    using R = std::invoke_result_t<F&, Args&&...>;
    static_assert(std::is_base_of_v<AnyTasklet, R>,
                  "tasklet::deferred(f, args...): f(args...) must return a Tasklet<T>");
    // The callable lives as long as the tasklet: a lambda body reads its captures through
    // a pointer to it, long after deferred() returned.
    auto fn = std::make_shared<F>(std::move(f));
    detail::tls_defer_next = true;
    R t;
    try {
        t = std::invoke(*fn, std::move(args)...);
    } catch (...) {
        detail::tls_defer_next = false;
        throw;
    }
    bool consumed = !detail::tls_defer_next;
    detail::tls_defer_next = false;
    detail::PromiseBase* p = detail::Access::promise(t);
    if (!consumed || !p || !p->deferred_ || p->started_)
        throw std::logic_error("tasklet::deferred(f, args...): f must be a tasklet body (a "
                               "coroutine returning Tasklet<T>)");
    p->extras().deferred_fn = std::move(fn);
    return t;
}

template <class T> T run_until_complete(Tasklet<T> t) {
    if (detail::tls_current)
        throw std::logic_error("tasklet: run_until_complete() called from inside a tasklet");
    detail::PromiseBase* p = detail::Access::promise(t);
    if (!p)
        throw std::logic_error("tasklet: run_until_complete(): empty tasklet handle");
    // Checked before a deferred tasklet is started: its body must not run on a thread that
    // cannot run its context.
    GMainContext* ctx = t.context();
    if (!g_main_context_acquire(ctx))
        throw std::logic_error(
            "tasklet: run_until_complete(): the tasklet's context is owned by another thread");
    struct Release {
        GMainContext* ctx;
        ~Release() { g_main_context_release(ctx); }
    } release{ctx};
    if (!p->started_ && !p->ended())
        p->start();
    while (!p->ended())
        g_main_context_iteration(ctx, TRUE);
    if constexpr (std::is_void_v<T>)
        t.return_value();
    else
        return std::move(t.return_value());
}

} // namespace tasklet

#include "../join.hpp"
