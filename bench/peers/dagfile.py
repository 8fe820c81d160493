#!/usr/bin/python3
"""vitte-task DAG files for the peer benchmark, and the harness the peer drivers share.

Run with /usr/bin/python3: the drivers import Debian's python3-distributed and
python3-celery, which are not installed for the pyenv `python3` on PATH.

  /usr/bin/python3 bench/peers/dagfile.py gen --kind layered --width 100 --depth 100 \
      --command true -o layered.json

A DAG file is {"name": str, "tasks": [{"id": str, "command": [argv...], "deps": [ids...]}]};
"deps" may be absent and other task keys (env, cwd, priority, ...) are ignored.

Driver harness: each run_<system>.py calls driver_main(), which re-runs the same script as a
child in its own session and supervises it, so that a crash, an out-of-memory kill or a hang
past the time limit still ends in exactly one JSON line on stdout saying ok=false and why.
"""

import argparse
import json
import os
import resource
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import deque
from contextlib import ExitStack
from typing import Callable, NamedTuple

# ----------------------------------------------------------------------------------------------
# DAG files


class Task(NamedTuple):
    id: str
    command: list  # argv, never empty
    deps: list  # ids of tasks that must finish first


def load(path):
    """Reads a DAG file; returns (name, tasks) with tasks in a topological order.

    Raises ValueError naming the task for a malformed task, a duplicate id, an unknown
    dependency or a cycle (with its path).
    """
    with open(path) as f:
        doc = json.load(f)
    return doc.get("name", os.path.basename(path)), topo_order(doc["tasks"])


def topo_order(raw_tasks):
    """Returns the tasks (dicts as in the file) as Task tuples, dependencies first.

    Kahn's algorithm; among ready tasks file order is kept, so an already ordered file comes
    back unchanged.
    """
    tasks = {}
    for raw in raw_tasks:
        tid, cmd, deps = raw.get("id"), raw.get("command"), raw.get("deps", [])
        if not isinstance(tid, str) or not tid:
            raise ValueError(f"task without a string id: {raw!r:.200}")
        if tid in tasks:
            raise ValueError(f'duplicate task id "{tid}"')
        if not (isinstance(cmd, list) and cmd and all(isinstance(a, str) for a in cmd)):
            raise ValueError(f'task "{tid}" has no command argv (a non-empty list of strings)')
        tasks[tid] = Task(tid, cmd, list(dict.fromkeys(deps)))  # drop repeated deps

    pending = {}  # id -> number of deps not yet ordered
    dependents = {tid: [] for tid in tasks}
    for t in tasks.values():
        for d in t.deps:
            if d not in tasks:
                raise ValueError(f'task "{t.id}" depends on unknown task "{d}"')
            dependents[d].append(t.id)
        pending[t.id] = len(t.deps)

    ready = deque(tid for tid, n in pending.items() if n == 0)
    order = []
    while ready:
        tid = ready.popleft()
        order.append(tasks[tid])
        for child in dependents[tid]:
            pending[child] -= 1
            if pending[child] == 0:
                ready.append(child)
    if len(order) < len(tasks):
        left = {tid for tid, n in pending.items() if n > 0}
        raise ValueError("dependency cycle: " + " -> ".join(_find_cycle(tasks, left)))
    return order


def _find_cycle(tasks, left):
    # Every task in `left` has a dependency in `left` (else Kahn would have ordered it), so
    # walking deps inside `left` must revisit a task; the walk from there on is the cycle.
    tid, seen, path = next(iter(left)), {}, []
    while tid not in seen:
        seen[tid] = len(path)
        path.append(tid)
        tid = next(d for d in tasks[tid].deps if d in left)
    cycle = path[seen[tid]:] + [tid]
    return cycle[::-1]  # print in run order: a -> b means b depends on a


def generate(kind, size, command=("true",)):
    """Returns a DAG document for a synthetic workload; every task runs `command`.

    kind "fanout": `size` independent tasks.
    kind "chain": `size` tasks, each depending on the one before.
    kind "layered": size=(width, depth); task i of layer L>0 depends on tasks i and
        (i+1) % width of layer L-1.
    """
    cmd = list(command)
    if kind == "fanout":
        tasks = [{"id": f"t{i}", "command": cmd, "deps": []} for i in range(size)]
        name = f"fanout-{size}"
    elif kind == "chain":
        tasks = [{"id": f"c{i}", "command": cmd, "deps": [f"c{i - 1}"] if i else []}
                 for i in range(size)]
        name = f"chain-{size}"
    elif kind == "layered":
        width, depth = size
        tasks = []
        for layer in range(depth):
            for i in range(width):
                deps = []
                if layer:
                    deps = list(dict.fromkeys([f"L{layer - 1}_{i}",
                                               f"L{layer - 1}_{(i + 1) % width}"]))
                tasks.append({"id": f"L{layer}_{i}", "command": cmd, "deps": deps})
        name = f"layered-{width}x{depth}"
    else:
        raise ValueError(f"unknown workload kind {kind!r}")
    return {"name": name, "tasks": tasks}


# ----------------------------------------------------------------------------------------------
# Driver harness

# Allowance beyond --timeout for everything outside the measured part: loading the DAG,
# starting the cluster / broker / worker, and tearing them down. The supervisor kills the
# child's whole session at timeout + SETUP_GRACE_S.
SETUP_GRACE_S = 120
TEARDOWN_S = 30  # after the result line, before the child's session is killed
_CHILD_ENV = "VITTE_PEER_CHILD"


class Run(NamedTuple):
    """What a driver's run function reports about the measured part."""
    ok: bool
    seconds: float  # wall time of the measured part, up to success or failure
    done: int | None = None  # tasks finished, when known
    error: str | None = None
    note: str = ""


def driver_main(system: str, run: Callable):
    """Entry point of a peer driver; never returns.

    run(tasks, args, stack) does the work and returns a Run; it pushes its teardown onto the
    ExitStack `stack`, which is closed only after the JSON line is printed, so a slow teardown
    cannot lose the result. Exit status 0 iff ok.
    """
    p = argparse.ArgumentParser(description=f"Runs a vitte-task DAG file on {system}.")
    p.add_argument("--dag", required=True, help="DAG JSON file")
    p.add_argument("--workers", type=int, default=2, help="parallel task slots")
    p.add_argument("--mode", choices=["process", "noop"], default="process",
                   help="process: run each argv; noop: tasks do nothing")
    p.add_argument("--timeout", type=float, default=600,
                   help="limit of the measured part, seconds (setup and teardown get "
                        f"{SETUP_GRACE_S} s more before a hard kill)")
    args = p.parse_args()
    if os.environ.get(_CHILD_ENV):
        sys.exit(_child(system, run, args))
    sys.exit(_supervise(system, args))


def result_line(system, tasks, r: Run, peak_rss_mb=None):
    out = {"system": system, "tasks": tasks, "ok": r.ok, "seconds": round(r.seconds, 3),
           "tasks_per_s": round(tasks / r.seconds, 1) if r.ok and r.seconds > 0 else None}
    if r.done is not None:
        out["done"] = r.done
    if not r.ok:
        out["error"] = r.error or "unknown failure"
    out["note"] = r.note
    if peak_rss_mb is not None:
        out["peak_rss_mb"] = peak_rss_mb
    return json.dumps(out)


def _child(system, run, args):
    n = None
    with ExitStack() as stack:
        try:
            _, tasks = load(args.dag)
            n = len(tasks)
        except (OSError, ValueError, KeyError) as e:
            r = Run(False, 0.0, error=f"cannot load {args.dag}: {type(e).__name__}: {e}")
        else:
            try:
                r = run(tasks, args, stack)
            except Exception as e:  # report any crash of the driver as a failed run
                traceback.print_exc()
                r = Run(False, 0.0, error=f"driver crashed: {type(e).__name__}: {e}")
        print(result_line(system, n, r), flush=True)
        # Teardown (stack close) happens here, after the result is out.
    return 0 if r.ok else 1


def _supervise(system, args):
    hard_limit = args.timeout + SETUP_GRACE_S
    with tempfile.TemporaryFile() as err:
        child = subprocess.Popen([sys.executable, sys.argv[0], *sys.argv[1:]],
                                 env={**os.environ, _CHILD_ENV: "1"}, start_new_session=True,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        # A thread reads stdout, so that we can stop waiting as soon as the result line is
        # out: the teardown after it gets TEARDOWN_S, not the rest of the hard limit.
        lines, has_result = [], threading.Event()

        def read():
            for line in child.stdout:
                lines.append(line.decode(errors="replace"))
                if line.startswith(b'{"system"'):
                    has_result.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        deadline = time.monotonic() + hard_limit
        while not has_result.wait(0.1) and child.poll() is None:
            if time.monotonic() > deadline:
                break
        killed = child.poll() is None and not has_result.is_set()
        teardown_cut = False
        if has_result.is_set():
            try:
                child.wait(TEARDOWN_S)
            except subprocess.TimeoutExpired:
                teardown_cut = True
        _kill_session(child.pid)  # also ends stragglers of a child that exited
        child.wait()
        reader.join(10)  # the pipe is closed now that the whole session is gone
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    sys.stderr.write(stderr[-65536:])  # the child's logs, bounded

    rss_mb = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    for line in reversed(lines):
        if line.startswith("{"):
            try:
                res = json.loads(line)
            except ValueError:
                continue
            if res.get("system") == system:
                res["peak_rss_mb"] = rss_mb
                if teardown_cut:
                    res["note"] += f"; teardown killed after {TEARDOWN_S} s"
                print(json.dumps(res), flush=True)
                return 0 if res["ok"] else 1

    # No result line: the child died or hung before reporting.
    rc = child.returncode
    if killed:
        why = f"no result within the hard limit of {hard_limit:.0f} s (timeout + setup); killed"
    elif rc < 0:
        sig = signal.Signals(-rc).name
        why = f"driver killed by {sig}" + (" (likely out of memory)" if sig == "SIGKILL" else "")
    else:
        why = f"driver exited with status {rc} without a result"
    tail = stderr.strip()[-400:]
    r = Run(False, 0.0, error=why + (f"; stderr tail: {tail}" if tail else ""))
    print(result_line(system, _count_tasks(args.dag), r, rss_mb), flush=True)
    return 1


def _count_tasks(path):
    try:
        with open(path) as f:
            return len(json.load(f)["tasks"])
    except Exception:  # the file itself may be what made the child fail
        return None


def _kill_session(sid):
    """SIGKILLs every process in session `sid` (the child and all it started, even in their
    own process groups); twice, to catch a fork racing the first pass."""
    for _ in range(2):
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()  # after "(comm)"
                if int(fields[3]) == sid:  # fields: state ppid pgrp session ...
                    os.kill(int(pid), signal.SIGKILL)
            except (OSError, IndexError, ValueError):
                pass  # exited meanwhile


# ----------------------------------------------------------------------------------------------
# CLI: generate workloads


def main():
    p = argparse.ArgumentParser(description="vitte-task DAG files for the peer benchmark")
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen", help="write a synthetic workload")
    g.add_argument("--kind", choices=["fanout", "layered", "chain"], required=True)
    g.add_argument("--size", type=int, help="task count for fanout and chain")
    g.add_argument("--width", type=int, help="layered: tasks per layer")
    g.add_argument("--depth", type=int, help="layered: number of layers")
    g.add_argument("--command", default="true", help="command line, split like a shell")
    g.add_argument("-o", "--output", required=True)
    c = sub.add_parser("check", help="validate a DAG file and print its task count")
    c.add_argument("dag")
    args = p.parse_args()

    if args.cmd == "check":
        name, tasks = load(args.dag)
        print(f"{name}: {len(tasks)} tasks, "
              f"{sum(len(t.deps) for t in tasks)} dependencies, acyclic")
        return
    if args.kind == "layered":
        if not (args.width and args.depth):
            p.error("--kind layered needs --width and --depth")
        size = (args.width, args.depth)
    else:
        if args.size is None:
            p.error(f"--kind {args.kind} needs --size")
        size = args.size
    doc = generate(args.kind, size, shlex.split(args.command))
    with open(args.output, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
