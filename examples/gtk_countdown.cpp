// kiwi.tasklet's classic GTK demo, in GTK 4: a window asks "Please answer Yes or No" while a
// counter tasklet shows the seconds left. The main tasklet waits for whichever comes first —
// the countdown running out, Yes, No, or the window being closed — and prints the outcome
// ("yes", "no", "timeout" or "closed") on stdout.
//
//   ./gtk_countdown [--seconds N] [--auto yes|no|close|none]
//
// --seconds: length of the countdown (default 10). --auto: a test hook; shortly after the
// window is shown the program answers by itself (activates a button, or closes the window as
// the window manager would), so tests/extra_gtk.cmake can drive it under Xvfb.
#include <gtk/gtk.h>
#include <tasklet/tasklet.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

// Borrowed pointers: the window owns its widgets, and main() destroys it only after every
// tasklet here has ended (or been cancelled).
struct Ui {
    GtkWindow* window;
    GtkLabel* time_left;
    GtkWidget* yes;
    GtkWidget* no;
};

// Kiwi's counter task: updates the label once a second. The same WaitForTimeout is awaited
// in every round, so it stays armed and ticks at a fixed period.
tasklet::Tasklet<> countdown(GtkLabel* label, int seconds) {
    tasklet::WaitForTimeout tick(1000);
    for (int left = seconds; left > 0; --left) {
        std::string text =
            "Time left: " + std::to_string(left) + (left == 1 ? " second" : " seconds");
        gtk_label_set_text(label, text.c_str());
        co_await tick;
    }
    gtk_label_set_text(label, "Time is up");
}

tasklet::Tasklet<std::string> ask(Ui ui, int seconds) {
    tasklet::Tasklet<> counter = countdown(ui.time_left, seconds);
    tasklet::WaitForSignal yes(ui.yes, "clicked");
    tasklet::WaitForSignal no(ui.no, "clicked");
    tasklet::WaitForSignal close(ui.window, "close-request");

    // Whichever fires first resumes us; the other conditions are disarmed when we return.
    tasklet::Event& e = co_await tasklet::any(counter, yes, no, close);
    if (e.is(close)) {
        // We run inside the close-request emission, so we choose its return value: TRUE
        // keeps GTK from destroying the window itself (main() does, like for every outcome).
        close.set_return_value(TRUE);
    }
    counter.cancel(); // no effect if the countdown is what ended
    if (e.is(yes))
        co_return "yes";
    if (e.is(no))
        co_return "no";
    if (e.is(close))
        co_return "closed";
    co_return "timeout";
}

// The test hook: answers as a user would, once the window is on screen.
tasklet::Tasklet<> autopilot(Ui ui, std::string action) {
    if (!gtk_widget_get_mapped(GTK_WIDGET(ui.window)))
        co_await tasklet::WaitForSignal(ui.window, "map");
    co_await tasklet::WaitForTimeout(300); // let a frame or two be drawn first
    if (action == "yes")
        gtk_widget_activate(ui.yes);
    else if (action == "no")
        gtk_widget_activate(ui.no);
    else if (action == "close")
        gtk_window_close(ui.window); // emits close-request, as the window manager's button does
}

Ui build_window() {
    Ui ui{};
    ui.window = GTK_WINDOW(gtk_window_new());
    gtk_window_set_title(ui.window, "tasklet countdown");
    gtk_window_set_default_size(ui.window, 320, 140);

    GtkWidget* box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 12);
    gtk_widget_set_margin_top(box, 18);
    gtk_widget_set_margin_bottom(box, 18);
    gtk_widget_set_margin_start(box, 18);
    gtk_widget_set_margin_end(box, 18);
    gtk_box_append(GTK_BOX(box), gtk_label_new("Please answer Yes or No"));
    ui.time_left = GTK_LABEL(gtk_label_new(""));
    gtk_box_append(GTK_BOX(box), GTK_WIDGET(ui.time_left));

    GtkWidget* buttons = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
    gtk_widget_set_halign(buttons, GTK_ALIGN_END);
    ui.yes = gtk_button_new_with_label("Yes");
    ui.no = gtk_button_new_with_label("No");
    gtk_box_append(GTK_BOX(buttons), ui.yes);
    gtk_box_append(GTK_BOX(buttons), ui.no);
    gtk_box_append(GTK_BOX(box), buttons);

    gtk_window_set_child(ui.window, box);
    return ui;
}

int usage(const char* argv0) {
    std::fprintf(stderr, "usage: %s [--seconds N] [--auto yes|no|close|none]\n", argv0);
    return 2;
}

} // namespace

int main(int argc, char** argv) {
    int seconds = 10;
    std::string action = "none";
    for (int i = 1; i < argc; ++i) {
        const char* arg = argv[i];
        if (std::strcmp(arg, "--seconds") == 0 && i + 1 < argc) {
            char* end = nullptr;
            long n = std::strtol(argv[++i], &end, 10);
            if (*end != '\0' || n < 1 || n > 3600)
                return usage(argv[0]);
            seconds = static_cast<int>(n);
        } else if (std::strcmp(arg, "--auto") == 0 && i + 1 < argc) {
            action = argv[++i];
            if (action != "yes" && action != "no" && action != "close" && action != "none")
                return usage(argv[0]);
        } else {
            return usage(argv[0]);
        }
    }

    if (!gtk_init_check()) {
        std::fprintf(stderr, "gtk_countdown: cannot open a display\n");
        return 1;
    }
    Ui ui = build_window();
    tasklet::Tasklet<> pilot;
    if (action != "none")
        pilot = autopilot(ui, action);
    gtk_window_present(ui.window);

    // GTK runs on the default main context, which is the one run_until_complete() iterates.
    std::string outcome = tasklet::run_until_complete(ask(ui, seconds));
    if (pilot)
        pilot.cancel(); // it may still be waiting if the countdown won the race

    std::printf("%s\n", outcome.c_str());
    gtk_window_destroy(ui.window);
    return 0;
}
