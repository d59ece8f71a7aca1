#!/usr/bin/env bash
# Installs the pinned Ethereum execution specification (tools/spec/requirements.txt) into the
# git-ignored venv .tools/spec-venv. It is the oracle for the stateless re-execution tests:
#   .tools/spec-venv/bin/python exex/stateless/tests/spec/blocks.py > out.json
#
# Idempotent: the venv is keyed by a hash of the requirements and of the python3 version, so a
# second run only checks that hash and the interpreter, and says it did nothing.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
req="$root/tools/spec/requirements.txt"
venv="$root/.tools/spec-venv"
stamp="$venv/.installed"

command -v python3 >/dev/null || { echo "spec: python3 not found; install Python >= 3.11" >&2; exit 1; }
py_version="$(python3 -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
want="$( (cat "$req"; echo "python $py_version") | sha256sum | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$venv/bin/python" ]]; then
  echo "spec: up to date in .tools/spec-venv (nothing to do)"
  exit 0
fi

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "spec: python3 is $py_version; the execution spec needs >= 3.11" >&2; exit 1; }
python3 -c 'import venv, ensurepip' 2>/dev/null \
  || { echo "spec: python3 lacks venv/ensurepip (on Debian: apt-get install python3-venv)" >&2; exit 1; }

echo "spec: creating .tools/spec-venv with python $py_version ..."
mkdir -p "$root/.tools"
python3 -m venv --clear "$venv"
echo "spec: installing the pinned execution spec (tools/spec/requirements.txt) ..."
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$req"
"$venv/bin/python" -m pip check --disable-pip-version-check >/dev/null \
  || { "$venv/bin/python" -m pip check >&2; echo "spec: inconsistent dependencies" >&2; exit 1; }
"$venv/bin/python" -c 'import ethereum.forks.prague.fork, ethereum_spec_tools.evm_tools.t8n' \
  || { echo "spec: the installed spec does not import" >&2; exit 1; }

echo "$want" > "$stamp"
echo "spec: installed ethereum-execution $("$venv/bin/python" -c 'import ethereum; print(ethereum.__version__)') into .tools/spec-venv"
