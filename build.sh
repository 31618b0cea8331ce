#!/usr/bin/env bash
# Builds and runs tasklet's demo or test suite on Debian/Ubuntu.
#
#   ./build.sh demo          build and run examples/message_passing (the kiwi demo)
#   ./build.sh test          build everything and run the whole test suite (CTest)
#   ./build.sh test asan     the same under AddressSanitizer + UndefinedBehaviorSanitizer
#   ./build.sh test tsan     the thread tests under ThreadSanitizer
#   ./build.sh test release  an -O2 -D_GLIBCXX_ASSERTIONS build
#   ./build.sh test valgrind every test program under valgrind memcheck (Debug build)
#   ./build.sh bench         build and run the benchmarks (Release)
#
# Missing Debian packages are installed when run as root; otherwise the apt-get line is
# printed. CXX=clang++ selects the compiler; BUILD_DIR overrides the build directory.
set -euo pipefail
cd "$(dirname "$0")"

what=${1:-test}
variant=${2:-}
packages=(cmake make g++ pkg-config libglib2.0-dev)
case "$what" in
    test) packages+=(catch2) ;;
    demo|bench) ;;
    *) echo "usage: $0 demo|test [asan|tsan|release|valgrind]|bench" >&2; exit 2 ;;
esac
[ "${CXX:-}" = clang++ ] && packages+=(clang)
[ "$variant" = valgrind ] && packages+=(valgrind)

if command -v dpkg-query >/dev/null 2>&1; then
    missing=()
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        if [ "$(id -u)" = 0 ]; then
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
        else
            echo "Missing packages. Install them with:" >&2
            echo "  sudo apt-get install -y ${missing[*]}" >&2
            exit 1
        fi
    fi
fi

jobs=$(nproc 2>/dev/null || echo 2)
cmake_args=(-DCMAKE_BUILD_TYPE=Debug)
dir=build
case "$variant" in
    "") ;;
    asan) dir=build-asan; cmake_args=(-DCMAKE_BUILD_TYPE=Debug "-DTASKLET_SANITIZE=address,undefined") ;;
    tsan) dir=build-tsan; cmake_args=(-DCMAKE_BUILD_TYPE=Debug -DTASKLET_SANITIZE=thread) ;;
    release) dir=build-release; cmake_args=(-DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS=-O2 -D_GLIBCXX_ASSERTIONS") ;;
    valgrind) ;;
    *) echo "unknown variant: $variant" >&2; exit 2 ;;
esac
# The demo needs neither Catch2 nor the benchmarks (and installs no package for them).
[ "$what" = demo ] && { dir=build-demo; cmake_args=(-DCMAKE_BUILD_TYPE=Release -DTASKLET_BUILD_TESTS=OFF -DTASKLET_BUILD_BENCH=OFF); }
[ "$what" = bench ] && { dir=build-bench; cmake_args=(-DCMAKE_BUILD_TYPE=Release -DTASKLET_BUILD_TESTS=OFF); }
[ -n "${CXX:-}" ] && dir="$dir-$(basename "$CXX")"
dir=${BUILD_DIR:-$dir}

cmake -S . -B "$dir" "${cmake_args[@]}" >/dev/null
case "$what" in
    demo)
        cmake --build "$dir" --target message_passing -j "$jobs"
        "$dir/examples/message_passing" ;;
    test)
        case "$variant" in
        tsan)
            cmake --build "$dir" -j "$jobs" --target test_threads test_thread_pool test_thread_homes test_lifetime test_async_cancel
            ctest --test-dir "$dir" --output-on-failure -R '^test_(thread|lifetime|async_cancel)' ;;
        valgrind)
            # 0 errors and nothing definitely or indirectly lost, in every test program
            # (scale tests excepted: valgrind is ~50x slower). No suppressions needed.
            cmake --build "$dir" -j "$jobs"
            failed=0
            for t in "$dir"/tests/test_*; do
                [ -x "$t" ] || continue
                if TASKLET_MODEL_SEEDS=300 valgrind -q --error-exitcode=99 --leak-check=full \
                        --errors-for-leak-kinds=definite,indirect \
                        --show-leak-kinds=definite,indirect "$t" '~[scale]' >"$t.valgrind.log" 2>&1; then
                    echo "valgrind: $(basename "$t") clean"
                else
                    echo "valgrind: $(basename "$t") FAILED"; cat "$t.valgrind.log"; failed=1
                fi
            done
            [ $failed = 0 ] && echo "valgrind: all test programs clean" ;
            exit $failed ;;
        *)
            cmake --build "$dir" -j "$jobs"
            ctest --test-dir "$dir" --output-on-failure -j "$jobs" ;;
        esac ;;
    bench)
        cmake --build "$dir" --target tasklet_bench -j "$jobs"
        "$dir/bench/tasklet_bench" "${@:2}" ;;
esac
