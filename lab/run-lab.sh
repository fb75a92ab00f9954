#!/usr/bin/env bash
# JupyterLab for students (`make lab` in the course repository, `bash start-lab.sh` in the student
# kit, which has the same layout): the course's venv as the kernel, the nbgrader Validate button,
# no terminal, and none of the instructor-only tools (formgrader, create assignment, course list).
# The Assignment List (fetch, submit, fetch feedback) appears only when NBGRADER_EXCHANGE names the
# course's exchange folder. See README.md, "For students", and kit/README.md.
#
# Where the student works: $LAB_WORKDIR, default <repo>/student/. Each assignment in release/ is
# copied there the first time, and the lessons in notebooks/ into lessons/ (release/ and notebooks/
# stay untouched, so `git pull` never clashes with a student's answers); an existing copy is never
# overwritten.
#
# Extra arguments go to `jupyter lab`, e.g. `bash lab/run-lab.sh --no-browser --port 9999`.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORKDIR="${LAB_WORKDIR:-$REPO/student}"
JUPYTER="${JUPYTER:-$REPO/.venv/bin/jupyter}"

if [ ! -x "$JUPYTER" ]; then
  echo "run-lab: $JUPYTER not found; create the course environment first" \
       "('make venv' in the course repository, 'bash start-lab.sh' in the student kit)." >&2
  exit 1
fi
VENV_BIN="$(dirname "$JUPYTER")"
export PATH="$VENV_BIN:$PATH"

# The student configuration in lab/ takes precedence over every other Jupyter config directory:
# lab/jupyter_server_config.json turns the terminal and the instructor server extensions off and
# lab/labconfig/page_config.json hides their JupyterLab plugins. With an exchange, lab/exchange/
# comes first: it turns the Assignment List on and tells nbgrader the course id and exchange root.
export JUPYTER_CONFIG_PATH="$REPO/lab${JUPYTER_CONFIG_PATH:+:$JUPYTER_CONFIG_PATH}"
if [ -n "${NBGRADER_EXCHANGE:-}" ]; then
  export JUPYTER_CONFIG_PATH="$REPO/lab/exchange:$JUPYTER_CONFIG_PATH"
  echo "run-lab: Assignment List on, exchange $NBGRADER_EXCHANGE"
fi

# Jupyter, IPython and matplotlib write settings and runtime files; keep them out of $HOME.
# `make` sets the first four already; these defaults match it when the script runs on its own.
export JUPYTER_CONFIG_DIR="${JUPYTER_CONFIG_DIR:-$REPO/.jupyter}"
export JUPYTER_DATA_DIR="${JUPYTER_DATA_DIR:-$REPO/.venv/share/jupyter}"
export JUPYTER_RUNTIME_DIR="${JUPYTER_RUNTIME_DIR:-$REPO/.venv/runtime}"
export IPYTHONDIR="${IPYTHONDIR:-$REPO/.venv/ipython}"
export MPLCONFIGDIR="${MPLCONFIGDIR:-$REPO/.venv/matplotlib}"
mkdir -p "$JUPYTER_CONFIG_DIR" "$JUPYTER_RUNTIME_DIR" "$IPYTHONDIR/profile_default" "$MPLCONFIGDIR"
# Kernels log errors only: ipykernel's "Kernel is running over TCP without encryption" (on this
# machine's loopback, once per kernel, so once per Validate) says nothing a student can act on.
[ -e "$IPYTHONDIR/profile_default/ipython_kernel_config.json" ] \
  || cp "$REPO/lab/ipython_kernel_config.json" "$IPYTHONDIR/profile_default/"

mkdir -p "$WORKDIR"
first_notebook=""
for assignment in "$REPO"/release/*/; do
  [ -d "$assignment" ] || continue
  # With an exchange, students fetch each assignment from the Assignment List instead.
  [ -z "${NBGRADER_EXCHANGE:-}" ] || break
  name="$(basename "$assignment")"
  if [ -e "$WORKDIR/$name" ]; then
    echo "run-lab: keeping your work in $WORKDIR/$name"
  else
    cp -R "$assignment" "$WORKDIR/$name"
    echo "run-lab: copied release/$name to $WORKDIR/$name"
  fi
  # Open the assignment's main notebook (named like the assignment) or else its first one.
  if [ -z "$first_notebook" ]; then
    if [ -e "$WORKDIR/$name/$name.ipynb" ]; then
      first_notebook="$name/$name.ipynb"
    else
      for nb in "$WORKDIR/$name"/*.ipynb; do
        [ -e "$nb" ] && first_notebook="$name/$(basename "$nb")" && break
      done
    fi
  fi
done

# The lessons too: students run copies, so notebooks/ stays free of outputs (as it is committed).
mkdir -p "$WORKDIR/lessons"
for lesson in "$REPO"/notebooks/*.ipynb; do
  [ -e "$lesson" ] || continue
  [ -e "$WORKDIR/lessons/$(basename "$lesson")" ] || cp "$lesson" "$WORKDIR/lessons/"
done

args=(--ServerApp.root_dir="$WORKDIR")
# JupyterLab refuses to run as root unless told to; containers and CI often have no other user.
if [ "$(id -u)" = 0 ]; then
  args+=(--allow-root)
fi
if [ -n "$first_notebook" ]; then
  args+=(--LabApp.default_url="/lab/tree/$first_notebook")
fi

# Validate reads nbgrader_config.py from the working directory: the student copy has none, so the
# check is nbgrader's standard one, exactly what a student elsewhere would get.
cd "$WORKDIR"
exec "$JUPYTER" lab "${args[@]}" "$@"
