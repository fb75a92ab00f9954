"""The course layer names no assignment: a course whose second assignment is a copy of the first
under another name (``source/<COPY>/``, nothing inside renamed) is released, graded, reported,
given feedback and a dashboard, exported to the LMS and packed into the student kit exactly like
the first, by ``python -m autograder demo``'s code and the commands, with no name typed into
``autograder/``. The copy's grades equal the original's, student by student and cell by cell.
"""
import contextlib
import csv
import html
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.notebook import assignments
from autograder.classrun.gradebook import cell_scores
from autograder.course import demo, kit, lms
from support import ASSIGNMENT, ROOT, env

COPY = "seeds_copy"  # a name that appears nowhere in autograder/
NAMES = sorted([ASSIGNMENT, COPY])

pytestmark = pytest.mark.slow  # releases and grades a course of two assignments (about 30 s)


def quiz_declaration(source: Path) -> None:
    """Until the course declares its quiz (quiz.grading.json), one derived from the quiz notebook's
    graded cells, so that a column holding several test cells is exercised too."""
    if (source / "quiz.grading.json").exists() or not (source / "quiz.ipynb").exists():
        return
    nb = nbformat.read(source / "quiz.ipynb", as_version=4)
    tests = [c.metadata.nbgrader["grade_id"] for c in nb.cells
             if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"]
    questions = [{"id": t.removeprefix("test_"), "tests": [t], "title": f"Question {n}"}
                 for n, t in enumerate(tests, start=1)]
    assert len(questions) >= 2, tests
    (source / "quiz.grading.json").write_text(json.dumps({"notebook": "quiz.ipynb", "questions": questions}))


@pytest.fixture(scope="module")
def demoed(tmp_path_factory):
    root = tmp_path_factory.mktemp("repo")
    shutil.copy(ROOT / "nbgrader_config.py", root)
    for name in NAMES:
        shutil.copytree(ROOT / "source" / ASSIGNMENT, root / "source" / name)
        quiz_declaration(root / "source" / name)
        shutil.copytree(ROOT / "examples" / ASSIGNMENT, root / "examples" / name)
    shown = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(shown):
        mp.delenv("COURSE_DB_URL", raising=False)
        mp.chdir(root)
        status = demo.main(root)
    course = root / demo.DEMO_DIR
    return {"root": root, "course": course, "status": status, "shown": shown.getvalue(),
            "class": demo.example_class(root, ASSIGNMENT),
            "reports": {a: json.loads((course / "exports" / a / "grading_report.json").read_text())
                        for a in NAMES}}


def test_the_copy_is_an_assignment_of_its_own():
    assert COPY not in "".join(p.read_text() for p in (ROOT / "autograder").rglob("*.py"))
    source = ROOT / "source"
    assert assignments.titles(source, ASSIGNMENT), "the assignment declares its test cells"


def test_demo_releases_and_grades_every_assignment(demoed):
    assert demoed["status"] == 0, demoed["shown"]
    course = demoed["course"]
    for name in NAMES:
        assert sorted(p.name for p in (course / "release" / name).glob("*.ipynb")) == sorted(
            p.name for p in (course / "source" / name).glob("*.ipynb")), name
    url = f"sqlite:///{course / 'gradebook.db'}"
    original, copy = cell_scores(url, ASSIGNMENT), cell_scores(url, COPY)
    assert sorted(original) == sorted(demoed["class"])
    assert copy == original  # same notebooks, same answers: the same points, whatever the name
    assert len({score for cells in original.values() for score, _ in cells.values()}) > 1


def test_each_assignments_table_is_headed_by_its_declared_columns(demoed):
    parts = re.split(r"\n(\S+): Autograding ", demoed["shown"])[1:]
    assert parts[::2] == NAMES  # an assignment's table, then the next one's
    for name, table in zip(parts[::2], parts[1::2]):
        header = next(line for line in table.splitlines() if line.startswith("student"))
        heads = list(dict.fromkeys(assignments.columns(demoed["course"] / "source", name).values()))
        assert len(heads) < len(assignments.columns(demoed["course"] / "source", name))  # a column of several
        assert header.split() == ["student", *heads, "total", "status"], (name, header)
        for student, entry in demoed["reports"][name]["students"].items():
            row = next(line for line in table.splitlines() if line.startswith(student + " "))
            assert row.split()[len(heads) + 1] == "%g/%g" % (entry["score"], entry["max_score"])


def test_feedback_pages_are_titled_by_each_assignments_declaration(demoed):
    course = demoed["course"]
    for name in NAMES:
        titles = assignments.titles(course / "source", name)
        for student, entry in demoed["reports"][name]["students"].items():
            pages = sorted((course / "feedback" / student / name).glob("*.html"))
            assert [p.stem for p in pages] == sorted(p.stem for p in (course / "release" / name).glob("*.ipynb"))
            shown = {}
            for page in pages:
                text = page.read_text()
                assert f"assignment <b>{name}</b>" in text
                for item, points in re.findall(r"<tr><td>(.*?)</td><td class=\"\w+\">(.*?)</td>", text):
                    shown[html.unescape(item)] = points
            assert shown == {titles[g]: "%g / %g" % (c["score"], c["max_score"])
                             for g, c in entry["cells"].items()}, (name, student)


def test_each_dashboard_lists_its_items_in_declaration_order(demoed):
    course = demoed["course"]
    for name in NAMES:
        page = (course / "exports" / name / "dashboard.html").read_text()
        assert f"<h1>Class dashboard: {name}</h1>" in page
        rates = page.split('id="pass-rates"')[1].split("</table>")[0]
        titles = assignments.titles(course / "source", name)
        assert re.findall(r'<tr data-item="([^"]+)"><td>([^<]*)</td>', rates) == list(titles.items())


def write_roster(course: Path, students: list) -> list:
    rows = [[s, f"Name {s}", str(100 + n), "", "", "A"] for n, s in enumerate(students)]
    (course / "lms").mkdir(exist_ok=True)
    with open(course / "lms" / "roster.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([lms.ROSTER_FIELDS, *rows])
    return rows


def export(course, *args):
    environ = env()
    environ.pop("COURSE_DB_URL", None)
    return subprocess.run([sys.executable, "-m", "autograder", "lms", "export", *args], cwd=course,
                          env=environ, capture_output=True, text=True)


def test_lms_csv_has_one_column_per_assignment(demoed):
    course = demoed["course"]
    roster = write_roster(course, sorted(demoed["class"]) + ["zoe_absent"])
    ids = {ASSIGNMENT: "111", COPY: "222"}
    proc = export(course, *[f"--lms-id={a}={i}" for a, i in ids.items()])  # every assignment of the gradebook
    assert proc.returncode == 0, proc.stderr
    with open(course / "exports" / "lms_grades.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == lms.CANVAS_FIELDS + [f"{a} ({ids[a]})" for a in NAMES]
    reports = demoed["reports"]
    assert rows[1] == [lms.POINTS_POSSIBLE, "", "", "", ""] + [
        "%g" % max(e["max_score"] for e in reports[a]["students"].values()) for a in NAMES]
    assert [row[:5] for row in rows[2:]] == [r[1:] for r in roster]
    for row, (student, *_) in zip(rows[2:], roster):
        for cell, name in zip(row[5:], NAMES):
            entry = reports[name]["students"].get(student)
            assert cell == ("" if entry is None else "%g" % entry["score"]), (student, name)
    assert "left empty for zoe_absent in %s: no graded submission" % COPY in proc.stdout
    assert "no grading report" not in proc.stdout  # exports/<assignment>/grading_report.json found
    # one column when one is named; its id may then be bare
    proc = export(course, COPY, "--lms-id", "222", "--out", "one.csv")
    assert proc.returncode == 0, proc.stderr
    assert next(csv.reader(open(course / "one.csv")))[5:] == [f"{COPY} (222)"]


def test_lms_export_refuses_an_assignment_without_its_canvas_id(demoed):
    course = demoed["course"]
    write_roster(course, sorted(demoed["class"]))
    for args, words in [((f"--lms-id={ASSIGNMENT}=111",), f"no Canvas assignment id for {COPY}"),
                        (("--lms-id", "111"), "a bare id only when one assignment is named"),
                        ((ASSIGNMENT, f"--lms-id={COPY}=222"), f"no Canvas assignment id for {ASSIGNMENT}")]:
        (course / "exports" / "lms_grades.csv").unlink(missing_ok=True)
        proc = export(course, *args)
        assert proc.returncode == 2 and words in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
        assert not (course / "exports" / "lms_grades.csv").exists()


def test_the_kit_holds_every_released_assignment_and_no_grader_file(demoed):
    course = demoed["course"]
    for folder in ("lab", "notebooks"):  # the rest of a course's student files
        shutil.copytree(ROOT / folder, course / folder, dirs_exist_ok=True)
    files = kit.kit_files(course)
    for name in NAMES:
        released = {f"release/{name}/{p.name}" for p in (course / "release" / name).iterdir() if p.is_file()}
        assert {f"release/{name}/{p.name}" for p in (course / "source" / name).glob("*.ipynb")} <= released
        assert released <= set(files), name
    assert not [n for n in files if n.endswith((".grading.json", ".expected.json"))]
    assert kit.unreleased(course) == [] and kit.find_secrets(files, course) == []
    # a grader-side file of either assignment, put into the kit, is refused by its name
    for name in NAMES:
        declaration = next((course / "source" / name).glob("*.grading.json"))
        planted = dict(files, **{f"release/{name}/{declaration.name}": b"{}"})
        assert f"release/{name}/{declaration.name}: instructor or grader-side file" in kit.find_secrets(
            planted, course)


def test_no_kit_without_the_release_of_every_assignment(demoed, tmp_path):
    course = tmp_path / "course"
    shutil.copytree(demoed["course"] / "source", course / "source")
    shutil.copytree(demoed["course"] / "release" / ASSIGNMENT, course / "release" / ASSIGNMENT)
    assert [m.split(":")[0] for m in kit.unreleased(course)] == [COPY]
    with pytest.raises(RuntimeError, match=f"{COPY}: not released"):
        kit.build(tmp_path / "dist", course)
    assert not (tmp_path / "dist").exists()
