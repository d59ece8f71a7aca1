#!/usr/bin/env bash
# Installs the pinned npm tools (anvil, forge, cast, solcjs, OpenZeppelin, the Merkle-Patricia verifier) into .tools/.
#
# Idempotent: the install is keyed by a hash of the lockfile and the solc shim, so a second run
# only checks that hash and the binaries, and says it did nothing.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/tools"
dest="$root/.tools"
stamp="$dest/.installed"

want="$(cat "$src/package.json" "$src/package-lock.json" "$src/.npmrc" "$src/solc-shim.js" | sha256sum | cut -d' ' -f1)"
have_all_bins() {
  for bin in anvil forge cast solc; do [[ -x "$dest/bin/$bin" ]] || return 1; done
}
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && have_all_bins; then
  echo "tools: up to date in .tools/ (nothing to do)"
  exit 0
fi

command -v npm >/dev/null || { echo "tools: npm not found; install Node.js >= 20 with npm" >&2; exit 1; }
echo "tools: installing pinned anvil/forge/cast 1.7.1, solcjs, OpenZeppelin and solidity-merkle-trees into .tools/ ..."
mkdir -p "$dest/bin"
cp "$src/package.json" "$src/package-lock.json" "$src/.npmrc" "$src/solc-shim.js" "$dest/"
(cd "$dest" && npm ci --no-audit --no-fund --loglevel=error)

for bin in anvil forge cast; do ln -sf "../node_modules/.bin/$bin" "$dest/bin/$bin"; done
cat > "$dest/bin/solc" <<'SH'
#!/bin/sh
exec node "$(dirname "$0")/../solc-shim.js" "$@"
SH
chmod +x "$dest/bin/solc"

for bin in anvil forge cast solc; do
  "$dest/bin/$bin" --version >/dev/null || { echo "tools: $bin does not run" >&2; exit 1; }
done
echo "$want" > "$stamp"
echo "tools: installed: $("$dest/bin/anvil" --version | head -1); $("$dest/bin/solc" --version | tail -1)"
