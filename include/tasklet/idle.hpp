// tasklet — WaitForIdle: wait for the main loop to become idle (kiwi's WaitForIdle).
#pragma once

#include "tasklet_type.hpp"

namespace tasklet {

/// Fires when no source of higher priority is ready, like a GLib idle source at `priority`.
/// Awaited again (kept armed) it fires once per main-loop iteration. `co_await` yields void.
class WaitForIdle : public detail::LaneCondition {
public:
    /// An idle wait at `priority` (a GLib priority: lower numbers run first).
    explicit WaitForIdle(int priority = G_PRIORITY_DEFAULT_IDLE) noexcept
        : LaneCondition(priority) {}

    /// The GLib priority it was made with.
    using LaneCondition::priority;

protected:
    void arm() override { queue_idle(); }

private:
    void requeue(gint64) override { queue_idle(); }
};

} // namespace tasklet
