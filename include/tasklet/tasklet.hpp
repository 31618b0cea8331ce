// tasklet — C++20 coroutines on the GLib main loop, after Python's kiwi.tasklet.
// The umbrella header: includes every public header.
#pragma once

#include "idle.hpp"
#include "join.hpp"
#include "messages.hpp"
#include "tasklet_type.hpp"
#include "timeout.hpp"
#include "wait.hpp"
