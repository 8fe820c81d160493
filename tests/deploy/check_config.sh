#!/usr/bin/env bash
# Checks the packages' default configuration files, deploy/config/*.toml,
# against the built programs: same keys as their flags (--help), the same
# defaults, the same help text; and that each file, its keys uncommented,
# is accepted by --config and gives exactly the defaults.
# Usage: check_config.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1
build=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
fail() { echo "FAIL: $*"; status=1; }

bash "$src/deploy/config/generate.sh" "$build" "$work"
for name in vitte-taskd vitte-worker; do
  case $name in
    vitte-taskd) program=$build/coordinator/vitte-taskd ;;
    vitte-worker) program=$build/worker/vitte-worker ;;
  esac
  shipped=$src/deploy/config/$name.toml
  [[ -f "$shipped" ]] || { fail "$shipped is missing"; continue; }

  # Keys named one by one, for a readable failure.
  flags=$("$program" --help | sed -nE 's/^  --([a-z0-9-]+)( VALUE)?$/\1/p' \
    | grep -vxE 'config|print-config' | sort)
  keys=$(sed -nE 's/^# ([a-z0-9-]+) = .*/\1/p' "$shipped" | sort)
  missing=$(comm -23 <(echo "$flags") <(echo "$keys"))
  extra=$(comm -13 <(echo "$flags") <(echo "$keys"))
  [[ -z "$missing" ]] || fail "$name.toml lacks the flags: $(echo $missing)"
  [[ -z "$extra" ]] || fail "$name.toml has keys that are not flags of $name: $(echo $extra)"

  # Defaults and help: the whole file, as generated.
  if ! diff -u "$shipped" "$work/$name.toml"; then
    fail "deploy/config/$name.toml differs from $name --print-config" \
         "(regenerate it: deploy/config/generate.sh BUILD_DIR)"
  fi

  # Uncommented, the file is a valid --config that sets every default.
  sed -E 's/^# ([a-z0-9-]+ = )/\1/' "$shipped" > "$work/$name.active.toml"
  if ! "$program" --config "$work/$name.active.toml" --print-config \
      > "$work/$name.read-back" 2> "$work/$name.err"; then
    fail "$name rejects its uncommented default file: $(cat "$work/$name.err")"
  elif ! diff -u <("$program" --print-config) "$work/$name.read-back"; then
    fail "$name.toml, uncommented, does not give $name's defaults"
  fi
done
((status == 0)) && echo "config files: ok"
exit $status
