"""Child side of a re-execution: run cells in a fresh interpreter and report what they left behind.

Started by :mod:`autograder.reexecute` as ``python -I harness.py``; reads one JSON job on stdin:
``{"token": str, "seed": int, "cells": [source, ...]}``. It seeds ``random`` with ``seed``, runs
the cells in one namespace with stdout captured, and writes one line ``token + JSON`` to file
descriptor 1. The judging happens in the parent: nothing here decides a grade. An optional
``"limits"`` entry (``output_chars``, ``processes``, ``memory_mb``, ``sandboxed``) lets the report
say which limit or sandbox rule an error comes from; a cell that prints more than
``output_chars`` characters is stopped there and reported as ``OutputLimitExceeded``.

Every tool the report needs is bound before student code runs, so patching ``random``,
``builtins`` or ``json`` from a cell cannot change what is reported; exiting early leaves no
report, which the parent treats as a failure. Kept compatible with Python 3.6+ so that the
expected values can be derived under every CPython.
"""
import builtins
import errno
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
_EXIT = os._exit
_GETFRAME = sys._getframe
_STRINGIO, _SIO_WRITE = io.StringIO, io.StringIO.write
_STDOUT_LIMIT = 20000
_HINTS = {
    errno.EAGAIN: "the grader's process limit: at most {processes} processes and threads",
    errno.ENOSPC: "the sandbox's disk space is limited",
    errno.EFBIG: "the grader's file-size limit",
}
_SANDBOX_HINT = ("grading runs your code in a sandbox: only its working folder and /tmp "
                 "exist and are writable, nothing of the course")
_SANDBOX_ERRNOS = (errno.ENOENT, errno.EACCES, errno.EPERM, errno.EROFS)


class _Capture(_STRINGIO):
    """stdout that keeps the first ``limit`` characters and ends the run beyond them."""

    def __init__(self, limit, on_full):
        _STRINGIO.__init__(self)
        self._limit, self._on_full, self._count = limit, on_full, 0

    def write(self, text):
        self._count += _LEN(text)
        if self._count > self._limit:
            self._on_full()
        return _SIO_WRITE(self, text)


def _cell_line(frame, filename):
    """The line of ``filename`` (a cell) in the call stack starting at ``frame``."""
    while frame is not None:
        if frame.f_code.co_filename == filename:
            return frame.f_lineno
        frame = frame.f_back
    return None


def _hint(exc, limits):
    """Which limit or sandbox rule an exception comes from, in words (or None)."""
    if isinstance(exc, RuntimeError) and "can't start new thread" in str(exc):
        return _HINTS[errno.EAGAIN].format(**limits)
    if isinstance(exc, OSError) and exc.errno in _HINTS:
        return _HINTS[exc.errno].format(**limits)
    if isinstance(exc, OSError) and exc.errno in _SANDBOX_ERRNOS and limits.get("sandboxed"):
        return _SANDBOX_HINT
    return None


def _describe(value):
    """Plain-data description of ``accuracy_scores``: exact list of exact ints, or what it is."""
    if _TYPE(value) is not _LIST:
        return {"kind": "other", "type": _TYPE(value).__name__}
    items = [v if _TYPE(v) is _INT else _REPR(_TYPE(v).__name__) for v in value]
    return {"kind": "list", "items": items}


def _run(job, token):
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    limits = dict({"output_chars": 1 << 20, "processes": "a few", "sandboxed": False},
                  **job.get("limits", {}))
    current = {"cell": 0}

    def output_full():
        index = current["cell"]
        message = ("it printed more than %d characters (the grader's output limit)"
                   % limits["output_chars"])
        error = {"cell": index, "type": "OutputLimitExceeded", "message": message,
                 "line": _cell_line(_GETFRAME(1), "<cell %d>" % index)}
        report = _report(namespace, captured.getvalue(), error)
        _WRITE(1, (token + _DUMPS(report) + "\n").encode("utf-8"))
        _EXIT(0)

    captured = _Capture(limits["output_chars"], output_full)
    error = None
    random.seed(job["seed"])
    real_stdout = sys.stdout
    sys.stdout = captured
    try:
        for index, source in enumerate(job["cells"]):
            current["cell"] = index
            try:
                exec(compile(source, "<cell %d>" % index, "exec"), namespace)
            except BaseException as exc:  # noqa: B902 - SystemExit too: the cell must finish
                frames = traceback.extract_tb(exc.__traceback__)
                lines = [f.lineno for f in frames if f.filename == "<cell %d>" % index]
                message = str(exc)[:500]
                hint = _hint(exc, limits)
                if hint:
                    message += " (%s)" % hint
                error = {"cell": index, "type": _TYPE(exc).__name__, "message": message,
                         "line": lines[-1] if lines else getattr(exc, "lineno", None)}
                break
    finally:
        sys.stdout = real_stdout
    return _report(namespace, captured.getvalue(), error)


def _report(namespace, stdout, error):
    report = {
        "error": error,
        "stdout": stdout[:_STDOUT_LIMIT],
        "random_is_module": namespace.get("random") is random,
        "state": _LIST(_GETSTATE(_GENERATOR)),
        "scores": _describe(namespace["accuracy_scores"]) if "accuracy_scores" in namespace else None,
    }
    return report


def main():
    job = json.loads(sys.stdin.read())
    token = job.pop("token")
    report = _run(job, token)
    _WRITE(1, (token + _DUMPS(report) + "\n").encode("utf-8"))


if __name__ == "__main__":
    main()
