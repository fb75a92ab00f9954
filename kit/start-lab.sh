#!/usr/bin/env bash
# The student kit's one command: `bash start-lab.sh`. The first run creates .venv/ in this folder
# with the pinned packages of requirements.txt (a few minutes, needs the internet); later runs
# start JupyterLab at once. Arguments go to JupyterLab, e.g. `bash start-lab.sh --port 9999`.
# PYTHON=/path/to/python3 chooses the interpreter for .venv/ (CPython 3.11 or newer).
set -euo pipefail

KIT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python3}"
stamp="$KIT/.venv/.installed"

if [ ! -e "$stamp" ] || [ "$KIT/requirements.txt" -nt "$stamp" ]; then
  if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "start-lab: the course needs Python 3.11 or newer; '$PYTHON' is not." >&2
    echo "start-lab: install one, then run e.g. PYTHON=python3.12 bash start-lab.sh" >&2
    exit 1
  fi
  if [ ! -x "$KIT/.venv/bin/python" ]; then
    echo "start-lab: creating the course environment in $KIT/.venv (first run only)"
    "$PYTHON" -m venv "$KIT/.venv"
  fi
  "$KIT/.venv/bin/python" -m pip install --disable-pip-version-check -r "$KIT/requirements.txt"
  touch "$stamp"
fi

exec bash "$KIT/lab/run-lab.sh" "$@"
