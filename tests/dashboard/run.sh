#!/usr/bin/env bash
# ctest's dashboard_browser_test: the dashboard in a real browser (see
# dashboard_test.mjs). Installs what it needs itself: Debian's chromium
# (apt-get, as root) when /usr/bin/chromium is missing, and playwright-core
# (a pinned version, from npm) into a cache outside the source tree.
# Exits 77, which ctest reports as skipped, only when Chromium cannot be
# installed; any other problem fails the test.
#
# Usage: run.sh SOURCE_DIR BUILD_DIR
# VITTE_UPDATE_SCREENSHOT=1 also refreshes docs/dashboard.png.
set -euo pipefail

source_dir=$1
build_dir=$2
readonly SKIP=77
readonly PLAYWRIGHT_VERSION=1.65.1  # needs node >= 20
readonly CHROMIUM=/usr/bin/chromium

if [[ ! -x $CHROMIUM ]]; then
  echo "dashboard test: $CHROMIUM is missing; installing Debian's chromium"
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq chromium >/dev/null 2>&1 ||
      { apt-get update -qq && apt-get install -y -qq chromium; } || true
  fi
fi
if [[ ! -x $CHROMIUM ]]; then
  echo "SKIPPED: Chromium cannot be installed here (not root, no apt-get," \
       "or the chromium package is not available), so the dashboard is not" \
       "tested in a browser."
  exit $SKIP
fi

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if ((node_major < 20)); then
  echo "dashboard test: playwright-core $PLAYWRIGHT_VERSION needs node >= 20" \
       "(found: $(node --version 2>/dev/null || echo none))"
  exit 1
fi

cache=${XDG_CACHE_HOME:-$HOME/.cache}/vitte-dashboard-test/playwright-core-$PLAYWRIGHT_VERSION
if [[ ! -f $cache/node_modules/playwright-core/package.json ]]; then
  echo "dashboard test: installing playwright-core@$PLAYWRIGHT_VERSION into $cache"
  mkdir -p "$cache"
  # One install at a time (parallel ctest runs share the cache). The
  # package.json keeps npm from looking for one in the parent directories.
  (
    flock 9
    if [[ ! -f $cache/node_modules/playwright-core/package.json ]]; then
      cd "$cache"
      [[ -f package.json ]] || echo '{"private": true}' > package.json
      timeout 300 npm install --no-audit --no-fund --loglevel=error \
        "playwright-core@$PLAYWRIGHT_VERSION"
    fi
  ) 9>"$cache.lock"
fi

out=$build_dir/tests/dashboard
echo "dashboard test: $($CHROMIUM --version 2>/dev/null), playwright-core" \
     "$PLAYWRIGHT_VERSION; screenshots in $out"
exec timeout --kill-after=10 240 node "$source_dir/tests/dashboard/dashboard_test.mjs" \
  --build "$build_dir" --source "$source_dir" --out "$out" --playwright "$cache"
