"""Child side of a re-execution: run cells in a fresh interpreter and report what they left behind.

Started by :mod:`autograder.reexecute` as ``python -I harness.py``; reads one JSON job on stdin:
``{"token": str, "seed": int, "cells": [source, ...]}``. It seeds ``random`` with ``seed``, runs
the cells in one namespace with stdout captured, and writes one line ``token + JSON`` to file
descriptor 1. The judging happens in the parent: nothing here decides a grade.

Every tool the report needs is bound before student code runs, so patching ``random``,
``builtins`` or ``json`` from a cell cannot change what is reported; exiting early leaves no
report, which the parent treats as a failure. Kept compatible with Python 3.6+ so that the
expected values can be derived under every CPython.
"""
import builtins
import io
import json
import os
import random
import sys
import traceback

import _random

_LIST, _INT, _TYPE, _REPR, _LEN = list, int, type, repr, len
_GETSTATE = _random.Random.getstate
_GENERATOR = random._inst
_DUMPS = json.dumps
_WRITE = os.write
_STDOUT_LIMIT = 20000


def _describe(value):
    """Plain-data description of ``accuracy_scores``: exact list of exact ints, or what it is."""
    if _TYPE(value) is not _LIST:
        return {"kind": "other", "type": _TYPE(value).__name__}
    items = [v if _TYPE(v) is _INT else _REPR(_TYPE(v).__name__) for v in value]
    return {"kind": "list", "items": items}


def _run(job):
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    captured = io.StringIO()
    error = None
    random.seed(job["seed"])
    real_stdout = sys.stdout
    sys.stdout = captured
    try:
        for index, source in enumerate(job["cells"]):
            try:
                exec(compile(source, "<cell %d>" % index, "exec"), namespace)
            except BaseException as exc:  # noqa: B902 - SystemExit too: the cell must finish
                frames = traceback.extract_tb(exc.__traceback__)
                lines = [f.lineno for f in frames if f.filename == "<cell %d>" % index]
                error = {"cell": index, "type": _TYPE(exc).__name__, "message": str(exc)[:500],
                         "line": lines[-1] if lines else getattr(exc, "lineno", None)}
                break
    finally:
        sys.stdout = real_stdout
    report = {
        "error": error,
        "stdout": captured.getvalue()[:_STDOUT_LIMIT],
        "random_is_module": namespace.get("random") is random,
        "state": _LIST(_GETSTATE(_GENERATOR)),
        "scores": _describe(namespace["accuracy_scores"]) if "accuracy_scores" in namespace else None,
    }
    return report


def main():
    job = json.loads(sys.stdin.read())
    token = job.pop("token")
    report = _run(job)
    _WRITE(1, (token + _DUMPS(report) + "\n").encode("utf-8"))


if __name__ == "__main__":
    main()
