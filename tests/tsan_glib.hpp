// Included by the test programs that drive GLib's thread pool (GTask) under ThreadSanitizer.
#pragma once

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TASKLET_TEST_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) || defined(TASKLET_TEST_TSAN)
// GLib (not built with ThreadSanitizer) synchronises its thread pool, closures, signal
// handlers and reference counts with futexes and atomics that TSan cannot see, so TSan would
// report races between GLib's own accesses (GTask and GCancellable internals released on the
// worker). Ignore accesses made by uninstrumented libraries; races in tasklet's or the
// test's code are still reported.
extern "C" const char* __tsan_default_options() { return "ignore_noninstrumented_modules=1"; }
#endif
