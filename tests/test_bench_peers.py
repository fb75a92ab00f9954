"""bench/peers.py's own parts: the plain nbgrader course it builds grades as its asserts say, and
its CPU count (a cgroup per command) includes a process the command left behind, reparented."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from corpus import reproducibility
from support import ROOT, env

sys.path.insert(0, str(ROOT / "bench"))
import cpu_by_process  # noqa: E402
import peers_cgroup  # noqa: E402
import peers_courses  # noqa: E402

# The grandchild leaves the command's stdio (so the command ends at once), outlives its parent
# (so init adopts it; it gives up waiting after 20 s), burns CPU, and writes its own CPU time
# and its parent's pid when done.
ORPHAN = """
import os, sys, time
if os.fork() == 0:
    middle = os.getpid()
    if os.fork() == 0:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        deadline = time.monotonic() + 20
        while os.getppid() == middle and time.monotonic() < deadline:
            time.sleep(0.01)
        start = time.process_time()
        while time.process_time() - start < 0.5:
            pass
        with open(sys.argv[1] + ".tmp", "w") as f:
            f.write("%r %d %d" % (time.process_time(), middle, os.getppid()))
        os.rename(sys.argv[1] + ".tmp", sys.argv[1])
        os._exit(0)
    os._exit(0)
os.wait()
"""


@pytest.mark.root
def test_the_cgroup_counts_a_reparented_grandchild(tmp_path):
    where = peers_cgroup.place()
    assert where[0] in (1, 2), f"no cgroup to count in: {where[2]}"
    report = tmp_path / "report"
    measured = peers_cgroup.run([sys.executable, "-c", ORPHAN, str(report)], tmp_path, dict(os.environ),
                                linger=30, where=where)
    assert measured.returncode == 0, measured.stderr
    assert measured.lingering == []
    cpu, middle, parent = report.read_text().split()
    assert int(parent) != int(middle)  # reparented before it burnt its CPU
    assert measured.cpu_seconds >= float(cpu) >= 0.5
    assert "cgroup" in measured.method


@pytest.mark.slow
def test_the_plain_courses_hidden_asserts_pass_the_reference_and_fail_its_mistakes(tmp_path):
    answers = {"right": reproducibility.REFERENCE,
               "forgot_seed": {**reproducibility.REFERENCE, "step2": reproducibility.STEP2_NO_SEED},
               "six_draws": {**reproducibility.REFERENCE, "step3": reproducibility.STEP3_RANGE_6}}
    course = peers_courses.plain_course(tmp_path / "plain", answers, peers_courses.derived(),
                                        Path(sys.executable).parent)
    released = (course / "release" / "reproducibility" / "reproducibility.ipynb").read_text()
    assert "HIDDEN TESTS" not in released and "getstate()" not in released  # the hidden asserts stay hidden
    assert "BEGIN HIDDEN TESTS" in (course / "source" / "reproducibility" / "reproducibility.ipynb").read_text()
    subprocess.run([sys.executable, "-m", "nbgrader", "autograde", "reproducibility"], cwd=course, env=env(),
                   check=True, capture_output=True)
    scores = peers_courses.gradebook_scores(course)
    steps = {student: [cells[f"test_step{i}"] for i in range(1, 5)] for student, cells in scores.items()}
    assert steps == {"right": [1, 2, 3, 2], "forgot_seed": [1, 0, 0, 0], "six_draws": [1, 2, 0, 0]}


def test_cpu_by_process_gives_each_process_of_a_grade_run_its_role():
    """A grade run's tree as perf records it (pid: parent; names from execs): perf 10 runs the
    command 11, which forks two workers (never exec); a worker's launcher execs python, then
    bwrap; bwrap's init forks the interpreter (setpriv, prlimit, python), which forks a task run;
    a kept grader-side harness forks none; the coordinator also runs git."""
    parent = {11: 10, 12: 11, 13: 11, 20: 12, 21: 20, 22: 21, 23: 22, 30: 13, 31: 30, 32: 31, 40: 11}
    names = {11: ["python"], 20: ["python", "bwrap"], 21: [], 22: ["setpriv", "prlimit", "python"],
             30: ["python", "bwrap"], 32: ["setpriv", "prlimit", "python"], 40: ["git"]}
    assert cpu_by_process.roles(10, parent, names) == {
        11: "coordinator", 12: "workers", 13: "workers", 40: "git",
        20: "launcher + bwrap", 21: "sandbox init", 22: "harness", 23: "task runs",
        30: "launcher + bwrap", 31: "sandbox init", 32: "kept grader-side harness"}
