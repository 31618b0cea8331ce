// tasklet — WaitForSignal: wait for a GObject signal emission (kiwi's WaitForSignal).
#pragma once

#include "detail/glib.hpp"
#include "tasklet_type.hpp"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace tasklet {

namespace detail {

template <class> inline constexpr bool always_false_v = false;

inline std::atomic<std::uint64_t> next_thread_serial{1};
/// A number no other thread ever gets (unlike a GThread* or a thread-local address, which a
/// later thread may reuse).
inline std::uint64_t thread_serial() noexcept {
    static thread_local const std::uint64_t serial =
        next_thread_serial.fetch_add(1, std::memory_order_relaxed);
    return serial;
}

// Deep copies of `n` GValues appended to `out` (reserved first, so nothing leaks on throw).
inline void copy_values(const GValue* src, std::size_t n, std::vector<GValue>& out) {
    out.reserve(out.size() + n);
    for (std::size_t i = 0; i < n; ++i) {
        GValue v = G_VALUE_INIT;
        g_value_init(&v, G_VALUE_TYPE(&src[i]));
        g_value_copy(&src[i], &v);
        out.push_back(v); // the vector owns it from here (a GValue is trivially relocatable)
    }
}

inline void unset_values(std::vector<GValue>& values) noexcept {
    for (GValue& v : values)
        if (G_IS_VALUE(&v))
            g_value_unset(&v);
    values.clear();
}

[[noreturn]] inline void arg_type_mismatch(std::size_t i, const GValue& v, const char* wanted) {
    throw std::invalid_argument(std::string("tasklet: Emission::arg(") + std::to_string(i) +
                                "): the argument holds a " + g_type_name(G_VALUE_TYPE(&v)) +
                                ", which cannot be read as " + wanted);
}

template <class V> struct underlying { using type = V; };
// clang-format off
template <class V>
requires std::is_enum_v<V>
struct underlying<V> {
    using type = std::underlying_type_t<V>;
};
// clang-format on

// std::in_range() takes the standard integer types only: a character type (gchar is char)
// is range-checked as the integer type of its size and signedness, and bool (an enum's
// underlying type) as unsigned char — fitting values then include 2..255, so bool gets a
// check of its own below.
template <class T> struct checked_int {
    using type =
        std::conditional_t<std::is_signed_v<T>, std::make_signed_t<T>, std::make_unsigned_t<T>>;
};
template <> struct checked_int<bool> { using type = unsigned char; };
template <class T> using checked_int_t = typename checked_int<T>::type;

// Reads `v` (argument `i`) as V; see Emission::arg() for the accepted pairs.
template <class V> V value_as(const GValue& v, std::size_t i) {
    const GType f = G_TYPE_FUNDAMENTAL(G_VALUE_TYPE(&v));
    if constexpr (std::is_same_v<V, bool>) {
        if (f == G_TYPE_BOOLEAN)
            return g_value_get_boolean(&v) != FALSE;
        arg_type_mismatch(i, v, "bool");
    } else if constexpr (std::is_integral_v<V> || std::is_enum_v<V>) {
        using U = checked_int_t<typename underlying<V>::type>;
        bool is_signed = true;
        gint64 s = 0;
        guint64 u = 0;
        switch (f) {
        case G_TYPE_CHAR:
            s = g_value_get_schar(&v);
            break;
        case G_TYPE_BOOLEAN:
            s = g_value_get_boolean(&v);
            break;
        case G_TYPE_INT:
            s = g_value_get_int(&v);
            break;
        case G_TYPE_LONG:
            s = g_value_get_long(&v);
            break;
        case G_TYPE_INT64:
            s = g_value_get_int64(&v);
            break;
        case G_TYPE_ENUM:
            s = g_value_get_enum(&v);
            break;
        case G_TYPE_UCHAR:
            is_signed = false;
            u = g_value_get_uchar(&v);
            break;
        case G_TYPE_UINT:
            is_signed = false;
            u = g_value_get_uint(&v);
            break;
        case G_TYPE_ULONG:
            is_signed = false;
            u = g_value_get_ulong(&v);
            break;
        case G_TYPE_UINT64:
            is_signed = false;
            u = g_value_get_uint64(&v);
            break;
        case G_TYPE_FLAGS:
            is_signed = false;
            u = g_value_get_flags(&v);
            break;
        default:
            arg_type_mismatch(i, v, "an integer");
        }
        constexpr bool to_bool = std::is_same_v<typename underlying<V>::type, bool>;
        if (is_signed ? !std::in_range<U>(s) || (to_bool && s > 1)
                      : !std::in_range<U>(u) || (to_bool && u > 1))
            throw std::invalid_argument("tasklet: Emission::arg(" + std::to_string(i) +
                                        "): the value does not fit the requested integer type");
        return static_cast<V>(is_signed ? static_cast<U>(s) : static_cast<U>(u));
    } else if constexpr (std::is_floating_point_v<V>) {
        if (f == G_TYPE_DOUBLE)
            return static_cast<V>(g_value_get_double(&v));
        if (f == G_TYPE_FLOAT)
            return static_cast<V>(g_value_get_float(&v));
        arg_type_mismatch(i, v, "a floating-point number");
    } else if constexpr (std::is_same_v<V, std::string>) {
        if (f == G_TYPE_STRING) {
            const char* s = g_value_get_string(&v);
            return s ? std::string(s) : std::string();
        }
        arg_type_mismatch(i, v, "std::string");
    } else if constexpr (std::is_pointer_v<V>) {
        using P = std::remove_cv_t<std::remove_pointer_t<V>>;
        if constexpr (std::is_same_v<P, char>) {
            if (f == G_TYPE_STRING)
                return const_cast<V>(g_value_get_string(&v));
            arg_type_mismatch(i, v, "a string");
        } else if constexpr (std::is_same_v<P, GVariant>) {
            if (f == G_TYPE_VARIANT)
                return g_value_get_variant(&v);
            arg_type_mismatch(i, v, "GVariant*");
        } else if constexpr (std::is_same_v<P, GParamSpec>) {
            if (f == G_TYPE_PARAM)
                return g_value_get_param(&v);
            arg_type_mismatch(i, v, "GParamSpec*");
        } else if constexpr (std::is_same_v<P, void>) {
            if (g_value_fits_pointer(&v))
                return g_value_peek_pointer(&v);
            arg_type_mismatch(i, v, "a pointer");
        } else {
            if constexpr (std::is_same_v<P, GObject>) {
                if (!g_type_is_a(G_VALUE_TYPE(&v), G_TYPE_OBJECT))
                    arg_type_mismatch(i, v, "GObject*");
            }
            if (f == G_TYPE_OBJECT || f == G_TYPE_INTERFACE || f == G_TYPE_BOXED ||
                f == G_TYPE_POINTER)
                return static_cast<V>(g_value_peek_pointer(&v));
            arg_type_mismatch(i, v, "a pointer to an object or boxed type");
        }
    } else {
        static_assert(always_false_v<V>,
                      "Emission::arg<V>: V must be bool, an integer or enum, a floating-point "
                      "type, std::string, const char*, GVariant*, GParamSpec*, gpointer or a "
                      "pointer to an object or boxed type");
    }
}

// Owns one GValue.
class Value {
public:
    Value() = default;
    Value(const Value&) = delete;
    Value& operator=(const Value&) = delete;
    ~Value() {
        if (G_IS_VALUE(&v_))
            g_value_unset(&v_);
    }
    GValue* init(GType t) noexcept { return g_value_init(&v_, t); }
    const GValue& get() const noexcept { return v_; }

private:
    GValue v_ = G_VALUE_INIT;
};

} // namespace detail

/// One signal emission, as a WaitForSignal delivers it. A value type: copying it takes new
/// references and deep-copies the arguments; destroying it releases them.
struct Emission {
    /// The instance that emitted (a strong reference, owned by this Emission), or null when
    /// `destroyed`.
    GObject* object = nullptr;
    /// Copies of the signal's parameters, the instance excluded, in signal order. Owned
    /// (unset on destruction); read them with arg<V>() or the g_value_get_* functions.
    std::vector<GValue> args;
    /// True when the watched instance was finalized (disposed) instead of emitting.
    bool destroyed = false;

    Emission() = default;
    /// Takes a new reference to `object` and deep-copies the arguments.
    Emission(const Emission& o) : destroyed(o.destroyed) {
        detail::copy_values(o.args.data(), o.args.size(), args);
        object = o.object ? G_OBJECT(g_object_ref(o.object)) : nullptr;
    }
    /// Takes over `o`'s reference and arguments; `o` is left empty.
    Emission(Emission&& o) noexcept
        : object(std::exchange(o.object, nullptr)), args(std::move(o.args)),
          destroyed(o.destroyed) {
        o.args.clear();
    }
    /// Copy or move assignment; what this Emission held is released.
    Emission& operator=(Emission o) noexcept {
        std::swap(object, o.object);
        std::swap(args, o.args);
        std::swap(destroyed, o.destroyed);
        return *this;
    }
    ~Emission() {
        detail::unset_values(args);
        if (object)
            g_object_unref(object);
    }

    /// Argument `i` as V. std::out_of_range when there is no such argument;
    /// std::invalid_argument when it does not hold a V. Accepted: `bool` (G_TYPE_BOOLEAN);
    /// any integer or enum type (any GLib integer, boolean, enum or flags value that fits;
    /// so `gboolean` works); `float`/`double` (float, double); `std::string` (a string, null
    /// as ""); `const char*`, `GVariant*`, `GParamSpec*` (borrowed: valid while this Emission
    /// lives); `gpointer` (any pointer-holding value); `T*` (an object, interface, boxed or
    /// pointer value, borrowed; C types carry no relation C++ can check, so the cast to T is
    /// the caller's claim, except for `GObject*`, which is checked).
    template <class V> V arg(std::size_t i) const {
        if (i >= args.size())
            throw std::out_of_range("tasklet: Emission::arg(" + std::to_string(i) +
                                    "): the emission has " + std::to_string(args.size()) +
                                    " argument(s)");
        return detail::value_as<V>(args[i], i);
    }
};

/// Waits for an emission of a GObject signal (kiwi's WaitForSignal). `co_await` yields an
/// Emission; the same data stays readable through object(), args() and destroyed().
///
/// Two forms:
/// - `WaitForSignal(instance, "name[::detail]")` watches one GObject. It holds only a weak
///   reference: if the instance is finalized (disposed) while a tasklet waits, the wait
///   completes with destroyed() == true and object() == nullptr; every later wait on it
///   completes the same way (from an idle callback), so nothing hangs on a dead object.
/// - `WaitForSignal(type, "name[::detail]")` watches every instance of `type` (or a subtype)
///   through an emission hook; object() says which one emitted. Emission hooks run after a
///   G_SIGNAL_RUN_FIRST class handler and before every connected handler, and cannot set a
///   return value. Signals declared with
///   G_SIGNAL_NO_HOOKS (GObject::notify is one) cannot be watched this way.
///
/// The tasklet resumes inside the emission (kiwi semantics): it runs up to its next
/// suspension before the emitter's later handlers and before g_signal_emit() returns. A
/// signal with a return value returns the zero value of its return type from this handler
/// (FALSE, 0, NULL) unless the tasklet calls set_return_value() while it runs inside the
/// emission — e.g. returning TRUE from a g_signal_accumulator_true_handled signal stops
/// the emission.
///
/// Connected (hooked) only while armed; awaited again in a loop it keeps the same
/// connection. Emissions while it is disarmed are not recorded (as in kiwi); one that comes
/// while it stays armed and its tasklet runs is kept for its next wait, like any event (see
/// WaitCondition::fire()).
///
/// Threads: emissions are seen on the thread that armed it. An emission on another thread
/// is ignored (the instance form logs a g_warning); the watched instance must be released
/// on the tasklet's thread. A pointer that is not a GTypeInstance at all is undefined
/// behaviour, as in GLib.
class WaitForSignal : public WaitCondition {
public:
    /// Watches `instance` (a GObject; weak reference). Null or not a GObject, a null or
    /// unknown signal name, or a detail on a signal without G_SIGNAL_DETAILED:
    /// std::invalid_argument.
    WaitForSignal(gpointer instance, const char* detailed_signal) {
        if (!instance)
            throw std::invalid_argument("tasklet: WaitForSignal: null instance");
        if (!G_IS_OBJECT(instance))
            throw std::invalid_argument("tasklet: WaitForSignal: the instance is not a GObject");
        instance_ = G_OBJECT(instance);
        lookup(G_OBJECT_TYPE(instance_), detailed_signal);
        watch();
    }

    /// Watches every instance of `type` (a GObject or interface type) through an emission
    /// hook. Anything else, an unknown signal name, a bad detail or a G_SIGNAL_NO_HOOKS
    /// signal: std::invalid_argument.
    WaitForSignal(GType type, const char* detailed_signal) : type_(type), by_type_(true) {
        if (G_TYPE_IS_OBJECT(type))
            class_ = g_type_class_ref(type); // class_init registers the signals
        else if (G_TYPE_IS_INTERFACE(type))
            class_ = g_type_default_interface_ref(type);
        else
            throw std::invalid_argument(
                "tasklet: WaitForSignal: the type is not a GObject or interface type");
        try {
            lookup(type, detailed_signal);
            if (flags_ & G_SIGNAL_NO_HOOKS)
                throw std::invalid_argument(std::string("tasklet: WaitForSignal: signal '") +
                                            detailed_signal +
                                            "' does not allow emission hooks (G_SIGNAL_NO_HOOKS)");
        } catch (...) {
            release_class();
            throw;
        }
        g_weak_ref_init(&last_object_, nullptr);
    }

    ~WaitForSignal() override {
        if (armed())
            disarm();
        if (instance_)
            unwatch();
        if (by_type_)
            g_weak_ref_clear(&last_object_);
        release_class();
    }

    /// The instance of the last emission (borrowed): for the instance form, the watched
    /// instance; for the type form, the last instance that emitted, if it still exists.
    /// Null once the watched instance was finalized, and for the type form before any
    /// emission.
    GObject* object() const noexcept {
        if (!by_type_)
            return instance_;
        GObject* o = static_cast<GObject*>(g_weak_ref_get(&last_object_));
        if (o)
            g_object_unref(o); // borrowed: it lives as long as its other owners
        return o;
    }
    /// The parameters of the last emission (instance excluded), owned by this condition
    /// until the next emission. Empty before any emission and after destruction.
    std::span<const GValue> args() const noexcept { return last_.args; }
    /// True once the watched instance was finalized (instance form only).
    bool destroyed() const noexcept { return last_.destroyed; }
    /// The signal's id and detail quark (0: none).
    guint signal_id() const noexcept { return signal_id_; }
    GQuark detail() const noexcept { return detail_; }
    /// True while the tasklet runs inside an emission of a signal with a return value (the
    /// instance form), i.e. while set_return_value() is allowed.
    bool can_set_return_value() const noexcept { return return_slot_ != nullptr; }

    /// Sets the value this emission's handler returns (default: the zero value of the
    /// signal's return type). Only while the tasklet runs inside the emission that resumed
    /// it, before its next suspension; otherwise (including the type form, whose emission
    /// hooks cannot return values, and signals returning void) std::logic_error. `v` is
    /// copied, or converted with g_value_transform(); not convertible:
    /// std::invalid_argument.
    void set_return_value(const GValue& v) {
        GValue* slot = checked_slot();
        if (g_value_type_compatible(G_VALUE_TYPE(&v), G_VALUE_TYPE(slot)))
            g_value_copy(&v, slot);
        else if (!g_value_type_transformable(G_VALUE_TYPE(&v), G_VALUE_TYPE(slot)) ||
                 !g_value_transform(&v, slot))
            throw std::invalid_argument(std::string("tasklet: WaitForSignal::set_return_value: "
                                                    "cannot convert a ") +
                                        g_type_name(G_VALUE_TYPE(&v)) + " to " +
                                        g_type_name(G_VALUE_TYPE(slot)));
    }
    /// The same from a C++ value: `bool` and integers (so `TRUE`), enums, `float`/`double`,
    /// `std::string`/`const char*` (copied), and pointers to an object (type-checked,
    /// referenced), a boxed value (copied), a GVariant (referenced), a GParamSpec or a plain
    /// pointer, matching the return type.
    template <class V> void set_return_value(V v) {
        GValue* slot = checked_slot();
        const GType f = G_TYPE_FUNDAMENTAL(G_VALUE_TYPE(slot));
        detail::Value tmp;
        if constexpr (std::is_same_v<V, bool>) {
            g_value_set_boolean(tmp.init(G_TYPE_BOOLEAN), v);
        } else if constexpr (std::is_enum_v<V>) {
            if (f == G_TYPE_ENUM) {
                g_value_set_enum(slot, static_cast<gint>(v));
                return;
            }
            if (f == G_TYPE_FLAGS) {
                g_value_set_flags(slot, static_cast<guint>(v));
                return;
            }
            g_value_set_int64(tmp.init(G_TYPE_INT64), static_cast<gint64>(v));
        } else if constexpr (std::is_integral_v<V> && std::is_signed_v<V>) {
            g_value_set_int64(tmp.init(G_TYPE_INT64), v);
        } else if constexpr (std::is_integral_v<V>) {
            g_value_set_uint64(tmp.init(G_TYPE_UINT64), v);
        } else if constexpr (std::is_floating_point_v<V>) {
            g_value_set_double(tmp.init(G_TYPE_DOUBLE), static_cast<double>(v));
        } else if constexpr (std::is_convertible_v<V, std::string_view> && !std::is_pointer_v<V>) {
            std::string s{std::string_view(v)};
            g_value_set_string(tmp.init(G_TYPE_STRING), s.c_str());
        } else if constexpr (std::is_pointer_v<V>) {
            using P = std::remove_cv_t<std::remove_pointer_t<V>>;
            gpointer p = const_cast<P*>(v);
            if constexpr (std::is_same_v<P, char>) {
                if (f == G_TYPE_STRING)
                    return g_value_set_string(slot, v);
            } else if constexpr (std::is_same_v<P, GVariant>) {
                if (f == G_TYPE_VARIANT)
                    return g_value_set_variant(slot, const_cast<GVariant*>(v));
            } else if constexpr (std::is_same_v<P, GParamSpec>) {
                if (f == G_TYPE_PARAM)
                    return g_value_set_param(slot, const_cast<GParamSpec*>(v));
            } else {
                if (f == G_TYPE_OBJECT || f == G_TYPE_INTERFACE) {
                    if (p && !G_TYPE_CHECK_INSTANCE_TYPE(p, G_VALUE_TYPE(slot)))
                        throw std::invalid_argument(
                            std::string("tasklet: WaitForSignal::set_return_value: the object "
                                        "is not a ") +
                            g_type_name(G_VALUE_TYPE(slot)));
                    return g_value_set_object(slot, p);
                }
                if (f == G_TYPE_BOXED)
                    return g_value_set_boxed(slot, p);
                if (f == G_TYPE_POINTER)
                    return g_value_set_pointer(slot, p);
            }
            throw std::invalid_argument(
                std::string("tasklet: WaitForSignal::set_return_value: a pointer cannot be "
                            "returned as ") +
                g_type_name(G_VALUE_TYPE(slot)));
        } else {
            static_assert(detail::always_false_v<V>,
                          "WaitForSignal::set_return_value: unsupported value type");
        }
        set_return_value(tmp.get());
    }

protected:
    void arm() override {
        if (by_type_) {
            join_type_hook();
        } else if (!instance_) {
            refire_later(); // already finalized: complete the wait from the main loop
        } else {
            auto* c = reinterpret_cast<SignalClosure*>(
                g_closure_new_simple(sizeof(SignalClosure), nullptr));
            c->thread = detail::thread_serial();
            c->signal_id = signal_id_;
            c->self = this;
            g_closure_set_marshal(&c->closure, &WaitForSignal::marshal);
            // Our own reference: the closure must outlive the handler, which the instance
            // drops when it is disposed, before on_disposed() runs.
            g_closure_ref(&c->closure);
            g_closure_sink(&c->closure);
            closure_ = c;
            handler_ =
                g_signal_connect_closure_by_id(instance_, signal_id_, detail_, &c->closure, FALSE);
        }
    }

    void disarm() override {
        return_slot_ = nullptr;
        refire_.reset();
        if (closure_) {
            if (instance_ && handler_ && g_signal_handler_is_connected(instance_, handler_))
                g_signal_handler_disconnect(instance_, handler_);
            drop_closure();
        }
        if (type_hook_)
            leave_type_hook();
    }

    /// A new wait on the condition: the tasklet has left the emission that resumed it (its
    /// return value can no longer be set), and waits on a finalized instance end again.
    void kept_armed() override {
        return_slot_ = nullptr;
        if (!by_type_ && !instance_ && !detail::Access::pending(*this))
            refire_later();
    }

private:
    // A GClosure that knows its thread and condition. `thread` and `signal_id` never change,
    // so a marshal call on another thread can tell it is foreign without touching the
    // condition (which that thread must not read).
    struct SignalClosure {
        GClosure closure;
        std::uint64_t thread; // detail::thread_serial()
        guint signal_id;
        WaitForSignal* self;
    };
    // The type form: one emission hook per signal and thread, shared by the conditions
    // watching that signal there. GLib may call a hook added during an emission for that
    // same emission (2.74 walks the hook list as it grows), so a condition armed by a
    // tasklet that an emission resumed would see the emission that woke it. The shared hook
    // numbers the emissions it sees and fires only the conditions armed before the current
    // one began. It stays until the thread exits, so a condition armed again while an
    // emission runs (left and re-armed, or a new one) always joins a hook that has already
    // numbered that emission — except the very first type-form wait for the signal on the
    // thread, if that is armed during the signal's own hook phase (see README).
    struct TypeHook {
        guint signal_id;
        std::uint64_t thread; // detail::thread_serial(); never changes: read by any thread
        gulong id = 0;
        std::uint64_t emissions = 0;         // seen so far; numbers them
        std::vector<WaitForSignal*> members; // null: left during a call
        int calls = 0;                       // on_hook calls on the stack
    };
    // This thread's hooks. When the thread exits, a hook nobody uses is removed; one still
    // used (conditions armed by tasklets that can no longer run) stays, matching no thread.
    struct TypeHooks {
        std::vector<TypeHook*> hooks;
        ~TypeHooks() {
            for (TypeHook* h : hooks)
                if (h->members.empty())
                    g_signal_remove_emission_hook(h->signal_id, h->id); // frees h
        }
    };
    static TypeHooks& type_hooks() noexcept {
        static thread_local TypeHooks registry;
        return registry;
    }
    void join_type_hook() {
        std::vector<TypeHook*>& hooks = type_hooks().hooks;
        auto it = std::find_if(hooks.begin(), hooks.end(),
                               [&](TypeHook* h) { return h->signal_id == signal_id_; });
        TypeHook* h = it == hooks.end() ? nullptr : *it;
        if (!h) {
            auto fresh = std::make_unique<TypeHook>();
            fresh->signal_id = signal_id_;
            fresh->thread = detail::thread_serial();
            hooks.reserve(hooks.size() + 1);
            fresh->id = g_signal_add_emission_hook(signal_id_, 0, &WaitForSignal::on_hook,
                                                   fresh.get(), &WaitForSignal::free_type_hook);
            h = fresh.release(); // GLib frees it when the hook goes (free_type_hook)
            hooks.push_back(h);
        }
        // During a hook call (a modal loop run from a tasklet it resumed) left members are
        // null, not erased: reuse a hole, or every join would grow the list until the call
        // ends. The call skips a member joined here whatever its index (armed_at_).
        auto hole = h->calls > 0 ? std::find(h->members.begin(), h->members.end(), nullptr)
                                 : h->members.end();
        if (hole != h->members.end())
            *hole = this;
        else
            h->members.push_back(this);
        armed_at_ = h->emissions;
        type_hook_ = h;
    }
    void leave_type_hook() noexcept {
        TypeHook* h = std::exchange(type_hook_, nullptr);
        auto it = std::find(h->members.begin(), h->members.end(), this);
        if (h->calls > 0)
            *it = nullptr; // on_hook() compacts the list when its call ends
        else
            h->members.erase(it);
    }

    void lookup(GType type, const char* detailed_signal) {
        if (!detailed_signal)
            throw std::invalid_argument("tasklet: WaitForSignal: null signal name");
        if (!g_signal_parse_name(detailed_signal, type, &signal_id_, &detail_, TRUE))
            throw std::invalid_argument(std::string("tasklet: WaitForSignal: type ") +
                                        g_type_name(type) + " has no signal '" + detailed_signal +
                                        "' (or the detail is not allowed)");
        GSignalQuery q;
        g_signal_query(signal_id_, &q);
        flags_ = q.signal_flags;
    }

    void release_class() noexcept {
        if (!class_)
            return;
        if (G_TYPE_IS_INTERFACE(type_))
            g_type_default_interface_unref(class_);
        else
            g_type_class_unref(class_);
        class_ = nullptr;
    }

    GValue* checked_slot() const {
        if (!return_slot_)
            throw std::logic_error(
                "tasklet: WaitForSignal::set_return_value: allowed only while the tasklet runs "
                "inside an emission of a signal that returns a value (instance form)");
        return return_slot_;
    }

    void drop_closure() noexcept {
        closure_->self = nullptr;
        g_closure_unref(&closure_->closure);
        closure_ = nullptr;
        handler_ = 0;
    }

    // Records the emission, then resumes the owner inside it.
    void record(const GValue* params, guint n) {
        Emission e;
        if (n > 1)
            detail::copy_values(params + 1, n - 1, e.args);
        last_ = std::move(e);
    }

    static void marshal(GClosure* closure, GValue* return_value, guint n_params,
                        const GValue* params, gpointer, gpointer) {
        auto* c = reinterpret_cast<SignalClosure*>(closure);
        if (c->thread != detail::thread_serial()) {
            g_log(detail::log_domain, G_LOG_LEVEL_WARNING,
                  "WaitForSignal: signal '%s' emitted on another thread than its tasklet's; "
                  "ignored",
                  g_signal_name(c->signal_id));
            return;
        }
        WaitForSignal* self = c->self;
        if (!self)
            return;
        try {
            self->record(params, n_params);
            if (return_value && G_IS_VALUE(return_value))
                g_value_reset(return_value); // this handler's answer unless the tasklet sets one
            GValue* outer = std::exchange(self->return_slot_, return_value);
            if (self->fire()) // false: disarmed (disarm() cleared the slot) or destroyed
                self->return_slot_ = outer;
        } catch (...) {
            detail::log_callback_exception("a WaitForSignal handler");
        }
    }

    static gboolean on_hook(GSignalInvocationHint* hint, guint n_params, const GValue* params,
                            gpointer data) {
        auto* h = static_cast<TypeHook*>(data);
        if (h->thread != detail::thread_serial())
            return TRUE; // another thread's emission: not ours to see
        const std::uint64_t emission = ++h->emissions;
        gpointer instance = g_value_peek_pointer(&params[0]);
        const bool is_object = instance && G_IS_OBJECT(instance);
        ++h->calls;
        // By index: a tasklet resumed here may arm or leave conditions of this hook.
        for (std::size_t i = 0; i < h->members.size(); ++i) {
            WaitForSignal* self = h->members[i];
            if (!self || self->armed_at_ >= emission)
                continue; // left, or armed during this emission
            if (self->detail_ && self->detail_ != hint->detail)
                continue;
            if (!is_object || !g_type_is_a(G_TYPE_FROM_INSTANCE(instance), self->type_))
                continue; // an instance of a sibling type that shares the signal
            try {
                self->record(params, n_params);
                g_weak_ref_set(&self->last_object_, instance);
                self->fire();
            } catch (...) {
                detail::log_callback_exception("a WaitForSignal emission hook");
            }
        }
        if (--h->calls == 0)
            std::erase(h->members, nullptr);
        return TRUE;
    }

    static void free_type_hook(gpointer data) { delete static_cast<TypeHook*>(data); }

    // The WaitForSignals watching one object share one weak reference on it. GLib notifies
    // weak references from a list it has already taken off the object, so a condition
    // destroyed during another's notification (its tasklet ends there) could no longer take
    // back a reference of its own, and would be notified after its death. Instead it leaves
    // this list, which the notification walks by index, skipping who has left.
    struct Watchers {
        std::vector<WaitForSignal*> members; // null: left during the notification
        bool notifying = false;
    };
    static GQuark watchers_quark() noexcept {
        static const GQuark q = g_quark_from_static_string("tasklet-wait-for-signal-watchers");
        return q;
    }
    void watch() {
        auto* w = static_cast<Watchers*>(g_object_get_qdata(instance_, watchers_quark()));
        if (!w) {
            auto fresh = std::make_unique<Watchers>();
            fresh->members.push_back(this);
            w = fresh.release();
            g_object_set_qdata(instance_, watchers_quark(), w);
            g_object_weak_ref(instance_, &WaitForSignal::on_disposed, w);
        } else {
            w->members.push_back(this);
        }
        watchers_ = w;
    }
    void unwatch() noexcept {
        Watchers* w = std::exchange(watchers_, nullptr);
        auto it = std::find(w->members.begin(), w->members.end(), this);
        if (w->notifying) {
            *it = nullptr;
            return;
        }
        w->members.erase(it);
        if (w->members.empty()) {
            g_object_weak_unref(instance_, &WaitForSignal::on_disposed, w);
            g_object_set_qdata(instance_, watchers_quark(), nullptr);
            delete w;
        }
    }

    // The watched instance is being disposed. GLib has already dropped its signal handlers
    // (g_object_real_dispose runs g_signal_handlers_destroy before notifying weak refs) and
    // drops the weak reference after the call.
    static void on_disposed(gpointer data, GObject* object) {
        std::unique_ptr<Watchers> w(static_cast<Watchers*>(data));
        g_object_set_qdata(object, watchers_quark(), nullptr);
        w->notifying = true;
        for (std::size_t i = 0; i < w->members.size(); ++i)
            if (WaitForSignal* self = std::exchange(w->members[i], nullptr))
                self->disposed();
    }
    void disposed() {
        watchers_ = nullptr;
        instance_ = nullptr;
        if (closure_)
            drop_closure();
        Emission gone;
        gone.destroyed = true;
        last_ = std::move(gone);
        // The owner waits on it again: that wait must end too. (If the owner is running, the
        // event is pending and kept_armed() does this when it waits again.)
        if (armed() && fire() && !detail::Access::pending(*this))
            refire_later();
    }

    // Completes waits on a dead instance from an idle callback (not on this stack, so a
    // loop that ignores destroyed() spins through the main loop instead of recursing).
    void refire_later() {
        if (refire_)
            return;
        GSource* s = g_idle_source_new();
        detail::SourcePtr owned(s);
        g_source_set_priority(s, G_PRIORITY_DEFAULT);
        g_source_set_callback(
            s,
            [](gpointer data) -> gboolean {
                // CONTINUE while the owner keeps waiting; after REMOVE touch nothing (the
                // condition may be gone; disarm() destroyed the source). An owner that is
                // running (a nested main loop) keeps the event pending: stop until it waits
                // again (kept_armed()), rather than spin that loop.
                auto* self = static_cast<WaitForSignal*>(data);
                if (!self->fire())
                    return G_SOURCE_REMOVE;
                if (detail::Access::pending(*self)) {
                    self->refire_.reset();
                    return G_SOURCE_REMOVE;
                }
                return G_SOURCE_CONTINUE;
            },
            this, nullptr);
        g_source_attach(s, context());
        refire_ = std::move(owned);
    }

    Emission await_result() const {
        Emission e = last_;
        if (by_type_)
            e.object = static_cast<GObject*>(g_weak_ref_get(&last_object_));
        else if (instance_)
            e.object = G_OBJECT(g_object_ref(instance_));
        return e;
    }
    friend struct detail::Access;

    GObject* instance_ = nullptr;  // weak; null once disposed
    Watchers* watchers_ = nullptr; // instance form, until disposed
    GType type_ = G_TYPE_INVALID;
    bool by_type_ = false;
    gpointer class_ = nullptr; // the type form's class (or interface) reference
    guint signal_id_ = 0;
    GQuark detail_ = 0;
    GSignalFlags flags_ = GSignalFlags(0);
    SignalClosure* closure_ = nullptr; // our reference, while armed (instance form)
    gulong handler_ = 0;
    TypeHook* type_hook_ = nullptr;  // while armed (type form)
    std::uint64_t armed_at_ = 0;     // its hook's emission count when armed
    GValue* return_slot_ = nullptr;  // the running emission's return value, if any
    Emission last_;                  // its object is not kept: see object()
    mutable GWeakRef last_object_{}; // type form: who emitted last
    detail::SourcePtr refire_;
};

} // namespace tasklet
