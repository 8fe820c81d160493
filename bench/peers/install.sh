#!/bin/sh
# Installs what the peer drivers need, for Debian's /usr/bin/python3 (run them with that
# interpreter, not a pyenv/venv python3). Idempotent: installs only what is missing.
# redis-server is not started here: run_celery.py starts its own on a free port.
set -eu
pkgs="python3-distributed python3-celery python3-redis redis-server make"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing="$missing $p"
done
[ -z "$missing" ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086  # word splitting of the package list is wanted
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
