#!/usr/bin/env bash
# The demo: installs what is missing, builds vitte-task, starts a coordinator
# and two workers on this machine (loopback, a free port, a scratch db), and
# runs examples/demo.json through them: a small C build whose compile steps
# run in parallel.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install-deps.sh
bash .ci/build.sh

bin=build
work=$(mktemp -d /tmp/vitte-demo-run-XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

"$bin/coordinator/vitte-taskd" --listen 127.0.0.1:0 --db "$work/demo.db" \
  --port-file "$work/port" 2>"$work/vitte-taskd.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
[ -s "$work/port" ] || { cat "$work/vitte-taskd.log"; exit 1; }
export VITTE_COORDINATOR="127.0.0.1:$(cat "$work/port")"

for name in builder-1 builder-2; do
  "$bin/worker/vitte-worker" --coordinator "$VITTE_COORDINATOR" --name "$name" \
    --slots 2 2>"$work/$name.log" &
  pids+=($!)
done
for _ in $(seq 100); do
  [ "$("$bin/client/vitte-task" workers | tail -n +2 | wc -l)" -ge 2 ] && break
  sleep 0.1
done

echo "== coordinator on $VITTE_COORDINATOR, workers:"
"$bin/client/vitte-task" workers
echo "== submitting examples/demo.json"
graph=$("$bin/client/vitte-task" submit examples/demo.json --wait | head -n 1)
echo "== status of graph $graph"
"$bin/client/vitte-task" status "$graph"
