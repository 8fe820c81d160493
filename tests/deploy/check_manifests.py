#!/usr/bin/env python3
"""Offline checks of deploy/: the container, compose and Kubernetes files.

No container engine or cluster is needed. Checks that every YAML file parses;
that each Kubernetes object has apiVersion, kind and metadata.name, and that
Services, the StatefulSet, the Deployment and the NetworkPolicy select the
pods they are meant to; that every file the Containerfile COPYs from the
context exists; and that every command line the Containerfile, compose,
Kubernetes and the systemd units start names a program this build produces,
with flags that program accepts (read from its --help) and a value after
each flag that takes one.

Usage: check_manifests.py SOURCE_DIR BUILD_DIR
"""
import glob
import json
import os
import re
import shlex
import subprocess
import sys

try:
    import yaml
except ImportError:
    print("SKIP: python3-yaml is missing (.ci/install-deps.sh installs it)")
    sys.exit(77)

SRC, BUILD = sys.argv[1], sys.argv[2]
DEPLOY = os.path.join(SRC, "deploy")
PROGRAMS = {
    "vitte-taskd": os.path.join(BUILD, "coordinator", "vitte-taskd"),
    "vitte-worker": os.path.join(BUILD, "worker", "vitte-worker"),
    "vitte-task": os.path.join(BUILD, "client", "vitte-task"),
}
# Programs from Debian that may wrap ours.
WRAPPERS = {"/usr/bin/tini": ["--"]}
errors = []


def error(msg):
    errors.append(msg)
    print("FAIL:", msg)


def rel(path):
    return os.path.relpath(path, SRC)


def flags_of(program):
    """{flag: takes_value} from `program --help`."""
    out = subprocess.run([PROGRAMS[program], "--help"], capture_output=True,
                         text=True, timeout=30).stdout
    flags = {}
    for m in re.finditer(r"^  --([a-z0-9-]+)( VALUE)?$", out, re.M):
        flags[m.group(1)] = bool(m.group(2))
    if not flags:
        error(f"{program} --help lists no flags:\n{out}")
    return flags


FLAGS = {p: flags_of(p) for p in PROGRAMS}
checked_lines = []


def check_command(argv, where):
    """argv: the full command line a file starts."""
    argv = list(argv)
    while argv and argv[0] in WRAPPERS:
        argv = argv[1 + len(WRAPPERS[argv[0]]):] \
            if argv[1:1 + len(WRAPPERS[argv[0]])] == WRAPPERS[argv[0]] else argv[1:]
    if not argv:
        error(f"{where}: empty command")
        return
    program = os.path.basename(argv[0])
    if program not in PROGRAMS or not argv[0].startswith("/usr/bin/"):
        error(f"{where}: {argv[0]} is not /usr/bin/ + a program of this build "
              f"({', '.join(PROGRAMS)})")
        return
    flags = FLAGS[program]
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--"):
            name, eq, _ = arg[2:].partition("=")
            if name not in flags:
                error(f"{where}: {program} has no flag --{name}")
            elif flags[name] and not eq:
                if i + 1 >= len(argv) or argv[i + 1].startswith("--"):
                    error(f"{where}: --{name} needs a value")
                i += 1
        i += 1
    checked_lines.append(f"{where}: {' '.join(argv)}")


# --- every YAML file parses -------------------------------------------------
docs = {}
for path in sorted(glob.glob(os.path.join(DEPLOY, "**", "*.y*ml"), recursive=True)):
    try:
        with open(path) as f:
            docs[path] = [d for d in yaml.safe_load_all(f) if d is not None]
    except yaml.YAMLError as e:
        error(f"{rel(path)} does not parse: {e}")
if not docs:
    error("no YAML under deploy/")

# --- Containerfile -----------------------------------------------------------
containerfile = os.path.join(DEPLOY, "container", "Containerfile")
stages = {}  # name -> {"entrypoint": [...], "cmd": [...]}
current = None
with open(containerfile) as f:
    text = re.sub(r"\\\n", " ", f.read())
for line in text.splitlines():
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    word, _, rest = line.partition(" ")
    word = word.upper()
    if word == "FROM":
        m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
        base, name = m.group(1), m.group(2)
        current = dict(stages.get(base, {"entrypoint": [], "cmd": []}))
        stages[name or base] = current
    elif word in ("ENTRYPOINT", "CMD"):
        try:
            value = json.loads(rest)
        except ValueError:
            error(f"Containerfile: {word} must be a JSON array (exec form): {rest}")
            continue
        current[word.lower()] = value
        if word == "ENTRYPOINT":
            current["cmd"] = []
    elif word == "COPY":
        parts = shlex.split(rest)
        if any(p.startswith("--from") for p in parts):
            continue
        sources = [p for p in parts if not p.startswith("--")][:-1]
        for s in sources:
            if not glob.glob(os.path.join(SRC, s)):
                error(f"Containerfile copies {s}, which is not in the repository")
for name in ("taskd", "worker"):
    if name not in stages:
        error(f"Containerfile has no stage {name}")
        continue
    st = stages[name]
    check_command(st["entrypoint"] + st["cmd"], f"Containerfile stage {name}")
if not re.search(r"^FROM debian:12-slim\b", text, re.M):
    error("Containerfile: the runtime stage is not debian:12-slim")
if not re.search(r"^USER (?!0\b|root\b)\S+", text, re.M):
    error("Containerfile: no non-root USER")
if ".ci/install-deps.sh" not in text:
    error("Containerfile: the builder does not use .ci/install-deps.sh")

# --- compose -----------------------------------------------------------------
compose_path = os.path.join(DEPLOY, "compose.yaml")
compose = docs.get(compose_path, [{}])[0]
services = compose.get("services", {})
for name, svc in services.items():
    where = f"compose.yaml service {name}"
    build = svc.get("build")
    if not build and not svc.get("image"):
        error(f"{where}: neither image nor build")
    target = None
    if build:
        ctx = os.path.normpath(os.path.join(DEPLOY, build.get("context", ".")))
        if not os.path.exists(os.path.join(ctx, build.get("dockerfile", "Dockerfile"))):
            error(f"{where}: no {build.get('dockerfile')} in {rel(ctx)}")
        target = build.get("target")
        if target not in stages:
            error(f"{where}: Containerfile has no stage {target}")
    for dep in svc.get("depends_on", []):
        if dep not in services:
            error(f"{where}: depends on unknown service {dep}")
    for v in svc.get("volumes", []):
        src = v.split(":")[0]
        if not src.startswith((".", "/")) and src not in (compose.get("volumes") or {}):
            error(f"{where}: volume {src} is not declared")
    if target in stages:
        entry = svc.get("entrypoint", stages[target]["entrypoint"])
        cmd = svc.get("command", stages[target]["cmd"] if "entrypoint" not in svc else [])
        if isinstance(entry, str) or isinstance(cmd, str):
            error(f"{where}: entrypoint and command must be lists")
        else:
            check_command(entry + cmd, where)
workers = [n for n, s in services.items() if (s.get("build") or {}).get("target") == "worker"]
coordinators = [n for n, s in services.items() if (s.get("build") or {}).get("target") == "taskd"]
if len(coordinators) != 1 or len(workers) != 3:
    error(f"compose.yaml: expected 1 coordinator and 3 workers, got {coordinators} {workers}")
for n in coordinators:
    if not any(":/var/lib/vitte-taskd" in v and v.split(":")[0] in (compose.get("volumes") or {})
               for v in services[n].get("volumes", [])):
        error(f"compose.yaml: {n} keeps its database outside a named volume")

# --- Kubernetes --------------------------------------------------------------
k8s_dir = os.path.join(DEPLOY, "k8s")
objects = []
for path, ds in docs.items():
    if not path.startswith(k8s_dir + os.sep):
        continue
    for d in ds:
        where = f"{rel(path)} {d.get('kind')} {(d.get('metadata') or {}).get('name')}"
        if d.get("kind") == "Kustomization":
            for r in d.get("resources", []):
                if not os.path.exists(os.path.join(k8s_dir, r)):
                    error(f"{where}: resource {r} does not exist")
            continue
        for key in ("apiVersion", "kind"):
            if not d.get(key):
                error(f"{where}: no {key}")
        if not (d.get("metadata") or {}).get("name"):
            error(f"{where}: no metadata.name")
        objects.append((where, d))


def of_kind(kind):
    return [(w, d) for w, d in objects if d.get("kind") == kind]


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


sets = of_kind("StatefulSet")
if len(sets) != 1:
    error(f"k8s: expected one StatefulSet, got {len(sets)}")
svc_names = {d["metadata"]["name"] for _, d in of_kind("Service")}
for where, d in sets + of_kind("Deployment"):
    spec = d["spec"]
    labels = spec["template"]["metadata"]["labels"]
    if not selects(spec["selector"].get("matchLabels"), labels):
        error(f"{where}: selector does not match its pod labels")
    pod = spec["template"]["spec"]
    for c in pod["containers"]:
        check_command(c.get("command", []) + c.get("args", []), f"{where} container {c['name']}")
        mounts = {m["name"] for m in c.get("volumeMounts", [])}
        declared = {v["name"] for v in pod.get("volumes", [])}
        declared |= {t["metadata"]["name"] for t in spec.get("volumeClaimTemplates", [])}
        for m in mounts - declared:
            error(f"{where}: mounts undeclared volume {m}")
        sc = c.get("securityContext", {})
        if sc.get("allowPrivilegeEscalation") is not False or not sc.get("readOnlyRootFilesystem"):
            error(f"{where}: container {c['name']} is not locked down")
    if not pod.get("securityContext", {}).get("runAsNonRoot"):
        error(f"{where}: pods may run as root")
for where, d in sets:
    spec = d["spec"]
    if spec.get("serviceName") not in svc_names:
        error(f"{where}: serviceName {spec.get('serviceName')} is not a Service")
    if not spec.get("volumeClaimTemplates"):
        error(f"{where}: no PersistentVolumeClaim")
    pod_labels = spec["template"]["metadata"]["labels"]
    ports = {p.get("name") for c in spec["template"]["spec"]["containers"]
             for p in c.get("ports", [])}
    for swhere, s in of_kind("Service"):
        if not selects(s["spec"].get("selector"), pod_labels):
            error(f"{swhere}: selects no pod of the StatefulSet ({pod_labels})")
        for p in s["spec"].get("ports", []):
            t = p.get("targetPort")
            if isinstance(t, str) and t not in ports:
                error(f"{swhere}: targetPort {t} is not a container port ({ports})")
    for nwhere, n in of_kind("NetworkPolicy"):
        if not selects(n["spec"]["podSelector"].get("matchLabels"), pod_labels):
            error(f"{nwhere}: does not apply to the coordinator's pods")
secret_names = {d["metadata"]["name"] for _, d in of_kind("Secret")}
for where, d in sets + of_kind("Deployment"):
    for v in d["spec"]["template"]["spec"].get("volumes", []):
        if "secret" in v and v["secret"]["secretName"] not in secret_names:
            error(f"{where}: mounts unknown Secret {v['secret']['secretName']}")
if not secret_names:
    error("k8s: no Secret for TLS and tokens")

# --- systemd units -----------------------------------------------------------
for unit in glob.glob(os.path.join(DEPLOY, "systemd", "*.service")):
    with open(unit) as f:
        for line in f:
            if line.startswith("ExecStart="):
                # Expand the unit's own defaults; $VAR (unbraced) splits into
                # words and is empty by default.
                argv = shlex.split(line[len("ExecStart="):])
                argv = [a for a in argv if not re.fullmatch(r"\$[A-Z_]+", a)]
                argv = [re.sub(r"\$\{[A-Z_]+\}|%i", "VALUE", a) for a in argv]
                check_command(argv, rel(unit))

for line in checked_lines:
    print("ok:", line)
if errors:
    print(f"{len(errors)} problem(s)")
    sys.exit(1)
print(f"manifests: ok ({len(docs)} YAML files, {len(objects)} Kubernetes objects)")
