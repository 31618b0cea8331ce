// tasklet — internal: forward declarations shared by every header.
// Do not include directly; include <tasklet/tasklet.hpp>.
#pragma once

#include <glib-object.h>
#include <glib.h>

#include <compare>
#include <cstdint>
#include <exception>

namespace tasklet {

/// The life cycle of a tasklet (kiwi's STATE_*).
// One byte: it sits among the promise's flags.
enum class State : std::uint8_t {
    running,   ///< executing its body right now
    suspended, ///< waiting for an event, or created by deferred() and not started
    msgsend,   ///< inside `co_await Message(...)`, delivering a message
    zombie,    ///< ended: returned, failed, or cancelled
};

/// What a WaitForMessages does with a message of a given name.
enum class MessageAction { accept, defer, discard };

/// Thrown from the pending `co_await` of a cancelled tasklet (see AnyTasklet::cancel()).
class Cancelled : public std::exception {
public:
    /// "tasklet cancelled".
    const char* what() const noexcept override { return "tasklet cancelled"; }
};

/// Identifies a join callback (AnyTasklet::add_join_callback); opaque, copyable, comparable.
class JoinId {
public:
    JoinId() = default;
    friend bool operator==(JoinId, JoinId) = default;
    friend auto operator<=>(JoinId, JoinId) = default;

private:
    explicit JoinId(std::uint64_t v) : value_(v) {}
    std::uint64_t value_ = 0;
    friend class AnyTasklet;
};

class AnyTasklet;
template <class T = void> class Tasklet;
class WaitCondition;
class Event;
struct Message;
class NameList;
class WaitForMessages;
template <class T = void> class WaitForTasklet;

namespace detail {
inline constexpr const char* log_domain = "tasklet";
class PromiseBase;
template <class T> class Promise;
class Scheduler;
class Lane;
class LaneCondition;
class JoinWaiter;
struct Access;
} // namespace detail

} // namespace tasklet
