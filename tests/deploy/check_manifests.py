#!/usr/bin/env python3
"""Offline checks of deploy/: the container, compose and Kubernetes files.

No container engine or cluster is needed. Checks that every YAML file parses;
that each Kubernetes object has apiVersion, kind and metadata.name, and that
Services, the StatefulSet, the Deployment and the NetworkPolicy select the
pods they are meant to; that every file the Containerfile COPYs from the
context exists; and that every command line the Containerfile, compose,
Kubernetes and the systemd units start names a program this build produces,
with flags that program accepts (read from its --help) and a value after
each flag that takes one; the systemd units are checked with each example
drop-in's flags too.

Security by default: every vitte-taskd command line obeys the daemon's
loopback rule (a non-loopback --listen needs --tls-cert, --tls-key and
--auth tokens; a non-loopback --metrics-listen needs --http-tls-cert,
--http-tls-key and --auth tokens), and none of the shipped files uses
--insecure. Workers of compose and Kubernetes trust a CA and present a token
when their coordinator requires them; every file a compose or Kubernetes
command line names is mounted there (a compose secret, a Secret's key); a
Kubernetes probe of an HTTPS port uses scheme HTTPS; and kustomization.yaml
applies no Secret (applying it again must not replace the real ones).
Finally the coordinator command lines of the Containerfile, compose and
Kubernetes run for real (needs openssl): each must start, and must be refused
without --auth tokens.

Usage: check_manifests.py SOURCE_DIR BUILD_DIR
"""
import glob
import ipaddress
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

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


def parse_flags(argv):
    """{flag: [values]} of argv[1:] (a flag without a value gets "true")."""
    flags = FLAGS.get(os.path.basename(argv[0]), {}) if argv else {}
    out = {}
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            if not eq:
                if flags.get(name) and i + 1 < len(argv):
                    value = argv[i + 1]
                    i += 1
                else:
                    value = "true"
            out.setdefault(name, []).append(value)
        i += 1
    return out


def listen_host(address):
    """The host of a listen address, as vitte-taskd reads it
    (common/listen_policy.cc); "" when it cannot be told."""
    if address.startswith("unix:"):
        return "unix:"
    for prefix in ("ipv4:", "ipv6:"):
        if address.startswith(prefix):
            address = address[len(prefix):]
    if address.startswith("["):
        close = address.find("]")
        return address[1:close] if close > 0 else ""
    if address.count(":") != 1:
        return ""
    return address.split(":")[0]


def is_loopback(host):
    if host == "unix:" or host.lower() == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False  # host names are not resolved: not loopback
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def last(flags, name, default=""):
    return flags.get(name, [default])[-1]


def check_loopback_rule(flags, where):
    """The daemon's loopback rule, and no --insecure in what we ship."""
    if last(flags, "insecure", "false") != "false":
        error(f"{where}: vitte-taskd --insecure in a shipped file; serve TLS and "
              "require tokens instead")
    tokens = last(flags, "auth", "none") == "tokens"
    for listen, default, tls_flags in (
            ("listen", "127.0.0.1:7070", ("tls-cert", "tls-key")),
            ("metrics-listen", "", ("http-tls-cert", "http-tls-key"))):
        address = last(flags, listen, default)
        if not address or is_loopback(listen_host(address)):
            continue
        missing = [f"--{f}" for f in tls_flags if not last(flags, f)]
        if not tokens:
            missing.append("--auth tokens")
        if missing:
            error(f"{where}: vitte-taskd --{listen} {address} is not loopback and "
                  f"lacks {', '.join(missing)}: the daemon refuses to start")


def check_command(argv, where):
    """argv: the full command line a file starts. Returns (program, flags)
    or None."""
    argv = list(argv)
    while argv and argv[0] in WRAPPERS:
        argv = argv[1 + len(WRAPPERS[argv[0]]):] \
            if argv[1:1 + len(WRAPPERS[argv[0]])] == WRAPPERS[argv[0]] else argv[1:]
    if not argv:
        error(f"{where}: empty command")
        return None
    program = os.path.basename(argv[0])
    if program not in PROGRAMS or not argv[0].startswith("/usr/bin/"):
        error(f"{where}: {argv[0]} is not /usr/bin/ + a program of this build "
              f"({', '.join(PROGRAMS)})")
        return None
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
    parsed = parse_flags(argv)
    if program == "vitte-taskd":
        check_loopback_rule(parsed, where)
    return program, parsed


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
    checked = check_command(st["entrypoint"] + st["cmd"], f"Containerfile stage {name}")
    if name == "worker" and checked:
        for f in ("tls-ca", "token-file"):
            if not last(checked[1], f):
                error(f"Containerfile stage worker: no --{f}, but the taskd stage "
                      "serves TLS and requires tokens")
if not re.search(r"^FROM debian:12-slim\b", text, re.M):
    error("Containerfile: the runtime stage is not debian:12-slim")
if not re.search(r"^USER (?!0\b|root\b)\S+", text, re.M):
    error("Containerfile: no non-root USER")
if ".ci/install-deps.sh" not in text:
    error("Containerfile: the builder does not use .ci/install-deps.sh")

# --- compose -----------------------------------------------------------------
compose_flags = {}  # service -> flags of its command line
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
            checked = check_command(entry + cmd, where)
            if checked:
                compose_flags[name] = checked[1]
    # Files under /run/secrets/ that the command names are secrets of the
    # service, declared with a file.
    declared = compose.get("secrets") or {}
    mine = {x if isinstance(x, str) else x.get("target", x.get("source"))
            for x in svc.get("secrets", [])}
    sources = {x if isinstance(x, str) else x.get("source") for x in svc.get("secrets", [])}
    for values in compose_flags.get(name, {}).values():
        for v in values:
            if v.startswith("/run/secrets/") and v[len("/run/secrets/"):] not in mine:
                error(f"{where}: names {v}, but the service has no such secret")
    for src in sources:
        if src not in declared or not declared[src].get("file"):
            error(f"{where}: secret {src} is not declared with a file")
workers = [n for n, s in services.items() if (s.get("build") or {}).get("target") == "worker"]
coordinators = [n for n, s in services.items() if (s.get("build") or {}).get("target") == "taskd"]
if len(coordinators) != 1 or len(workers) != 3:
    error(f"compose.yaml: expected 1 coordinator and 3 workers, got {coordinators} {workers}")
for n in coordinators:
    cflags = compose_flags.get(n, {})
    for w in workers:
        wflags = compose_flags.get(w, {})
        if last(cflags, "tls-cert") and not last(wflags, "tls-ca"):
            error(f"compose.yaml: {w} has no --tls-ca, but {n} serves TLS")
        if last(cflags, "auth") == "tokens" and not last(wflags, "token-file"):
            error(f"compose.yaml: {w} has no --token-file, but {n} requires tokens")
    if not any(":/var/lib/vitte-taskd" in v and v.split(":")[0] in (compose.get("volumes") or {})
               for v in services[n].get("volumes", [])):
        error(f"compose.yaml: {n} keeps its database outside a named volume")

# Secret files for compose live in deploy/: never in git or an image.
for src, sec in (compose.get("secrets") or {}).items():
    path = os.path.normpath(os.path.join(DEPLOY, sec.get("file", "")))
    top = rel(path).split(os.sep)
    for ignore in (".dockerignore", ".gitignore"):
        with open(os.path.join(SRC, ignore)) as f:
            lines = {l.strip().strip("/") for l in f}
        if not any("/".join(top[:k]) in lines for k in range(1, len(top) + 1)):
            error(f"compose.yaml: secret {src} ({rel(path)}) is not in {ignore}")

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


k8s_flags = {}  # kind -> flags of its container's command line
FILE_FLAGS = ("tls-cert", "tls-key", "tls-ca", "tls-client-ca", "http-tls-cert",
              "http-tls-key", "http-tls-client-ca", "token-file")


def check_k8s_files(flags, container, pod, where):
    """Every file a flag names is a required Secret's key, mounted there."""
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for f in FILE_FLAGS:
        for path in flags.get(f, []):
            mount = next((m for m in container.get("volumeMounts", [])
                          if path.startswith(m["mountPath"].rstrip("/") + "/")), None)
            if mount is None:
                error(f"{where}: --{f} {path} is on no volume")
                continue
            secret = (volumes.get(mount["name"]) or {}).get("secret")
            if secret is None:
                error(f"{where}: --{f} {path} is not on a Secret volume")
                continue
            if secret.get("optional"):
                error(f"{where}: Secret {secret['secretName']} is optional, but "
                      f"--{f} needs it")
            name = path[len(mount["mountPath"].rstrip("/")) + 1:]
            items = {i["path"]: i["key"] for i in secret.get("items", [])}
            key = items.get(name) if items else name
            if key is None:
                error(f"{where}: --{f} {path}: the volume has no item {name}")
                continue
            placeholder = next((d for _, d in objects if d.get("kind") == "Secret"
                                and d["metadata"]["name"] == secret["secretName"]), None)
            if placeholder is not None and key not in (placeholder.get("stringData") or {}):
                error(f"{where}: --{f} {path}: Secret {secret['secretName']} "
                      f"(secrets.yaml) has no key {key}")


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
        checked = check_command(c.get("command", []) + c.get("args", []),
                                f"{where} container {c['name']}")
        if checked:
            k8s_flags[d["kind"]] = checked[1]
            check_k8s_files(checked[1], c, pod, f"{where} container {c['name']}")
            if last(checked[1], "http-tls-cert"):
                for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                    get = (c.get(probe) or {}).get("httpGet")
                    if get and get.get("scheme") != "HTTPS":
                        error(f"{where}: {probe} asks the HTTPS port in plain HTTP "
                              "(scheme: HTTPS)")
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
coordinator_flags = k8s_flags.get("StatefulSet", {})
worker_flags = k8s_flags.get("Deployment", {})
if last(coordinator_flags, "tls-cert") and not last(worker_flags, "tls-ca"):
    error("k8s: the workers have no --tls-ca, but the coordinator serves TLS")
if last(coordinator_flags, "auth") == "tokens" and not last(worker_flags, "token-file"):
    error("k8s: the workers have no --token-file, but the coordinator requires tokens")
secret_names = {d["metadata"]["name"] for _, d in of_kind("Secret")}
# `kubectl apply -k` again must not replace the real Secrets by placeholders.
for path, ds in docs.items():
    for d in ds:
        if d.get("kind") == "Kustomization":
            for r in d.get("resources", []):
                for doc in docs.get(os.path.join(os.path.dirname(path), r), []):
                    if doc.get("kind") == "Secret":
                        error(f"{rel(path)}: applies the Secret {doc['metadata']['name']} "
                              f"({r}); Secrets are created by hand")
for where, d in sets + of_kind("Deployment"):
    for v in d["spec"]["template"]["spec"].get("volumes", []):
        if "secret" in v and v["secret"]["secretName"] not in secret_names:
            error(f"{where}: mounts unknown Secret {v['secret']['secretName']}")
if not secret_names:
    error("k8s: no Secret for TLS and tokens")

# --- systemd units -----------------------------------------------------------
# Each unit alone, and with each of its example drop-ins, which set the
# variables that ExecStart expands (verify_units.sh checks that they do).
def dropin_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            if line.startswith("Environment="):
                for assignment in shlex.split(line[len("Environment="):]):
                    k, _, v = assignment.partition("=")
                    env[k] = v
    return env


for unit in sorted(glob.glob(os.path.join(DEPLOY, "systemd", "*.service"))):
    name = os.path.basename(unit)
    with open(unit) as f:
        exec_lines = [l for l in f if l.startswith("ExecStart=")]
    variants = [(rel(unit), {})]
    for dropin in sorted(glob.glob(unit + ".d/*.conf.example")):
        variants.append((f"{rel(unit)} + {rel(dropin)}", dropin_env(dropin)))
    for where, env in variants:
        for line in exec_lines:
            argv = []
            for a in shlex.split(line[len("ExecStart="):]):
                m = re.fullmatch(r"\$([A-Z_]+)", a)
                # $VAR (unbraced) splits into words; empty by default.
                argv += shlex.split(env.get(m.group(1), "")) if m else [a]
            instance = "VALUE" if "@" in name else ""
            credentials = "/run/credentials/" + name.replace("@", "@" + instance)
            argv = [re.sub(r"\$\{[A-Z_]+\}|%i", "VALUE", a.replace("%d", credentials))
                    for a in argv]
            check_command(argv, where)

# --- the daemon agrees ----------------------------------------------------------
# The coordinator command lines of the Containerfile, compose and Kubernetes
# run for real: files replaced by a certificate made here, --db by a temp
# file, ports by 0 (the hosts stay: the rule is about them). Each must start
# (both port files written); the same without --auth tokens must be refused,
# so that the static rule above and the daemon's cannot drift apart.
def run_coordinator(argv, tmp):
    """True if `argv` (vitte-taskd's flags) starts, False if refused."""
    for f in ("port", "http-port"):
        if os.path.exists(os.path.join(tmp, f)):
            os.unlink(os.path.join(tmp, f))
    db = os.path.join(tmp, "db", "vitte.db")
    os.makedirs(os.path.dirname(db), exist_ok=True)
    args = [PROGRAMS["vitte-taskd"]]
    i = 0
    while i < len(argv):
        name = argv[i][2:].partition("=")[0]
        value = argv[i + 1] if "=" not in argv[i] and FLAGS["vitte-taskd"].get(name) else None
        if value is not None:
            i += 1
        elif "=" in argv[i]:
            value = argv[i].partition("=")[2]
        if name in ("listen", "metrics-listen"):
            value = re.sub(r":\d+$", ":0", value)
        elif name in FILE_FLAGS:
            value = os.path.join(tmp, "key.pem" if name.endswith("-key") else "cert.pem")
        elif name == "db":
            value = db
        args += [f"--{name}"] + ([value] if value is not None else [])
        i += 1
    args += ["--port-file", os.path.join(tmp, "port"),
             "--http-port-file", os.path.join(tmp, "http-port")]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False, proc.stderr.read()
            http = "metrics-listen" not in " ".join(args) or \
                os.path.exists(os.path.join(tmp, "http-port"))
            if os.path.exists(os.path.join(tmp, "port")) and http:
                return True, ""
            time.sleep(0.05)
        return False, "did not start within 20 s"
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)


coordinator_lines = []
if "taskd" in stages:
    coordinator_lines.append(("Containerfile stage taskd", stages["taskd"]["cmd"]))
for n in coordinators:
    cmd = services[n].get("command")
    if isinstance(cmd, list):
        coordinator_lines.append((f"compose.yaml service {n}", cmd))
for where, d in sets:
    c = d["spec"]["template"]["spec"]["containers"][0]
    coordinator_lines.append((where, c.get("args", [])))
openssl = shutil.which("openssl")
if not openssl:
    print("note: openssl not found, the coordinator command lines were not run")
else:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                        os.path.join(tmp, "key.pem"), "-out", os.path.join(tmp, "cert.pem"),
                        "-days", "1", "-subj", "/CN=vitte-taskd",
                        "-addext", "subjectAltName=DNS:vitte-taskd"],
                       check=True, capture_output=True)
        for where, argv in coordinator_lines:
            started, why = run_coordinator(argv, tmp)
            if not started:
                error(f"{where}: vitte-taskd does not start with these flags: {why}")
            else:
                checked_lines.append(f"{where}: vitte-taskd started with these flags")
            if "tokens" in argv:
                no_auth = [a for a in argv if a not in ("--auth", "tokens", "--auth=tokens")]
                started, why = run_coordinator(no_auth, tmp)
                if started:
                    error(f"{where}: vitte-taskd started without --auth tokens: the "
                          "loopback rule checked above is not the daemon's")
                elif "not a loopback address" not in why:
                    error(f"{where}: without --auth tokens vitte-taskd failed otherwise: {why}")

for line in checked_lines:
    print("ok:", line)
if errors:
    print(f"{len(errors)} problem(s)")
    sys.exit(1)
print(f"manifests: ok ({len(docs)} YAML files, {len(objects)} Kubernetes objects)")
