"""One hostile class graded with ``python -m autograder grade`` beside two honest students.

The course lives on a 1 GiB tmpfs this module mounts (and the run's TMPDIR too), so a regression
fills that, not the machine's disk. Attackers: notebooks linked to ``source/`` three ways, a linked
submission folder, extra files linked to the quiz key and the gradebook, a link to ``/dev/zero``,
a 20,000-level nested notebook, a non-UTF-8 student folder, the student id ``*`` (intake), and the
sandbox attacks of ``test_budget`` (memfd past the budget, ``unshare -Urm`` + tmpfs, comm and
display-update floods, a kernel filling its connection folder, a log forger, twenty sleeping
cells). Each gets at most its own 0 with a reason naming the rule or limit; the honest grades
equal stock ``nbgrader autograde``'s; course files, the honest students' files and log lines are
untouched; peak memory, disk and time are measured and checked against the bounds in
docs/sandbox.md ("A class run").
"""
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from autograder.classrun import intake
from autograder.notebook.limits import GradingLimits
from corpus import reproducibility
from corpus.attacks import ATTACKS, MARK_BYTES, STEP1_EARNED
from support import (ASSIGNMENT, ROOT, env, fill, nbgrader, release_notebook, run_every_notebook,
                     step_scores, submit)
from support import hand_in_main as hand_in

pytestmark = [pytest.mark.root, pytest.mark.bwrap]  # a tmpfs of its own; the sandbox's attacks

CLASS = reproducibility.EXAMPLE_CLASS
sleeper = reproducibility.sleeper

WORKERS = 2
TIMEOUT = 300          # --timeout of this run (seconds per submission)
NOTEBOOK_BUDGET = 45   # c.GradingLimits.kernel_notebook_seconds of this course
HONEST = {"ada": CLASS["ada"], "ben_forgot_seed": CLASS["ben_forgot_seed"]}
SOURCE_NB = Path("source") / ASSIGNMENT / "reproducibility.ipynb"
INTAKE_RULES = {
    "link_absolute": "intake: not a regular file",
    "link_relative": "intake: not a regular file",
    "link_proc_cwd": "intake: not a regular file",
    "linked_folder": "intake: linked folder",
    "extra_links": "intake: not a regular file",
    "dev_zero": "intake: not a regular file",
    "deep_nesting": "intake: notebook nested too deep",
    "caf\\xe9": "intake: student id",
    "*": "intake: student id",
}


def submit_with_quiz(course: Path, student: str, notebook) -> None:
    """Submit ``notebook`` as the main notebook, and the rest of the release as released."""
    folder = submit(course, student, notebook).parent
    for other in release_notebook(course).parent.glob("*.ipynb"):
        if other.name != release_notebook(course).name:
            shutil.copy(other, folder / other.name)


def honest_copy(course: Path, student: str, answers: dict) -> Path:
    hand_in(course, student, answers)
    return course / "submitted" / student / ASSIGNMENT


def make_class(course: Path) -> None:
    for student, answers in HONEST.items():
        hand_in(course, student, answers)
    for student, target in (("link_absolute", course / SOURCE_NB),
                            ("link_relative", Path("../../..") / SOURCE_NB),
                            ("link_proc_cwd", Path("/proc/self/cwd") / SOURCE_NB)):
        folder = honest_copy(course, student, {})
        (folder / "reproducibility.ipynb").unlink()
        (folder / "reproducibility.ipynb").symlink_to(target)
    (course / "submitted" / "linked_folder").mkdir()
    (course / "submitted" / "linked_folder" / ASSIGNMENT).symlink_to(course / "source" / ASSIGNMENT)
    extra = honest_copy(course, "extra_links", HONEST["ada"])
    (extra / "quiz.expected.json").symlink_to(ROOT / "source" / ASSIGNMENT / "quiz.expected.json")
    (extra / "gradebook.db").symlink_to(course / "gradebook.db")
    (honest_copy(course, "dev_zero", HONEST["ada"]) / "zero").symlink_to("/dev/zero")
    deep = b'{"cells": [], "metadata": {"x": ' + b"[" * 20000 + b"]" * 20000 + b'}, "nbformat": 4}'
    (honest_copy(course, "deep_nesting", {}) / "reproducibility.ipynb").write_bytes(deep)
    for raw in (b"caf\xe9", b"*"):
        shutil.copytree(course / "submitted" / "ada", course / "submitted" / os.fsdecode(raw))
    release = release_notebook(course)
    for student, attack in ATTACKS.items():
        submit_with_quiz(course, student, fill(release, reproducibility.attacked(attack)))
    submit_with_quiz(course, "sleeps_20_cells", sleeper(release))


def tree_digest(folder: Path) -> dict:
    """{path: sha256 or link target} of everything under ``folder``, never following a link."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(os.fsencode(folder)):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                found[path] = "link:" + os.fsdecode(os.readlink(path))
            elif os.path.isfile(path):
                with open(path, "rb") as fh:
                    found[path] = hashlib.sha256(fh.read()).hexdigest()
    return found


class Peak:
    """Peak RSS of a process tree and peak bytes used on a filesystem, sampled every 0.2 s."""

    def __init__(self, pid: int, disk: Path):
        self.pid, self.disk = pid, disk
        self.base = shutil.disk_usage(disk).used
        self.rss = self.used = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.done.wait(0.2):
            try:
                root = psutil.Process(self.pid)
                family = [root] + root.children(recursive=True)
            except psutil.Error:
                continue
            rss = 0
            for proc in family:
                try:
                    rss += proc.memory_info().rss
                except psutil.Error:
                    pass
            self.rss = max(self.rss, rss)
            self.used = max(self.used, shutil.disk_usage(self.disk).used - self.base)

    def stop(self):
        self.done.set()
        self.thread.join()


@pytest.fixture(scope="module")
def graded(course_template, small_disk, tmp_path_factory):
    course = Path(shutil.copytree(course_template, small_disk / "course"))
    run_every_notebook(course)
    with open(course / "nbgrader_config.py", "a", encoding="utf-8") as config:
        config.write("\nc.GradingLimits.kernel_notebook_seconds = %d\n" % NOTEBOOK_BUDGET)
    make_class(course)
    stock = tmp_path_factory.mktemp("stock") / "course"
    shutil.copytree(course, stock, symlinks=True, ignore=lambda folder, names: [
        n for n in names if Path(folder).name == "submitted" and n not in HONEST])
    before = {part: tree_digest(course / part) for part in ("source", "release", "submitted")}
    config_before = (course / "nbgrader_config.py").read_bytes()
    tmp = small_disk / "tmp"
    tmp.mkdir()
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--workers",
                             str(WORKERS), "--timeout", str(TIMEOUT)], cwd=course, env=env(TMPDIR=str(tmp)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    peak = Peak(proc.pid, small_disk)
    try:
        out, err = proc.communicate(timeout=3600)
    finally:
        peak.stop()
        proc.kill()
    seconds = time.monotonic() - started
    nbgrader(stock, "autograde", ASSIGNMENT, check=False)
    report = json.loads((course / "exports" / ASSIGNMENT / "grading_report.json").read_text(encoding="utf-8"))
    print("hostile class: %d submissions, %.0f s, peak RSS of the process tree %.0f MiB, "
          "peak disk %.1f MiB" % (len(report["students"]), seconds, peak.rss / (1 << 20), peak.used / (1 << 20)))
    return {"course": course, "stock": stock, "returncode": proc.returncode, "out": out.decode(),
            "err": err.decode(), "report": report["students"], "summary": report["summary"],
            "before": before, "config_before": config_before, "seconds": seconds,
            "rss": peak.rss, "disk": peak.used, "tmp": tmp,
            "log": (course / "exports" / ASSIGNMENT / "grade.log").read_bytes()}


def test_the_run_finished_and_reported_every_student(graded):
    assert graded["returncode"] == 1, graded["err"][-3000:]
    expected = set(HONEST) | set(INTAKE_RULES) | set(ATTACKS) | {"sleeps_20_cells"}
    assert set(graded["report"]) == expected
    assert "caf\\xe9" in graded["out"]  # the table shows the escaped name
    csv_text = (graded["course"] / "exports" / ASSIGNMENT / "grades.csv").read_text(encoding="utf-8")
    assert "caf\\xe9" in csv_text and "failed: intake: student id" in csv_text


def test_honest_grades_equal_stock_nbgrader(graded):
    ours, stock = step_scores(graded["course"]), step_scores(graded["stock"])
    for student in HONEST:
        assert ours[student] == stock[student]
        assert graded["report"][student]["status"] == "graded"
    assert sum(v for k, v in ours["ada"].items() if k.startswith("test_step")) == 8


@pytest.mark.parametrize("student", sorted(INTAKE_RULES))
def test_intake_rejects_with_the_rule_and_copies_nothing(graded, student):
    entry = graded["report"][student]
    assert (entry["status"], entry["reason"]) == ("failed", INTAKE_RULES[student])
    assert entry["detail"] and entry["score"] is None and entry["cells"] == {}
    assert not (graded["course"] / "autograded" / student).exists()
    scores = step_scores(graded["course"]).get(student)
    if scores is not None:  # valid ids: a flagged submission with nothing scored
        assert not any(scores.values()), scores


def test_a_rejected_submission_is_marked_in_the_gradebook(graded):
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{graded['course'] / 'gradebook.db'}") as gb:
        submission = gb.find_submission(ASSIGNMENT, "link_absolute")
        notebook = submission.notebooks[0]
        assert notebook.flagged and all(g.needs_manual_grade for g in notebook.grades)
        assert all(c.auto_comment.startswith("Autograding failed: intake: not a regular file")
                   for c in notebook.comments)
        assert {s.id for s in gb.students} >= set(HONEST) and "*" not in {s.id for s in gb.students}


@pytest.mark.parametrize("student", sorted(ATTACKS) + ["sleeps_20_cells"])
def test_sandbox_attackers_lose_at_most_the_attacked_step(graded, student):
    scores = step_scores(graded["course"])[student]
    steps = {k: v for k, v in scores.items() if k.startswith("test_step")}
    attacked = 1 if student in STEP1_EARNED | {"sleeps_20_cells"} else 0
    assert steps == {"test_step1": attacked, "test_step2": 2, "test_step3": 3, "test_step4": 2}


def test_reasons_name_the_limit(graded):
    report = graded["report"]
    said = {s: json.dumps(report[s]) for s in report}
    assert "memory budget" in said["memfd_3gib"]
    assert "output limit" in said["comm_flood"] and "output limit" in said["display_flood"]
    assert "time budget of %d s ran out" % NOTEBOOK_BUDGET in said["sleeps_20_cells"]


def test_course_and_other_students_files_are_unchanged(graded):
    course = graded["course"]
    assert (course / "nbgrader_config.py").read_bytes() == graded["config_before"]
    for part, digest in graded["before"].items():
        assert tree_digest(course / part) == digest, part
    for path in course.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.stat().st_size < (64 << 20):
            assert MARK_BYTES not in path.read_bytes(), path
    leftovers = [p for p in (course / "autograded").rglob(".*") if ".tmp-" in p.name or ".old-" in p.name]
    assert leftovers == []
    assert list(graded["tmp"].iterdir()) == []  # every temporary course and worker folder is gone


def test_log_lines_are_each_students_own(graded):
    lines = graded["log"].decode("utf-8").splitlines()
    assert MARK_BYTES.decode() not in graded["log"].decode("utf-8")
    students = set(graded["report"])
    for line in lines:
        head = line.split(": ", 1)[0]
        assert head in students or line.startswith(("raw stderr of worker", "ERROR")), line
    for student in HONEST:
        own = [line for line in lines if line.startswith(student + ": ")]
        assert own and not any(other in line for line in own for other in ATTACKS), own


def test_peak_memory_disk_and_time_stay_within_the_documented_bounds(graded):
    """Bounds, not a speed target: each derives from documented limits (the time bound is the
    per-task --timeout for each round of workers, plus start-up), and no task hit its timeout."""
    mib = 1 << 20
    memory_bound = (WORKERS * (GradingLimits.default("submission_memory_mb") + 1024) + 1024) * mib
    disk_bound = WORKERS * (3 * intake.Limits().total_bytes + 256 * mib) + len(graded["report"]) * 2 * mib
    tasks = sum(not (e["reason"] or "").startswith("intake:") for e in graded["report"].values())
    time_bound = math.ceil(tasks / WORKERS) * TIMEOUT + 120
    assert graded["rss"] <= memory_bound, (graded["rss"] / mib, memory_bound / mib)
    assert graded["disk"] <= disk_bound, (graded["disk"] / mib, disk_bound / mib)
    assert graded["seconds"] <= time_bound, (graded["seconds"], time_bound)
    over = [s for s, e in graded["report"].items() if "grading took longer than" in (e["detail"] or "")]
    assert over == [], over  # no task hit --timeout: each attack was stopped by its own limit
