// kiwi.tasklet's "Background timeout task" example: print 0..9, one number a second.
//
//   ./simple_counter [interval_ms]     (default 1000, as in the original)
#include <tasklet/tasklet.hpp>

#include <cstdio>
#include <cstdlib>

namespace {

GMainLoop* mainloop;

tasklet::Tasklet<> simple_counter(int numbers, guint interval_ms) {
    tasklet::WaitForTimeout timeout(interval_ms);
    for (int x = 0; x < numbers; ++x) {
        std::printf("%d\n", x);
        std::fflush(stdout);
        co_await timeout;
        tasklet::get_event();
    }
    g_main_loop_quit(mainloop);
}

} // namespace

int main(int argc, char** argv) {
    guint interval = argc > 1 ? static_cast<guint>(std::strtoul(argv[1], nullptr, 10)) : 1000;
    mainloop = g_main_loop_new(nullptr, FALSE);
    tasklet::run(simple_counter(10, interval));
    g_main_loop_run(mainloop);
    g_main_loop_unref(mainloop);
}
