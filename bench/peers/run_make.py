#!/usr/bin/python3
"""Peer driver: runs a vitte-task DAG file with GNU make -j N.

  /usr/bin/python3 bench/peers/run_make.py --dag FILE --workers N --mode process|noop --timeout S

Each task becomes a phony target named t<index> whose prerequisites are its deps and whose
recipe is the task's argv, shell-quoted. make has no "noop" task: in noop mode every target
has an empty recipe, so make only walks the graph and starts no process at all.
Measured: the `make` run, including make parsing the Makefile (writing it is not measured).
Task stdout goes to /dev/null; stderr is kept.
"""

import os
import re
import shlex
import signal
import subprocess
import tempfile
import time

from dagfile import Run, driver_main


def recipe(argv):
    """The make recipe line running argv exactly.

    Example: ["sh", "-c", "echo $HOME"] -> sh -c 'echo $$HOME' ($ doubled for make, which
    then hands `sh -c 'echo $HOME'` to the shell).
    """
    if any("\n" in a for a in argv):
        raise ValueError(f"make recipes cannot carry a newline inside an argument: {argv!r}")
    line = shlex.join(argv)
    # A leading @, - or + would be read by make as a recipe prefix; shlex leaves these
    # characters unquoted, so quote the first word by hand.
    if line[0] in "@-+":
        line = f"'{argv[0]}'" + line[len(argv[0]):]
    return line.replace("$", "$$")


def write_makefile(tasks, path, noop):
    index = {t.id: i for i, t in enumerate(tasks)}
    with open(path, "w") as f:
        f.write(".SUFFIXES:\n")
        f.write(".PHONY: all " + " ".join(f"t{i}" for i in range(len(tasks))) + "\n")
        f.write("all: " + " ".join(f"t{i}" for i in range(len(tasks))) + "\n")
        for i, t in enumerate(tasks):
            # The id as a comment lets a reader map t<i> back to the task.
            f.write(f"# {t.id!r}\nt{i}: " + " ".join(f"t{index[d]}" for d in t.deps) + "\n")
            if not noop:
                f.write("\t" + recipe(t.command) + "\n")


NOTE = "measured: the make run, incl. make parsing the Makefile"
NOOP_NOTE = "; noop mode = targets with empty recipes, make starts no process"


def run(tasks, args, stack):
    note = NOTE + (NOOP_NOTE if args.mode == "noop" else "")
    tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="peer-make-"))
    makefile = os.path.join(tmp, "Makefile")
    write_makefile(tasks, makefile, args.mode == "noop")
    # A MAKEFLAGS inherited from an outer make would change -j and the output.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    cmd = ["make", "-s", "-r", "-j", str(args.workers), "-f", makefile, "all"]

    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=tmp, env=env, process_group=0, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _, err = proc.communicate(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # make and the recipes it started
        proc.communicate()
        return Run(False, time.monotonic() - start, error=f"timeout after {args.timeout:g} s",
                   note=note)
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        err = err.decode(errors="replace")
        # make names the failed target, e.g. "make: *** [Makefile:12: t5] Error 1".
        m = re.search(r"\[\S+:\d+: t(\d+)\] (.*)", err)
        what = f'task "{tasks[int(m.group(1))].id}": {m.group(2)}' if m else err.strip()[-300:]
        return Run(False, seconds, error=f"make exited {proc.returncode}: {what}", note=note)
    return Run(True, seconds, done=len(tasks), note=note)


if __name__ == "__main__":
    driver_main("make", run)
