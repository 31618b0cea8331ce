// tasklet — Message, NameList, MessageAction, WaitForMessages (kiwi's message passing).
#pragma once

#include "tasklet_type.hpp"
#include "wait.hpp"

#include <any>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tasklet {

/// A message that a tasklet receives or sends (kiwi's Message).
///
/// `co_await Message("print", task, x)` inside a tasklet sends it: `sender` is set to the
/// current tasklet and, if `dest` accepts it now, `dest` runs until its next suspension
/// before the sender continues. No `dest`: std::invalid_argument. A `dest` that has ended:
/// dropped (g_debug). It produces no event.
struct Message {
    /// A message called `name` for `dest` carrying `value`; `sender` is normally left empty
    /// (`co_await Message(...)` sets it to the sending tasklet).
    Message(std::string name, AnyTasklet dest = {}, std::any value = {}, AnyTasklet sender = {})
        : name(std::move(name)), dest(std::move(dest)), value(std::move(value)),
          sender(std::move(sender)) {}

    /// Matched against the names of WaitForMessages conditions.
    std::string name;
    /// The tasklet it is for.
    AnyTasklet dest;
    /// The payload (any copyable type); read it with value_as().
    std::any value;
    /// The tasklet that sent it with `co_await Message(...)`, or empty.
    AnyTasklet sender;

    /// `std::any_cast` of value; throws std::bad_any_cast on a type mismatch.
    template <class V> V& value_as() { return std::any_cast<V&>(value); }
    /// `std::any_cast` of value; throws std::bad_any_cast on a type mismatch.
    template <class V> const V& value_as() const { return std::any_cast<const V&>(value); }
};

/// Kiwi's `_normalize_list_argument`: no name, one name, or several.
class NameList {
public:
    /// No name.
    NameList() = default;
    /// No name.
    NameList(std::nullptr_t) {}
    /// One name; a null pointer means none.
    NameList(const char* name) {
        if (name)
            names_.emplace_back(name);
    }
    /// One name.
    NameList(std::string name) { names_.push_back(std::move(name)); }
    /// One name.
    NameList(std::string_view name) : names_{std::string(name)} {}
    /// Several names: `{"quit", "print"}`.
    NameList(std::initializer_list<std::string_view> names) : names_(names.begin(), names.end()) {}
    /// Several names.
    NameList(const std::vector<std::string>& names) : names_(names) {}

    /// The names, in the order given.
    std::span<const std::string> names() const { return names_; }

private:
    std::vector<std::string> names_;
};

namespace detail {
class SendAwaiter;
}

/// Waits for messages (kiwi's WaitForMessages). `co_await` yields the accepted Message.
///
/// While armed, its names decide what happens to messages for the tasklet: `accept` delivers
/// (resumes the tasklet), `defer` keeps them queued for a later wait, `discard` drops them;
/// names with no action are dropped too. When several armed conditions list a name, the
/// later one in the wait wins. A name listed twice in one condition (in one list or two), or
/// an empty name, is std::invalid_argument.
class WaitForMessages : public WaitCondition {
public:
    /// Names whose messages it delivers (`accept`), keeps queued (`defer`) or drops
    /// (`discard`) while armed.
    WaitForMessages(NameList accept = {}, NameList defer = {}, NameList discard = {});
    /// Makes `WaitForMessages w({"quit", "print"})` accept both names: a braced list of
    /// names is otherwise ambiguous with the (deleted) copy constructor.
    WaitForMessages(std::initializer_list<std::string_view> accept, NameList defer = {},
                    NameList discard = {})
        : WaitForMessages(NameList(accept), std::move(defer), std::move(discard)) {}
    ~WaitForMessages() override;

    /// The action this condition gives `name`, or nullptr if it lists no such name.
    const MessageAction* action_for(std::string_view name) const noexcept;

protected:
    void arm() override;
    void disarm() override;

private:
    Message await_result();
    std::vector<std::pair<std::string, MessageAction>> actions_;
    friend struct detail::Access;
};

/// Sends `m` from the current tasklet (see Message): `co_await Message("x", t, v)`. The
/// message is delivered from the temporary itself, never copied.
detail::SendAwaiter operator co_await(Message&& m) noexcept;
/// Sends a copy of `m` from the current tasklet.
detail::SendAwaiter operator co_await(const Message& m);

} // namespace tasklet

#define TASKLET_MESSAGES_DONE
#if defined(TASKLET_TASKLET_TYPE_DONE) && defined(TASKLET_WAIT_DONE)
#include "detail/runtime.hpp"
#endif
