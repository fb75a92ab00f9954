"""The assignment as data: its steps live in one declaration beside the source notebook.

A throwaway fifth step, added in a temp course by editing only the declaration, the source
notebook and the derived data, is graded by the real ``nbgrader autograde`` with no code change.
"""
import json
import shutil
import subprocess
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell

from autograder.notebook import expected, steps
from support import EXPECTED, DECLARATION, ASSIGNMENT, ROOT, env, fill, nbgrader, release_notebook, step_scores, submit

STEP5 = "more_scores = [random.randint(0, 10) for _ in range(3)]"


def test_the_declaration_stays_out_of_the_release(course_template):
    assert DECLARATION.is_file()
    for release in (ROOT / "release" / ASSIGNMENT, course_template / "release" / ASSIGNMENT):
        assert not list(release.glob("*.grading.json"))


def test_a_bad_declaration_is_refused():
    data = json.loads(DECLARATION.read_text(encoding="utf-8"))
    data["steps"][1]["check"] = {"kind": "seeded-generator", "module": "random"}  # no seed
    with pytest.raises(ValueError, match="takes exactly"):
        steps.declaration(data)
    data["steps"][1]["check"] = {"kind": "telepathy"}
    with pytest.raises(ValueError, match="unknown check kind"):
        steps.declaration(data)


@pytest.fixture(scope="module")
def five_steps(course_template, tmp_path_factory):
    course = shutil.copytree(course_template, tmp_path_factory.mktemp("five") / "course")
    folder = course / "source" / ASSIGNMENT
    nb = nbformat.read(folder / "reproducibility.ipynb", as_version=4)
    nb.cells += [
        new_markdown_cell("## Step 5 — three more scores\n\nDraw three whole numbers from 0 to 10 "
                          "into a list `more_scores`."),
        new_code_cell("### BEGIN SOLUTION\n" + STEP5 + "\n### END SOLUTION", metadata={"nbgrader": {
            "grade": False, "grade_id": "step5", "locked": False, "schema_version": 3, "solution": True}}),
        new_code_cell("# Check step 5: decided outside the kernel.", metadata={"nbgrader": {
            "grade": True, "grade_id": "test_step5", "locked": True, "points": 2, "schema_version": 3,
            "solution": False}}),
    ]
    nbformat.write(nb, folder / "reproducibility.ipynb")
    declaration = json.loads((folder / "reproducibility.grading.json").read_text(encoding="utf-8"))
    declaration["steps"].append({
        "id": "step5", "title": "Step 5", "tests": ["test_step5"], "before": ["step1"],
        "imports": ["random"], "reports": ["more_scores"],
        "check": {"kind": "scores", "name": "more_scores", "count": 3, "low": 0, "high": 10}})
    (folder / "reproducibility.grading.json").write_text(json.dumps(declaration), encoding="utf-8")
    subprocess.run([sys.executable, "-m", "autograder.notebook.expected", ASSIGNMENT], cwd=course,
                   check=True, env=env(), capture_output=True)
    nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    reference = expected.load(EXPECTED)["reference"]
    for student, step5 in {"right": STEP5, "typed_in": f"more_scores = {_draws(42)}",
                           "blank": "raise NotImplementedError()"}.items():
        submit(course, student, fill(release_notebook(course), dict(reference, step5=step5)))
    nbgrader(course, "autograde", ASSIGNMENT)
    return course, step_scores(course)


def _draws(seed):
    import random
    rng = random.Random(seed)
    return [rng.randint(0, 10) for _ in range(3)]


@pytest.mark.slow
def test_a_fifth_step_is_graded_from_the_declaration_alone(five_steps):
    course, table = five_steps
    assert not list((course / "release" / ASSIGNMENT).glob("*.grading.json"))
    for student in ("right", "typed_in", "blank"):
        assert [table[student][f"test_step{n}"] for n in (1, 2, 3, 4)] == [1, 2, 3, 2], student
    assert table["right"]["test_step5"] == 2
    assert table["typed_in"]["test_step5"] == 0 and table["blank"]["test_step5"] == 0
    nb = nbformat.read(course / "autograded" / "typed_in" / ASSIGNMENT / "reproducibility.ipynb", as_version=4)
    (out,) = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_step5").outputs
    assert "seed-42 numbers even when the generator is seeded differently" in out.evalue
