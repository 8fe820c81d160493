#!/usr/bin/env bash
# Builds the Debian packages from the built tree (cpack, into a temp dir) and
# checks what they hold: programs in /usr/bin, units in /lib/systemd/system,
# configuration in /etc/vitte-task marked as conffiles, maintainer scripts,
# Depends; then that apt could install them (apt-get --simulate) and that a
# plain `cmake --install` still writes nothing outside its prefix.
# Usage: check_packages.sh BUILD_DIR
set -euo pipefail
build=$1
for tool in cpack dpkg-deb; do
  if ! command -v "$tool" > /dev/null; then
    echo "SKIP: $tool not found"
    exit 77
  fi
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$SECONDS
cpack --config "$build/CPackConfig.cmake" -B "$work/pkg" > "$work/cpack.log" 2>&1 \
  || { cat "$work/cpack.log"; echo "FAIL: cpack"; exit 1; }
echo "cpack: $((SECONDS - start)) s"

status=0
fail() { echo "FAIL: $*"; status=1; }
deb_of() {  # package name -> .deb path
  local f
  f=$(ls "$work/pkg"/"$1"_*.deb 2>/dev/null | head -n 1)
  [[ -n "$f" ]] || { fail "no package $1 in: $(ls "$work/pkg")"; return 1; }
  echo "$f"
}
# Listings are read whole before grep: `grep -q` stopping early would make
# the writer of a pipe fail under pipefail.
has_file() {  # deb path [mode-regex]
  local list
  list=$(dpkg-deb -c "$1" | awk '{print $1, $6}')
  grep -qE "^${3:-.}.* \.$2\$" <<< "$list" || fail "$(basename "$1") lacks $2"
}
has_control() {  # deb member
  local list
  list=$(dpkg-deb --ctrl-tarfile "$1" | tar -t)
  grep -qx "./$2" <<< "$list" || fail "$(basename "$1") has no $2"
}
depends_on() {  # deb package-regex
  local deps
  deps=$(dpkg-deb -f "$1" Depends)
  grep -qE "(^|, )$2( |,|$)" <<< "$deps" || fail "$(basename "$1") Depends lacks $2: $deps"
}
holds() {  # deb path-regex
  local list
  list=$(dpkg-deb -c "$1")
  grep -qE "$2" <<< "$list"
}

taskd=$(deb_of vitte-taskd) && {
  has_file "$taskd" /usr/bin/vitte-taskd "-rwxr-xr-x"
  has_file "$taskd" /lib/systemd/system/vitte-taskd.service "-rw-r--r--"
  has_file "$taskd" /etc/vitte-task/taskd.conf "-rw-r--r--"
  has_file "$taskd" /etc/vitte-task/vitte-taskd.toml "-rw-r--r--"
  # The example drop-in (TLS through systemd credentials), as documentation.
  has_file "$taskd" /usr/share/doc/vitte-taskd/examples/vitte-taskd.service.d/tls.conf.example "-rw-r--r--"
  for m in conffiles postinst prerm postrm; do has_control "$taskd" $m; done
  for f in taskd.conf vitte-taskd.toml; do
    grep -qx "/etc/vitte-task/$f" <<< "$(dpkg-deb -I "$taskd" conffiles)" \
      || fail "$f is not a conffile"
  done
  # Libraries that the daemon links, found by dpkg-shlibdeps.
  for p in libc6 libstdc\\+\\+6 'libgrpc\+\+1[.0-9]*' 'libprotobuf[0-9]+' 'libsqlite3-0'; do
    depends_on "$taskd" "$p"
  done
  holds "$taskd" "usr/bin/vitte-worker" && fail "vitte-taskd holds the worker"
  # Examples are not conffiles, and nothing is installed in /etc/systemd.
  holds "$taskd" "etc/systemd" && fail "vitte-taskd installs a drop-in in /etc/systemd"
}
worker=$(deb_of vitte-worker) && {
  has_file "$worker" /usr/bin/vitte-worker "-rwxr-xr-x"
  has_file "$worker" "/lib/systemd/system/vitte-worker@.service" "-rw-r--r--"
  has_file "$worker" /etc/vitte-task/worker.conf "-rw-r--r--"
  has_file "$worker" /etc/vitte-task/vitte-worker.toml "-rw-r--r--"
  has_file "$worker" /usr/lib/sysusers.d/vitte-worker.conf
  for f in tls.conf.example run-as-user.conf.example; do
    has_file "$worker" "/usr/share/doc/vitte-worker/examples/vitte-worker@.service.d/$f" "-rw-r--r--"
  done
  for m in conffiles postinst prerm postrm; do has_control "$worker" $m; done
  for f in worker.conf vitte-worker.toml; do
    grep -qx "/etc/vitte-task/$f" <<< "$(dpkg-deb -I "$worker" conffiles)" \
      || fail "$f is not a conffile"
  done
  for p in libc6 'libgrpc\+\+1[.0-9]*' passwd; do depends_on "$worker" "$p"; done
}
cli=$(deb_of vitte-task) && {
  has_file "$cli" /usr/bin/vitte-task "-rwxr-xr-x"
  has_file "$cli" /usr/lib/libvitte_client.a
  has_file "$cli" /usr/include/client/client.h
  has_file "$cli" /usr/include/vitte/task/v1/task.pb.h
  has_file "$cli" /usr/lib/cmake/vitte-task/vitte-task-config.cmake
  has_file "$cli" /usr/lib/cmake/vitte-task/vitte-task-targets.cmake
  depends_on "$cli" 'libgrpc\+\+1[.0-9]*'
  holds "$cli" "etc/|systemd" && fail "vitte-task holds daemon files"
}
# Programs are stripped (their debug information stays in the build tree).
if [[ -n "${taskd:-}" ]]; then
  dpkg-deb -x "$taskd" "$work/x"
  grep -q "not stripped" <<< "$(file "$work/x/usr/bin/vitte-taskd")" && fail "vitte-taskd is not stripped"
fi
for deb in "$work/pkg"/*.deb; do
  echo "== $(basename "$deb")"; dpkg-deb -f "$deb" Package Version Depends Recommends
done

# The worker's postinst, run against stand-ins (nothing on this machine
# changes): with systemd-sysusers it applies the package's sysusers.d file;
# without (a container) it calls useradd; systemctl only runs where systemd
# is running.
if [[ -n "${worker:-}" ]]; then
  dpkg-deb -e "$worker" "$work/worker-control"
  mkdir "$work/shim"
  for tool in systemd-sysusers useradd systemctl; do
    printf '#!/bin/sh\necho "%s $*" >> "%s/calls"\n' "$tool" "$work" > "$work/shim/$tool"
  done
  printf '#!/bin/sh\nexit 2\n' > "$work/shim/getent"  # no user "vitte" yet
  chmod +x "$work/shim"/*
  run_postinst() { PATH="$work/shim" /bin/sh "$work/worker-control/postinst" configure ""; }
  run_postinst || fail "vitte-worker postinst failed"
  rm "$work/shim/systemd-sysusers"
  run_postinst || fail "vitte-worker postinst failed without systemd-sysusers"
  expected="systemd-sysusers vitte-worker.conf
useradd --system --user-group --home-dir /var/lib/vitte-worker --no-create-home --shell /usr/sbin/nologin --comment vitte-task worker vitte"
  if [[ ! -d /run/systemd/system && "$(cat "$work/calls")" != "$expected" ]]; then
    fail "vitte-worker postinst called: $(cat "$work/calls")"
  fi
fi

# apt resolves every Depends from Debian's archive or what is installed.
# (--simulate installs nothing.)
if command -v apt-get > /dev/null && [[ $(id -u) == 0 ]]; then
  apt-get install --simulate --no-install-recommends "$work"/pkg/*.deb > "$work/apt.log" 2>&1 \
    || { cat "$work/apt.log"; fail "apt-get install --simulate"; }
  grep -q "^Inst vitte-taskd" "$work/apt.log" || { cat "$work/apt.log"; fail "apt would not install vitte-taskd"; }
fi

# The unit and configuration files are for packages only: a plain install
# keeps to its prefix.
DESTDIR="$work/destdir" cmake --install "$build" --prefix /usr > /dev/null
if [[ -e "$work/destdir/etc" || -e "$work/destdir/lib/systemd" ]]; then
  fail "cmake --install wrote outside its prefix: $(cd "$work/destdir" && ls -d etc lib 2>/dev/null)"
fi
[[ -x "$work/destdir/usr/bin/vitte-taskd" ]] || fail "cmake --install did not install vitte-taskd"

((status == 0)) && echo "packages: ok ($((SECONDS - start)) s)"
exit $status
