// tasklet — internal: small RAII owners for GLib resources.
// Do not include directly; include <tasklet/tasklet.hpp>.
#pragma once

#include <glib-object.h>
#include <glib.h>

#include <utility>

namespace tasklet::detail {

/// Owns one reference to a GSource; on reset it destroys (detaches) the source too.
class SourcePtr {
public:
    SourcePtr() = default;
    explicit SourcePtr(GSource* adopt) noexcept : s_(adopt) {}
    SourcePtr(SourcePtr&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    SourcePtr& operator=(SourcePtr&& o) noexcept {
        if (this != &o) {
            reset();
            s_ = std::exchange(o.s_, nullptr);
        }
        return *this;
    }
    ~SourcePtr() { reset(); }
    void reset() noexcept {
        if (GSource* s = std::exchange(s_, nullptr)) {
            g_source_destroy(s);
            g_source_unref(s);
        }
    }
    GSource* get() const noexcept { return s_; }
    explicit operator bool() const noexcept { return s_ != nullptr; }

private:
    GSource* s_ = nullptr;
};

/// Owns one strong reference to a GObject (or null).
template <class T = GObject> class ObjectRef {
public:
    ObjectRef() = default;
    static ObjectRef adopt(T* p) noexcept { return ObjectRef(p); }
    static ObjectRef ref(T* p) noexcept {
        if (p)
            g_object_ref(p);
        return ObjectRef(p);
    }
    ObjectRef(const ObjectRef& o) noexcept : p_(o.p_) {
        if (p_)
            g_object_ref(p_);
    }
    ObjectRef(ObjectRef&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
    ObjectRef& operator=(ObjectRef o) noexcept {
        std::swap(p_, o.p_);
        return *this;
    }
    ~ObjectRef() {
        if (p_)
            g_object_unref(p_);
    }
    T* get() const noexcept { return p_; }
    T* release() noexcept { return std::exchange(p_, nullptr); }
    explicit operator bool() const noexcept { return p_ != nullptr; }

private:
    explicit ObjectRef(T* p) noexcept : p_(p) {}
    T* p_ = nullptr;
};

} // namespace tasklet::detail
