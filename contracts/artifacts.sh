#!/usr/bin/env bash
# Keeps the forge artifacts that the Rust bindings (`contracts/bindings`) are generated from in
# sync with the Solidity sources, so `cargo build` never needs forge.
#
#   artifacts.sh export   copy abi + bytecode of every contract in bindings/artifacts.list
#                         from contracts/out into bindings/artifacts/<Name>.json
#   artifacts.sh check    fail if the committed artifacts differ from a fresh `forge build`
#
# Run after `forge build` (the `just contracts` / `just contracts-export` recipes do both).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
list="$here/bindings/artifacts.list"
committed="$here/bindings/artifacts"

export_to() {
  local dest="$1"
  mkdir -p "$dest"
  node - "$here/out" "$list" "$dest" <<'JS'
const fs = require('fs');
const path = require('path');
const [out, list, dest] = process.argv.slice(2);
const names = fs.readFileSync(list, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
for (const name of names) {
  const file = path.join(out, `${name}.sol`, `${name}.json`);
  if (!fs.existsSync(file)) {
    console.error(`artifacts: ${file} missing: is '${name}' a contract in contracts/src, and did forge build run?`);
    process.exit(1);
  }
  const art = JSON.parse(fs.readFileSync(file, 'utf8'));
  const trimmed = { abi: art.abi, bytecode: art.bytecode.object, deployedBytecode: art.deployedBytecode.object };
  fs.writeFileSync(path.join(dest, `${name}.json`), JSON.stringify(trimmed, null, 1) + '\n');
}
console.error(`artifacts: ${names.length} contract(s) exported`);
JS
}

case "${1:-}" in
  export)
    rm -f "$committed"/*.json
    export_to "$committed"
    ;;
  check)
    fresh="$(mktemp -d)"
    trap 'rm -rf "$fresh"' EXIT
    export_to "$fresh"
    if ! diff -r -q -x .gitkeep "$committed" "$fresh" >/dev/null; then
      diff -r -q -x .gitkeep "$committed" "$fresh" || true
      echo "artifacts: contracts/bindings/artifacts is stale; run \`just contracts-export\` and commit" >&2
      exit 1
    fi
    echo "artifacts: committed artifacts are current"
    ;;
  *)
    echo "usage: artifacts.sh export|check" >&2
    exit 2
    ;;
esac
