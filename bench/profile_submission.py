"""Where one submission's grading time goes, measured by wall-clock timers around each phase.

    .venv/bin/python bench/profile_submission.py COURSE [--students 8] [--task] [-- NBGRADER_ARGS ...]

COURSE is a course with submissions: ``demo-course/`` after ``make demo``, or the class
``grade_class.py --profile`` builds. The
submissions are autograded in this process with nbgrader's ``Autograde`` converter and the
course's configuration, as ``nbgrader autograde`` does (with ``--task``: as a grading worker does,
:func:`autograder.classrun.task.grade`); the first one warms up and is not counted.
Printed per submission (seconds, as JSON): kernel launch (the sandbox and the kernel process
started), kernel ready (connect and wait for the kernel's first reply), cells in the kernel,
kernel shutdown, the out-of-kernel re-execution (choosing the secret seeds, the reference runs
under them, the student's runs), and the rest (nbgrader's sanitising, gradebook and files, the
quiz); how many kernels and sandboxed re-execution processes one submission starts; and the CPU time one
submission costs: this process's own, its whole process tree's (a cgroup v1 ``cpuacct`` group of
its own, as root: the sandboxed kernels, re-executions and the kept grader-side process count
too, nothing else), and the whole machine's (busy time of all cores, from ``/proc/stat``: anything
else the machine runs meanwhile too). The tree's CPU time divided by the cores is the lowest wall
time per submission any executor can reach on this machine. Arguments after
``--`` go to nbgrader, to try a setting, e.g. ``-- --SandboxedExecute.shutdown_kernel=immediate``.
"""
import argparse
import functools
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

ASSIGNMENT = "reproducibility"
totals = Counter()


def timed(owner, name: str, phase: str) -> None:
    """Wrap ``owner.name`` (sync or async) so its wall-clock time adds to ``totals[phase]``."""
    original = getattr(owner, name)
    if hasattr(original, "__wrapped_phase__"):
        return
    if _is_async(original):
        async def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                totals[phase] += time.perf_counter() - started
                totals[phase + " (count)"] += 1
    else:
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                totals[phase] += time.perf_counter() - started
                totals[phase + " (count)"] += 1
    functools.update_wrapper(wrapper, original)
    wrapper.__wrapped_phase__ = phase
    setattr(owner, name, wrapper)


def busy_cpu_seconds() -> float:
    """CPU seconds all cores of the machine have spent busy since boot (``/proc/stat``)."""
    import psutil
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + t.irq + t.softirq


CPUACCT = Path("/sys/fs/cgroup/cpuacct")


def run_counted(cmd, **popen) -> tuple:
    """Run ``cmd`` (``subprocess.Popen`` arguments) in a cgroup v1 ``cpuacct`` group of its own:
    ``(returncode, wall seconds, CPU seconds of its whole process tree)``, sandboxed and reparented
    processes included (they stay in the group whatever memory or pids cgroup they join). CPU is
    None where no such group can be made (not root, no v1 cpuacct): then use :func:`busy_cpu_seconds`."""
    import secrets
    import subprocess
    group = CPUACCT / f"bench-cpu-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        group.mkdir()
    except OSError:
        group = None

    def join():
        if group is not None:
            (group / "cgroup.procs").write_text(str(os.getpid()))
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, preexec_fn=join, **popen)
    proc.communicate()
    wall = time.perf_counter() - started
    if group is None:
        return proc.returncode, wall, None
    cpu = int((group / "cpuacct.usage").read_text()) / 1e9
    for _ in range(100):  # a process of the tree may still be leaving
        try:
            group.rmdir()
            break
        except OSError:
            time.sleep(0.05)
    return proc.returncode, wall, cpu


class OwnGroup:
    """This process (and whatever it starts from now on) in a ``cpuacct`` group of its own:
    :meth:`seconds` is the CPU time of the whole tree so far (None: no such group here)."""

    def __init__(self):
        import secrets
        self.group = CPUACCT / f"bench-profile-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            self.group.mkdir()
            (self.group / "cgroup.procs").write_text(str(os.getpid()))
        except OSError:
            self.group = None

    def seconds(self):
        return None if self.group is None else int((self.group / "cpuacct.usage").read_text()) / 1e9

    def close(self):
        from autograder.notebook import reexecute
        reexecute.close_grader_processes()  # started from here: they would keep the group busy
        if self.group is not None:
            (CPUACCT / "cgroup.procs").write_text(str(os.getpid()))
            for _ in range(100):
                try:
                    self.group.rmdir()
                    return
                except OSError:
                    time.sleep(0.05)


def _is_async(function) -> bool:
    import inspect
    return inspect.iscoroutinefunction(function)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("course", type=Path)
    parser.add_argument("--students", type=int, default=8)
    parser.add_argument("--task", action="store_true", help="grade as a worker does (autograder.classrun.task.grade: "
                        "a temporary course and a sandbox budget per submission), not as nbgrader autograde")
    args, nbgrader_args = parser.parse_known_args()
    nbgrader_args = [a for a in nbgrader_args if a != "--"]
    args.course = args.course.resolve()
    os.chdir(args.course)
    group = OwnGroup()
    started = time.perf_counter()
    from nbclient.client import NotebookClient
    from nbgrader.apps.autogradeapp import AutogradeApp
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute
    from nbgrader.utils import temp_attrs

    from autograder.notebook import expected, preprocessors, reexecute, reexecution_seeds
    imported = time.perf_counter() - started

    # nbclient's synchronous entry points (setup_kernel calls these, not the async ones)
    timed(NotebookClient, "start_new_kernel", "kernel_launch")
    timed(NotebookClient, "start_new_kernel_client", "kernel_ready")
    timed(NotebookClient, "_cleanup_kernel", "kernel_shutdown")
    timed(Execute, "preprocess_cell", "cells_in_kernel")
    # the out-of-kernel re-execution: choosing the secret seeds (a process per batch of candidate
    # seeds), the reference under them (one process), the student's runs (one process for all,
    # or one alone per run when that one fails); and how many sandboxed processes all that starts
    timed(reexecution_seeds, "draw", "choosing_seeds")
    timed(expected, "references", "reference_runs")
    timed(preprocessors, "run_isolated", "student_runs")
    timed(reexecute._Process, "start", "sandboxed_process_start")

    who = sorted(os.listdir(args.course / "submitted"))[:args.students]
    if args.task:  # as a grading worker does: a temporary course per submission, its sandbox budget
        from autograder.classrun import intake, task
        snapshot = task.snapshot(args.course, ASSIGNMENT)
        files = {student: intake.read(args.course / "submitted", student.encode(), ASSIGNMENT).files
                 for student in who}

        def grade(student):
            task.grade(snapshot, student, files[student])
    else:  # as stock nbgrader autograde does, in the course
        app = AutogradeApp()
        app.initialize([ASSIGNMENT, "--force", "--log-level=ERROR", *nbgrader_args])
        app.coursedir.assignment_id = ASSIGNMENT

        def grade(student):
            with temp_attrs(app.coursedir, student_id=student):
                Autograde(coursedir=app.coursedir, parent=app).start()
    grade(who[0])  # warm-up, not counted
    totals.clear()
    wall, machine, own, tree = time.perf_counter(), busy_cpu_seconds(), time.process_time(), group.seconds()
    for student in who[1:]:
        grade(student)
    n = len(who) - 1
    wall = (time.perf_counter() - wall) / n
    machine, own = (busy_cpu_seconds() - machine) / n, (time.process_time() - own) / n
    tree = None if tree is None else round((group.seconds() - tree) / n, 3)
    group.close()
    phases = ("kernel_launch", "kernel_ready", "cells_in_kernel", "kernel_shutdown", "choosing_seeds",
              "reference_runs", "student_runs")
    per = {phase: round(totals[phase] / n, 3) for phase in phases}
    per["rest_nbgrader_db_files_quiz"] = round(wall - sum(totals[p] for p in phases) / n, 3)
    cores = os.cpu_count()
    print(json.dumps({"import_seconds": round(imported, 2), "submissions": n, "path": "task" if args.task else "autograde",
                      "kernels_per_submission": totals["kernel_launch (count)"] / n,
                      "reexecution_processes_per_submission": totals["sandboxed_process_start (count)"] / n,
                      "per_submission": {"total": round(wall, 3), **per},
                      "cpu_seconds_per_submission": {"process_tree_cgroup": tree, "machine": round(machine, 3),
                                                     "this_process": round(own, 3)},
                      "cores": cores, "lowest_seconds_per_submission": round((tree or machine) / cores, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
