#!/usr/bin/env bash
# Installs everything vitte-task needs to build and test on Debian 12, from
# Debian's own packages. Idempotent; needs root.
set -euo pipefail

packages=(
  # toolchain
  g++ clang cmake ninja-build ccache pkg-config git
  # libraries
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libsqlite3-dev libspdlog-dev libcpp-httplib-dev
  # libcrypto's SHA-256 for the daemon's tokens; HTTPS on the HTTP listener
  # (common/http_server.cc calls OpenSSL itself: httplib's SSLServer,
  # OpenSSL's error queue)
  libssl-dev
  # the daemons' --config files are TOML (common/config_file.cc, toml++
  # used header-only there, so the packages gain no runtime dependency)
  libtomlplusplus-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev sqlite3
  # the TLS tests make their certificates with the openssl command
  openssl
  # bench/compare.py (its smoke run is a test)
  python3
  # deploy/ and its tests: Debian packages (cpack with dpkg-shlibdeps, which
  # needs file), systemd-analyze for the units, YAML for the manifests
  dpkg-dev file systemd python3-yaml
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
