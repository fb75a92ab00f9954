"""The committed notebooks: clean, the release in sync with source, validate behaves."""
from pathlib import Path

import nbformat
import pytest

from autograder.notebook import expected
from support import ASSIGNMENT, ROOT, nbgrader

NOTEBOOKS = sorted(p for folder in ("source", "release", "notebooks") for p in (ROOT / folder).rglob("*.ipynb")
                   if ".ipynb_checkpoints" not in p.parts)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"cells {dirty} have outputs or execution counts: clear them before committing"


def files(folder: Path) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_release_is_exactly_what_generate_assignment_makes(course_template):
    generated = files(course_template / "release" / ASSIGNMENT)
    committed = files(ROOT / "release" / ASSIGNMENT)
    assert sorted(committed) == sorted(generated)
    stale = [str(name) for name in generated if committed[name] != generated[name]]
    assert not stale, f"release/ is stale, run `python -m autograder release`: {stale}"


def test_release_holds_no_solutions_hidden_tests_or_expected_values():
    """The lesson may teach the code in prose; the answer cells must come blank, and neither the
    markers nor the seed-42 scores may appear anywhere."""
    data = expected.load()
    seed_42_scores = [value for _, value in data["outcomes"]["step3"]["names"]["accuracy_scores"][1]]
    assert len(seed_42_scores) == 5
    for path in (ROOT / "release" / ASSIGNMENT).rglob("*.ipynb"):
        cells = nbformat.read(path, as_version=4).cells
        text = "\n".join(cell.source for cell in cells)
        for secret in ["BEGIN SOLUTION", "BEGIN HIDDEN TESTS", str(seed_42_scores).strip("[]")]:
            assert secret not in text, f"{path.name} reveals {secret!r}"
        answers = [cell.source for cell in cells if cell.metadata.get("nbgrader", {}).get("solution")]
        for step, solution in data["reference"].items():
            assert not any(solution in answer for answer in answers), f"{path.name} ships the {step} solution"


def test_validate_passes_on_the_source_notebook(course_template):
    run = nbgrader(course_template, "validate", str(course_template / "source" / ASSIGNMENT / "reproducibility.ipynb"))
    assert "Success! Your notebook passes all the tests." in run.stdout


def test_validate_fails_every_step_on_the_blank_release(course_template):
    blank = str(course_template / "release" / ASSIGNMENT / "reproducibility.ipynb")
    assert "VALIDATION FAILED ON 4 CELL(S)" in nbgrader(course_template, "validate", blank).stdout
    inverted = nbgrader(course_template, "validate", "--invert", blank).stdout
    assert "Success! The notebook does not pass any tests." in inverted
