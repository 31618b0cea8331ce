// Scale: a million suspended tasklets, a million messages. Every case is tagged [scale] and
// runs as its own CTest entry (test_scale_scale). Memory is reported from /proc/self/statm.
//
// The 100,000-deep await chain is in test_join.cpp ("a chain of 100,000 tasklets each
// awaiting the next completes without stack overflow", also [scale]); it is not repeated here.
//
// The same full counts run in the AddressSanitizer build (each case well under a minute on two
// cores), whose RSS figures are inflated by ASan's own bookkeeping.
#include "support.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <malloc.h>
#include <unistd.h>

using namespace tasklet;

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool sanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool sanitized = true;
#else
constexpr bool sanitized = false;
#endif
#else
constexpr bool sanitized = false;
#endif

/// Announces, once per case, that RSS figures of a sanitized build include ASan's redzones,
/// shadow memory and quarantine of freed blocks (the counts are the full ones: they run well
/// within a minute under ASan too).
void note_sanitizer(const char* what) {
    if (sanitized)
        std::printf("[scale] %s: AddressSanitizer build (full n; RSS includes ASan's redzones, "
                    "shadow and quarantine)\n",
                    what);
}

/// Resident set size in MiB, from /proc/self/statm.
double rss_mib() {
    long pages_total = 0, pages_resident = 0;
    if (FILE* f = std::fopen("/proc/self/statm", "r")) {
        if (std::fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2)
            pages_resident = 0;
        std::fclose(f);
    }
    return double(pages_resident) * double(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void report(const char* what, long n, double before, double peak, double after, double secs) {
    // After the frames are freed glibc keeps much of the heap; malloc_trim shows what the
    // process can give back.
    malloc_trim(0);
    double trimmed = rss_mib();
    std::printf("[scale] %s: n=%ld, %.2f s; RSS before %.1f MiB, peak %.1f MiB (%.0f bytes per "
                "item), after %.1f MiB, after malloc_trim %.1f MiB\n",
                what, n, secs, before, peak,
                std::max(0.0, peak - before) * 1024.0 * 1024.0 / double(n), after, trimmed);
    std::fflush(stdout);
}

} // namespace

TEST_CASE("a million tasklets on timeouts: half on one-day timeouts are cancelled, half on "
          "short ones complete",
          "[scale]") {
    const long n = 1000000;
    note_sanitizer("timeouts");
    const long half = n / 2;
    const double before = rss_mib();
    const auto start = std::chrono::steady_clock::now();

    long completed = 0, cancelled = 0;
    auto sleeper = [](guint ms, long& completed, long& cancelled) -> Tasklet<> {
        try {
            co_await WaitForTimeout(ms);
            ++completed;
        } catch (const Cancelled&) {
            ++cancelled;
            throw;
        }
    };
    std::vector<AnyTasklet> long_ones;
    long_ones.reserve(static_cast<std::size_t>(half));
    for (long i = 0; i < half; ++i)
        long_ones.push_back(sleeper(24u * 3600u * 1000u, completed, cancelled));
    for (long i = 0; i < n - half; ++i) // fire and forget: no handle kept
        sleeper(static_cast<guint>(1 + i % 20), completed, cancelled);
    const double peak = rss_mib();
    INFO("RSS with all " << n << " suspended: " << peak << " MiB");

    REQUIRE(test::run_until([&] { return completed == n - half; }, 120));
    for (const AnyTasklet& t : long_ones)
        t.cancel();
    CHECK(cancelled == half);
    CHECK(completed == n - half);
    for (const AnyTasklet& t : long_ones)
        CHECK((t.done() && t.cancelled()));
    long_ones = {};
    test::drain();
    const double after = rss_mib();
    report("timeouts", n, before, peak, after, seconds_since(start));
    if (!sanitized)                  // (ASan's quarantine holds freed memory for a while)
        CHECK(after <= peak + 16.0); // nothing accumulates once they ended (sanity bound)
}

TEST_CASE("a million tasklets waiting for messages each get one and complete", "[scale]") {
    const long n = 1000000;
    note_sanitizer("messages");
    const double before = rss_mib();
    const auto start = std::chrono::steady_clock::now();

    long sum = 0, received = 0;
    auto receiver = [](long& sum, long& received) -> Tasklet<> {
        Message m = co_await WaitForMessages("value");
        sum += m.value_as<long>();
        ++received;
    };
    std::vector<AnyTasklet> tasklets;
    tasklets.reserve(static_cast<std::size_t>(n));
    for (long i = 0; i < n; ++i)
        tasklets.push_back(receiver(sum, received));
    const double peak = rss_mib();
    for (long i = 0; i < n; ++i)
        tasklets[static_cast<std::size_t>(i)].send_message(Message("value", {}, i));
    CHECK(received == n); // delivered synchronously: each resumed inside send_message()
    CHECK(sum == n * (n - 1) / 2);
    long done = 0;
    for (const AnyTasklet& t : tasklets)
        done += t.done();
    CHECK(done == n);
    tasklets = {};
    const double after = rss_mib();
    report("messages", n, before, peak, after, seconds_since(start));
}

TEST_CASE("a million messages ping-pong between two tasklets in constant memory", "[scale]") {
    const long n = 1000000; // messages, both directions together
    note_sanitizer("ping-pong");
    const double before = rss_mib();
    const auto start = std::chrono::steady_clock::now();

    auto pong = []() -> Tasklet<long> {
        WaitForMessages w({"ping", "stop"});
        long seen = 0;
        for (;;) {
            Message m = co_await w;
            if (m.name == "stop")
                co_return seen;
            ++seen;
            co_await Message("pong", m.sender, m.value); // queued: the sender is sending
        }
    }();
    double middle = 0;
    auto ping = [](AnyTasklet pong, long rounds, double& middle) -> Tasklet<long> {
        WaitForMessages w("pong");
        long sum = 0;
        for (long i = 0; i < rounds; ++i) {
            co_await Message("ping", pong, i); // pong runs before this returns
            Message m = co_await w;            // its answer is already queued
            sum += m.value_as<long>();
            if (i == rounds / 2)
                middle = rss_mib();
        }
        co_await Message("stop", pong);
        co_return sum;
    }(pong, n / 2, middle);
    // Everything happens synchronously, without the main loop.
    REQUIRE(ping.done());
    REQUIRE(pong.done());
    CHECK(ping.return_value() == (n / 2) * (n / 2 - 1) / 2);
    CHECK(pong.return_value() == n / 2);
    const double after = rss_mib();
    report("ping-pong", n, before, middle, after, seconds_since(start));
    if (!sanitized)
        CHECK(after - before < 16.0); // no per-message growth (generous sanity bound)
}
