// A program that uses tasklet the way an outside project does: through the installed
// headers, found by CMake, pkg-config or Meson. tests/consumer/check.sh builds it all three ways.
#include <tasklet/tasklet.hpp>

#include <cstdio>

namespace {

tasklet::Tasklet<int> ticks(int n) {
    tasklet::WaitForTimeout tick(5);
    int count = 0;
    for (; count < n; ++count)
        co_await tick;
    co_return count;
}

} // namespace

int main() {
    int count = tasklet::run_until_complete(ticks(3));
    if (count != 3) {
        std::printf("FAIL: %d ticks\n", count);
        return 1;
    }
    std::printf("OK\n");
    return 0;
}
