# The course's commands. Every target creates .venv/ first when it is missing or stale.
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# nbgrader shells out to `alembic` when it creates a gradebook: the venv's bin/ must be on PATH.
export PATH := $(BIN):$(PATH)
# Keep Jupyter's files out of the user's home directory.
export JUPYTER_CONFIG_DIR := $(CURDIR)/.jupyter
export JUPYTER_DATA_DIR := $(CURDIR)/$(VENV)/share/jupyter
export JUPYTER_RUNTIME_DIR := $(CURDIR)/$(VENV)/runtime
export IPYTHONDIR := $(CURDIR)/$(VENV)/ipython
# A broken nbgrader_config.py stops nbgrader instead of grading with stock settings.
export TRAITLETS_APPLICATION_RAISE_CONFIG_FILE_ERROR := 1
# The course's assignments: the folders of source/ that hold a declaration (docs/assignments.md).
ASSIGNMENTS := $(sort $(patsubst source/%/,%,$(dir $(wildcard source/*/*.grading.json))))

.PHONY: venv demo test test-fast release expected lab feedback dashboard bench bench-peers bench-rush student-kit lock clean hub

$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

venv: $(VENV)/.installed

## The example class, in demo-course/ (never the live course): release, autograde, print the grades,
## write the feedback and the dashboard (demo-course/exports/<assignment>/dashboard.html).
demo: venv
	$(BIN)/python -m autograder demo

## The whole test suite (CI runs exactly this).
test: venv
	$(BIN)/python -m pytest

## The fast tier, under 3 minutes: no root, bubblewrap, PostgreSQL, Chromium or Dask (markers in
## pyproject.toml); grading unsandboxed (rlimits only, said loudly), so any user can run it.
test-fast: venv
	AUTOGRADER_SANDBOX=off $(BIN)/python -m pytest -m "not (root or bwrap or postgres or browser or dask or slow)"

## Regenerate release/ from source/.
release: venv
	$(BIN)/python -m autograder release

## Students: JupyterLab on the course, Validate button only (see README, "For students").
lab: venv
	bash lab/run-lab.sh

## The student kit: dist/<course>-student-<version>.zip (no answers; see kit/README.md).
student-kit: venv
	$(BIN)/python -m autograder kit

## Re-resolve requirements.lock and kit/requirements.txt on Debian 12's Python 3.11.2 (needs the index).
lock: venv
	$(BIN)/python -m autograder.course.lock

## Per-student feedback HTML: points and failed-check messages; no hidden tests, expected values or answers.
feedback: venv
	@status=0; for a in $(ASSIGNMENTS); do $(BIN)/python -m autograder feedback $$a || status=1; done; exit $$status

## The class dashboard of every graded assignment (exports/<assignment>/dashboard.html).
dashboard: venv
	@status=0; for a in $(ASSIGNMENTS); do $(BIN)/python -m autograder dashboard $$a || status=1; done; exit $$status

## Stock sequential nbgrader autograde vs python -m autograder grade, 40 submissions.
bench: venv
	$(BIN)/python bench/grade_class.py --profile

## Ours vs plain nbgrader and otter-grader on the same class, CPU by a cgroup per command (bench/README.md).
bench-peers: venv
	$(BIN)/python bench/peers.py

## The deadline rush: a deployed hub, 200 unix users submitting within 2 minutes (as root; bench/README.md).
bench-rush: venv
	$(BIN)/python bench/rush.py

## Recompute the stored expected values from the reference solution.
expected: venv
	$(BIN)/python -m autograder expected

clean:
	rm -rf submitted autograded feedback exports gradebook.db .secret_seeds.key artifacts demo-course

## As root: serve the course to a class on a JupyterHub (docs/hub.md): deploy it (grader account,
## course, venvs, exchange, proxy; quick when nothing changed), then run the hub in the foreground.
hub: venv
	$(BIN)/python -m autograder hub
