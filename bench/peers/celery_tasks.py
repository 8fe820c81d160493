"""Celery app and tasks of the peer benchmark; imported by run_celery.py and by the worker it
starts (`celery -A celery_tasks worker`). Broker and result backend: the redis at the URL in
$VITTE_BENCH_REDIS, which run_celery.py starts for the run."""

import os
import subprocess

from celery import Celery

URL = os.environ.get("VITTE_BENCH_REDIS", "redis://127.0.0.1:6379/0")

# Library defaults otherwise (prefetch multiplier 4, early ack, JSON): the peer as users get it.
app = Celery("vitte_bench", broker=URL, backend=URL)


@app.task(name="noop")
def noop():
    pass


@app.task(name="run")
def run(argv):
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    if r.returncode != 0:
        raise RuntimeError(f"{argv!r} exited with status {r.returncode}")
