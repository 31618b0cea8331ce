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
    Message(std::string name, AnyTasklet dest = {}, std::any value = {}, AnyTasklet sender = {})
        : name(std::move(name)), dest(std::move(dest)), value(std::move(value)),
          sender(std::move(sender)) {}

    std::string name;
    AnyTasklet dest;
    std::any value;
    AnyTasklet sender;

    /// `std::any_cast` of value; throws std::bad_any_cast on a type mismatch.
    template <class V> V& value_as() { return std::any_cast<V&>(value); }
    template <class V> const V& value_as() const { return std::any_cast<const V&>(value); }
};

/// Kiwi's `_normalize_list_argument`: no name, one name, or several.
class NameList {
public:
    NameList() = default;
    NameList(std::nullptr_t) {}
    NameList(const char* name) {
        if (name)
            names_.emplace_back(name);
    }
    NameList(std::string name) { names_.push_back(std::move(name)); }
    NameList(std::string_view name) : names_{std::string(name)} {}
    NameList(std::initializer_list<std::string_view> names) : names_(names.begin(), names.end()) {}
    NameList(const std::vector<std::string>& names) : names_(names) {}

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
/// later one in the wait wins. A name in two lists of one condition, or an empty name, is
/// std::invalid_argument.
class WaitForMessages : public WaitCondition {
public:
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

/// Sends `m` from the current tasklet (see Message).
detail::SendAwaiter operator co_await(Message m);

} // namespace tasklet

#define TASKLET_MESSAGES_DONE
#if defined(TASKLET_TASKLET_TYPE_DONE) && defined(TASKLET_WAIT_DONE)
#include "detail/runtime.hpp"
#endif
