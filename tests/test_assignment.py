"""End to end: submissions graded by the real `nbgrader autograde` in a throwaway course.

One autograde run grades the whole class (each nbgrader process costs seconds); the tests then
read the gradebook. Expected points come from the notebook's own point values, not typed in.
"""
import random

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from autograder.notebook import expected
from corpus import reproducibility
from support import EXPECTED, ASSIGNMENT, fill, nbgrader, release_notebook, run_every_notebook, step_scores, submit

pytestmark = pytest.mark.slow  # every test reads one graded class (about 2 minutes)

REFERENCE = reproducibility.REFERENCE
SCORES_42 = [v for _, v in expected.load(EXPECTED)["outcomes"]["step3"]["names"]["accuracy_scores"][1]]  # derived, test_expected.py
STEP_TESTS = ["test_step1", "test_step2", "test_step3", "test_step4"]


def answers(**changes):
    return {**REFERENCE, **changes}


def with_tags(nb, tag="skip-execution"):
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id", "").startswith("test_"):
            cell.metadata["tags"] = [tag]
    return nb


def with_cell_after(nb, grade_id, source):
    index = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    nb.cells.insert(index + 1, new_code_cell(source))
    return nb


def without_cell(nb, grade_id):
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != grade_id]
    return nb


# student -> (how to build the notebook from the release, steps that earn their points)
CASES = {
    "reference": (lambda rel: fill(rel, REFERENCE), {1, 2, 3, 4}),
    "unmodified": (lambda rel: fill(rel, {}), set()),
    "no_seed": (lambda rel: fill(rel, answers(step2=reproducibility.STEP2_NO_SEED)), {1, 3, 4}),
    "seed_7": (lambda rel: fill(rel, answers(step2=reproducibility.STEP2_SEED_7)), {1, 3, 4}),
    "hard_coded": (lambda rel: fill(rel, answers(
        step3=f"accuracy_scores = {SCORES_42}", step4=f"print('{SCORES_42}')")), {1, 2}),
    "range_6": (lambda rel: fill(rel, answers(
        step3=reproducibility.STEP3_RANGE_6)), {1, 2, 4}),
    "randint_0_100": (lambda rel: fill(rel, answers(
        step3="for i in range(5):\n    accuracy_scores.append(random.randint(0, 100))")), {1, 2, 4}),
    "comprehension": (lambda rel: fill(rel, answers(
        step3="accuracy_scores = [random.randint(80, 100) for _ in range(5)]")), {1, 2, 3, 4}),
    "patched_randint": (lambda rel: fill(rel, answers(step3=(
        f"_numbers = iter({SCORES_42})\nrandom.randint = lambda low, high: next(_numbers)\n"
        + REFERENCE["step3"]))), {1, 2, 4}),
    "lying_list": (lambda rel: fill(rel, answers(step3=(
        "class AlwaysEqual(list):\n    def __eq__(self, other):\n        return True\n"
        "accuracy_scores = AlwaysEqual([1, 2, 3, 4, 5])"))), {1, 2, 4}),
    "exits_early": (lambda rel: fill(rel, answers(
        step3=f"accuracy_scores = {SCORES_42}\nraise SystemExit(0)")), {1, 2, 4}),
    "skip_tagged": (lambda rel: with_tags(fill(rel, {})), set()),
    "input_transformer": (lambda rel: with_cell_after(fill(rel, {"step1": REFERENCE["step1"]}), "step1",
        "get_ipython().input_transformers_post.append(lambda lines: [])"), {1}),
    "infinite_loop": (lambda rel: fill(rel, answers(step3="while True:\n    pass")), {1, 2, 4}),
    "kernel_dies": (lambda rel: fill(rel, answers(step3="import os\nos._exit(1)")), {1, 2, 4}),
    "deleted_test": (lambda rel: without_cell(fill(rel, answers(step3=f"accuracy_scores = {SCORES_42}")),
                                              "test_step3"), {1, 2, 4}),
    # hands in its own checks.py (FORGED_CHECKS), whose every visible check "passes"
    "forged_checks": (lambda rel: fill(rel, answers(step2=reproducibility.STEP2_NO_SEED)), {1, 3, 4}),
}
FORGED_CHECKS = "def step(n):\n    print(f'Step {n} looks right')\n"


@pytest.fixture(scope="module")
def graded(course_template, tmp_path_factory):
    """The class above plus a non-JSON submission, autograded in one run."""
    import shutil
    course = shutil.copytree(course_template, tmp_path_factory.mktemp("graded") / "course")
    release = release_notebook(course)
    for student, (build, _) in CASES.items():
        submit(course, student, build(release))
    (course / "submitted" / "forged_checks" / ASSIGNMENT / "checks.py").write_text(FORGED_CHECKS)
    submit(course, "not_json", "{ this is not a notebook")
    run = nbgrader(course, "autograde", ASSIGNMENT, check=False)
    return course, run


def points():
    nb = nbformat.read(release_notebook_from_repo(), as_version=4)
    return {c.metadata.nbgrader["grade_id"]: c.metadata.nbgrader["points"]
            for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}


def release_notebook_from_repo():
    from support import ROOT
    return ROOT / "release" / ASSIGNMENT / "reproducibility.ipynb"


@pytest.mark.parametrize("student", CASES)
def test_step_scores_are_exact(graded, student):
    course, _ = graded
    earned = CASES[student][1]
    value = points()
    want = {f"test_step{n}": (value[f"test_step{n}"] if n in earned else 0) for n in (1, 2, 3, 4)}
    got = {name: score for name, score in step_scores(course)[student].items() if name in want}
    assert got == want


def test_broken_notebook_costs_only_its_student(graded):
    course, run = graded
    assert run.returncode != 0, "nbgrader reports the failed submission"
    assert "not_json" in run.stderr
    assert not (course / "autograded" / "not_json" / ASSIGNMENT / "reproducibility.ipynb").exists()
    assert all((course / "autograded" / s / ASSIGNMENT / "reproducibility.ipynb").exists() for s in CASES)


def autograded_cell(course, student, grade_id):
    nb = nbformat.read(course / "autograded" / student / ASSIGNMENT / "reproducibility.ipynb", as_version=4)
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


@pytest.mark.parametrize("student, grade_id, words", [
    ("no_seed", "test_step2", "random.seed(42) is missing"),
    ("seed_7", "test_step2", "seeded with 7"),
    ("hard_coded", "test_step3", "seed-42 numbers even when the generator is seeded differently"),
    ("range_6", "test_step3", "range(6)"),
    ("randint_0_100", "test_step3", "random.randint(0, 100)"),
    ("lying_list", "test_step3", "not a plain list"),
    ("exits_early", "test_step3", "calls exit()"),
    ("infinite_loop", "test_step3", "time limit"),
    ("kernel_dies", "test_step3", "ended before the grader could look"),
    ("unmodified", "test_step1", "not answered yet"),
])
def test_failed_checks_teach(graded, student, grade_id, words):
    course, _ = graded
    cell = autograded_cell(course, student, grade_id)
    assert [o.output_type for o in cell.outputs] == ["error"]
    assert words in cell.outputs[0].evalue


def test_deleted_test_cell_is_restored_and_autograded(graded):
    course, _ = graded
    cell = autograded_cell(course, "deleted_test", "test_step3")
    assert "missing from the submission" in cell.source
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        grade = gb.find_grade("test_step3", "reproducibility", ASSIGNMENT, "deleted_test")
        assert grade.needs_manual_grade is False and grade.auto_score == 0


def test_regrading_gives_the_same_points(graded):
    course, _ = graded
    before = step_scores(course)
    for student in ("reference", "patched_randint", "kernel_dies"):
        nbgrader(course, "autograde", ASSIGNMENT, "--force", "--student", student)
    after = step_scores(course)
    assert after == before


def test_the_step_notebook_is_not_run_and_running_it_changes_no_score(graded, tmp_path):
    """Every grade cell of the step notebook is decided outside the kernel, so no kernel starts
    for it (no cell has an execution count); graded with every notebook run in the kernel, the
    class gets the same points."""
    import shutil
    course, _ = graded
    executed = shutil.copytree(course, tmp_path / "course")
    run_every_notebook(executed)
    nbgrader(executed, "autograde", ASSIGNMENT, "--force", check=False)
    for folder, ran in ((course, False), (executed, True)):
        nb = nbformat.read(folder / "autograded" / "reference" / ASSIGNMENT / "reproducibility.ipynb", 4)
        assert any(c.execution_count for c in nb.cells if c.cell_type == "code") is ran
    assert step_scores(executed) == step_scores(course)
    # The visible checks are one line calling checks.py, and a checks.py handed in runs in the
    # kernel: it still decides nothing (the verdict is the grader's).
    forged = autograded_cell(executed, "forged_checks", "test_step2")
    assert forged.source.splitlines()[0] == "import checks; checks.step(2)"
    assert [o.output_type for o in forged.outputs] == ["error"]
    assert "random.seed(42) is missing" in forged.outputs[0].evalue


def test_autograded_notebook_records_no_scores_of_another_seed(graded):
    """The secret seeds' outcomes stay in the grader: the hard-coded student's notebook holds the
    seed-42 numbers they typed, and the scores of no other seed (checked for 2026 and 0..99)."""
    course, _ = graded
    text = (course / "autograded" / "hard_coded" / ASSIGNMENT / "reproducibility.ipynb").read_text()
    assert str(SCORES_42).strip("[]") in text
    for seed in [2026, *range(100)]:
        rng = random.Random(seed)
        scores = [rng.randint(80, 100) for _ in range(5)]
        assert seed == 42 or str(scores).strip("[]") not in text
