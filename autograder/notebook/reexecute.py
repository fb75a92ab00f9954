"""Parent side of a re-execution: one fresh, limited, sandboxed ``python -I`` process per job
(a student's tasks each in a child forked from it).

The report the process writes is untrusted input: :func:`parse_reports` accepts exactly one
report line that follows the harness's schema (exact keys, types and bounded sizes), and
anything else is a failed run with a fixed reason, never an exception.

The process runs in the course sandbox (:mod:`autograder.notebook.sandbox`: bubblewrap, its own uid,
no network, nothing of the course visible but ``harness.py``) unless the caller passes its own
``wrapper``; without bubblewrap it runs with the rlimits only, and says so loudly.
"""
import dataclasses
import json
import os
import resource
import secrets
import select
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from . import sandbox

HARNESS = Path(__file__).with_name("harness.py")


@dataclass(frozen=True)
class Limits:
    """What one re-execution may use."""

    seconds: float = 10.0        # wall clock
    cpu_seconds: int = 8
    memory_mb: int = 1024        # address space
    output_bytes: int = 1 << 20  # what the process may write to stdout/stderr files
    processes: int = 64


@dataclass
class Run:
    """Outcome of one re-execution: the harness's reports (one per task), or why there are none."""

    reports: Optional[list]
    returncode: Optional[int]
    timed_out: bool
    output_full: bool
    stderr: str
    malformed: Optional[str] = None  # why the report could not be accepted (a fixed phrase)

    @property
    def report(self) -> Optional[dict]:
        """The report of the first (for a student's run: the only) task."""
        return self.reports[0] if self.reports else None

    @property
    def failure(self) -> Optional[str]:
        """Why the process left no valid report, in words for the student (None if it did).

        Only fixed phrases: nothing the student's process wrote is quoted."""
        if self.reports is not None:
            return None
        if self.malformed:
            return "it left no report the grader can accept (%s)" % self.malformed
        if self.timed_out:
            return "it was stopped at the time limit (an endless loop?)"
        sig = -self.returncode if self.returncode and self.returncode < 0 else None
        if sig == signal.SIGXCPU or sig == signal.SIGKILL:
            return "it was stopped at the CPU-time limit"
        if self.output_full or sig == signal.SIGXFSZ:
            return "it printed more than the output limit allows"
        if "MemoryError" in self.stderr:
            return "it ran out of memory (memory limit)"
        if sig:
            return "the Python process was killed by signal %s" % signal.Signals(sig).name
        return "the Python process ended before the grader could look (exit() or os._exit()?)"


def _limit(limits: Limits, nproc: bool = True):
    def apply():
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb << 20,) * 2)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.output_bytes,) * 2)
        if nproc:  # in the sandbox, prlimit sets it after the uid change (root is exempt)
            resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes,) * 2)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def run_cells(cells, seed: int, limits: Limits = Limits(), python: str = sys.executable,
              wrapper=None, report=()) -> Run:
    """Run ``cells`` (sources) in order, seeded with ``seed``, the way a student's run goes
    (:func:`run_isolated`)."""
    task = {"before": {"seed": seed}, "cells": list(cells), "report": list(report)}
    return run_isolated([task], limits, python, wrapper)[0]


def run_isolated(tasks, limits: Limits = Limits(), python: str = sys.executable, wrapper=None) -> list:
    """Run a student's ``tasks`` in one sandboxed process, each in a child forked from it before
    any student code ran (see :mod:`autograder.notebook.harness`), ``limits`` applying to each
    task: a :class:`Run` per task, or None for a task not run because one before it with the
    same ``group`` handed no report over. When the shared process itself fails (its code is the
    students' too: a child may kill it), each task runs alone, so that a task costs only itself."""
    shared = run_tasks(tasks, limits, python, wrapper, isolate=True)
    if shared.reports is None:  # the shared process itself failed: each task alone
        return [_alone(task, limits, python, wrapper) for task in tasks]
    return [None if found is None else _task_run(found, task) for found, task in zip(shared.reports, tasks)]


def _alone(task, limits, python, wrapper) -> Run:
    run = run_tasks([task], limits, python, wrapper, isolate=True)
    return run if run.reports is None else _task_run(run.reports[0], task)


def _task_run(found: dict, task: dict) -> Run:
    """A task's :class:`Run` from what the shared process said of it (already checked)."""
    if "ended" in found:
        how = found["ended"]
        return Run(None, how["returncode"], how["timed_out"], how["output_full"], how["stderr"])
    report, why = _loaded(found["line"], lambda data: _check_report(data, task))
    return Run(None if why else [report], 0, False, False, "", why)


def run_tasks(tasks, limits: Limits = Limits(), python: str = sys.executable, wrapper=None,
              isolate: bool = False) -> Run:
    """Run the harness ``tasks`` (see :mod:`autograder.notebook.harness`) in one fresh interpreter.

    ``wrapper`` is an argv prefix placed before the interpreter; None (the default) means the
    course sandbox (:func:`autograder.notebook.sandbox.command`), ``()`` means none. The job goes in on
    stdin (never on a command line, which ``/proc`` shows to the sandbox). ``isolate``: each task
    in a forked child, within ``limits``; the reports are then what the harness says of each
    child (see :func:`run_isolated`)."""
    token = secrets.token_hex(16)
    mode = sandbox.warn_if_unsandboxed() if wrapper is None else None
    job = json.dumps({"token": token, "tasks": list(tasks), "isolate": isolate,
                      "limits": {"output_chars": limits.output_bytes, "seconds": limits.seconds,
                                 "processes": limits.processes, "memory_mb": limits.memory_mb,
                                 "sandboxed": bool(mode and mode.sandboxed)}})
    if isolate:  # the shared process writes every task's report; each child keeps the limit itself
        limits = dataclasses.replace(limits, output_bytes=limits.output_bytes * (len(tasks) + 1),
                                     seconds=limits.seconds * (len(tasks) + 1))
    with tempfile.TemporaryDirectory(prefix="reexec-") as scratch:
        out_path, err_path = Path(scratch, "stdout"), Path(scratch, "stderr")
        work = Path(scratch, "work")
        work.mkdir()
        argv = [python, "-I", str(HARNESS)]
        if mode is None:
            argv = [*wrapper, *argv]
        else:
            argv = sandbox.command(argv, cwd=work, readable=[HARNESS], mode=mode, interpreters=[python],
                                   private=scratch,
                                   limits=sandbox.ProcessLimits(processes=limits.processes))
        job_path = Path(scratch, "job.json")
        job_path.write_text(job, encoding="utf-8")
        with open(job_path, "rb") as job_in, open(out_path, "wb") as out, open(err_path, "wb") as err:
            job_path.unlink()
            proc = subprocess.Popen(
                argv, stdin=job_in, stdout=out,
                stderr=err, cwd=work, start_new_session=True,
                preexec_fn=_limit(limits, nproc=not (mode and mode.sandboxed)),
                env={"PATH": os.defpath, "PYTHONHASHSEED": "0", "HOME": str(work), "TMPDIR": str(work)})
            try:
                timed_out = not _exited_within(proc, limits.seconds)
            finally:
                _kill_group(proc)
        stdout = out_path.read_bytes()
        reports, malformed = parse_reports(stdout, token, tasks, isolate)
        stderr = err_path.read_bytes()[-4000:].decode("utf-8", "replace")
    returncode = proc.returncode
    if mode and mode.sandboxed and returncode > 128:  # bwrap reports a killed child as 128 + signal
        returncode = 128 - returncode
    return Run(reports, returncode, timed_out and reports is None,
               len(stdout) >= limits.output_bytes, stderr, malformed)


def _exited_within(proc: subprocess.Popen, seconds: float) -> bool:
    """Wait for the process to end, woken by its pidfd (no polling sleeps); False on timeout."""
    pidfd = os.pidfd_open(proc.pid)
    try:
        return bool(select.select([pidfd], [], [], seconds)[0])
    finally:
        os.close(pidfd)


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the process and anything it started, then reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


# ---------------------------------------------------------------- reading a report, strictly

class Malformed(ValueError):
    """A report that does not follow the schema (its message is a fixed phrase)."""


GENERATOR_WORDS, WORD = 625, 1 << 32
MAX_TEXT, MAX_ITEMS, MAX_DEPTH = 20000, 10000, 8
MAX_NODES = 100000  # per value: the harness's 10 000, plus the "too large" leaves it may add
_SCALARS = {"int": int, "bool": bool, "none": type(None), "float": str, "str": str, "module": str,
            "other": str}


def parse_reports(stdout: bytes, token: str, tasks, isolate: bool = False) -> tuple:
    """``(reports, None)`` if ``stdout`` holds exactly one valid report line for ``tasks``, else
    ``(None, why)``, or ``(None, None)`` when there is no report line at all. ``isolate``: what
    :func:`run_isolated`'s shared process says of each task instead of a report."""
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
            (_check_outcome if isolate else _check_report)(report, task)
    data, why = _loaded(lines[0][len(token):], check)
    return (None, why) if why else (data["reports"], None)


def _loaded(text, check) -> tuple:
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


def _check_outcome(outcome, task):
    """What the shared process of :func:`run_isolated` says of one task (see the harness)."""
    if outcome is None:
        return
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


def _check_report(report, task):
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
    if not (type(state) is list and len(state) == GENERATOR_WORDS
            and all(type(w) is int and 0 <= w < WORD for w in state[:-1])
            and type(state[-1]) is int and 0 <= state[-1] <= GENERATOR_WORDS - 1):
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
    elif kind == "dict" and type(payload) is list and len(payload) <= MAX_ITEMS:
        for pair in payload:
            if type(pair) is not list or len(pair) != 2 or not _text(pair[0], MAX_TEXT):
                raise Malformed("ill-typed value")
            _check_value(pair[1], budget, depth + 1)
    else:
        raise Malformed("ill-typed value")
