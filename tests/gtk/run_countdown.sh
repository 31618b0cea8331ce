#!/usr/bin/env bash
# Runs examples/gtk_countdown under Xvfb and checks what it prints and how it exits.
#
#   tests/gtk/run_countdown.sh <gtk_countdown> <expected outcome> [program options...]
#
# Exit status: 0 passed, 1 failed, 77 skipped (no xvfb-run or xauth: CTest reports it as
# skipped). TASKLET_NO_SKIP=1 (CI) turns a skip into a failure.
set -euo pipefail

program=$1
expected=$2
shift 2

skip() {
    if [ "${TASKLET_NO_SKIP:-0}" = 1 ]; then
        echo "FAIL: $* (TASKLET_NO_SKIP=1)" >&2
        exit 1
    fi
    echo "SKIPPED: $*"
    exit 77
}
command -v xvfb-run >/dev/null 2>&1 || skip "xvfb-run not installed (apt-get install xvfb xauth)"
command -v xauth >/dev/null 2>&1 || skip "xauth not installed (apt-get install xauth)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tasklet-gtk.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# GTK without a session: the cairo renderer (no GL under Xvfb), the X11 backend, no
# accessibility bus. LeakSanitizer (ASan builds) gets GTK's own one-off allocations suppressed.
export GSK_RENDERER=cairo GDK_BACKEND=x11 GTK_A11Y=none NO_AT_BRIDGE=1
here=$(cd "$(dirname "$0")" && pwd)
export LSAN_OPTIONS="suppressions=$here/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
unset WAYLAND_DISPLAY

status=0
timeout 120 xvfb-run -a -s "-screen 0 800x600x24" "$program" "$@" \
    >"$tmp/out" 2>"$tmp/err" || status=$?
out=$(cat "$tmp/out")
show() {
    echo "--- stdout:"; cat "$tmp/out"
    echo "--- stderr:"; cat "$tmp/err"
}
if [ "$status" != 0 ]; then
    echo "FAIL: $program $* exited with status $status (expected 0)"; show; exit 1
fi
if [ "$out" != "$expected" ]; then
    echo "FAIL: $program $* printed '$out', expected '$expected'"; show; exit 1
fi
# GLib criticals are bugs even when the outcome is right (tasklet's own, or GTK's about our
# use of it).
if grep -E -q "(tasklet|Gtk|Gdk|GLib-GObject|GLib)-CRITICAL" "$tmp/err"; then
    echo "FAIL: $program $* logged a critical"; show; exit 1
fi
echo "$program $*: $out"
