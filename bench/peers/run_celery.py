#!/usr/bin/python3
"""Peer driver: runs a vitte-task DAG file on Celery (Debian python3-celery) over redis.

  /usr/bin/python3 bench/peers/run_celery.py --dag FILE --workers N --mode process|noop --timeout S

Starts its own redis-server (127.0.0.1, a free port, a temp dir, no persistence) as broker
and result backend, and one worker `celery -A celery_tasks worker --pool prefork
--concurrency N`. Celery has no DAG scheduler, so this driver is one: it sends a task when
all its deps have succeeded and learns of finished tasks by polling the result backend with
one MGET per sweep over the in-flight tasks. Measured: from the first send until every task
has succeeded; redis and worker start-up (until the worker answers a ping) are excluded.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from itertools import islice

from dagfile import Run, driver_main

HERE = os.path.dirname(os.path.abspath(__file__))
START_TIMEOUT_S = 60  # for redis and for the worker to answer a ping
POLL_S = 0.002  # sleep after a sweep that found nothing finished
SWEEP_MAX = 5000  # in-flight tasks polled per sweep, oldest first (they finish first)


def free_port():
    # The port may be taken again before redis binds it; start_redis retries.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc, sig=signal.SIGTERM, grace=10):
    """Sends sig, waits up to grace seconds, then SIGKILLs proc's process group (proc was
    started as its group leader, so this also ends the prefork pool and its commands)."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def tail(path, n=400):
    with open(path, errors="replace") as f:
        return f.read()[-n:].strip()


def start_redis(tmp, stack):
    """Starts redis-server; returns its URL once it answers PING."""
    import redis

    log = os.path.join(tmp, "redis.log")
    for _ in range(3):
        port = free_port()
        proc = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", tmp,
             "--save", "", "--appendonly", "no", "--logfile", log],
            process_group=0, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
        deadline = time.monotonic() + START_TIMEOUT_S
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                client.ping()
                stack.callback(stop, proc)
                return f"redis://127.0.0.1:{port}/0"
            except redis.ConnectionError:
                time.sleep(0.05)
        stop(proc)  # port lost to a race, or redis failed: try another port
    raise RuntimeError(f"redis-server did not start: {tail(log)}")


def start_worker(app, url, tmp, workers, stack):
    log = os.path.join(tmp, "worker.log")
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "celery_tasks", "worker",
             "--pool", "prefork", "--concurrency", str(workers), "--loglevel", "WARNING",
             "--without-gossip", "--without-mingle", "--without-heartbeat",
             "--hostname", f"bench-{os.getpid()}@%h"],
            cwd=tmp, env={**os.environ, "VITTE_BENCH_REDIS": url, "PYTHONPATH": HERE},
            process_group=0, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    # SIGQUIT is Celery's cold shutdown: it does not wait for running tasks.
    stack.callback(stop, proc, signal.SIGQUIT)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not app.control.ping(timeout=0.5):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"celery worker did not answer a ping: {tail(log)}")
    return proc, log


def run(tasks, args, stack):
    tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="peer-celery-"))
    url = start_redis(tmp, stack)
    os.environ["VITTE_BENCH_REDIS"] = url  # read by celery_tasks at import
    import celery_tasks
    from celery import states

    app = celery_tasks.app
    backend = app.backend
    # The redis backend SUBSCRIBEs to every sent task's result channel, for AsyncResult.get().
    # We poll with MGET instead, so that is pure overhead, and the unread messages would pile
    # up in redis' pubsub output buffer (32 MB limit, then the client is dropped).
    backend.on_task_call = lambda producer, task_id: None
    worker, worker_log = start_worker(app, url, tmp, args.workers, stack)
    task_fn = celery_tasks.noop if args.mode == "noop" else celery_tasks.run

    by_id = {t.id: t for t in tasks}
    waiting_on = {t.id: len(t.deps) for t in tasks}  # deps not yet succeeded
    dependents = {t.id: [] for t in tasks}
    for t in tasks:
        for d in t.deps:
            dependents[d].append(t.id)
    ready = deque(t for t in tasks if not t.deps)
    in_flight = {}  # id -> None; a dict for its insertion (= send) order
    done = 0
    note = ("measured: first send to all done; redis and worker start-up excluded; "
            "completion polled by MGET on the redis result backend")

    start = time.monotonic()
    deadline = start + args.timeout

    def failed(error):
        return Run(False, time.monotonic() - start, done=done, error=error, note=note)

    while done < len(tasks):
        while ready:
            t = ready.popleft()
            task_fn.apply_async(args=(t.command,) if args.mode == "process" else (),
                                task_id=t.id)
            in_flight[t.id] = None
            if len(in_flight) % 1000 == 0 and time.monotonic() > deadline:
                break
        if time.monotonic() > deadline:
            return failed(f"timeout after {args.timeout:g} s, {done}/{len(tasks)} tasks done")
        if worker.poll() is not None:
            return failed(f"celery worker exited with {worker.returncode}: {tail(worker_log)}")

        finished = 0
        sweep = list(islice(in_flight, SWEEP_MAX))
        for tid, meta in backend.get_many(sweep, interval=0, max_iterations=1):
            if meta["status"] != states.SUCCESS:
                # get_many has already turned a failure's result into the exception.
                return failed(f'task "{tid}" {meta["status"]}: {meta.get("result")!r}')
            del in_flight[tid]
            done += 1
            finished += 1
            for child in dependents[tid]:
                waiting_on[child] -= 1
                if waiting_on[child] == 0:
                    ready.append(by_id[child])
        if not finished and not ready:
            time.sleep(POLL_S)
    return Run(True, time.monotonic() - start, done=done, note=note)


if __name__ == "__main__":
    driver_main("celery", run)
