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

.PHONY: venv demo test release expected lab feedback bench clean

$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

venv: $(VENV)/.installed

## The instructor's main job: release the assignment, autograde the example class, print the grades.
demo: venv
	$(BIN)/python -m autograder demo

## The whole test suite (CI runs exactly this).
test: venv
	$(BIN)/python -m pytest

## Regenerate release/ from source/.
release: venv
	$(BIN)/python -m autograder release

## Students: JupyterLab on the course, Validate button only (see README, "For students").
lab: venv
	bash lab/run-lab.sh

## Per-student feedback HTML: points and failed-check messages; no hidden tests, expected values or answers.
feedback: venv
	$(BIN)/python -m autograder.feedback reproducibility

## Stock sequential nbgrader autograde vs python -m autograder grade, 40 submissions.
bench: venv
	$(BIN)/python bench/grade_class.py --profile

## Recompute the stored expected values from the reference solution.
expected: venv
	$(BIN)/python -m autograder.expected

clean:
	rm -rf submitted autograded feedback exports gradebook.db artifacts
