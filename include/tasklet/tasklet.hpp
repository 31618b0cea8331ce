// tasklet — C++20 coroutines on the GLib main loop, after Python's kiwi.tasklet.
// The umbrella header: includes every public header but the opt-in <tasklet/testing.hpp>.
#pragma once

#include "call.hpp"
#include "gio.hpp"
#include "idle.hpp"
#include "io.hpp"
#include "join.hpp"
#include "messages.hpp"
#include "process.hpp"
#include "signal.hpp"
#include "tasklet_type.hpp"
#include "thread.hpp"
#include "timeout.hpp"
#include "wait.hpp"
