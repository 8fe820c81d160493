#!/usr/bin/env bash
# Builds the libraries with clang and -Wthread-safety as an error, so that
# every ABSL_GUARDED_BY and ABSL_EXCLUSIVE_LOCKS_REQUIRED is checked.
set -euo pipefail
cd "$(dirname "$0")/.."
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
cmake -S . -B build-clang -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_COMPILER=clang++ -DVITTE_THREAD_SAFETY=ON -DVITTE_BUILD_TESTS=OFF
cmake --build build-clang
echo "thread-safety analysis: clean"
