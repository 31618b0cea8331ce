// Model-based random testing of the message semantics (API.md "Messages"; issue 7 part 4).
//
// A reference model of kiwi's messaging, written below in plain C++ (no coroutines), and the
// library run the same randomly generated scenario; their traces must agree line for line.
// A scenario is N tasklets, each running a short random program of waits and sends, plus a
// driver that sends messages from outside and iterates the main loop between them.
//
// What the model encodes (API.md, read as kiwi's SDL-style messaging):
//  - a tasklet's message actions are the union of the WaitForMessages of its current wait;
//    for a name listed by several, the later one in the wait wins;
//  - at every wait the queue is filtered once against the wait's actions (discard and names
//    with no action dropped, the latter with a g_debug; defer kept), and the first accepted
//    message in arrival order completes the wait at once;
//  - a message for a suspended tasklet is dropped, queued or delivered per its actions; an
//    accepted one resumes it at once, and it runs to its next suspension before the sender
//    continues (synchronous delivery, nested as deep as the send chain goes);
//  - a message for a sending (msgsend) tasklet is queued as it is and filtered at that
//    tasklet's next wait; one for an ended tasklet is dropped (with a g_debug);
//  - non-message events: WaitForIdle (the idle lane fires, once each, the idles queued when
//    its dispatch begins, in the order they were queued; one that stays armed is queued again
//    after firing) and WaitForTimeout (fires at its deadline; kept armed it ticks with a fixed
//    period; a tick more than a period late stands for the missed ones and the period goes on
//    from the dispatch that fired it);
//  - conditions kept across consecutive waits stay armed (persistent arming): a timeout keeps
//    its deadline, an idle its place in the queue (even in the batch being dispatched), and a
//    WaitForMessages its actions, re-ranked by its place in the new wait.
//
// Where API.md is silent, the model takes the library's documented choices (kiwi has no
// usable answer for either):
//  - a tasklet made by deferred() and not started yet queues what it is sent, for its first
//    wait (test_messages.cpp, "a message sent before the destination's first wait is queued
//    for it"; kiwi drops it, as such a tasklet has no actions yet);
//  - a running tasklet (one that called t.send_message() from its body, which delivers
//    synchronously like co_await Message but leaves the caller running, with no sender)
//    queues what it is sent like a sending one does (kiwi forbids send_message() from a
//    tasklet: it would re-enter the running generator).
// Where kiwi's code and API.md differ, API.md wins: kiwi lets the condition armed last win
// and a disarmed condition erase names another armed one still lists; here the actions are
// recomputed from the wait, in its order, at every wait.
//
// Determinism. Time is virtual (the scheduler's clock hook) and advances only between main
// loop iterations. The order in which GLib dispatches sources of one priority, and the
// timer heap's order among equal deadlines, are not part of the API: so tasklet i's timeouts
// run at priority G_PRIORITY_DEFAULT + i, which gives each tasklet a lane of its own (at most
// one armed timeout in it) and makes "which timeout fires first" GLib's priority order. An
// iteration then dispatches the due timeout of the highest priority if there is one, else the
// idle batch, else nothing (a low-priority no-op source keeps the loop from blocking).
//
// Reproducing a failure: TASKLET_MODEL_SEED=<n> runs only that seed and prints its scenario
// and both traces; TASKLET_MODEL_SEEDS=<count> changes how many seeds the main test runs.
#include "support.hpp"

#include <tasklet/tasklet.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

using namespace tasklet;

namespace {

// ---- scenarios ---------------------------------------------------------------------------

// Names a..d appear in action lists; e never does, so a message called e is always dropped.
constexpr std::array<const char*, 5> kNames = {"a", "b", "c", "d", "e"};
constexpr int kListed = 4;

enum class Act : std::uint8_t { none, accept, defer, discard };
using Actions = std::array<Act, kListed>; // one WaitForMessages: the action for each name

enum class Kind : std::uint8_t {
    messages, // a WaitForMessages the program keeps for its whole run (persistent arming)
    fresh,    // a WaitForMessages made for this one wait and destroyed after it
    idle,     // a WaitForIdle the program keeps
    timer,    // a WaitForTimeout the program keeps
};
struct CondRef {
    Kind kind;
    int index; // into Program::pool / Step::fresh / the idles / Program::timer_ms
};

struct Step {
    bool send = false;
    bool direct = false;               // send: tasks[dest].send_message(), else co_await Message
    int dest = 0, name = 0, value = 0; // send: Message(name, tasks[dest], value)
    std::vector<CondRef> conds;        // wait: co_await on these, in this order
    std::vector<Actions> fresh;        // wait: the actions of its Kind::fresh conditions
};

struct Program {
    std::vector<Actions> pool;      // WaitForMessages kept for the whole program
    std::vector<guint> timer_ms;    // WaitForTimeouts kept for the whole program
    static constexpr int idles = 2; // WaitForIdles kept for the whole program
    std::vector<Step> steps;
};

struct ExternalSend {
    int dest, name, value;
};
struct DriverStep {
    guint advance_ms = 0;            // virtual time added before the iteration
    std::vector<ExternalSend> sends; // t.send_message() before the iteration
};

struct Scenario {
    std::uint64_t seed = 0;
    std::vector<Program> programs;
    std::vector<DriverStep> driver; // one main-loop iteration each
};

// splitmix64: the same scenario for a seed with every standard library (the distributions
// of <random> are implementation-defined).
class Rng {
public:
    explicit Rng(std::uint64_t seed) : s_(seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull) {}
    std::uint64_t next() {
        std::uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    int below(int n) { return static_cast<int>(next() % static_cast<std::uint64_t>(n)); }
    bool chance(int percent) { return below(100) < percent; }
    template <class T> void shuffle(std::vector<T>& v) {
        for (std::size_t i = v.size(); i > 1; --i)
            std::swap(v[i - 1], v[static_cast<std::size_t>(below(static_cast<int>(i)))]);
    }

private:
    std::uint64_t s_;
};

Actions random_actions(Rng& r) {
    Actions a{};
    for (Act& x : a) {
        int roll = r.below(100);
        x = roll < 35 ? Act::accept : roll < 60 ? Act::defer : roll < 75 ? Act::discard : Act::none;
    }
    return a;
}

int random_name(Rng& r) { return r.chance(8) ? 4 : r.below(kListed); }

Step random_wait(Rng& r, Program& p, const Step* previous) {
    Step s;
    // Often the same conditions as the previous wait (persistent arming), sometimes in a new
    // order (which changes which one wins for a name they share).
    if (previous && r.chance(45)) {
        for (CondRef c : previous->conds)
            if (c.kind != Kind::fresh)
                s.conds.push_back(c);
        if (r.chance(40))
            r.shuffle(s.conds);
        if (!s.conds.empty())
            return s;
    }
    int messages = r.chance(10) ? 0 : 1 + r.below(3);
    std::vector<int> pool(p.pool.size());
    for (std::size_t i = 0; i < pool.size(); ++i)
        pool[i] = static_cast<int>(i);
    r.shuffle(pool);
    for (int i = 0; i < messages; ++i) {
        if (static_cast<std::size_t>(i) < pool.size() && !r.chance(20)) {
            s.conds.push_back({Kind::messages, pool[static_cast<std::size_t>(i)]});
        } else {
            s.conds.push_back({Kind::fresh, static_cast<int>(s.fresh.size())});
            s.fresh.push_back(random_actions(r));
        }
    }
    if (messages == 0 || r.chance(35)) {
        CondRef other = r.chance(50)
                            ? CondRef{Kind::idle, r.below(Program::idles)}
                            : CondRef{Kind::timer, r.below(static_cast<int>(p.timer_ms.size()))};
        auto at = static_cast<std::ptrdiff_t>(r.below(static_cast<int>(s.conds.size()) + 1));
        s.conds.insert(s.conds.begin() + at, other);
    }
    return s;
}

// Seeds from kLargeSeeds on make larger scenarios (the [scale] test), so a seed alone names
// its scenario.
constexpr std::uint64_t kLargeSeeds = 1000000;
struct Size {
    int tasklets, steps, iterations;
};

Scenario generate(std::uint64_t seed) {
    const Size size = seed < kLargeSeeds ? Size{5, 10, 30} : Size{8, 30, 80};
    Rng r(seed);
    Scenario sc;
    sc.seed = seed;
    const int n = 2 + r.below(size.tasklets - 1);
    static constexpr std::array<guint, 5> timeouts = {0, 1, 2, 5, 10};
    for (int i = 0; i < n; ++i) {
        Program p;
        int pool = 1 + r.below(4);
        for (int k = 0; k < pool; ++k)
            p.pool.push_back(random_actions(r));
        for (int k = 0; k < 2; ++k)
            p.timer_ms.push_back(timeouts[static_cast<std::size_t>(r.below(timeouts.size()))]);
        int steps = 1 + r.below(size.steps);
        const Step* previous = nullptr;
        for (int k = 0; k < steps; ++k) {
            if (r.chance(35)) {
                Step s;
                s.send = true;
                s.direct = r.chance(25);
                s.dest = r.below(n);
                s.name = random_name(r);
                s.value = (i + 1) * 1000 + k;
                p.steps.push_back(s);
            } else {
                p.steps.push_back(random_wait(r, p, previous));
            }
            // Index, not pointer: push_back may move the steps.
            previous = nullptr;
            for (std::size_t j = p.steps.size(); j-- > 0;)
                if (!p.steps[j].send) {
                    previous = &p.steps[j];
                    break;
                }
        }
        sc.programs.push_back(std::move(p));
    }
    static constexpr std::array<guint, 6> advances = {0, 0, 1, 2, 5, 10};
    int iterations = 5 + r.below(size.iterations);
    for (int k = 0; k < iterations; ++k) {
        DriverStep d;
        d.advance_ms = advances[static_cast<std::size_t>(r.below(advances.size()))];
        int sends = r.chance(50) ? 0 : 1 + r.below(2);
        for (int j = 0; j < sends; ++j)
            d.sends.push_back({r.below(n), random_name(r), 100000 + k * 10 + j});
        sc.driver.push_back(std::move(d));
    }
    return sc;
}

std::string describe(const Actions& a) {
    std::string out = "{";
    for (int i = 0; i < kListed; ++i) {
        static constexpr std::array<const char*, 4> verbs = {"", "accept ", "defer ", "discard "};
        if (a[static_cast<std::size_t>(i)] == Act::none)
            continue;
        if (out.size() > 1)
            out += ", ";
        out += verbs[static_cast<std::size_t>(a[static_cast<std::size_t>(i)])];
        out += kNames[static_cast<std::size_t>(i)];
    }
    return out + "}";
}

std::string describe(const Scenario& sc) {
    std::ostringstream o;
    o << "seed " << sc.seed << ": " << sc.programs.size() << " tasklets, " << sc.driver.size()
      << " main-loop iterations\n";
    for (std::size_t i = 0; i < sc.programs.size(); ++i) {
        const Program& p = sc.programs[i];
        o << "t" << i << " keeps";
        for (std::size_t k = 0; k < p.pool.size(); ++k)
            o << " M" << k << describe(p.pool[k]);
        for (std::size_t k = 0; k < p.timer_ms.size(); ++k)
            o << " T" << k << "=" << p.timer_ms[k] << "ms";
        o << " I0 I1 (timeouts at priority " << i << ")\n";
        for (std::size_t k = 0; k < p.steps.size(); ++k) {
            const Step& s = p.steps[k];
            o << "  " << k << ": ";
            if (s.send) {
                o << (s.direct ? "send_message " : "send ")
                  << kNames[static_cast<std::size_t>(s.name)] << "#" << s.value << " to t" << s.dest
                  << "\n";
                continue;
            }
            o << "wait";
            for (CondRef c : s.conds) {
                switch (c.kind) {
                case Kind::messages:
                    o << " M" << c.index;
                    break;
                case Kind::fresh:
                    o << " new" << describe(s.fresh[static_cast<std::size_t>(c.index)]);
                    break;
                case Kind::idle:
                    o << " I" << c.index;
                    break;
                case Kind::timer:
                    o << " T" << c.index;
                    break;
                }
            }
            o << "\n";
        }
    }
    for (std::size_t k = 0; k < sc.driver.size(); ++k) {
        const DriverStep& d = sc.driver[k];
        o << "iteration " << k << ": +" << d.advance_ms << "ms";
        for (const ExternalSend& e : d.sends)
            o << ", send " << kNames[static_cast<std::size_t>(e.name)] << "#" << e.value << " to t"
              << e.dest;
        o << "\n";
    }
    return o.str();
}

// ---- traces: one line per event, formatted the same way by the model and the library -----

using Trace = std::vector<std::string>;

std::string who(int t) { return t < 0 ? std::string("ext") : "t" + std::to_string(t); }

std::string line_send(int from, int to, int name, int value, bool direct = false) {
    return who(from) + (direct ? " calls send_message(" : " sends ") +
           kNames[static_cast<std::size_t>(name)] + "#" + std::to_string(value) +
           (direct ? ") of t" : " to t") + std::to_string(to);
}
std::string line_receive(int to, const std::string& name, int value, int from, int index) {
    return "t" + std::to_string(to) + " <- " + name + "#" + std::to_string(value) + " from " +
           who(from) + " by [" + std::to_string(index) + "]";
}
std::string line_wake(int t, Kind kind, int index) {
    return "t" + std::to_string(t) + " wakes on " + (kind == Kind::idle ? "idle" : "timeout") +
           " [" + std::to_string(index) + "]";
}
std::string line_drop(const std::string& t, const std::string& name, bool ended) {
    return t + " drops " + name + (ended ? " (ended)" : " (no action)");
}
std::string line_end(int t) { return "t" + std::to_string(t) + " ends"; }
std::string line_iteration(std::size_t k) { return "-- iteration " + std::to_string(k); }

// ---- the reference model -------------------------------------------------------------------

// How often the model applied each rule, summed over seeds: the main test checks that the
// scenarios exercise every one of them.
using Coverage = std::map<std::string, std::size_t>;

const char* const kRules[] = {
    "accepted on arrival",
    "accepted from the queue at a wait",
    "deferred on arrival",
    "discarded on arrival",
    "dropped: no action, on arrival",
    "dropped: no action, at a wait",
    "dropped: tasklet ended",
    "queued while sending",
    "queued while sending, sent to itself",
    "queued while running (send_message from a tasklet)",
    "queued before the first wait",
    "a later condition overrides an earlier one",
    "condition kept armed across waits",
    "conditions kept armed in a new order",
    "delivery nested three deep",
    "woken by an idle",
    "woken by a timeout",
    "idle batch of several tasklets",
    "late periodic tick",
};

// Deliberate errors the model can be run with, to show that the comparison catches them.
enum class Mutation {
    none,
    earlier_wins, // the earlier condition of a wait wins for a shared name
    no_refilter,  // the queue is filtered only when messages arrive, not at each wait
    queued_while_sending_is_filtered, // messages to a msgsend tasklet are filtered at once
    asynchronous_send,                // the sender continues before the destination runs
    idle_requeued_first,              // a kept idle goes to the front of the queue after firing
};

class Model {
public:
    Model(const Scenario& sc, Trace& trace, Mutation mutation, Coverage* coverage)
        : sc_(sc), trace_(trace), mutation_(mutation), coverage_(coverage),
          ts_(sc.programs.size()) {
        for (std::size_t i = 0; i < ts_.size(); ++i)
            ts_[i].prog = &sc.programs[i];
    }

    void start_all() {
        for (std::size_t i = 0; i < ts_.size(); ++i) {
            ts_[i].st = St::running;
            run(static_cast<int>(i));
        }
    }

    void driver_step(std::size_t k) {
        const DriverStep& d = sc_.driver[k];
        now_ += gint64{d.advance_ms} * 1000;
        trace_.push_back(line_iteration(k));
        for (const ExternalSend& e : d.sends) {
            trace_.push_back(line_send(-1, e.dest, e.name, e.value));
            deliver(e.dest, Msg{e.name, -1, e.value});
        }
        iterate();
        flush_async();
    }

    std::string states() const {
        std::string out = "states:";
        for (const T& t : ts_)
            out += t.st == St::zombie ? " zombie" : t.st == St::suspended ? " suspended" : " ?";
        return out;
    }

private:
    enum class St { unstarted, running, msgsend, suspended, zombie };
    struct Msg {
        int name, sender, value;
    };
    struct T {
        const Program* prog = nullptr;
        std::size_t pc = 0;
        St st = St::unstarted;
        std::deque<Msg> queue;
        std::vector<int> armed;       // keys of the current wait's conditions, in wait order
        const Step* wait = nullptr;   // the current wait
        std::map<int, gint64> timers; // armed timeouts queued in the lane: key -> deadline
    };
    struct Resolved {
        Act act = Act::none;
        int index = -1;         // the position in the wait of the condition that gives the action
        bool overrides = false; // it overrides another action an earlier condition gives
    };

    // A condition's identity within its tasklet: kept ones are the same object from wait to
    // wait; a fresh one is new at every wait.
    static int key(CondRef c, std::size_t step) {
        switch (c.kind) {
        case Kind::messages:
            return c.index;
        case Kind::idle:
            return 100 + c.index;
        case Kind::timer:
            return 200 + c.index;
        case Kind::fresh:
            break;
        }
        return 1000 + static_cast<int>(step) * 10 + c.index;
    }
    static Kind kind_of(int key) {
        return key < 100    ? Kind::messages
               : key < 200  ? Kind::idle
               : key < 1000 ? Kind::timer
                            : Kind::fresh;
    }

    const Actions& actions_of(const T& t, CondRef c) const {
        return c.kind == Kind::messages ? t.prog->pool[static_cast<std::size_t>(c.index)]
                                        : t.wait->fresh[static_cast<std::size_t>(c.index)];
    }

    Resolved resolve(const T& t, int name) const {
        Resolved r;
        if (!t.wait || name >= kListed)
            return r;
        for (std::size_t i = 0; i < t.wait->conds.size(); ++i) {
            CondRef c = t.wait->conds[i];
            if (c.kind != Kind::messages && c.kind != Kind::fresh)
                continue;
            Act a = actions_of(t, c)[static_cast<std::size_t>(name)];
            if (a == Act::none)
                continue;
            if (mutation_ == Mutation::earlier_wins && r.act != Act::none)
                continue;
            r = {a, static_cast<int>(i), r.act != Act::none && r.act != a};
        }
        return r;
    }

    int index_of(const T& t, int k) const {
        auto it = std::find(t.armed.begin(), t.armed.end(), k);
        return static_cast<int>(it - t.armed.begin());
    }
    bool idle_queued(int t, int k) const {
        auto same = [&](const std::pair<int, int>& e) { return e.first == t && e.second == k; };
        return std::any_of(idle_.begin(), idle_.end(), same) ||
               std::any_of(batch_.begin(), batch_.end(), same);
    }

    void arm(int t, int k) {
        T& x = ts_[static_cast<std::size_t>(t)];
        if (kind_of(k) == Kind::idle)
            idle_.emplace_back(t, k);
        else if (kind_of(k) == Kind::timer)
            x.timers[k] = now_ + gint64{x.prog->timer_ms[static_cast<std::size_t>(k - 200)]} * 1000;
    }
    void disarm(int t, int k) {
        auto same = [&](const std::pair<int, int>& e) { return e.first == t && e.second == k; };
        idle_.erase(std::remove_if(idle_.begin(), idle_.end(), same), idle_.end());
        batch_.erase(std::remove_if(batch_.begin(), batch_.end(), same), batch_.end());
        ts_[static_cast<std::size_t>(t)].timers.erase(k);
    }

    // The tasklet runs from where it stands until it suspends or ends. Nested through
    // deliver() -> resume() for synchronous delivery: the C++ call stack is the model's.
    void run(int t) {
        T& x = ts_[static_cast<std::size_t>(t)];
        const std::vector<Step>& steps = x.prog->steps;
        while (x.pc < steps.size()) {
            std::size_t at = x.pc++;
            const Step& s = steps[at];
            if (s.send && s.direct) {
                // send_message() from inside a body: no sender, and the caller stays running.
                trace_.push_back(line_send(t, s.dest, s.name, s.value, true));
                deliver(s.dest, Msg{s.name, -1, s.value});
                continue;
            }
            if (s.send) {
                trace_.push_back(line_send(t, s.dest, s.name, s.value));
                x.st = St::msgsend;
                Msg m{s.name, t, s.value};
                if (mutation_ == Mutation::asynchronous_send)
                    async_.emplace_back(s.dest, m);
                else
                    deliver(s.dest, m);
                x.st = St::running;
                continue;
            }
            if (!begin_wait(t, s, at)) {
                x.st = St::suspended;
                return;
            }
        }
        trace_.push_back(line_end(t));
        x.st = St::zombie;
        for (int k : x.armed)
            disarm(t, k);
        x.armed.clear();
        x.queue.clear();
        x.wait = nullptr;
    }

    // Returns true when the wait completes at once (a queued message it accepts).
    bool begin_wait(int t, const Step& s, std::size_t at) {
        T& x = ts_[static_cast<std::size_t>(t)];
        std::vector<int> keys;
        for (CondRef c : s.conds)
            keys.push_back(key(c, at));
        for (int k : x.armed)
            if (std::find(keys.begin(), keys.end(), k) == keys.end())
                disarm(t, k);
        std::vector<int> kept;
        for (int k : keys) {
            if (std::find(x.armed.begin(), x.armed.end(), k) == x.armed.end())
                arm(t, k);
            else if (kind_of(k) == Kind::messages)
                kept.push_back(k);
        }
        if (!kept.empty())
            saw("condition kept armed across waits");
        std::vector<int> before;
        for (int k : x.armed)
            if (std::find(kept.begin(), kept.end(), k) != kept.end())
                before.push_back(k);
        if (before != kept)
            saw("conditions kept armed in a new order");
        bool same_wait = x.wait && keys == x.armed && !x.wait->conds.empty() &&
                         std::none_of(s.conds.begin(), s.conds.end(),
                                      [](CondRef c) { return c.kind == Kind::fresh; });
        x.armed = keys;
        x.wait = &s;
        if (mutation_ == Mutation::no_refilter && same_wait)
            return false;
        for (auto it = x.queue.begin(); it != x.queue.end();) {
            Resolved r = resolve(x, it->name);
            if (r.act == Act::accept || r.act == Act::defer) {
                ++it;
                continue;
            }
            if (r.act == Act::none) {
                saw("dropped: no action, at a wait");
                trace_.push_back(
                    line_drop(who(t), kNames[static_cast<std::size_t>(it->name)], false));
            }
            it = x.queue.erase(it);
        }
        for (auto it = x.queue.begin(); it != x.queue.end(); ++it) {
            Resolved r = resolve(x, it->name);
            if (r.act == Act::accept) {
                saw("accepted from the queue at a wait");
                if (r.overrides)
                    saw("a later condition overrides an earlier one");
                Msg m = *it;
                x.queue.erase(it);
                trace_.push_back(line_receive(t, kNames[static_cast<std::size_t>(m.name)], m.value,
                                              m.sender, r.index));
                return true;
            }
        }
        return false;
    }

    void resume(int t, std::string event) {
        T& x = ts_[static_cast<std::size_t>(t)];
        REQUIRE(x.st == St::suspended);
        trace_.push_back(std::move(event));
        x.st = St::running;
        if (++depth_ >= 3)
            saw("delivery nested three deep");
        run(t);
        --depth_;
    }

    void deliver(int t, Msg m) {
        T& x = ts_[static_cast<std::size_t>(t)];
        const std::string& name = kNames[static_cast<std::size_t>(m.name)];
        if (x.st == St::zombie) {
            saw("dropped: tasklet ended");
            trace_.push_back(line_drop(who(t), name, true));
            return;
        }
        bool filter_now =
            x.st == St::suspended ||
            (x.st == St::msgsend && mutation_ == Mutation::queued_while_sending_is_filtered);
        if (!filter_now) {
            saw(x.st == St::msgsend   ? (m.sender == t ? "queued while sending, sent to itself"
                                                       : "queued while sending")
                : x.st == St::running ? "queued while running (send_message from a tasklet)"
                                      : "queued before the first wait");
            x.queue.push_back(m);
            return;
        }
        Resolved r = resolve(x, m.name);
        if (r.overrides)
            saw("a later condition overrides an earlier one");
        switch (r.act) {
        case Act::none:
            saw("dropped: no action, on arrival");
            trace_.push_back(line_drop(who(t), name, false));
            return;
        case Act::discard:
            saw("discarded on arrival");
            return;
        case Act::defer:
            saw("deferred on arrival");
            x.queue.push_back(m);
            return;
        case Act::accept:
            saw("accepted on arrival");
            if (x.st != St::suspended) { // only under the mutation
                x.queue.push_back(m);
                return;
            }
            resume(t, line_receive(t, name, m.value, m.sender, r.index));
            return;
        }
    }

    void flush_async() {
        while (!async_.empty()) {
            auto [dest, m] = async_.front();
            async_.pop_front();
            deliver(dest, m);
        }
    }

    // One main-loop iteration: the due timeout of the highest priority (tasklet i's lane has
    // priority i and at most one armed timeout), else the idle batch.
    void iterate() {
        for (std::size_t i = 0; i < ts_.size(); ++i) {
            T& x = ts_[i];
            auto due = std::find_if(x.timers.begin(), x.timers.end(),
                                    [&](const auto& e) { return e.second <= now_; });
            if (due == x.timers.end())
                continue;
            auto [k, deadline] = *due;
            int t = static_cast<int>(i);
            x.timers.erase(due);
            saw("woken by a timeout");
            resume(t, line_wake(t, Kind::timer, index_of(x, k)));
            flush_async();
            bool armed = std::find(x.armed.begin(), x.armed.end(), k) != x.armed.end();
            if (armed && !x.timers.count(k)) {
                gint64 period = gint64{x.prog->timer_ms[static_cast<std::size_t>(k - 200)]} * 1000;
                // WaitForTimeout: a late tick stands for the missed ones; the period goes on
                // from the dispatch that fired it.
                gint64 next = deadline + period;
                if (next < now_)
                    saw("late periodic tick");
                x.timers[k] = next < now_ ? now_ + period : next;
            }
            return;
        }
        batch_ = std::move(idle_);
        idle_.clear();
        if (batch_.size() > 1 && std::any_of(batch_.begin(), batch_.end(), [&](const auto& e) {
                return e.first != batch_.front().first;
            }))
            saw("idle batch of several tasklets");
        while (!batch_.empty()) {
            auto [t, k] = batch_.front();
            batch_.pop_front();
            T& x = ts_[static_cast<std::size_t>(t)];
            saw("woken by an idle");
            resume(t, line_wake(t, Kind::idle, index_of(x, k)));
            flush_async();
            bool armed = std::find(x.armed.begin(), x.armed.end(), k) != x.armed.end();
            if (armed && !idle_queued(t, k)) {
                if (mutation_ == Mutation::idle_requeued_first)
                    idle_.emplace_front(t, k);
                else
                    idle_.emplace_back(t, k);
            }
        }
    }

    void saw(const char* rule) {
        if (coverage_)
            ++(*coverage_)[rule];
    }

    const Scenario& sc_;
    Trace& trace_;
    Mutation mutation_;
    Coverage* coverage_;
    int depth_ = 0; // tasklets running nested inside each other now
    std::vector<T> ts_;
    std::deque<std::pair<int, int>> idle_;  // the idle lane's queue: (tasklet, key)
    std::deque<std::pair<int, int>> batch_; // the idles being dispatched now
    std::deque<std::pair<int, Msg>> async_; // only under Mutation::asynchronous_send
    gint64 now_ = 0;
};

Trace run_model(const Scenario& sc, Mutation mutation = Mutation::none,
                Coverage* coverage = nullptr) {
    Trace trace;
    Model m(sc, trace, mutation, coverage);
    m.start_all();
    for (std::size_t k = 0; k < sc.driver.size(); ++k)
        m.driver_step(k);
    trace.push_back(m.states());
    return trace;
}

// ---- the library ----------------------------------------------------------------------------

gint64 virtual_now = 0;
gint64 read_virtual_clock(void*) { return virtual_now; }

struct Real {
    const Scenario* sc;
    Trace* trace;
    std::vector<AnyTasklet> tasks;

    int id_of(const AnyTasklet& t) const {
        for (std::size_t i = 0; i < tasks.size(); ++i)
            if (tasks[i] == t)
                return static_cast<int>(i);
        return -1;
    }

    // Records the event that ended the wait on `conds`, as the model writes it.
    void record(int t, const std::vector<WaitCondition*>& conds, const Step& s) {
        Event& e = get_event();
        auto it = std::find(conds.begin(), conds.end(), e.condition());
        int index = static_cast<int>(it - conds.begin());
        if (it == conds.end()) {
            trace->push_back("t" + std::to_string(t) + " resumed by an unknown condition");
            return;
        }
        if (Message* m = e.message()) {
            trace->push_back(line_receive(t, m->name, m->value_as<int>(), id_of(m->sender), index));
            return;
        }
        trace->push_back(line_wake(t, s.conds[static_cast<std::size_t>(index)].kind, index));
    }
};

std::unique_ptr<WaitForMessages> make_condition(const Actions& a) {
    std::vector<std::string> accept, defer, discard;
    for (int i = 0; i < kListed; ++i) {
        switch (a[static_cast<std::size_t>(i)]) {
        case Act::accept:
            accept.emplace_back(kNames[static_cast<std::size_t>(i)]);
            break;
        case Act::defer:
            defer.emplace_back(kNames[static_cast<std::size_t>(i)]);
            break;
        case Act::discard:
            discard.emplace_back(kNames[static_cast<std::size_t>(i)]);
            break;
        case Act::none:
            break;
        }
    }
    return std::make_unique<WaitForMessages>(accept, defer, discard);
}

Tasklet<> program(Real* r, int id) {
    const Program& p = r->sc->programs[static_cast<std::size_t>(id)];
    std::vector<std::unique_ptr<WaitForMessages>> pool;
    for (const Actions& a : p.pool)
        pool.push_back(make_condition(a));
    WaitForIdle idles[Program::idles];
    std::vector<std::unique_ptr<WaitForTimeout>> timers;
    for (guint ms : p.timer_ms)
        timers.push_back(std::make_unique<WaitForTimeout>(ms, G_PRIORITY_DEFAULT + id));

    for (std::size_t at = 0; at < p.steps.size(); ++at) {
        const Step& s = p.steps[at];
        if (s.send && s.direct) {
            r->trace->push_back(line_send(id, s.dest, s.name, s.value, true));
            r->tasks[static_cast<std::size_t>(s.dest)].send_message(
                Message(kNames[static_cast<std::size_t>(s.name)], {}, s.value));
            continue;
        }
        if (s.send) {
            r->trace->push_back(line_send(id, s.dest, s.name, s.value));
            co_await Message(kNames[static_cast<std::size_t>(s.name)],
                             r->tasks[static_cast<std::size_t>(s.dest)], s.value);
            continue;
        }
        std::vector<std::unique_ptr<WaitForMessages>> fresh; // destroyed after this wait
        for (const Actions& a : s.fresh)
            fresh.push_back(make_condition(a));
        std::vector<WaitCondition*> conds;
        for (CondRef c : s.conds) {
            auto i = static_cast<std::size_t>(c.index);
            switch (c.kind) {
            case Kind::messages:
                conds.push_back(pool[i].get());
                break;
            case Kind::fresh:
                conds.push_back(fresh[i].get());
                break;
            case Kind::idle:
                conds.push_back(&idles[i]);
                break;
            case Kind::timer:
                conds.push_back(timers[i].get());
                break;
            }
        }
        // Both spellings of a wait: co_await on the one condition (which yields the Message)
        // and any().
        bool single = conds.size() == 1 && s.conds[0].kind != Kind::idle &&
                      s.conds[0].kind != Kind::timer && at % 2 == 0;
        if (single) {
            Message m = co_await *static_cast<WaitForMessages*>(conds[0]);
            Message* e = get_event().message();
            if (!e || e->name != m.name || e->value_as<int>() != m.value_as<int>())
                r->trace->push_back("co_await yielded another message than get_event()");
        } else {
            co_await any(std::span<WaitCondition* const>(conds));
        }
        r->record(id, conds, s);
    }
    r->trace->push_back(line_end(id));
}

// The drop notes (g_debug) become trace lines, in the order they happen among the rest.
void on_log(const gchar*, GLogLevelFlags level, const gchar* text, gpointer data) {
    auto* trace = static_cast<Trace*>(data);
    std::string s = text;
    auto quoted = [&](const std::string& after) -> std::string {
        auto b = s.find(after);
        if (b == std::string::npos)
            return {};
        b += after.size();
        auto e = s.find('\'', b);
        return e == std::string::npos ? std::string() : s.substr(b, e - b);
    };
    std::string t = quoted("tasklet '");
    std::string name = quoted("message '");
    if ((level & G_LOG_LEVEL_DEBUG) && !t.empty() && !name.empty() &&
        s.find("dropped") != std::string::npos) {
        trace->push_back(line_drop(t, name, s.find("has ended") != std::string::npos));
        return;
    }
    trace->push_back("log: " + s);
}

std::string state_name(State s) {
    switch (s) {
    case State::zombie:
        return " zombie";
    case State::suspended:
        return " suspended";
    case State::running:
    case State::msgsend:
        break;
    }
    return " ?";
}

// A no-op source below every other priority in play: the loop never blocks, and an iteration
// with nothing else ready dispatches only this.
struct KeepAwake {
    GSource* s = g_idle_source_new();
    KeepAwake() {
        g_source_set_priority(s, G_PRIORITY_LOW);
        g_source_set_callback(
            s, [](gpointer) -> gboolean { return G_SOURCE_CONTINUE; }, nullptr, nullptr);
        g_source_attach(s, nullptr);
    }
    ~KeepAwake() {
        g_source_destroy(s);
        g_source_unref(s);
    }
    KeepAwake(const KeepAwake&) = delete;
    KeepAwake& operator=(const KeepAwake&) = delete;
};

// The scheduler's clock hook, set directly: testing::VirtualClock::advance() iterates the
// loop itself, while here every iteration is a step of the scenario.
struct VirtualClockGuard {
    VirtualClockGuard() {
        virtual_now = 0;
        detail::clock_hook = detail::ClockHook{&read_virtual_clock, nullptr};
    }
    ~VirtualClockGuard() { detail::clock_hook = detail::ClockHook{}; }
    VirtualClockGuard(const VirtualClockGuard&) = delete;
    VirtualClockGuard& operator=(const VirtualClockGuard&) = delete;
};

Trace run_library(const Scenario& sc) {
    Trace trace;
    VirtualClockGuard clock;
    guint handler = g_log_set_handler(
        "tasklet",
        static_cast<GLogLevelFlags>(G_LOG_LEVEL_MASK | G_LOG_FLAG_FATAL | G_LOG_FLAG_RECURSION),
        on_log, &trace);
    {
        KeepAwake awake;
        Real r{&sc, &trace, {}};
        for (std::size_t i = 0; i < sc.programs.size(); ++i) {
            r.tasks.push_back(deferred(program, &r, static_cast<int>(i)));
            r.tasks.back().set_name("t" + std::to_string(i));
        }
        for (AnyTasklet& t : r.tasks)
            t.start();
        std::size_t k = 0;
        test::run_until(
            [&] {
                if (k == sc.driver.size())
                    return true;
                const DriverStep& d = sc.driver[k];
                virtual_now += gint64{d.advance_ms} * 1000;
                trace.push_back(line_iteration(k));
                for (const ExternalSend& e : d.sends) {
                    trace.push_back(line_send(-1, e.dest, e.name, e.value));
                    r.tasks[static_cast<std::size_t>(e.dest)].send_message(
                        Message(kNames[static_cast<std::size_t>(e.name)], {}, e.value));
                }
                ++k;
                return false; // the iteration follows
            },
            30.0);
        std::string states = "states:";
        for (const AnyTasklet& t : r.tasks)
            states += state_name(t.state());
        trace.push_back(states);
        // The rest wait for messages that will never come: end them.
        std::size_t before = trace.size();
        for (AnyTasklet& t : r.tasks)
            t.cancel();
        for (AnyTasklet& t : r.tasks)
            CHECK(t.done());
        CHECK(trace.size() == before); // cancelling records and logs nothing
        r.tasks.clear();
    }
    g_log_remove_handler("tasklet", handler);
    return trace;
}

// ---- comparing -------------------------------------------------------------------------------

std::string side_by_side(const Trace& model, const Trace& real) {
    std::ostringstream o;
    std::size_t n = std::max(model.size(), real.size());
    bool marked = false;
    o << "     model | library\n";
    for (std::size_t i = 0; i < n; ++i) {
        const std::string m = i < model.size() ? model[i] : "";
        const std::string l = i < real.size() ? real[i] : "";
        bool differ = m != l;
        o << (differ && !marked ? ">>> " : "    ") << m;
        if (differ)
            o << "  |  " << l;
        o << "\n";
        marked = marked || differ;
    }
    return o.str();
}

std::uint64_t env_number(const char* name, std::uint64_t fallback) {
    const char* s = std::getenv(name);
    return s && *s ? std::strtoull(s, nullptr, 10) : fallback;
}

// Runs `seed` through both; on a mismatch fails the test with everything needed to replay it.
bool check_seed(const Scenario& sc, Coverage* coverage, bool verbose) {
    Trace expected = run_model(sc, Mutation::none, coverage);
    Trace actual = run_library(sc);
    if (verbose)
        std::printf("%s\n%s", describe(sc).c_str(), side_by_side(expected, actual).c_str());
    if (expected == actual)
        return true;
    FAIL_CHECK("the library disagrees with the model; replay with TASKLET_MODEL_SEED="
               << sc.seed << "\n"
               << describe(sc) << side_by_side(expected, actual));
    return false;
}

// Runs `count` seeds from `first` (or only TASKLET_MODEL_SEED); returns how many agreed.
std::uint64_t check_seeds(std::uint64_t first, std::uint64_t count, Coverage& coverage) {
    if (const char* one = std::getenv("TASKLET_MODEL_SEED"); one && *one)
        return check_seed(generate(std::strtoull(one, nullptr, 10)), &coverage, true) ? 1 : 0;
    auto started = std::chrono::steady_clock::now();
    std::uint64_t agreed = 0;
    for (std::uint64_t seed = first; seed < first + count; ++seed) {
        if (!check_seed(generate(seed), &coverage, false))
            break;
        ++agreed;
    }
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::printf("model: seeds %llu..%llu: %llu agree, %.1f s; rules applied:",
                static_cast<unsigned long long>(first),
                static_cast<unsigned long long>(first + count - 1),
                static_cast<unsigned long long>(agreed), seconds);
    for (const char* rule : kRules)
        std::printf(" %s %zu;", rule, coverage[rule]);
    std::printf("\n");
    return agreed;
}

} // namespace

TEST_CASE("the library delivers messages exactly as the reference model does, over thousands of "
          "random scenarios") {
    const std::uint64_t seeds = env_number("TASKLET_MODEL_SEEDS", 3000);
    Coverage coverage;
    std::uint64_t agreed = check_seeds(1, seeds, coverage);
    if (std::getenv("TASKLET_MODEL_SEED"))
        return;
    CHECK(agreed == seeds);
    // The scenarios must exercise every rule, or agreeing proves little.
    if (seeds >= 1000)
        for (const char* rule : kRules) {
            INFO("rule never applied: " << rule);
            CHECK(coverage[rule] > 0);
        }
}

TEST_CASE("the library agrees with the model over larger scenarios", "[scale]") {
    const std::uint64_t seeds = env_number("TASKLET_MODEL_SEEDS", 5000);
    Coverage coverage;
    CHECK(check_seeds(kLargeSeeds, seeds, coverage) == seeds);
}

TEST_CASE("the comparison catches a model that gets a rule of the message semantics wrong") {
    // Each mutation breaks one rule of the model; against the library, some seed among the
    // first few hundred must expose it, or the scenarios do not exercise that rule.
    const std::pair<Mutation, const char*> mutations[] = {
        {Mutation::earlier_wins, "the later condition wins for a shared name"},
        {Mutation::no_refilter, "the queue is filtered again at every wait"},
        {Mutation::queued_while_sending_is_filtered, "messages to a sending tasklet are queued"},
        {Mutation::asynchronous_send, "delivery is synchronous"},
        {Mutation::idle_requeued_first, "a kept idle keeps its turn"},
    };
    for (auto [mutation, rule] : mutations) {
        INFO("rule: " << rule);
        bool caught = false;
        for (std::uint64_t seed = 1; seed <= 500 && !caught; ++seed) {
            Scenario sc = generate(seed);
            caught = run_model(sc, mutation) != run_library(sc);
        }
        CHECK(caught);
    }
}
