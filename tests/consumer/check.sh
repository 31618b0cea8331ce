#!/usr/bin/env bash
# Installs tasklet into a temporary prefix and builds + runs tests/consumer against it three
# ways: CMake find_package(), plain pkg-config, and Meson dependency(). Also checks the CMake
# version file: find_package(tasklet 0.1) works, find_package(tasklet 1.0) must fail.
#
#   tests/consumer/check.sh [repo-root]
#
# Honours CXX, and MESON (the meson command, default meson). Exit status: 0 all passed,
# 1 a check failed, 77 Meson is not installed (the CMake and pkg-config checks still ran and
# passed; CTest reports the test as skipped). TASKLET_NO_SKIP=1 (CI) makes a missing Meson a
# failure instead.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "${1:-$here/../..}" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tasklet-consumer.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
log=$tmp/log

step() { echo "--- $*"; }
fail() {
    echo "FAIL: $*" >&2
    [ -s "$log" ] && { echo "--- output:" >&2; cat "$log" >&2; }
    exit 1
}
quiet() { "$@" >"$log" 2>&1 || fail "$*"; }
expect_ok() { # expect_ok <how> <program>: it runs, exits 0 and prints exactly OK
    local out
    out=$("$2" 2>&1) || fail "$1: the consumer exited with status $?: $out"
    [ "$out" = OK ] || fail "$1: the consumer printed '$out', expected 'OK'"
    echo "$1: OK"
}

step "install into $prefix"
quiet cmake -S "$repo" -B "$tmp/lib" -DTASKLET_BUILD_TESTS=OFF -DTASKLET_BUILD_EXAMPLES=OFF \
    -DTASKLET_BUILD_BENCH=OFF
quiet cmake --install "$tmp/lib" --prefix "$prefix"
[ -f "$prefix/include/tasklet/tasklet.hpp" ] || fail "tasklet.hpp not installed"

# Consumers must find this prefix and nothing else (a copy in /usr/local would hide bugs).
export PKG_CONFIG_PATH=$prefix/share/pkgconfig
unset PKG_CONFIG_LIBDIR
cmake_isolated=(-DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
                -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)

step "CMake: find_package(tasklet 0.1) + tasklet::tasklet"
quiet cmake -S "$here" -B "$tmp/cmake" "${cmake_isolated[@]}"
found=$(sed -n 's/^tasklet_DIR:PATH=//p' "$tmp/cmake/CMakeCache.txt")
[ "$found" = "$prefix/share/tasklet/cmake" ] || fail "CMake found tasklet in '$found', not in $prefix"
quiet cmake --build "$tmp/cmake"
expect_ok "CMake" "$tmp/cmake/consumer"

step "CMake: find_package(tasklet 1.0) must fail (SameMajorVersion)"
if cmake -S "$here" -B "$tmp/cmake-v1" "${cmake_isolated[@]}" -DTASKLET_WANT_VERSION=1.0 \
        >"$log" 2>&1; then
    fail "find_package(tasklet 1.0) succeeded against version 0.1"
fi
grep -q 'compatible with requested version "1.0"' "$log" ||
    fail "find_package(tasklet 1.0) failed, but not for the version"
echo "CMake 1.0: rejected, as it should be"
: >"$log"

step "pkg-config: c++ -std=c++20 main.cpp \$(pkg-config --cflags --libs tasklet)"
version=$(pkg-config --modversion tasklet) || fail "pkg-config does not find tasklet"
# The first -I must be this prefix's include dir (the .pc file is relocatable: its path may
# be spelt through ${pcfiledir}, so compare real paths).
incdir=$(pkg-config --cflags-only-I tasklet | awk '{ sub(/^-I/, "", $1); print $1 }')
[ "$(realpath -m "$incdir")" = "$(realpath "$prefix/include")" ] ||
    fail "pkg-config --cflags tasklet points at '$incdir', not at $prefix/include"
mkdir -p "$tmp/pc"
# shellcheck disable=SC2046 # word splitting of pkg-config's output is intended
quiet "${CXX:-c++}" -std=c++20 -Wall -Wextra "$here/main.cpp" -o "$tmp/pc/consumer" \
    $(pkg-config --cflags --libs tasklet)
expect_ok "pkg-config ($version)" "$tmp/pc/consumer"

step "Meson: dependency('tasklet')"
meson=${MESON:-meson}
if ! command -v "$meson" >/dev/null 2>&1 || ! command -v ninja >/dev/null 2>&1; then
    if [ "${TASKLET_NO_SKIP:-0}" = 1 ]; then
        fail "meson/ninja not installed (apt-get install meson ninja-build)"
    fi
    echo "SKIPPED: meson/ninja not installed (apt-get install meson ninja-build); CMake and pkg-config passed"
    exit 77
fi
quiet "$meson" setup "$tmp/meson" "$here"
quiet "$meson" compile -C "$tmp/meson"
expect_ok "Meson" "$tmp/meson/consumer"

echo "all consumer builds passed"
