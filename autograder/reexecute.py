"""Parent side of a re-execution: one fresh, limited, sandboxed ``python -I`` process per job.

The process runs in the course sandbox (:mod:`autograder.sandbox`: bubblewrap, its own uid,
no network, nothing of the course visible but ``harness.py``) unless the caller passes its own
``wrapper``; without bubblewrap it runs with the rlimits only, and says so loudly.
"""
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
    """Outcome of one re-execution: the harness's report, or why there is none."""

    report: Optional[dict]
    returncode: Optional[int]
    timed_out: bool
    output_full: bool
    stderr: str

    @property
    def failure(self) -> Optional[str]:
        """Why the process produced no report, in words for the student (None if it did)."""
        if self.report is not None:
            return None
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
              wrapper=None) -> Run:
    """Run ``cells`` (sources) in order in a fresh interpreter seeded with ``seed``.

    ``wrapper`` is an argv prefix placed before the interpreter; None (the default) means the
    course sandbox (:func:`autograder.sandbox.command`), ``()`` means none.
    """
    token = secrets.token_hex(16)
    mode = sandbox.warn_if_unsandboxed() if wrapper is None else None
    job = json.dumps({"token": token, "seed": seed, "cells": list(cells),
                      "limits": {"output_chars": limits.output_bytes,
                                 "processes": limits.processes, "memory_mb": limits.memory_mb,
                                 "sandboxed": bool(mode and mode.sandboxed)}})
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
        report = _find_report(stdout, token)
        stderr = err_path.read_bytes()[-4000:].decode("utf-8", "replace")
    returncode = proc.returncode
    if mode and mode.sandboxed and returncode > 128:  # bwrap reports a killed child as 128 + signal
        returncode = 128 - returncode
    return Run(report, returncode, timed_out and report is None,
               len(stdout) >= limits.output_bytes, stderr)


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


def _find_report(stdout: bytes, token: str) -> Optional[dict]:
    for line in stdout.decode("utf-8", "replace").splitlines():
        if line.startswith(token):
            return json.loads(line[len(token):])
    return None
