#!/usr/bin/env bash
# Builds the DAG fuzzers with clang + libFuzzer (ASan, UBSan) in build-fuzz/
# and runs each for a bounded time on a scratch copy of its seed corpus.
#
#   tests/fuzz/run_fuzz.sh [SECONDS] [FUZZER...]
#
# SECONDS per fuzzer, default 60. FUZZER, default all three:
#   dag_fuzzer        a DAG file (JSON), as the CLI reads it
#   dag_proto_fuzzer  a serialized SubmitGraphRequest, as the daemon gets it
#   dag_spec_fuzzer   a graph built from the bytes with values near the limits
# Environment: VITTE_FUZZ_BUILD_DIR (default <repo>/build-fuzz),
# VITTE_FUZZ_ARGS (extra libFuzzer flags).
#
# Prints one line per fuzzer, e.g.
#   dag_fuzzer: 123456 runs in 60 s, cov 812, ft 2311, corpus 240, 0 crashes
# Crashing inputs are copied to tests/fuzz/crashes/ and the script exits 1.
# The full libFuzzer logs stay in <build dir>/tests/fuzz/logs/.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${VITTE_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
SECS=${1:-60}
shift || true
FUZZERS=("$@")
[[ ${#FUZZERS[@]} -gt 0 ]] || FUZZERS=(dag_fuzzer dag_proto_fuzzer dag_spec_fuzzer)
if ! [[ $SECS =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [SECONDS] [dag_fuzzer|dag_proto_fuzzer|dag_spec_fuzzer ...]" >&2
  exit 2
fi

# Our libraries are instrumented for coverage and sanitizers; Debian's
# protobuf, gRPC and Abseil are not, which is fine.
SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all"
cmake -S "$ROOT" -B "$BUILD" -G Ninja \
  -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS="$SAN" -DVITTE_FUZZ=ON -DVITTE_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD" --target "${FUZZERS[@]}"

FUZZ_BUILD=$BUILD/tests/fuzz
mkdir -p "$FUZZ_BUILD/logs"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vitte-fuzz.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=0
for fuzzer in "${FUZZERS[@]}"; do
  dir=$WORK/$fuzzer
  mkdir -p "$dir/corpus" "$dir/artifacts"
  extra=()
  case $fuzzer in
    dag_fuzzer)
      cp "$HERE"/corpus/json/* "$dir/corpus/"
      extra+=(-dict="$HERE/dag_json.dict") ;;
    dag_proto_fuzzer)
      cp "$FUZZ_BUILD"/proto_corpus/* "$dir/corpus/" ;;
    dag_spec_fuzzer) ;;  # no seeds: any bytes make a graph
    *) echo "unknown fuzzer $fuzzer" >&2; exit 2 ;;
  esac

  # -jobs=1 -workers=1: one fuzzing process (the machine is shared), whose
  # output libFuzzer writes to fuzz-0.log in the working directory.
  start=$(date +%s)
  set +e
  (cd "$dir" && "$FUZZ_BUILD/$fuzzer" -workers=1 -jobs=1 \
      -max_total_time="$SECS" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$dir/artifacts/" \
      "${extra[@]}" ${VITTE_FUZZ_ARGS:-} corpus >"$dir/driver.log" 2>&1)
  rc=$?
  set -e
  end=$(date +%s)
  log=$dir/fuzz-0.log
  [[ -f $log ]] || log=$dir/driver.log
  cp "$log" "$FUZZ_BUILD/logs/$fuzzer.log"

  # "Done 123456 runs in 60 second(s)" when time ran out; after a crash the
  # last "#N ..." status line gives the runs.
  runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
  secs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\2/p' "$log" | tail -1)
  if [[ -z $runs ]]; then
    runs=$(sed -n 's/^#\([0-9]*\)[[:space:]].*/\1/p' "$log" | tail -1)
    secs=$((end - start))
  fi
  status_line=$(grep -E '^#[0-9]+[[:space:]].*cov: ' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$status_line")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$status_line")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$status_line")

  crashes=0
  for artifact in "$dir"/artifacts/{crash,leak,timeout,oom}-*; do
    [[ -e $artifact ]] || continue
    crashes=$((crashes + 1))
    mkdir -p "$HERE/crashes"
    cp "$artifact" "$HERE/crashes/$fuzzer-$(basename "$artifact")"
  done
  if [[ $crashes -eq 0 && $rc -ne 0 ]]; then crashes=1; fi

  echo "$fuzzer: ${runs:-0} runs in ${secs:-?} s, cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}, $crashes crashes"
  if [[ $crashes -ne 0 ]]; then
    failed=1
    echo "--- $fuzzer failed (exit $rc); log: $FUZZ_BUILD/logs/$fuzzer.log; inputs in $HERE/crashes/" >&2
    grep -E -A40 'ERROR: |DAG fuzz check failed|runtime error' "$log" | head -60 >&2 || tail -40 "$log" >&2
  fi
done
exit $failed
