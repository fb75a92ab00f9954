"""Child side of a re-execution, and the one home of its report format: run cells in a fresh
interpreter and report what they left behind (:func:`main`, run in the sandbox as a script), and
read such a report strictly (:func:`parse_reports`, :func:`check_report`, :func:`check_outcome`,
imported by the grader: :mod:`autograder.notebook.reexecute`).

Started by :mod:`autograder.notebook.reexecute` as ``python -I harness.py``. Its standard input
starts with one header line, ``{"token": str, "limits": {"output_chars", "seconds", "processes",
"memory_mb", "sandboxed"}, "mode": "batch" | "batches" | "serve", "preload": [module, ...]}`` (the grader
sends every limit; none has a default here; ``preload`` names modules imported before any task,
e.g. ``numpy``: a forked task starts with them loaded).

``batch`` (the grader's own reference runs): the rest of the input is a JSON list of tasks. Each
task runs in a namespace of its own: first its ``before`` part, either ``{"seed": int, "imports":
[...], "cells": [...]}`` (reference cells, seeded; an item ``{"reseed": name, "factory":
"module.function"}`` among the cells binds ``name`` to ``factory(seed)``, e.g. a numpy Generator
seeded by the run's seed) or ``{"state": {"names": {...}, "generator": [...]}}`` (the state before
a step, as plain data: values, numpy arrays and Generators included, and the ``random``
generator's state),
then its ``cells`` with stdout captured. It writes one line ``token + {"reports": [report, ...]}``
to file descriptor 1, a report per task: the error (if any), what was printed, a plain-data
description of each name in the task's ``report`` list, the generator's state, and with
``"snapshot": true`` the state after ``before`` (what the grader passes to a student's run).

``batches`` (the grader's reference runs for one grading process, many submissions): as
``batch``, but a JSON list of tasks per input line, each answered by one report line, until
the input ends. Only grader-side code (reference cells, declared mistakes) is ever sent to it.

``serve`` (a student's runs): this process never reads a task. For each byte ``T`` on its input
it forks a child before any student code ran; the child alone reads the task line that follows,
runs it with its file descriptors 1 and 2 going to a file of its own, and hands its report back
through a pipe. This process then kills every other process of the sandbox, empties the working
folder (and, sandboxed, ``/tmp``) and writes one line ``token + outcome``: ``{"line": the child's
report line}`` (for the grader to parse, strictly) or ``{"ended": {"returncode", "timed_out",
"output_full", "stderr"}}`` when the child handed nothing over within ``limits.seconds``. The
grader sends the next task only after reading that line, so no process ever holds a task other
than its own, and this process is made non-dumpable first (no ``ptrace`` or ``/proc/<pid>/mem``
from a child).

Nothing here decides a grade, and nothing here is trusted: student code shares this process and
may forge any report. The grader makes forging useless (secret seeds, strict parsing; see
:mod:`autograder.notebook.steps`). Everything is bound inside :func:`main` before student code runs, so
swapping module attributes from a cell changes nothing. A cell that prints more than
``limits.output_chars`` characters is stopped there (``OutputLimitExceeded``). Kept compatible
with Python 3.6+, so that the expected values can be derived under every CPython.
"""
import builtins
import errno
import io
import json
import os
import random
import resource
import select
import signal
import stat
import sys
import time
import traceback
import types


def main():
    _list, _tuple, _dict, _int, _float, _str, _bool = list, tuple, dict, int, float, str, bool
    _type, _repr, _len, _enumerate, _sorted = type, repr, len, enumerate, sorted
    _module, _none = types.ModuleType, type(None)
    _getstate, _setstate, _seed = random.getstate, random.setstate, random.seed
    _dumps, _write, _exit, _getframe = json.dumps, os.write, os._exit, sys._getframe
    _import, _modules, _exec, _compile = __import__, sys.modules, exec, compile
    _extract_tb = traceback.extract_tb
    _sio_write, _sio_getvalue = io.StringIO.write, io.StringIO.getvalue
    hints = {
        errno.EAGAIN: "the grader's process limit: at most {processes} processes and threads",
        errno.ENOSPC: "the sandbox's disk space is limited",
        errno.EFBIG: "the grader's file-size limit",
    }
    sandbox_hint = ("grading runs your code in a sandbox: only its working folder and /tmp "
                    "exist and are writable, nothing of the course")
    sandbox_errnos = (errno.ENOENT, errno.EACCES, errno.EPERM, errno.EROFS)
    max_items, max_chars, max_depth, stdout_keep = 10000, 10000, 6, 20000

    header = json.loads(_read_line(0))
    token = header["token"]
    limits = header["limits"]  # all of them, always: their defaults live in the grader (GradingLimits)
    reports = []
    for name in header.get("preload", []):
        _import(name)

    def write_all(fd, data):
        while data:
            data = data[_write(fd, data):]

    def emit(found=None):
        """Batch: the reports of every task. Serve: ``found``, one task's outcome."""
        write_all(1, (token + _dumps({"reports": reports} if found is None else found) + "\n").encode("utf-8"))

    finish = {"found": None}  # set in a forked task: hands its report to the parent instead

    def describe(value, budget, depth=0):
        """Plain data for ``value``: ``[kind, payload]``, exact types only."""
        budget[0] -= 1
        kind = _type(value)
        if budget[0] < 0 or depth > max_depth:
            return ["other", "too large"]
        if kind is _int and -(1 << 64) < value < (1 << 64):
            return ["int", value]
        if kind is _bool:
            return ["bool", value]
        if kind is _none:
            return ["none", None]
        if kind is _float:
            return ["float", _repr(value)]
        if kind is _str and _len(value) <= max_chars:
            return ["str", value]
        if kind is _module:
            return ["module", value.__name__]
        numpy = _modules.get("numpy")
        if numpy is not None:
            if kind is numpy.random.Generator:
                return ["generator", _dumps(_plain(value.bit_generator.state, numpy), sort_keys=True)[:max_chars]]
            if kind is numpy.ndarray and value.dtype.kind in "iubf" and value.size <= min(max_items, budget[0]):
                return ["ndarray", [value.dtype.str, [_int(n) for n in value.shape],
                                    [describe(v, budget, depth + 1) for v in value.ravel().tolist()]]]
            if isinstance(value, numpy.generic) and value.dtype.kind in "iubf":
                return ["npscalar", [value.dtype.str, describe(value.item(), budget, depth + 1)]]
        if (kind is _list or kind is _tuple) and _len(value) <= min(max_items, budget[0]):
            return [kind.__name__, [describe(v, budget, depth + 1) for v in value]]
        if kind is _dict and _len(value) <= min(max_items, budget[0]) and all(_type(k) is _str for k in value):
            return ["dict", [[k, describe(value[k], budget, depth + 1)] for k in _sorted(value)]]
        return ["other", kind.__name__[:100]]

    def restore(desc):
        kind, payload = desc
        if kind == "module":
            _import(payload)
            return _modules[payload]
        if kind == "float":
            return _float(payload)
        if kind in ("list", "tuple"):
            items = [restore(v) for v in payload]
            return items if kind == "list" else _tuple(items)
        if kind == "dict":
            return _dict((k, restore(v)) for k, v in payload)
        if kind in ("int", "bool", "none", "str"):
            return payload
        if kind in ("generator", "ndarray", "npscalar"):
            _import("numpy")
            numpy = _modules["numpy"]
            if kind == "generator":
                state = json.loads(payload)
                if state.get("bit_generator") not in ("PCG64", "PCG64DXSM"):
                    raise ValueError("cannot restore a %s generator" % state.get("bit_generator"))
                generator = numpy.random.Generator(getattr(numpy.random, state["bit_generator"])())
                generator.bit_generator.state = state
                return generator
            if kind == "ndarray":
                return numpy.array([restore(v) for v in payload[2]], dtype=payload[0]).reshape(payload[1])
            return numpy.dtype(payload[0]).type(restore(payload[1]))
        raise ValueError("cannot restore a %s" % payload)

    def cell_line(frame, filename):
        while frame is not None:
            if frame.f_code.co_filename == filename:
                return frame.f_lineno
            frame = frame.f_back
        return None

    def hint(exc):
        if isinstance(exc, RuntimeError) and "can't start new thread" in _str(exc):
            return hints[errno.EAGAIN].format(**limits)
        if isinstance(exc, OSError) and exc.errno in hints:
            return hints[exc.errno].format(**limits)
        if isinstance(exc, OSError) and exc.errno in sandbox_errnos and limits.get("sandboxed"):
            return sandbox_hint
        return None

    def text_of(exc):
        try:
            return _str(exc)[:500]
        except BaseException:  # noqa: B902 - a student's __str__ may raise anything
            return "(the exception's text could not be read)"

    def report(task, namespace, stdout, error, before):
        names = {}
        for name in task.get("report", []):
            names[name] = describe(namespace[name], [max_items]) if name in namespace else None
        found = {"error": error, "stdout": stdout[:stdout_keep], "names": names,
                 "generator": _list(_getstate()[1])}
        if task.get("snapshot"):
            found["before"] = before
        return found

    def snapshot(namespace):
        return {"names": {k: describe(v, [max_items]) for k, v in _sorted(namespace.items())
                          if not k.startswith("__")},
                "generator": _list(_getstate()[1])}

    def run_task(task):
        namespace = {"__name__": "__main__", "__builtins__": builtins}
        before = task["before"]
        if "state" in before:
            for name, desc in before["state"]["names"].items():
                namespace[name] = restore(desc)
            _setstate((3, _tuple(before["state"]["generator"]), None))
        else:
            _seed(before["seed"])
            for name in before.get("imports", []):
                _import(name)
                namespace[name] = _modules[name]
            for source in before.get("cells", []):
                if _type(source) is _dict:  # {"reseed": name, "factory": "module.function"}
                    module, function = source["factory"].rsplit(".", 1)
                    _import(module)
                    namespace[source["reseed"]] = getattr(_modules[module], function)(before["seed"])
                    continue
                _exec(_compile(source, "<reference>", "exec"), namespace)
        state = snapshot(namespace) if task.get("snapshot") else None
        current = {"cell": 0}

        def output_full():
            index = current["cell"]
            message = ("it printed more than %d characters (the grader's output limit)"
                       % limits["output_chars"])
            error = {"cell": index, "type": "OutputLimitExceeded", "message": message,
                     "line": cell_line(_getframe(1), "<cell %d>" % index)}
            found = report(task, namespace, _sio_getvalue(captured), error, state)
            if finish["found"]:
                finish["found"](found)
            reports.append(found)
            emit()
            _exit(0)

        captured = _Capture(limits["output_chars"], output_full, _sio_write, _len)
        error = None
        real_stdout = sys.stdout
        sys.stdout = captured
        try:
            for index, source in _enumerate(task["cells"]):
                current["cell"] = index
                try:
                    _exec(_compile(source, "<cell %d>" % index, "exec"), namespace)
                except BaseException as exc:  # noqa: B902 - SystemExit too: the cell must finish
                    frames = _extract_tb(exc.__traceback__)
                    lines = [f.lineno for f in frames if f.filename == "<cell %d>" % index]
                    message = text_of(exc)
                    why = hint(exc)
                    if why:
                        message += " (%s)" % why
                    line = lines[-1] if lines else getattr(exc, "lineno", None)
                    error = {"cell": index, "type": _type(exc).__name__[:100], "message": message,
                             "line": line if _type(line) is _int else None}
                    break
        finally:
            sys.stdout = real_stdout
        return report(task, namespace, _sio_getvalue(captured), error, state)

    def isolated(index):
        """Fork a child that reads and runs the next task: ``{"line": its report line}`` or
        ``{"ended": how}``."""
        output = ".task-output-%d" % index
        out_fd = os.open(output, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        os.unlink(output)
        read_end, write_end = os.pipe()
        deadline = time.monotonic() + limits["seconds"]
        pid = os.fork()
        if pid == 0:  # the child: its own task, then student code, run here only
            try:
                os.close(read_end)
                os.dup2(out_fd, 1)
                os.dup2(out_fd, 2)
                os.close(out_fd)
                os.setpgid(0, 0)
                limit = limits["output_chars"]  # the shared process may write one per task
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

                def hand_over(found):
                    write_all(write_end, (_dumps(found) + "\n").encode("utf-8"))
                    _exit(0)
                finish["found"] = hand_over
                task = json.loads(_read_line(0, 1 << 16))
                null = os.open(os.devnull, os.O_RDONLY)  # no process of student code holds the input
                os.dup2(null, 0)
                os.close(null)
                hand_over(run_task(task))
            finally:
                _exit(1)
        os.close(write_end)
        line, why = _receive(read_end, deadline, limits["output_chars"])
        os.close(read_end)
        status = _reap(pid, deadline) if why == "ended" else None
        if status is None:  # it handed its report over, or is still running: stop it
            _kill(pid)
            os.waitpid(pid, 0)
        _clean_up(pid, limits["sandboxed"])
        if line is not None:
            os.close(out_fd)
            return {"line": line}
        size = os.fstat(out_fd).st_size
        tail = os.pread(out_fd, 4000, max(0, size - 4000)).decode("utf-8", "replace")
        os.close(out_fd)
        code = None
        if status is not None:
            code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        return {"ended": {"returncode": code, "timed_out": why == "time" or (why == "ended" and status is None),
                          "output_full": why == "size" or size >= limits["output_chars"], "stderr": tail}}

    if header["mode"] == "serve":
        _not_dumpable()
        index = 0
        while os.read(0, 1) == b"T":  # a task follows, for the child to read
            emit(isolated(index))
            index += 1
            _clear(".")
            if limits["sandboxed"]:
                _clear("/tmp")
    elif header["mode"] == "batches":  # the grader's own runs, a JSON list of tasks per line
        while True:
            line = sys.stdin.buffer.readline()  # nothing else reads the input here
            if not line.strip():
                break
            del reports[:]
            for task in json.loads(line):
                reports.append(run_task(task))
            emit()
    else:
        for task in json.loads(sys.stdin.read()):
            reports.append(run_task(task))
        emit()


def _read_line(fd, size=1):
    """One line from ``fd``, read ``size`` bytes at a time (1: nothing after the line is taken
    from the pipe)."""
    data = bytearray()
    while b"\n" not in data:
        chunk = os.read(fd, size)
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0].decode("utf-8")


def _plain(state, numpy):
    """A bit generator's state as JSON data (its arrays as lists)."""
    if isinstance(state, dict):
        return {key: _plain(value, numpy) for key, value in state.items()}
    if isinstance(state, numpy.ndarray):
        return state.tolist()
    if isinstance(state, numpy.generic):
        return state.item()
    return state


def _not_dumpable():
    """``prctl(PR_SET_DUMPABLE, 0)``: no process of the sandbox's uid can ptrace this one or
    read its memory and descriptors through /proc (forked children inherit it)."""
    import ctypes
    if ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE) failed")


def _receive(fd, deadline, limit):
    """The first line a child writes to ``fd`` before ``deadline``, at most ``limit`` bytes:
    ``(line, None)``, or ``(None, why)``: "time", "size" or "ended" (it closed the pipe)."""
    chunks, size = [], 0
    while size <= limit:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None, "time"
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return None, "ended"
        chunks.append(chunk)
        size += len(chunk)
        if b"\n" in chunk:
            line = b"".join(chunks).split(b"\n", 1)[0]
            return (line.decode("utf-8", "replace"), None) if len(line) <= limit else (None, "size")
    return None, "size"


def _reap(pid, deadline):
    """The child's wait status once it has ended, or None if it is still running at ``deadline``."""
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.002)


def _kill(target):
    try:
        os.kill(target, signal.SIGKILL)
    except OSError:
        pass


def _clean_up(pid, sandboxed):
    """Kill what the task's child (already reaped) left: its process group or, in the sandbox's
    own PID namespace, every process but this one, again until none is left to signal (one
    forked while a sweep ran dies in the next)."""
    if not sandboxed:
        _kill(-pid)
        return
    for _ in range(1000):
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:  # ESRCH: nothing left but this process and the namespace's init
            return
        time.sleep(0.001)  # a killed process counts until the namespace's init reaps it


def _clear(folder):
    """Remove what lies in ``folder`` on its own file system (best effort: what cannot be removed
    stays). What is mounted into it (the sandbox binds an interpreter installed under /tmp there,
    read-only) is not walked: emptying it would fail file by file, for a whole venv each task."""
    device = os.lstat(folder).st_dev
    stack = [(folder, False)]  # (path, its entries already removed); no recursion, however deep
    while stack:
        path, emptied = stack.pop()
        if emptied:
            _remove(os.rmdir, path)
            continue
        try:
            entries = list(os.scandir(path))
        except OSError:
            continue
        if path != folder:
            stack.append((path, True))
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if info.st_dev != device:  # a mount point: not this file system's to empty
                continue
            if stat.S_ISDIR(info.st_mode):
                stack.append((entry.path, False))
            else:
                _remove(os.unlink, entry.path)


def _remove(how, path):
    try:
        how(path)
    except OSError:
        pass


class _Capture(io.StringIO):
    """stdout that keeps the first ``limit`` characters and ends the run beyond them."""

    def __init__(self, limit, on_full, write, length):
        io.StringIO.__init__(self)
        self._limit, self._on_full, self._count = limit, on_full, 0
        self._sio_write, self._len = write, length

    def write(self, text):
        self._count += self._len(text)
        if self._count > self._limit:
            self._on_full()
        return self._sio_write(self, text)


# ---------------------------------------------------------------- reading a report, strictly
#
# The grader's side of the format this module writes (imported by autograder.notebook.reexecute):
# what a process running this file writes is untrusted, so it is accepted only if it follows the
# schema exactly (keys, types, bounded sizes); anything else is Malformed, with a fixed phrase.

class Malformed(ValueError):
    """A report that does not follow the schema (its message is a fixed phrase)."""


GENERATOR_WORDS, WORD = 625, 1 << 32
MAX_TEXT, MAX_ITEMS, MAX_DEPTH = 20000, 10000, 8
MAX_NODES = 100000  # per value: the harness's 10 000, plus the "too large" leaves it may add
_SCALARS = {"int": int, "bool": bool, "none": type(None), "float": str, "str": str, "module": str,
            "other": str, "generator": str}
_DTYPE = 16  # a numpy dtype's ``str`` (e.g. "<i8") is at most this long


def parse_reports(stdout: bytes, token: str, tasks) -> tuple:
    """``(reports, None)`` if ``stdout`` holds exactly one valid report line for ``tasks``, else
    ``(None, why)``, or ``(None, None)`` when there is no report line at all."""
    lines = [line for line in stdout.split(b"\n") if line.startswith(token.encode("ascii"))]
    if not lines:
        return None, None
    if len(lines) > 1:
        return None, "more than one report"

    def check(data):
        _keys(data, {"reports"})
        if type(data["reports"]) is not list or len(data["reports"]) != len(tasks):
            raise Malformed("wrong number of task reports")
        for report, task in zip(data["reports"], tasks):
            check_report(report, task)
    data, why = loaded(lines[0][len(token):], check)
    return (None, why) if why else (data["reports"], None)


def loaded(text, check) -> tuple:
    """``(data, None)`` if ``text`` (UTF-8 bytes or str) is JSON that ``check`` accepts, else
    ``(None, why)``, a fixed phrase."""
    try:
        data = json.loads(text.decode("utf-8") if isinstance(text, bytes) else text)
        check(data)
    except Malformed as why:
        return None, str(why)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None, "not valid JSON"
    return data, None


def _keys(value, keys):
    if type(value) is not dict or set(value) != set(keys):
        raise Malformed("unexpected fields")


def check_outcome(outcome, task):
    """What the shared process of :func:`run_isolated` says of one task (see the harness)."""
    if type(outcome) is dict and set(outcome) == {"line"}:
        if type(outcome["line"]) is not str:
            raise Malformed("ill-typed task outcome")
        return
    _keys(outcome, {"ended"})
    how = outcome["ended"]
    _keys(how, {"returncode", "timed_out", "output_full", "stderr"})
    if not (type(how["returncode"]) in (int, type(None)) and type(how["timed_out"]) is bool
            and type(how["output_full"]) is bool and _text(how["stderr"], 4000)):
        raise Malformed("ill-typed task outcome")


def check_report(report, task):
    _keys(report, {"error", "stdout", "names", "generator", *(["before"] if task.get("snapshot") else [])})
    error = report["error"]
    if error is not None:
        _keys(error, {"cell", "type", "message", "line"})
        if not (type(error["cell"]) is int and _text(error["type"], 100) and _text(error["message"], 2000)
                and (error["line"] is None or type(error["line"]) is int)):
            raise Malformed("ill-typed error")
    if not _text(report["stdout"], MAX_TEXT):
        raise Malformed("ill-typed output")
    names = report["names"]
    _keys(names, task.get("report", []))
    for value in names.values():
        if value is not None:
            _check_value(value, [MAX_NODES])
    _check_generator(report["generator"])
    if task.get("snapshot"):
        _keys(report["before"], {"names", "generator"})
        if type(report["before"]["names"]) is not dict:
            raise Malformed("ill-typed state")
        for value in report["before"]["names"].values():
            _check_value(value, [MAX_NODES])
        _check_generator(report["before"]["generator"])


def _text(value, limit) -> bool:
    return type(value) is str and len(value) <= limit


def _check_generator(state):
    if not (type(state) is list and len(state) == GENERATOR_WORDS and set(map(type, state)) == {int}
            and 0 <= min(state[:-1]) and max(state[:-1]) < WORD and 0 <= state[-1] <= GENERATOR_WORDS - 1):
        raise Malformed("ill-typed generator state")


def _check_value(value, budget, depth=0):
    """A value description of :mod:`autograder.notebook.harness`: ``[kind, payload]``, bounded."""
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_DEPTH or type(value) is not list or len(value) != 2:
        raise Malformed("ill-typed value")
    kind, payload = value
    if kind in _SCALARS:
        if type(payload) is not _SCALARS[kind] or (type(payload) is str and len(payload) > MAX_TEXT):
            raise Malformed("ill-typed value")
    elif kind in ("list", "tuple") and type(payload) is list and len(payload) <= MAX_ITEMS:
        for item in payload:
            _check_value(item, budget, depth + 1)
    elif kind == "ndarray" and type(payload) is list and len(payload) == 3 and _text(payload[0], _DTYPE) \
            and type(payload[1]) is list and len(payload[1]) <= MAX_DEPTH \
            and all(type(n) is int and n >= 0 for n in payload[1]) \
            and type(payload[2]) is list and len(payload[2]) <= MAX_ITEMS:
        for item in payload[2]:
            _check_value(item, budget, depth + 1)
    elif kind == "npscalar" and type(payload) is list and len(payload) == 2 and _text(payload[0], _DTYPE):
        _check_value(payload[1], budget, depth + 1)
    elif kind == "dict" and type(payload) is list and len(payload) <= MAX_ITEMS:
        for pair in payload:
            if type(pair) is not list or len(pair) != 2 or not _text(pair[0], MAX_TEXT):
                raise Malformed("ill-typed value")
            _check_value(pair[1], budget, depth + 1)
    else:
        raise Malformed("ill-typed value")


if __name__ == "__main__":
    main()
