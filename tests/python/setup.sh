#!/usr/bin/env bash
# Creates the virtualenv tests/groups_python.rs runs its Python clients with
# (target/python-venv, or $STROM_PYTHON_VENV). Idempotent: pip runs only when the
# requirements changed since the last successful install.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
venv="${STROM_PYTHON_VENV:-$here/target/python-venv}"
req="$here/tests/python/requirements.txt"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
if ! cmp -s "$req" "$venv/.strom-requirements"; then
  "$venv/bin/pip" install -q -r "$req"
  cp "$req" "$venv/.strom-requirements"
fi
echo "$venv/bin/python"
