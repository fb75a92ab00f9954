"""One home for every limit: ``c.GradingLimits`` in the course's nbgrader_config.py.

A limit lowered there is obeyed by ``python -m autograder grade`` (a step that allocates 300 MiB
passes under the default submission budget and fails under a 200 MiB one, while the reference
answers still pass) and shows in every new receipt; ``verify`` regrades under the receipt's limits
and says when they differ from the configuration now. Old names are refused, naming the new
trait, and docs/sandbox.md's table is the one ``GradingLimits`` generates.
"""
import shutil
import subprocess
import sys

import pytest
from traitlets.config import Config

from autograder.classrun import intake, receipt
from autograder.course.submissions import hand_in
from autograder.notebook import expected, limits, reexecute
from support import EXPECTED, ASSIGNMENT, ROOT, env

REFERENCE = expected.load(EXPECTED)["reference"]
HOG = dict(REFERENCE, step4=REFERENCE["step4"] + "\n_hog = b'x' * (300 << 20)")  # 300 MiB, touched
STUDENTS = {"ada": REFERENCE, "hog": HOG}
LOWERED = {"submission_memory_mb": 200, "reexecution_seconds": 9.5, "intake_files": 50}


def autograder(course, *args):
    return subprocess.run([sys.executable, "-m", "autograder", *args, "--course", str(course)],
                          cwd=course, env=env(), capture_output=True, text=True)


def configure(course, values: dict) -> None:
    with open(course / "nbgrader_config.py", "a", encoding="utf-8") as config:
        config.write("".join(f"\nc.GradingLimits.{name} = {value!r}" for name, value in values.items()) + "\n")


def graded_class(course):
    for student, answers in STUDENTS.items():
        hand_in(course, student, answers, ASSIGNMENT)
    run = autograder(course, "grade", ASSIGNMENT)
    assert run.returncode in (0, 1), run.stdout[-3000:] + run.stderr[-3000:]
    return {s: receipt.read(course / "autograded" / s / ASSIGNMENT) for s in STUDENTS}


def points(rec, cell="test_step4"):
    return rec["cells"][cell]["score"]


@pytest.fixture(scope="module")
def default_class(course_template, tmp_path_factory):
    course = shutil.copytree(course_template, tmp_path_factory.mktemp("default") / "course")
    return course, graded_class(course)


@pytest.fixture(scope="module")
def lowered_class(course_template, tmp_path_factory):
    course = shutil.copytree(course_template, tmp_path_factory.mktemp("lowered") / "course")
    configure(course, LOWERED)
    return course, graded_class(course)


@pytest.mark.slow
@pytest.mark.bwrap
def test_receipts_record_the_default_limits(default_class):
    _, found = default_class
    for rec in found.values():
        assert rec["limits"]["grading"] == limits.GradingLimits().in_force()
        assert rec["limits"]["sandbox"] != "none"


@pytest.mark.slow
def test_a_lowered_limit_shows_in_every_new_receipt(lowered_class):
    _, found = lowered_class
    expected_limits = dict(limits.GradingLimits().in_force(), **LOWERED)
    for rec in found.values():
        assert rec["limits"]["grading"] == expected_limits


@pytest.mark.slow
@pytest.mark.root
def test_grade_obeys_the_lowered_submission_budget(default_class, lowered_class):
    _, before = default_class
    _, after = lowered_class
    full = before["ada"]["cells"]["test_step4"]["max_score"]
    assert full > 0
    assert points(before["ada"]) == points(before["hog"]) == full  # 300 MiB fits the default budget
    assert points(after["ada"]) == full                            # the reference still fits 200 MiB
    assert points(after["hog"]) == 0                               # 300 MiB does not
    assert {name: points(after["hog"], name) for name in after["hog"]["cells"] if name != "test_step4"} \
        == {name: points(before["hog"], name) for name in before["hog"]["cells"] if name != "test_step4"}


@pytest.mark.slow
@pytest.mark.root
def test_verify_regrades_under_the_receipts_limits_and_says_they_differ(lowered_class, tmp_path):
    course = shutil.copytree(lowered_class[0], tmp_path / "course")
    same = autograder(course, "verify", ASSIGNMENT)
    assert same.returncode == 0, same.stdout + same.stderr
    assert "differ from the course's configuration" not in same.stdout
    # The course goes back to the defaults: hog's 0 still holds (regraded under its receipt's
    # 200 MiB budget, not today's 2048), and verify says the limits differ, naming each one.
    config = course / "nbgrader_config.py"
    config.write_text(config.read_text().split("\nc.GradingLimits.")[0] + "\n")
    run = autograder(course, "verify", ASSIGNMENT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "hog: verified" in run.stdout and "ada: verified" in run.stdout
    default = limits.GradingLimits()
    for name, value in LOWERED.items():
        assert f"{name} {value} (now {getattr(default, name)})" in run.stdout, run.stdout
    assert run.stdout.count("graded under limits that differ from the course's configuration now; "
                            "regraded under the receipt's") == 2


@pytest.mark.parametrize("old,new", sorted(limits.RENAMED.items()))
def test_an_old_name_is_refused_naming_the_new_trait(old, new):
    section, name = old.split(".")
    config = Config({section: {name: 7}})
    with pytest.raises(limits.RenamedLimit, match=rf"c\.{old} is no longer read: set c\.GradingLimits\.{new}"):
        limits.GradingLimits(config=config)


def test_grade_refuses_an_old_name_before_anyone_is_graded(course):
    hand_in(course, "ada", REFERENCE, ASSIGNMENT)
    with open(course / "nbgrader_config.py", "a", encoding="utf-8") as config:
        config.write("\nc.SandboxedExecute.budget_memory_mb = 4096\n")
    run = autograder(course, "grade", ASSIGNMENT)
    assert run.returncode == 2, run.stdout + run.stderr
    assert ("c.SandboxedExecute.budget_memory_mb is no longer read: set "
            "c.GradingLimits.submission_memory_mb instead") in run.stderr
    assert not (course / "autograded").exists() and not (course / "exports").exists()


def test_the_plain_data_forms_take_their_defaults_from_grading_limits():
    grading = limits.GradingLimits()
    assert reexecute.Limits() == grading.reexecution()
    assert intake.Limits() == intake.Limits(**grading.intake())
    config = Config({"GradingLimits": {"reexecution_memory_mb": 300, "intake_cells": 5}})
    lowered = limits.GradingLimits(config=config)
    assert lowered.reexecution().memory_mb == 300 and lowered.intake()["cells"] == 5
    assert intake.Limits.parse(["files=3"], base=intake.Limits(**lowered.intake())) == intake.Limits(files=3, cells=5)


def test_the_doc_table_is_the_one_grading_limits_generates():
    doc = (ROOT / "docs" / "sandbox.md").read_text(encoding="utf-8")
    start, end = doc.find(limits.TABLE_START), doc.find(limits.TABLE_END)
    assert 0 <= start < end, "docs/sandbox.md has no GradingLimits table"
    assert doc[start:end + len(limits.TABLE_END)] == limits.table(), \
        "docs/sandbox.md's limits table is out of date: paste `python -m autograder.notebook.limits` into it"
    for name in limits.GradingLimits.names():
        assert f"| `{name}` | " in limits.table()


def test_the_kernel_takes_its_time_and_output_limits_from_grading_limits():
    """The kernel preprocessor's time per cell and per notebook and its output caps come from
    c.GradingLimits (their defaults by default), never from the preprocessors' own names."""
    from autograder.notebook.kernel import SandboxedExecute
    default = SandboxedExecute()
    assert (default.timeout, default.notebook_timeout, default.max_cell_chars, default.max_notebook_chars) == tuple(
        limits.GradingLimits.default(name) for name in limits.KERNEL_TRAITS.values())
    lowered = SandboxedExecute(config=Config({"GradingLimits": {
        "kernel_cell_seconds": 7, "kernel_notebook_seconds": 50, "kernel_cell_output_chars": 900,
        "kernel_notebook_output_chars": 5000}}))
    assert (lowered.timeout, lowered.notebook_timeout, lowered.max_cell_chars, lowered.max_notebook_chars) == (
        7, 50, 900, 5000)


@pytest.mark.slow
def test_a_runs_own_timeout_and_intake_limits_show_in_its_receipts(course):
    """`grade --timeout` and `--intake` change the limits of one run: its receipts record the
    values applied, not the course's configuration."""
    hand_in(course, "ada", REFERENCE, ASSIGNMENT)
    run = autograder(course, "grade", ASSIGNMENT, "--timeout", "77", "--intake", "files=50")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    grading = receipt.read(course / "autograded" / "ada" / ASSIGNMENT)["limits"]["grading"]
    assert grading["submission_seconds"] == 77.0 and grading["intake_files"] == 50
    defaults = limits.GradingLimits().in_force()
    assert {k: v for k, v in grading.items() if k not in ("submission_seconds", "intake_files")} == \
        {k: v for k, v in defaults.items() if k not in ("submission_seconds", "intake_files")}
