#!/usr/bin/env bash
# Checks the systemd units in deploy/systemd offline: `systemd-analyze
# verify` on copies whose ExecStart points at the built binaries (verify
# needs them to exist), with no warning allowed, and `systemd-analyze
# security --offline` so that the sandbox cannot quietly lose a setting.
# Usage: verify_units.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1
build=$2
if ! command -v systemd-analyze > /dev/null; then
  # ctest counts exit code 77 as skipped (SKIP_RETURN_CODE).
  echo "SKIP: systemd-analyze not found (Debian package systemd; .ci/install-deps.sh installs it)"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/bin"
ln -s "$build/coordinator/vitte-taskd" "$work/bin/vitte-taskd"
ln -s "$build/worker/vitte-worker" "$work/bin/vitte-worker"
systemd_dir="$src/deploy/systemd"

# One directory per variant: the units alone, and each unit with each of its
# example drop-ins (UNIT.d/*.conf.example) laid out as systemd reads them,
# UNIT.d/NAME.conf next to the unit (verify and security load drop-ins from
# the directory of the unit they are given), and the worker with all of its
# drop-ins at once.
#   make_variant DIR DROPIN...   (DROPIN: a path under deploy/systemd)
make_variant() {
  local dir="$work/$1" d
  shift
  mkdir -p "$dir"
  for unit in vitte-taskd.service vitte-worker@.service; do
    sed "s|/usr/bin/|$work/bin/|g" "$systemd_dir/$unit" > "$dir/$unit"
  done
  # A template is checked through an instance, as systemd would load it;
  # the template's drop-ins apply to it.
  cp "$dir/vitte-worker@.service" "$dir/vitte-worker@builder-1.service"
  for d in "$@"; do
    mkdir -p "$dir/$(dirname "$d")"
    sed "s|/usr/bin/|$work/bin/|g" "$systemd_dir/$d" > "$dir/${d%.example}"
  done
}
dropins=()
while IFS= read -r -d '' f; do dropins+=("${f#"$systemd_dir"/}"); done \
  < <(find "$systemd_dir" -path '*.service.d/*.conf.example' -print0 | sort -z)
((${#dropins[@]} >= 3)) || { echo "FAIL: expected 3 example drop-ins, found: ${dropins[*]}"; exit 1; }
variants=(plain)
make_variant plain
worker_dropins=()
for d in "${dropins[@]}"; do
  v=$(tr '/@.' '___' <<< "$d")
  make_variant "$v" "$d"
  variants+=("$v")
  [[ $d == vitte-worker@* ]] && worker_dropins+=("$d")
done
make_variant worker_all "${worker_dropins[@]}"
variants+=(worker_all)

# `verify` warns about unknown keys and bad values on stderr but still exits
# 0, so any output about our units is a failure too. Without a running
# systemd it may print notes about the host (e.g. missing /run/systemd);
# those do not name our files.
status=0
for v in "${variants[@]}"; do
  cd "$work/$v"
  for unit in vitte-taskd.service vitte-worker@.service vitte-worker@builder-1.service; do
    if ! systemd-analyze verify "$work/$v/$unit" > "$work/out" 2>&1; then
      echo "FAIL: systemd-analyze verify $unit ($v)"; status=1
    fi
    if grep -E "vitte|Unknown|Failed|ignoring|specifier" "$work/out"; then
      echo "FAIL: systemd-analyze verify $unit ($v) printed warnings"; status=1
    fi
    cat "$work/out"
  done
done
cd "$work"

# Exposure levels (0 = fully sandboxed, 10 = not at all; --threshold is in
# tenths). They were 1.4 and 4.0 when written (4.7 with run-as-user.conf): the worker runs arbitrary
# build commands and keeps what builds need (see the unit).
check_security() {  # variant unit threshold
  if ! systemd-analyze security --offline=true --threshold="$3" "$work/$1/$2" > "$work/sec" 2>&1; then
    cat "$work/sec"
    echo "FAIL: $2 ($1) is more exposed than $(($3 / 10)).$(($3 % 10))"; status=1
  fi
  echo "$2 ($1): $(grep "Overall exposure" "$work/sec")"
}
for v in "${variants[@]}"; do
  check_security "$v" vitte-taskd.service 20
done
# With run-as-user.conf the worker runs as root (with three capabilities):
# systemd-analyze counts that against it, though its tasks do not run so.
for v in "${variants[@]}"; do
  if [[ -e "$work/$v/vitte-worker@.service.d/run-as-user.conf" ]]; then
    check_security "$v" vitte-worker@builder-1.service 50
  else
    check_security "$v" vitte-worker@builder-1.service 45
  fi
done

# Drop-ins set the variables that the units' ExecStart= expands (never
# ExecStart= itself, so that two drop-ins do not replace each other's
# flags), with flags the programs accept (check_manifests.py checks those).
for d in "${dropins[@]}"; do
  f="$systemd_dir/$d"
  unit=${d%%.d/*}
  if grep -q "^ExecStart=" "$f"; then
    echo "FAIL: $d sets ExecStart= (drop-ins set the unit's *_FLAGS variables)"; status=1
  fi
  while IFS= read -r var; do
    grep -q "^ExecStart=.* \$$var\( \|$\)" "$systemd_dir/$unit" \
      || { echo "FAIL: $d sets $var, which $unit's ExecStart does not expand"; status=1; }
    grep -q "^Environment=.*\<$var=" "$systemd_dir/$unit" \
      || { echo "FAIL: $unit gives $var no empty default"; status=1; }
  done < <(sed -n 's/^Environment="\?\([A-Z_]*\)=.*/\1/p' "$f")
  # A drop-in never loosens the sandbox the unit sets.
  if grep -E "^(NoNewPrivileges=no|ProtectSystem=(no|false)|ProtectHome=(no|false)|PrivateTmp=no|AmbientCapabilities=.+)$" "$f"; then
    echo "FAIL: $d loosens the sandbox"; status=1
  fi
done
# The credentials that the TLS drop-ins load are what their flags read.
for d in "${dropins[@]}"; do
  [[ $d == */tls.conf.example ]] || continue
  f="$systemd_dir/$d"
  flags=$(sed -n 's/^Environment="[A-Z_]*=\(.*\)"$/\1/p' "$f")
  for cred in $(grep -o "%d/[a-z.-]*" <<< "$flags" | sort -u); do
    grep -q "^LoadCredential=${cred#%d/}:/etc/vitte-task/" "$f" \
      || { echo "FAIL: $d reads $cred but loads no such credential"; status=1; }
  done
done
grep -q -- "--auth tokens" "$systemd_dir/vitte-taskd.service.d/tls.conf.example" \
  || { echo "FAIL: the coordinator's TLS drop-in does not require tokens"; status=1; }
# run-as-user.conf: root, but only what switching users and killing tasks
# needs; --run-as-user is set in the same file, so that the worker can never
# run as root without it (its tasks would then run as root).
ru="$systemd_dir/vitte-worker@.service.d/run-as-user.conf.example"
for line in User=root "CapabilityBoundingSet=CAP_SETUID CAP_SETGID CAP_KILL" \
    AmbientCapabilities= 'Environment="VITTE_WORKER_RUN_AS_FLAGS=--run-as-user vitte"'; do
  grep -qxF "$line" "$ru" || { echo "FAIL: run-as-user.conf.example lacks $line"; status=1; }
done

# Settings that the daemons' correctness relies on, checked by name.
require() {  # unit line
  grep -qxF "$2" "$src/deploy/systemd/$1" || { echo "FAIL: $1 lacks $2"; status=1; }
}
for u in vitte-taskd.service vitte-worker@.service; do
  for line in NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
      LockPersonality=yes SystemCallArchitectures=native Restart=on-failure; do
    require "$u" "$line"
  done
done
require vitte-taskd.service StateDirectory=vitte-taskd
require vitte-worker@.service "StateDirectory=vitte-worker/%i"
require vitte-worker@.service "WorkingDirectory=/var/lib/vitte-worker/%i"
require vitte-worker@.service KillMode=mixed
require vitte-taskd.service "EnvironmentFile=-/etc/vitte-task/taskd.conf"
require vitte-worker@.service "EnvironmentFile=-/etc/vitte-task/worker.conf"
# The packages' TOML files (deploy/config/*.toml) are what the units read.
grep -q "^ExecStart=/usr/bin/vitte-taskd --config /etc/vitte-task/vitte-taskd.toml " \
  "$src/deploy/systemd/vitte-taskd.service" || { echo "FAIL: vitte-taskd.service does not read vitte-taskd.toml"; status=1; }
grep -q "^ExecStart=/usr/bin/vitte-worker --config /etc/vitte-task/vitte-worker.toml " \
  "$src/deploy/systemd/vitte-worker@.service" || { echo "FAIL: vitte-worker@.service does not read vitte-worker.toml"; status=1; }
# The package's sysusers.d file creates the user the worker unit names, in a
# scratch root (nothing on this machine changes).
mkdir -p "$work/root/etc"
if systemd-sysusers --root="$work/root" "$src/deploy/sysusers/vitte-worker.conf" > /dev/null 2>&1; then
  grep -q "^vitte:x:[0-9]*:[0-9]*:.*:/var/lib/vitte-worker:/usr/sbin/nologin$" "$work/root/etc/passwd" \
    || { echo "FAIL: sysusers.d/vitte-worker.conf did not create vitte"; status=1; }
else
  echo "FAIL: systemd-sysusers rejects deploy/sysusers/vitte-worker.conf"; status=1
fi
require vitte-worker@.service User=vitte

((status == 0)) && echo "units: ok"
exit $status
