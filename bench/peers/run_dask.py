#!/usr/bin/python3
"""Peer driver: runs a vitte-task DAG file on Dask distributed (Debian python3-distributed).

  /usr/bin/python3 bench/peers/run_dask.py --dag FILE --workers N --mode process|noop --timeout S

A LocalCluster of N worker processes with one thread each (dashboard off). Each task is one
client.submit(fn, *dep_futures, key="<fn name>-<task id>", pure=False); fn runs the argv with
subprocess.run (stdout to /dev/null, non-zero exit = task error), or does nothing in noop
mode. Measured: from the first submit until every future is done, so the client-side
submit loop is included and cluster start-up is not.

Why the key is not the bare task id: the scheduler groups tasks by key prefix (dask's
key_split: "run_argv-L3_45" -> "run_argv", but "L3_45" -> "L3_45"), and in 2022.12 it sums
over all prefixes on every occupancy update. With bare ids every task is its own prefix,
which makes scheduling quadratic: 10,000 tasks blocked the scheduler's event loop for 30+ s,
the workers dropped their connections and the run hung with 0 tasks done. The
"<fn name>-" prefix is what client.submit's default keys ("funcname-<token>") give users.
"""

import logging
import subprocess
import time

from dagfile import Run, driver_main


def run_argv(argv, *_deps):
    # Runs on a worker. The dep results (None) are only there to order the tasks.
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    if r.returncode != 0:
        raise RuntimeError(f"{argv!r} exited with status {r.returncode}")


def noop(*_deps):
    pass


def run(tasks, args, stack):
    # Imported here so that the supervisor process does not pay for it.
    import dask
    from distributed import Client, LocalCluster, wait

    # On every submit the client walks up the stack to the first frame outside these modules
    # and records its source (inspect.getsource, which re-tokenizes the calling function) for
    # the dashboard's "computations" page. That cost ~2 ms per submit from run() below, more
    # than the scheduling itself; ignoring our modules too makes the walk find no frame.
    ignore = dask.config.get("distributed.diagnostics.computations.ignore-modules")
    dask.config.set({"distributed.diagnostics.computations.ignore-modules":
                     ignore + ["__main__", "dagfile"]})

    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.ERROR)
    stack.callback(cluster.close, timeout=30)
    client = Client(cluster)
    stack.callback(client.close, timeout=30)  # runs before cluster.close (LIFO)
    client.wait_for_workers(args.workers, timeout=60)

    note = ("measured: first submit to all done; LocalCluster start-up excluded; "
            "keys <fn>-<id>; computations source capture off (see run_dask.py)")
    start = time.monotonic()
    futures = {}
    for t in tasks:
        deps = [futures[d] for d in t.deps]
        if args.mode == "noop":
            futures[t.id] = client.submit(noop, *deps, key=f"noop-{t.id}", pure=False)
        else:
            futures[t.id] = client.submit(run_argv, t.command, *deps, key=f"run_argv-{t.id}",
                                          pure=False)
    note += f"; submit loop took {time.monotonic() - start:.2f} s"

    remaining = args.timeout - (time.monotonic() - start)
    try:
        if remaining <= 0:
            raise TimeoutError
        wait(list(futures.values()), timeout=remaining)
    except TimeoutError:
        done = sum(f.done() for f in futures.values())
        return Run(False, time.monotonic() - start, done=done,
                   error=f"timeout after {args.timeout:g} s, {done}/{len(tasks)} tasks done",
                   note=note)
    seconds = time.monotonic() - start

    failed = [tid for tid, f in futures.items() if f.status != "finished"]
    if failed:
        # A failed task also fails its dependents; name the first one in topological order.
        exc = futures[failed[0]].exception(timeout=10)
        return Run(False, seconds, done=len(tasks) - len(failed), note=note,
                   error=f'{len(failed)} tasks failed, first "{failed[0]}": {exc}')
    return Run(True, seconds, done=len(tasks), note=note)


if __name__ == "__main__":
    driver_main("dask", run)
