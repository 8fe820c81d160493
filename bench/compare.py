#!/usr/bin/python3
"""The comparison bench: vitte-task against Dask, Celery and GNU make.

    /usr/bin/python3 bench/compare.py [--smoke] [--out FILE.json] [--build DIR]

Runs the same DAG files, with the same number of worker processes, on
  vitte      vitte-taskd + N vitte-worker processes on loopback, durable db on disk
  run        `vitte-task run --jobs N` (embedded coordinator, one process)
  dask       Dask distributed LocalCluster, N worker processes x 1 thread
  celery     Celery + a local redis-server, N prefork processes
  make       GNU make -j N (no network, no durability: the floor for spawning)
for these workloads, in two modes: `noop` (tasks do nothing: the cost of
orchestration alone; vitte's workers run with --noop) and `process` (every
task runs `true`):
  fanout     10,000 independent tasks
  layered    100 wide x 100 deep, each task depending on 2 of the layer before
  chain      1,000 tasks in a line
Then, for vitte alone: the two SQLite sync modes side by side, the chain's
hop latency as a histogram, failover after SIGKILL and SIGSTOP of a worker,
and a 1,000,000-task layered graph (accepted, run, daemon SIGKILLed and
restarted half way); the peers get the same big graph with a short time
limit, to record how they fare.

Prints one table and writes everything as JSON (--out). Compare numbers of
one run only, as ratios: absolute times drift with the machine.

--smoke: a few hundred tasks per workload, vitte and `run` only, no peers;
exits non-zero if any run fails. ctest runs it so the bench cannot rot.

Peers come from Debian packages: bench/peers/install.sh installs them (the
full bench runs it). Every process started here is stopped here, and every
wait is bounded.
"""

import argparse
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "peers"))
import dagfile  # noqa: E402  (bench/peers/dagfile.py)

PYTHON = "/usr/bin/python3"  # Debian's, which has the peers' packages

FULL = {"fanout": ("fanout", 10_000), "layered": ("layered", (100, 100)),
        "chain": ("chain", 1_000)}
SMOKE = {"fanout": ("fanout", 300), "layered": ("layered", (20, 10)),
         "chain": ("chain", 100)}
MILLION = ("layered", (1_000, 1_000))

# vitte's workers: one slot each (like the peers), and a queue deep enough
# that a slot never waits for the commit of its previous result.
PREFETCH = {"noop": 256, "process": 16}


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def wait_until(predicate, timeout, step=0.02):
    """Polls `predicate` until it returns a true value or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return None


def peak_rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


class Cluster:
    """vitte-taskd and its workers on loopback, in a scratch directory on
    disk (not tmpfs: the point is to pay for fsync)."""

    def __init__(self, build, workers, mode, sync="full", trace=False,
                 taskd_flags=()):
        self.build = build
        self.dir = tempfile.mkdtemp(prefix="vitte-bench-", dir="/var/tmp")
        self.workers = workers
        self.mode = mode
        self.sync = sync
        self.trace = trace
        self.taskd_flags = list(taskd_flags)
        self.taskd = None
        self.worker_procs = {}
        self.address = None

    def bin(self, name):
        sub = {"vitte-taskd": "coordinator", "vitte-worker": "worker",
               "vitte-task": "client"}[name]
        return os.path.join(self.build, sub, name)

    def start_taskd(self, listen="127.0.0.1:0"):
        port_file = os.path.join(self.dir, "port")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(port_file)
        self.taskd = subprocess.Popen(
            [self.bin("vitte-taskd"), "--listen", listen, "--db",
             os.path.join(self.dir, "bench.db"), "--port-file", port_file,
             "--sync", self.sync, "--log-level", "warn"] + self.taskd_flags,
            stderr=open(os.path.join(self.dir, "taskd.log"), "a"))
        port = wait_until(lambda: os.path.exists(port_file) and
                          open(port_file).read().strip(), timeout=30)
        if not port:
            raise RuntimeError(f"vitte-taskd did not start (see {self.dir})")
        self.address = f"127.0.0.1:{port}"

    def start_worker(self, name):
        argv = [self.bin("vitte-worker"), "--coordinator", self.address,
                "--name", name, "--slots", "1", "--prefetch",
                str(PREFETCH[self.mode]), "--log-level", "warn"]
        if self.mode == "noop":
            argv.append("--noop")
        if self.trace:
            argv += ["--trace-file", os.path.join(self.dir, f"{name}.trace")]
        self.worker_procs[name] = subprocess.Popen(
            argv, stderr=open(os.path.join(self.dir, f"{name}.log"), "a"))

    def __enter__(self):
        self.start_taskd()
        for i in range(self.workers):
            self.start_worker(f"w{i + 1}")
        if not wait_until(lambda: self.connected_workers() >= self.workers,
                          timeout=30, step=0.05):
            raise RuntimeError(f"workers did not connect (see {self.dir})")
        return self

    def __exit__(self, *exc):
        self.stop_workers()
        self.stop_taskd()
        subprocess.run(["rm", "-rf", self.dir], check=False)

    def stop_workers(self):
        for p in self.worker_procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.terminate()  # drains, then writes its trace file
        for p in self.worker_procs.values():
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def stop_taskd(self):
        if self.taskd and self.taskd.poll() is None:
            self.taskd.terminate()
            try:
                self.taskd.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.taskd.kill()
                self.taskd.wait()

    def cli(self, *args, timeout=600):
        return subprocess.run([self.bin("vitte-task"), "--coordinator",
                               self.address] + list(args),
                              capture_output=True, text=True, timeout=timeout)

    def cli_json(self, *args, timeout=60):
        r = self.cli(*args, "--output", "json", timeout=timeout)
        return json.loads(r.stdout) if r.returncode == 0 else None

    def connected_workers(self):
        try:
            w = self.cli_json("workers", timeout=10)
        except (subprocess.TimeoutExpired, json.JSONDecodeError):
            return 0
        return sum(1 for x in (w or {}).get("workers", []) if x.get("connected"))

    def graph_summary(self, graph_id):
        try:
            listing = self.cli_json("list", "--limit", "5", timeout=30)
        except (subprocess.TimeoutExpired, json.JSONDecodeError):
            return None
        for g in (listing or {}).get("graphs", []):
            if g["graph_id"] == graph_id:
                return g
        return None

    def wait_for_end(self, graph_id, timeout, step):
        """The graph's summary once it finished, polled every `step`
        seconds; None if it did not finish within `timeout`."""
        return wait_until(lambda: (g := self.graph_summary(graph_id)) and
                          g["state"] != "GRAPH_STATE_RUNNING" and g,
                          timeout, step)


def write_dag(directory, name, kind, size, command):
    path = os.path.join(directory, f"{name}.json")
    with open(path, "w") as f:
        json.dump(dagfile.generate(kind, size, command), f, separators=(",", ":"))
    return path


def task_count(kind, size):
    return size[0] * size[1] if kind == "layered" else size


# --- vitte -----------------------------------------------------------------


def run_vitte(build, dag, tasks, workers, mode, sync="full", timeout=600,
              watch=True):
    """On a fresh cluster: with `watch`, the wall time of `vitte-task submit
    --wait` (CLI start, upload, durable insert, run, and every event of
    every task streamed to the CLI), as a user following the graph sees
    it. Without, nobody follows the graph: from the start of `vitte-task
    submit` to the end the coordinator records (polled every 0.1 s, but
    read from the graph's record), the cost of orchestration alone."""
    with Cluster(build, workers, mode, sync=sync) as c:
        t0_wall = time.time()
        t0 = time.monotonic()
        if watch:
            r = c.cli("submit", dag, "--wait", timeout=timeout)
            seconds = time.monotonic() - t0
            ok = r.returncode == 0
        else:
            r = c.cli("submit", dag, timeout=timeout)
            graph_id = r.stdout.split()[0] if r.returncode == 0 else None
            done = graph_id and c.wait_for_end(graph_id, timeout, 0.1)
            ok = bool(done) and done["state"] == "GRAPH_STATE_SUCCEEDED"
            seconds = int(done["finished_at_ms"]) / 1000 - t0_wall if ok else 0
        out = {"system": "vitte", "tasks": tasks, "ok": ok,
               "seconds": round(seconds, 3), "sync": sync, "watched": watch,
               "peak_rss_mb": peak_rss_mb(c.taskd.pid)}
        if not ok:
            out["error"] = r.stderr[-500:]
        return out


def run_embedded(build, dag, tasks, workers, mode, timeout=600):
    with tempfile.TemporaryDirectory(dir="/var/tmp") as d:
        argv = [os.path.join(build, "client", "vitte-task"), "run", "--jobs",
                str(workers), "--db", os.path.join(d, "run.db"), dag]
        if mode == "noop":
            argv.append("--noop")
        t0 = time.monotonic()
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        seconds = time.monotonic() - t0
    out = {"system": "run", "tasks": tasks, "ok": r.returncode == 0,
           "seconds": round(seconds, 3)}
    if not out["ok"]:
        out["error"] = r.stderr[-500:]
    return out


def run_peer(system, dag, tasks, workers, mode, timeout):
    argv = [PYTHON, os.path.join(HERE, "peers", f"run_{system}.py"), "--dag", dag,
            "--workers", str(workers), "--mode", mode, "--timeout", str(timeout)]
    try:
        r = subprocess.run(argv, capture_output=True, text=True,
                           timeout=timeout + 300)
        line = r.stdout.strip().splitlines()[-1]
        return json.loads(line)
    except (subprocess.TimeoutExpired, IndexError, json.JSONDecodeError) as e:
        return {"system": system, "tasks": tasks, "ok": False,
                "error": f"driver failed: {type(e).__name__}: {e}"}


def chain_hops(build, dag, workers, mode):
    """Latency from one task's end to its dependent's start, along the
    chain, from the workers' own trace of each attempt (microseconds)."""
    with Cluster(build, workers, mode, trace=True) as c:
        r = c.cli("submit", dag, "--wait", timeout=600)
        if r.returncode != 0:
            return {"ok": False, "error": r.stderr[-500:]}
        graph_id = r.stdout.split()[0]
        status = c.cli_json("status", graph_id, "--attempts", timeout=120)
        c.stop_workers()  # writes the traces
        spans = {}
        for name in c.worker_procs:
            with open(os.path.join(c.dir, f"{name}.trace")) as f:
                for line in f:
                    attempt, start, end = (int(x) for x in line.split())
                    spans[attempt] = (start, end)
    order = {t["spec"]["id"]: int(t["attempts"][-1]["attempt_id"])
             for t in status["tasks"]}
    ids = sorted(order, key=lambda i: int(i[1:]))  # c0, c1, ...
    hops = sorted(spans[order[b]][0] - spans[order[a]][1]
                  for a, b in zip(ids, ids[1:]))

    def pct(p):
        return hops[min(len(hops) - 1, int(p / 100 * len(hops)))] / 1000

    buckets = [0.25, 0.5, 1, 2, 5, 10, 20, 50]
    histogram = {f"<={b}ms": sum(1 for h in hops if h / 1000 <= b) for b in buckets}
    histogram[">50ms"] = sum(1 for h in hops if h / 1000 > 50)
    return {"ok": True, "hops": len(hops), "mean_ms": round(sum(hops) / len(hops) / 1000, 3),
            "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99),
            "max_ms": hops[-1] / 1000, "cumulative_histogram": histogram}


def failover(build, how):
    """A task runs on one of two idle workers; that worker gets SIGKILL or
    SIGSTOP. Returns the time until the task runs again on the other, from
    the coordinator's record of the new attempt (default lease 10 s,
    heartbeat 2 s, reconnect grace 0.5 s)."""
    with tempfile.TemporaryDirectory() as d, \
            Cluster(build, 2, "process") as c:
        dag = os.path.join(d, "sleep.json")
        with open(dag, "w") as f:
            json.dump({"name": "failover", "tasks": [
                {"id": "sleep", "command": ["sleep", "60"]}]}, f)
        graph_id = c.cli("submit", dag).stdout.split()[0]

        def attempts():
            s = c.cli_json("status", graph_id, "--attempts", timeout=10)
            return s["tasks"][0].get("attempts", []) if s else []

        first = wait_until(lambda: [a for a in attempts()
                                    if a["state"] == "ATTEMPT_STATE_RUNNING"], 30)
        if not first:
            return {"ok": False, "error": "the task never started"}
        victim = c.worker_procs[first[0]["worker"]]
        time.sleep(0.5)  # let the worker settle into heartbeats
        sent_ms = time.time() * 1000
        victim.send_signal(signal.SIGKILL if how == "kill" else signal.SIGSTOP)
        second = wait_until(lambda: [a for a in attempts()[1:]
                                     if a["state"] == "ATTEMPT_STATE_RUNNING"], 60)
        c.cli("cancel", graph_id)
        if not second:
            return {"ok": False, "error": "the task did not move within 60 s"}
        return {"ok": True, "signal": "SIGKILL" if how == "kill" else "SIGSTOP",
                "seconds": round((int(second[0]["started_at_ms"]) - sent_ms) / 1000, 3)}


def million(build, workers, directory, timeout=900):
    """The 1,000,000-task layered graph on vitte with no-op workers: time to
    accept it, daemon SIGKILLed half way and restarted (time until it
    serves), time to finish, and the daemon's peak RSS."""
    kind, size = MILLION
    dag = write_dag(directory, "million", kind, size, ["true"])
    out = {"tasks": task_count(kind, size)}
    with Cluster(build, workers, "noop") as c:
        t0 = time.monotonic()
        r = c.cli("submit", dag, timeout=300)
        out["accept_seconds"] = round(time.monotonic() - t0, 2)
        if r.returncode != 0:
            return dict(out, ok=False, error=r.stderr[-500:])
        graph_id = r.stdout.split()[0]

        def succeeded():
            g = c.graph_summary(graph_id)
            return int(g["counts"]["succeeded"]) if g else 0

        half = wait_until(lambda: succeeded() >= out["tasks"] // 2, timeout, 0.5)
        if not half:
            return dict(out, ok=False, error="did not reach half way")
        out["peak_rss_mb_before_restart"] = peak_rss_mb(c.taskd.pid)
        c.taskd.kill()
        c.taskd.wait()
        t1 = time.monotonic()
        c.start_taskd(listen=c.address)  # same port: workers come back
        served = wait_until(lambda: c.graph_summary(graph_id), 60, 0.05)
        out["restart_serving_seconds"] = round(time.monotonic() - t1, 2)
        if not served:
            return dict(out, ok=False, error="restarted daemon did not serve")
        done = c.wait_for_end(graph_id, timeout, 0.5)
        out["total_seconds"] = round(time.monotonic() - t0, 1)
        out["peak_rss_mb_after_restart"] = peak_rss_mb(c.taskd.pid)
        out["ok"] = bool(done) and done["state"] == "GRAPH_STATE_SUCCEEDED"
        if done:
            out["state"] = done["state"]
    return out


# --- the run ----------------------------------------------------------------


def machine():
    info = {"cores": os.cpu_count(), "kernel": platform.release(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    commit = subprocess.run(["git", "-C", REPO, "describe", "--always",
                             "--dirty"], capture_output=True, text=True)
    if commit.returncode == 0:
        info["commit"] = commit.stdout.strip()
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    return info


def fmt(result):
    if not result or not result.get("ok"):
        return "FAILED"
    return f"{result['seconds']:.2f}s"


def print_table(results, systems):
    header = ["workload", "mode"] + systems + [f"{s}/vitte" for s in systems[1:]]
    rows = []
    for r in results:
        cells = [r["workload"], r["mode"]]
        cells += [fmt(r["runs"].get(s)) for s in systems]
        v = r["runs"].get("vitte")
        for s in systems[1:]:
            o = r["runs"].get(s)
            if v and v.get("ok") and o and o.get("ok") and v["seconds"] > 0:
                cells.append(f"{o['seconds'] / v['seconds']:.1f}x")
            else:
                cells.append("-")
        rows.append(cells)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda cells: " | ".join(str(c).ljust(w) for c, w in zip(cells, widths))
    print(line(header))
    print("-+-".join("-" * w for w in widths))
    for cells in rows:
        print(line(cells))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--build", default=os.path.join(REPO, "build"))
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--out", help="write the results here as JSON")
    p.add_argument("--peers", default="dask,celery,make",
                   help="comma-separated peers to run (full bench only)")
    p.add_argument("--no-million", action="store_true",
                   help="skip the 1,000,000-task graph")
    p.add_argument("--timeout", type=float, default=600,
                   help="limit of one run, seconds")
    args = p.parse_args()
    build = os.path.abspath(args.build)

    peers = [] if args.smoke else [s for s in args.peers.split(",") if s]
    if peers:
        subprocess.run(["bash", os.path.join(HERE, "peers", "install.sh")],
                       check=True)
    workloads = SMOKE if args.smoke else FULL
    systems = ["vitte", "run"] + peers
    report = {"machine": machine(), "workers": args.workers,
              "command": " ".join(["bench/compare.py"] + sys.argv[1:]),
              "results": []}
    failed = False
    with tempfile.TemporaryDirectory(prefix="vitte-bench-dags-") as d:
        for mode in ("noop", "process"):
            for name, (kind, size) in workloads.items():
                tasks = task_count(kind, size)
                dag = write_dag(d, f"{name}-{mode}", kind, size, ["true"])
                runs = {}
                log(f"== {name} ({tasks} tasks), {mode}")
                runs["vitte"] = run_vitte(build, dag, tasks, args.workers, mode,
                                          timeout=args.timeout)
                runs["run"] = run_embedded(build, dag, tasks, args.workers, mode,
                                           timeout=args.timeout)
                for peer in peers:
                    runs[peer] = run_peer(peer, dag, tasks, args.workers, mode,
                                          args.timeout)
                for s, r in runs.items():
                    if r.get("ok") and r.get("seconds"):
                        r["tasks_per_s"] = round(tasks / r["seconds"], 1)
                    log(f"   {s}: {json.dumps(r)}")
                    failed |= s in ("vitte", "run") and not r.get("ok")
                report["results"].append({"workload": name, "mode": mode,
                                          "tasks": tasks, "runs": runs})

        # Orchestration alone (nobody streaming events), in each sync mode.
        extra = report.setdefault("vitte", {})
        for name in ("fanout", "layered"):
            kind, size = workloads[name]
            dag = write_dag(d, f"{name}-sync", kind, size, ["true"])
            for sync in ("full", "normal"):
                key = f"unwatched_{name}_noop_sync_{sync}"
                extra[key] = run_vitte(build, dag, task_count(kind, size),
                                       args.workers, "noop", sync=sync,
                                       timeout=args.timeout, watch=False)
                if extra[key].get("ok"):
                    extra[key]["tasks_per_s"] = round(
                        task_count(kind, size) / extra[key]["seconds"], 1)
                log(f"== {key}: {extra[key]}")
                failed |= not extra[key].get("ok")
        kind, size = workloads["chain"]
        dag = write_dag(d, "chain-hops", kind, size, ["true"])
        for mode in ("noop", "process"):
            extra[f"chain_hops_{mode}"] = chain_hops(build, dag, args.workers, mode)
            log(f"== chain hops, {mode}: {extra[f'chain_hops_{mode}']}")
            failed |= not extra[f"chain_hops_{mode}"].get("ok")
        if not args.smoke:
            for how in ("kill", "stop"):
                extra[f"failover_{how}"] = failover(build, how)
                log(f"== failover, {how}: {extra[f'failover_{how}']}")
            if not args.no_million:
                extra["million"] = million(build, args.workers, d)
                log(f"== million: {extra['million']}")
                kind, size = MILLION
                dag = os.path.join(d, "million.json")
                extra["million_peers"] = {
                    peer: run_peer(peer, dag, task_count(kind, size),
                                   args.workers, "noop", 120)
                    for peer in peers}
                log(f"== million, peers: {extra['million_peers']}")

    print_table(report["results"], systems)
    print(json.dumps(report["vitte"], indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
