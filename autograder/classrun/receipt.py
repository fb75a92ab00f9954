"""Grading receipts: what one graded submission's points rest on, written beside its autograded files.

``autograded/<student>/<assignment>/receipt.json`` holds the sha256 of each submitted file, the
course commit, the hashes of ``requirements.lock``, of the grader's code and of the assignment's
declarations and derived expected values, the Python
that graded, the re-execution seeds drawn (secret ones included: the receipt stays grader-side,
like the gradebook), the limits in force (every ``c.GradingLimits`` value the grading ran under,
and the sandbox mode), the status and the verdict and points of every graded
cell. ``python -m autograder verify`` (:mod:`autograder.classrun.verify`) regrades from it.
"""
import hashlib
import json
import platform
import subprocess
from pathlib import Path

from ..notebook.assignments import DECLARATION as DECLARED, DERIVED

PACKAGE = Path(__file__).resolve().parents[1]
ROOT = PACKAGE.parent
LOCK = ROOT / "requirements.lock"
NAME = "receipt.json"
VERSION = 2  # 2: "limits" holds every GradingLimits value ("grading") and the sandbox mode


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files(folder: Path) -> dict:
    """``{relative path: sha256}`` of every file below ``folder`` (symlinks not followed)."""
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    return {str(p.relative_to(folder)): sha256(p.read_bytes()) for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.is_symlink()}


def _tree_hash(pattern: str) -> str:
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob(pattern)):
        name = path.relative_to(PACKAGE).as_posix()
        digest.update(name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def code_hash() -> str:
    """The hash of the grader's code (``autograder/**/*.py``)."""
    return _tree_hash("*.py")


def grader(source: Path) -> dict:
    """Hashes of the grader's code and of the assignment's grading data: the declarations and
    derived files (``*.grading.json``, ``*.expected.json``) in its source folder ``source``."""
    digest = hashlib.sha256()
    for path in sorted(Path(source).glob("*.json")):
        if path.name.endswith((DECLARED, DERIVED)):
            digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return {"code": code_hash(), "data": digest.hexdigest()}


def environment() -> dict:
    """What the grading ran on: the pinned packages and the interpreter."""
    return {"requirements_lock": sha256(LOCK.read_bytes()) if LOCK.is_file() else None,
            "python": platform.python_version(), "implementation": platform.python_implementation()}


def commit(course: Path) -> str:
    """The commit of the git checkout holding ``course`` (``+dirty`` when tracked files differ),
    or None when it is in none."""
    try:
        head = subprocess.run(["git", "-C", str(course), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=30)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(course), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return head.stdout.strip() + ("+dirty" if dirty else "")


def limits(in_force) -> dict:
    """The limits a grading ran under: every value of ``in_force`` (the
    :class:`autograder.notebook.limits.GradingLimits` built from the course's configuration) and this
    machine's sandbox mode."""
    from ..notebook.sandbox import modes
    return {"grading": in_force.in_force(), "sandbox": modes.detect().name}


def build(*, submitted: Path, autograded: Path, source: Path, commit: str, seeds: list, cells: dict,
          status: dict, limits_in_force: dict) -> dict:
    """The receipt of one graded submission (plain data). ``source``: the assignment's source
    folder as graded; ``cells``: ``{grade_id: {"score", "max_score", "verdict"}}``; ``status``:
    ``{"status", "reason", "detail"}``; ``limits_in_force``: :func:`limits` of the grading."""
    return {
        "version": VERSION,
        "submitted": files(submitted),
        "autograded": {name: digest for name, digest in files(autograded).items() if name != NAME},
        "commit": commit,
        "grader": grader(source),
        "environment": environment(),
        "seeds": [int(s) for s in seeds],
        "limits": limits_in_force,
        "status": dict(status),
        "cells": {name: {"score": cell["score"], "max_score": cell["max_score"], "verdict": cell["verdict"]}
                  for name, cell in sorted(cells.items())},
    }


def write(folder: Path, receipt: dict) -> Path:
    """Write ``<folder>/receipt.json``."""
    path = Path(folder) / NAME
    path.write_text(json.dumps(receipt, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def read(folder: Path) -> dict:
    return json.loads((Path(folder) / NAME).read_text(encoding="utf-8"))
