#!/usr/bin/env bash
# Builds everything with AddressSanitizer and UndefinedBehaviorSanitizer in
# ./build-asan, then runs the unit and integration tests against those
# binaries: the coordinator, the workers and the CLI all run instrumented.
# Any report fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DVITTE_BUILD_BENCH=OFF \
  -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined"
cmake --build build-asan
# Leaks are checked too; processes killed on purpose (SIGKILL in the fault
# tests) cannot report, and the rest must exit clean.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# install_consumer builds an outside project against these (instrumented)
# libraries without the sanitizer flags; it is not about the product.
ctest --test-dir build-asan --output-on-failure -j2 --timeout 600 -LE chaos \
  -E install_consumer
echo "sanitizers: clean"
