"""Build submissions from the student version by filling answer cells by grade_id."""
import shutil
from pathlib import Path

import nbformat


def fill(release_notebook: Path, answers: dict):
    """The release notebook with the cells named in ``answers`` (grade_id -> source) replaced."""
    nb = nbformat.read(release_notebook, as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    return nb


def submit(course: Path, student: str, nb, assignment: str, notebook: str) -> Path:
    """Write ``nb`` (a notebook node, or raw text for a broken file) where nbgrader looks for
    ``student``'s ``notebook`` (a file name, e.g. ``x.ipynb``) of ``assignment``."""
    folder = Path(course, "submitted", student, assignment)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    path = folder / notebook
    if isinstance(nb, str):
        path.write_text(nb, encoding="utf-8")
    else:
        nbformat.write(nb, path)
    return path


def hand_in(course: Path, student: str, answers: dict, assignment: str) -> Path:
    """Submit every notebook of the released assignment, each with its cells in ``answers`` filled."""
    folder = Path(course, "submitted", student, assignment)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for notebook in sorted(Path(course, "release", assignment).glob("*.ipynb")):
        nbformat.write(fill(notebook, answers), folder / notebook.name)
    return folder
