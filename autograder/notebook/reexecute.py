"""Parent side of a re-execution: fresh, limited, sandboxed ``python -I`` processes running
:mod:`autograder.notebook.harness` (a student's tasks each in a child forked from one of them,
handed its own task only).

What such a process writes is untrusted input: the harness's :func:`parse_reports` and outcome checks
accept exactly the harness's schema (exact keys, types and bounded sizes), and anything else is
a failed run with a fixed reason, never an exception.

The process runs in the course sandbox (:mod:`autograder.notebook.sandbox`: bubblewrap, its own uid,
no network, nothing of the course visible but ``harness.py``) unless the caller passes its own
``wrapper``; without bubblewrap it runs with the rlimits only, and says so loudly.
"""
import atexit
import json
import os
import secrets
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from . import processes
from .harness import check_outcome, check_report, loaded, parse_reports
from .limits import GradingLimits
from .sandbox import bwrap, modes

HARNESS = Path(__file__).with_name("harness.py")
OUTCOME_GRACE = 5.0  # seconds past a task's limit for the shared process to say how it ended


@dataclass(frozen=True)
class Limits:
    """What one re-execution may use (plain data; the defaults and the course's values are
    :class:`autograder.notebook.limits.GradingLimits`'s ``reexecution_*``: :meth:`GradingLimits.reexecution`)."""

    seconds: float = GradingLimits.default("reexecution_seconds")            # wall clock
    cpu_seconds: int = GradingLimits.default("reexecution_cpu_seconds")
    memory_mb: int = GradingLimits.default("reexecution_memory_mb")          # address space
    output_bytes: int = GradingLimits.default("reexecution_output_bytes")    # what it may write
    processes: int = GradingLimits.default("reexecution_processes")


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


def _rlimits(limits: Limits) -> bwrap.ProcessLimits:
    """The rlimits of a re-execution's process."""
    return bwrap.ProcessLimits(cpu_seconds=limits.cpu_seconds, memory_mb=limits.memory_mb,
                               processes=limits.processes, file_bytes=limits.output_bytes)


def run_cells(cells, seed: int, limits: Limits = Limits(), python: str = sys.executable,
              wrapper=None, report=(), preload=()) -> Run:
    """Run ``cells`` (sources) in order, seeded with ``seed``, the way a student's run goes
    (:func:`run_isolated`)."""
    task = {"before": {"seed": seed}, "cells": list(cells), "report": list(report)}
    return run_isolated([task], limits, python, wrapper, preload)[0]


def run_isolated(tasks, limits: Limits = Limits(), python: str = sys.executable, wrapper=None,
                 preload=()) -> list:
    """Run a student's ``tasks`` in one sandboxed process that never reads them: each runs in a
    child forked from it before any student code ran, which alone reads its task (see
    :mod:`autograder.notebook.harness`), and the next task is sent only once the last one's
    outcome is back, so no process ever holds another task's data. ``limits`` apply to each task.

    A :class:`Run` per task, or None for a task not run because one before it with the same
    ``group`` handed no report over. When the shared process itself fails (its children run the
    student's code: one may kill or stop it), this task and the rest each run alone, in a process
    of their own, so that a task costs only itself. ``preload`` names modules the process imports
    before any task (each forked task starts with them loaded)."""
    if not tasks:
        return []
    runs, ended, served = [], set(), _Served(limits, python, wrapper, preload)
    try:
        for task in tasks:
            if task.get("group") in ended:
                runs.append(None)
                continue
            found = served.run(task) if served.alive else None
            if found is None:
                alone = _Served(limits, python, wrapper, preload)
                try:
                    found = alone.run(task)
                    run = alone.failed() if found is None else _task_run(found, task)
                finally:
                    alone.close()
            else:
                run = _task_run(found, task)
            if run.reports is None and not run.malformed:
                ended.add(task.get("group"))
            runs.append(run)
    finally:
        served.close()
    return runs


def _task_run(found: dict, task: dict) -> Run:
    """A task's :class:`Run` from what the shared process said of it (already checked)."""
    if "ended" in found:
        how = found["ended"]
        return Run(None, how["returncode"], how["timed_out"], how["output_full"], how["stderr"])
    report, why = loaded(found["line"], lambda data: check_report(data, task))
    return Run(None if why else [report], 0, False, False, "", why)


def run_tasks(tasks, limits: Limits = Limits(), python: str = sys.executable, wrapper=None,
              preload=()) -> Run:
    """Run the harness ``tasks`` (the grader's own reference runs; see
    :mod:`autograder.notebook.harness`, mode ``batch``) one after the other in one fresh
    interpreter: a :class:`Run` holding a report per task.

    ``wrapper`` is an argv prefix placed before the interpreter; None (the default) means the
    course sandbox (:func:`autograder.notebook.sandbox.bwrap.command`), ``()`` means none. The job goes in on
    stdin (never on a command line, which ``/proc`` shows to the sandbox)."""
    with _Process(limits, python, wrapper, "batch", preload) as process:
        job_path, out_path = process.scratch / "job.json", process.scratch / "stdout"
        job_path.write_bytes(process.header + json.dumps(list(tasks)).encode("utf-8"))
        with open(job_path, "rb") as job_in, open(out_path, "w+b") as out:
            job_path.unlink()
            process.start(stdin=job_in, stdout=out)
            try:
                timed_out = not _exited_within(process.proc, limits.seconds)
            finally:
                processes.kill_tree(process.proc)
            out.seek(0)
            stdout = out.read()
        reports, malformed = parse_reports(stdout, process.token, tasks)
        returncode, stderr = process.ended()
    return Run(reports, returncode, timed_out and reports is None,
               len(stdout) >= limits.output_bytes, stderr, malformed)


def run_grader_tasks(tasks, limits: Limits = Limits(), python: str = sys.executable, preload=()) -> Run:
    """Run the grader's own harness ``tasks`` (reference cells and declared mistakes: never a
    student's code) as :func:`run_tasks` does, in a sandboxed process kept for this grading
    process's life (one per limits, interpreter and preload), so that many submissions' reference
    runs share one sandbox and interpreter start-up. It runs under a uid of its own range
    (:func:`autograder.notebook.sandbox.bwrap.grader_uid`), never a student sandbox's. A kept
    process that fails (its CPU limit spent over many batches, or killed) is replaced and the
    batch run once more in a fresh one, whose failure is the answer."""
    key = (limits, python, tuple(preload))
    server = _GRADER_PROCESSES.pop(key, None)
    if server is not None and not server.usable():
        server.close()
        server = None
    fresh = server is None
    if fresh:
        server = _Batches(limits, python, preload)
    run = server.batch(tasks)
    if run.reports is None:
        server.close()
        return run_grader_tasks(tasks, limits, python, preload) if not fresh else run
    _GRADER_PROCESSES[key] = server
    return run


def close_grader_processes() -> None:
    """End the kept grader-side processes (at exit, or to start afresh)."""
    while _GRADER_PROCESSES:
        _GRADER_PROCESSES.popitem()[1].close()


class _Process:
    """One fresh ``python -I harness.py`` in the course sandbox (or ``wrapper``), its scratch
    folder, its token and its header line (see :mod:`autograder.notebook.harness`)."""

    def __init__(self, limits: Limits, python: str, wrapper, mode_name: str, preload=(), uid=None):
        self.limits, self.python, self.wrapper, self.uid = limits, python, wrapper, uid
        self.token = secrets.token_hex(16)
        self.mode = modes.warn_if_unsandboxed() if wrapper is None else None
        self.header = (json.dumps({
            "token": self.token, "mode": mode_name, "preload": list(preload),
            "limits": {"output_chars": limits.output_bytes, "seconds": limits.seconds,
                       "processes": limits.processes, "memory_mb": limits.memory_mb,
                       "sandboxed": bool(self.mode and self.mode.sandboxed)}}) + "\n").encode("utf-8")
        self._scratch = tempfile.TemporaryDirectory(prefix="reexec-")
        self.scratch = Path(self._scratch.name)
        self.proc = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def start(self, stdin, stdout) -> None:
        work = self.scratch / "work"
        work.mkdir()
        argv, rlimits = [self.python, "-I", str(HARNESS)], _rlimits(self.limits)
        if self.mode is None:
            argv = [*self.wrapper, *argv]
        else:
            argv = bwrap.command(argv, cwd=work, readable=[HARNESS], mode=self.mode,
                                 interpreters=[self.python], private=str(self.scratch), uid=self.uid,
                                 limits=rlimits)
        self._stderr = open(self.scratch / "stderr", "w+b")
        # sandboxed, prlimit (last before the interpreter) sets the rlimits: no Python runs between
        # fork and exec, so the child is vforked (a fork copies the grading process's page tables)
        self.proc = subprocess.Popen(
            argv, stdin=stdin, stdout=stdout, stderr=self._stderr, cwd=work, start_new_session=True,
            preexec_fn=None if self.mode and self.mode.sandboxed else rlimits.apply,
            env={"PATH": os.defpath, "PYTHONHASHSEED": "0", "HOME": str(work), "TMPDIR": str(work)})

    def ended(self) -> tuple:
        """``(returncode, the last 4000 characters of stderr)`` of the ended process."""
        returncode = self.proc.returncode
        if self.mode and self.mode.sandboxed and returncode is not None and returncode > 128:
            returncode = 128 - returncode  # bwrap reports a killed child as 128 + signal
        self._stderr.seek(0, os.SEEK_END)
        self._stderr.seek(max(0, self._stderr.tell() - 4000))
        return returncode, self._stderr.read().decode("utf-8", "replace")

    def close(self) -> None:
        if self.proc is not None:
            processes.kill_tree(self.proc)
            for stream in (self.proc.stdin, self.proc.stdout, self._stderr):
                if stream is not None:
                    stream.close()
        self._scratch.cleanup()


class _Served(_Process):
    """A harness in mode ``serve``: one task at a time, each outcome read before the next task
    is written."""

    def __init__(self, limits: Limits, python: str, wrapper, preload=(), mode_name="serve", uid=None):
        super().__init__(limits, python, wrapper, mode_name, preload, uid)
        self.alive, self._timed_out, self._malformed = True, False, None
        self.start(stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._send(self.header)
        self._pending = b""

    def _send(self, data: bytes) -> bool:
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
            return True
        except OSError:  # it has ended
            self.alive = False
            return False

    def run(self, task: dict) -> Optional[dict]:
        """The harness's outcome for ``task`` (checked), or None when the process failed."""
        if not (self.alive and self._send(b"T" + json.dumps(task).encode("utf-8") + b"\n")):
            return None
        line = self._line(time.monotonic() + self.limits.seconds + OUTCOME_GRACE)
        found, why = (None, None) if line is None else \
            loaded(line[len(self.token):] if line.startswith(self.token.encode("ascii")) else b"",
                    lambda data: check_outcome(data, task))
        if found is None:
            self.alive, self._malformed = False, why
            processes.kill_tree(self.proc)
        return found

    def _line(self, deadline: float, cap: int = 0) -> Optional[bytes]:
        """The next line the process writes before ``deadline``, at most ``cap`` (default: twice
        ``output_bytes``) long."""
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            if len(self._pending) > (cap or 2 * self.limits.output_bytes) or left <= 0 \
                    or not select.select([fd], [], [], left)[0]:
                self._timed_out = left <= 0 or not self._pending
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return None
            self._pending += chunk
        line, self._pending = self._pending.split(b"\n", 1)
        return line

    def failed(self) -> Run:
        """Why the process gave no outcome, as a :class:`Run` without reports."""
        processes.kill_tree(self.proc)
        returncode, stderr = self.ended()
        return Run(None, returncode, self._timed_out, False, stderr, self._malformed)


class _Batches(_Served):
    """A harness in mode ``batches``: the grader's own runs, a JSON list of tasks per line."""

    def __init__(self, limits: Limits, python: str, preload=()):
        super().__init__(limits, python, None, preload, "batches", bwrap.grader_uid())

    def usable(self) -> bool:
        return self.alive and self.proc.poll() is None

    def batch(self, tasks) -> Run:
        """The reports of ``tasks``, or why there are none."""
        tasks = list(tasks)
        if not self._send(json.dumps(tasks).encode("utf-8") + b"\n"):
            return self.failed()
        line = self._line(time.monotonic() + self.limits.seconds, max(2 * self.limits.output_bytes, len(tasks) << 16))
        reports, malformed = (None, None) if line is None else parse_reports(line, self.token, tasks)
        if reports is None:
            self.alive, self._malformed = False, malformed
            return self.failed()
        return Run(reports, 0, False, False, "")


_GRADER_PROCESSES = {}  # (limits, python, preload) -> the kept _Batches process
atexit.register(close_grader_processes)


def _exited_within(proc: subprocess.Popen, seconds: float) -> bool:
    """Wait for the process to end, woken by its pidfd (no polling sleeps); False on timeout."""
    pidfd = os.pidfd_open(proc.pid)
    try:
        return bool(select.select([pidfd], [], [], seconds)[0])
    finally:
        os.close(pidfd)
