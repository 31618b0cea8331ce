// tasklet — internal: the GSource plumbing shared by conditions that watch one GLib source
// (WaitForIO, WaitForProcess, ...). Do not include directly; include <tasklet/tasklet.hpp>.
//
// How a source-backed condition is written:
//
//   class WaitForX : public detail::SourceCondition {
//       GSource* create_source() override {            // a new, unattached source
//           GSource* s = g_x_source_new(...);
//           bind_callback(s, &WaitForX::on_event);      // any "user data last" callback type
//           return s;
//       }
//       static gboolean on_event(..., gpointer data) {
//           auto& self = from_data<WaitForX>(data);
//           self.result_ = ...;                         // record the event first
//           return self.deliver();                      // then resume the owner
//       }
//   };
//
// arm() attaches the source to the owner's context at priority(); disarm() destroys it.
// Because the source lives while the condition is armed, awaiting the same condition again
// (persistent arming) reuses it: it is never re-created inside a read loop.
#pragma once

#include "../tasklet_type.hpp"
#include "glib.hpp"

#include <utility>

namespace tasklet::detail {

/// Base of the conditions served by one GSource of their own, attached while armed.
class SourceCondition : public WaitCondition {
public:
    /// The priority its source is attached at.
    int priority() const noexcept { return priority_; }
    /// The attached source while armed, else null (borrowed). Stays the same across the
    /// waits of a loop that keeps the condition armed.
    GSource* source() const noexcept { return source_.get(); }

protected:
    explicit SourceCondition(int priority) noexcept : priority_(priority) {}
    ~SourceCondition() override {
        if (armed())
            SourceCondition::disarm();
    }

    /// Returns a new, unattached GSource (one full reference, which arm() adopts) whose
    /// callback was set with bind_callback(). May throw; nothing is attached then.
    virtual GSource* create_source() = 0;

    /// Attaches create_source() to context() at priority(). A subclass that can tell at
    /// once that its event already happened calls fire() from its arm() override (the
    /// owner is running then: the wait completes without suspending).
    void arm() override { attach(create_source()); }
    /// Destroys the source. Safe from inside the source's own callback (GLib holds its own
    /// reference during dispatch).
    void disarm() override { source_.reset(); }

    /// Adopts `s`, replacing (destroying) the current source, and attaches it. For a
    /// subclass whose source ends on its own after one event (a child watch) but whose
    /// owner waits again.
    void attach(GSource* s) {
        SourcePtr owned(s);
        g_source_set_priority(s, priority_);
        g_source_attach(s, context());
        source_ = std::move(owned);
    }

    /// Sets `s`'s callback to `cb` with this condition as user data. `Fn` is any GLib
    /// callback type whose last parameter is the user data (GSourceFunc, GUnixFDSourceFunc,
    /// GIOFunc, GSocketSourceFunc, GChildWatchFunc): GLib calls it through the source's
    /// own dispatch with the matching signature.
    template <class R, class... Args> void bind_callback(GSource* s, R (*cb)(Args...)) noexcept {
        g_source_set_callback(s, reinterpret_cast<GSourceFunc>(reinterpret_cast<void (*)()>(cb)),
                              static_cast<SourceCondition*>(this), nullptr);
    }

    /// The condition a callback bound by bind_callback() was given.
    template <class C> static C& from_data(gpointer data) noexcept {
        return static_cast<C&>(*static_cast<SourceCondition*>(data));
    }

    /// Delivers the event (the owner resumes inside this call) and returns what the source's
    /// callback must return: G_SOURCE_CONTINUE while the owner keeps waiting on it,
    /// G_SOURCE_REMOVE once it was disarmed. After REMOVE the condition may already be
    /// destroyed: the caller touches no member. Never throws into GLib.
    gboolean deliver() noexcept {
        try {
            if (!fire())
                return G_SOURCE_REMOVE;
            if (Access::pending(*this)) {
                // The owner is not suspended (it runs a nested main loop): the event waits
                // for its next wait. Stop watching meanwhile, so a level-triggered source
                // does not spin that loop; kept_armed() watches again when the owner waits.
                source_.reset();
                return G_SOURCE_REMOVE;
            }
            return G_SOURCE_CONTINUE;
        } catch (...) {
            log_callback_exception("a source callback");
            return G_SOURCE_REMOVE;
        }
    }

    /// Watches again if deliver() stopped watching while the event was pending.
    void kept_armed() override {
        if (!source_)
            attach(create_source());
    }

private:
    int priority_;
    SourcePtr source_;
};

} // namespace tasklet::detail
