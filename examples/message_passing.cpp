// kiwi.tasklet's "Message passing" example: a counter tasklet sends numbers to a printer
// tasklet, one a second, then tells it to quit.
//
//   ./message_passing [interval_ms]    (default 1000, as in the original)
#include <tasklet/tasklet.hpp>

#include <cassert>
#include <cstdio>
#include <cstdlib>

namespace {

GMainLoop* mainloop;

tasklet::Tasklet<> printer() {
    tasklet::WaitForMessages msgwait({"quit", "print"});
    while (true) {
        co_await msgwait;
        tasklet::Message* msg = tasklet::get_event().message();
        if (msg->name == "quit")
            co_return;
        assert(msg->name == "print");
        std::printf(">>>  %d\n", msg->value_as<int>());
        std::fflush(stdout);
    }
}

tasklet::Tasklet<> simple_counter(int numbers, tasklet::AnyTasklet task, guint interval_ms) {
    tasklet::WaitForTimeout timeout(interval_ms);
    for (int x = 0; x < numbers; ++x) {
        co_await tasklet::Message("print", task, x);
        co_await timeout;
        tasklet::get_event();
    }
    co_await tasklet::Message("quit", task);
    g_main_loop_quit(mainloop);
}

} // namespace

int main(int argc, char** argv) {
    guint interval = argc > 1 ? static_cast<guint>(std::strtoul(argv[1], nullptr, 10)) : 1000;
    mainloop = g_main_loop_new(nullptr, FALSE);
    auto task = printer();
    simple_counter(10, task, interval);
    g_main_loop_run(mainloop);
    g_main_loop_unref(mainloop);
}
