"""A malformed declaration is refused by `python -m autograder grade` before anyone is graded:
the message names the file and the field, and nothing is written (no export, no autograded
folder, the gradebook byte for byte as it was). And the grader itself names no assignment:
everything it knows of one comes from the declarations."""
import json
import re
import shutil
import subprocess
import sys

import pytest

from autograder.notebook import assignments
from support import ASSIGNMENT, ROOT, env, hand_in

DECLARATION = f"source/{ASSIGNMENT}/{ASSIGNMENT}.grading.json"
QUIZ = f"source/{ASSIGNMENT}/quiz.grading.json"
NUMPY = "source/numpy_seeds/numpy_seeds.grading.json"


def _steps(data):
    return data["steps"]


BREAKAGES = {  # what is broken -> (file, change to its JSON, the field the message must name)
    "unknown check kind": (DECLARATION, lambda d: _steps(d)[2]["check"].update(kind="telepathy"),
                           "steps[2] (step3).check.kind"),
    "a test cell that does not exist": (DECLARATION, lambda d: _steps(d)[3]["tests"].append("test_step9"),
                                        "steps[3].tests"),
    "after an unknown step": (DECLARATION, lambda d: _steps(d)[2]["before"].append("step0"),
                              "steps[2] (step3).before"),
    "a bad seed count": (DECLARATION, lambda d: d.update(secret_seeds=0), "secret_seeds"),
    "a check missing a parameter": (DECLARATION, lambda d: _steps(d)[2]["check"].pop("high"),
                                    "steps[2] (step3).check"),
    "a quiz question without an answer cell": (QUIZ, lambda d: d["questions"].append(
        {"id": "q11", "tests": ["test_q11"], "title": "Question 11"}), "questions[10].id"),
    "a stale derived file": (DECLARATION, lambda d: _steps(d)[2]["check"].update(high=99), "(derived)"),
    "not JSON": (DECLARATION, None, "(file)"),
    "a check on a name the step does not report": (DECLARATION, lambda d: _steps(d)[2].update(reports=[]),
                                                   "steps[2] (step3).check.name"),
    "one test cell in two steps": (DECLARATION, lambda d: _steps(d)[3].update(tests=["test_step3"]),
                                   "steps[3] (step4).tests"),
    "a graded cell no step judges": (DECLARATION, lambda d: _steps(d)[3].update(tests=[]), "steps"),
    "a parameter of the wrong type": (DECLARATION, lambda d: _steps(d)[1]["check"].update(seed="42"),
                                      "steps[1] (step2).check.seed"),
    "a reseed factory that does not exist": (NUMPY, lambda d: _steps(d)[0]["reseed"].update(
        factory="numpy.random.no_such_rng"), "steps[0] (step1).reseed.factory"),
}


@pytest.fixture(scope="module")
def handed_in(course_template, tmp_path_factory):
    course = shutil.copytree(course_template, tmp_path_factory.mktemp("refused") / "course")
    reference = json.loads((ROOT / "source" / ASSIGNMENT / f"{ASSIGNMENT}.expected.json").read_text())["reference"]
    hand_in(course, "ada", reference)
    return course


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_grade_refuses_a_broken_declaration_and_writes_nothing(handed_in, tmp_path, breakage):
    course = shutil.copytree(handed_in, tmp_path / "course")
    name, change, field = BREAKAGES[breakage]
    path = course / name
    if change is None:
        path.write_text("{ not json", encoding="utf-8")
    else:
        data = json.loads(path.read_text(encoding="utf-8"))
        change(data)
        path.write_text(json.dumps(data), encoding="utf-8")
    gradebook = (course / "gradebook.db").read_bytes()
    before = sorted(p.relative_to(course) for p in course.rglob("*"))
    assignment = path.parent.name
    run = subprocess.run([sys.executable, "-m", "autograder", "grade", assignment], cwd=course, env=env(),
                         capture_output=True, text=True)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "nothing was graded" in run.stderr and f"{path}: {field}: " in run.stderr, run.stderr
    assert (course / "gradebook.db").read_bytes() == gradebook
    assert sorted(p.relative_to(course) for p in course.rglob("*")) == before


def test_the_untouched_course_is_graded(handed_in, tmp_path):
    """The control: the same course without a breakage grades (so the refusals above are the
    declarations' doing)."""
    course = shutil.copytree(handed_in, tmp_path / "course")
    run = subprocess.run([sys.executable, "-m", "autograder", "grade", ASSIGNMENT], cwd=course, env=env(),
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 graded, 0 skipped, 0 failed" in run.stdout


def _grader_text() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in sorted((ROOT / "autograder").rglob("*.py")))


def test_the_grader_names_no_assignment_notebook_cell_or_variable():
    text = _grader_text()
    names = set()
    for assignment in assignments.names(ROOT / "source"):
        names.add(assignment)
        for graded in assignments.declared(ROOT / "source", assignment):
            names.add(graded.notebook + ".ipynb")
            names.update(graded.tests)
            for part in graded.parts:
                names.add(part["id"])
                names.update(part.get("reports", ()))
                names.update(str(v) for k, v in part.get("check", {}).items() if k != "kind" and isinstance(v, str))
    assert len(names) > 20
    found = sorted(name for name in names if re.search(r"(?<![\w.])%s(?![\w])" % re.escape(name), text))
    # library names and plain words the check kinds' generic messages use ("np.random.randint",
    # "the scores", "in order"), never as a name the grader looks up
    assert set(found) <= {"np", "random", "order", "scores"}, found
    assert not re.search(r"test_(step|q)\d|\"test_\"|'test_'|startswith\(\"test_", text)


def test_grade_refuses_a_course_config_that_does_not_load(handed_in, tmp_path):
    """nbgrader itself logs a config file that raises and grades with its stock settings (the
    hidden tests in an unsandboxed kernel); the course's grade command stops instead."""
    course = shutil.copytree(handed_in, tmp_path / "course")
    with open(course / "nbgrader_config.py", "a", encoding="utf-8") as config:
        config.write("\nimport a_module_that_is_not_there\n")
    before = sorted(p.relative_to(course) for p in course.rglob("*"))
    run = subprocess.run([sys.executable, "-m", "autograder", "grade", ASSIGNMENT], cwd=course, env=env(),
                         capture_output=True, text=True)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "nbgrader_config.py cannot be loaded, nothing was graded" in run.stderr
    assert "a_module_that_is_not_there" in run.stderr
    assert sorted(p.relative_to(course) for p in course.rglob("*")) == before


def test_a_step_no_seed_reaches_is_refused_when_derived(tmp_path):
    """Without step 1's reseed the secret seeds never reach the generator: a typed-in answer
    would pass every run. `expected` refuses to derive such a declaration, naming the step."""
    source = shutil.copytree(ROOT / "source", tmp_path / "source")
    path = source / "numpy_seeds" / "numpy_seeds.grading.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    del data["steps"][0]["reseed"]
    path.write_text(json.dumps(data), encoding="utf-8")
    stored = (source / "numpy_seeds" / "numpy_seeds.expected.json").read_bytes()
    run = subprocess.run([sys.executable, "-m", "autograder", "expected", "numpy_seeds", "--course", str(tmp_path)],
                         env=env(), capture_output=True, text=True)
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"{path}: steps[1] (step2).constant: its reference outcome is the same under every seed" in run.stderr
    assert (source / "numpy_seeds" / "numpy_seeds.expected.json").read_bytes() == stored
