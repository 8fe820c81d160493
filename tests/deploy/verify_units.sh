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
for unit in vitte-taskd.service vitte-worker@.service; do
  sed "s|/usr/bin/|$work/bin/|g" "$src/deploy/systemd/$unit" > "$work/$unit"
done
# A template is checked through an instance, as systemd would load it.
cp "$work/vitte-worker@.service" "$work/vitte-worker@builder-1.service"

# `verify` warns about unknown keys and bad values on stderr but still exits
# 0, so any output about our units is a failure too. Without a running
# systemd it may print notes about the host (e.g. missing /run/systemd);
# those do not name our files.
cd "$work"
status=0
for unit in vitte-taskd.service vitte-worker@.service vitte-worker@builder-1.service; do
  if ! systemd-analyze verify "$work/$unit" > "$work/out" 2>&1; then
    echo "FAIL: systemd-analyze verify $unit"; status=1
  fi
  if grep -E "vitte|Unknown|Failed|ignoring" "$work/out"; then
    echo "FAIL: systemd-analyze verify $unit printed warnings"; status=1
  fi
  cat "$work/out"
done

# Exposure levels (0 = fully sandboxed, 10 = not at all; --threshold is in
# tenths). They were 1.4 and 4.0 when written: the worker runs arbitrary
# build commands and keeps what builds need (see the unit).
check_security() {  # unit threshold
  if ! systemd-analyze security --offline=true --threshold="$2" "$work/$1" > "$work/sec" 2>&1; then
    cat "$work/sec"
    echo "FAIL: $1 is more exposed than $(($2 / 10)).$(($2 % 10))"; status=1
  fi
  grep "Overall exposure" "$work/sec"
}
check_security vitte-taskd.service 20
check_security vitte-worker@builder-1.service 45

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
