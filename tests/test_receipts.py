"""Grading receipts and ``python -m autograder verify``, with the real class-grading command.

A small class is graded by ``python -m autograder grade`` in a throwaway course (which writes a
receipt per submission); ``verify`` then regrades every submission from its receipt. A copy of
the graded course, with one submitted byte changed and receipts that record another grader,
environment or points, must fail naming each difference; so must a copy whose gradebook or
``exports/<assignment>/grades.csv`` was edited behind verify's back, while scores entered by hand pass and are
listed.
"""
import csv
import hashlib
import json
import shutil
import subprocess
import sys

import pytest

from nbgrader.api import Gradebook

from autograder.notebook import reexecution_seeds
from autograder.classrun import receipt
from autograder.course.submissions import hand_in
from corpus import reproducibility
from support import ASSIGNMENT, ROOT, env, nbgrader, release_notebook

REFERENCE = reproducibility.REFERENCE
STUDENTS = {
    "ada": REFERENCE,
    "ben": dict(REFERENCE, step2=reproducibility.STEP2_NO_SEED),
    "cy": dict(REFERENCE, step3="accuracy_scores = [100, 83, 80, 88, 87]"),
    "dee": dict(REFERENCE, step4="import os, sys\nprint(os.getcwd(), sys.argv, dict(os.environ), "
                                 "open('/proc/1/cmdline', 'rb').read(), random.getstate()[1][:4])"),
}


def autograder(course, *args):
    return subprocess.run([sys.executable, "-m", "autograder", *args, "--course", str(course)],
                          cwd=course, env=env(), capture_output=True, text=True)


def receipts(course):
    return {s: receipt.read(course / "autograded" / s / ASSIGNMENT) for s in STUDENTS}


def blocks(stdout):
    """{student: verify's lines about them}."""
    found, student = {}, None
    for line in stdout.splitlines():
        if not line.startswith(" "):
            student = line.split(": ")[0] if ": " in line and not line.startswith("note: ") else None
        if student:
            found[student] = found.get(student, "") + line + "\n"
    return found


@pytest.fixture(scope="module")
def graded(course_template, tmp_path_factory):
    course = shutil.copytree(course_template, tmp_path_factory.mktemp("receipts") / "course")
    for student, answers in STUDENTS.items():
        hand_in(course, student, answers, ASSIGNMENT)
    run = autograder(course, "grade", ASSIGNMENT)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return course, receipts(course)


def test_a_receipt_records_what_the_points_rest_on(graded):
    course, found = graded
    lock = hashlib.sha256((ROOT / "requirements.lock").read_bytes()).hexdigest()
    for student, rec in found.items():
        submitted = course / "submitted" / student / ASSIGNMENT
        assert rec["submitted"] == {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                                    for p in submitted.iterdir() if p.is_file()}
        assert rec["environment"]["requirements_lock"] == lock
        assert rec["grader"] == receipt.grader(course / "source" / ASSIGNMENT)
        assert rec["commit"] == receipt.commit(course)  # the course's checkout (this copy is in none)
        assert rec["seeds"][0] == 42 and len(rec["seeds"]) == len(set(rec["seeds"])) >= 3
        assert rec["limits"]["grading"]["reexecution_seconds"] > 0
        assert {"test_step1", "test_step4"} <= set(rec["cells"])
    assert found["ben"]["cells"]["test_step2"]["score"] == 0 and found["ada"]["cells"]["test_step2"]["score"] == 2
    assert len({rec["seeds"][1] for rec in found.values()}) == len(found), "fresh secret seeds per submission"


def test_verify_passes_on_a_graded_class(graded):
    course, _ = graded
    run = autograder(course, "verify", ASSIGNMENT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert all(f"{s}: verified" in run.stdout for s in STUDENTS)


def test_verify_names_what_differs(graded, tmp_path):
    course = shutil.copytree(graded[0], tmp_path / "course")
    notebook = course / "submitted" / "ada" / ASSIGNMENT / "reproducibility.ipynb"
    data = notebook.read_bytes()
    changed = data.replace(b"Scenario", b"Scenaria", 1)  # one byte of a markdown cell
    assert len(changed) == len(data) and sum(x != y for x, y in zip(data, changed)) == 1
    notebook.write_bytes(changed)
    edits = {"ben": lambda r: r["grader"].update(code="0" * 64),
             "cy": lambda r: (r["environment"].update(python="2.7.18"),
                              r["cells"]["test_step3"].update(score=3.0))}
    for student, edit in edits.items():
        folder = course / "autograded" / student / ASSIGNMENT
        rec = receipt.read(folder)
        edit(rec)
        receipt.write(folder, rec)
    run = autograder(course, "verify", ASSIGNMENT, "--student", "ada", "--student", "ben", "--student", "cy")
    assert run.returncode == 1, run.stdout + run.stderr
    found = blocks(run.stdout)
    assert all(found[s].startswith(f"{s}: DIFFERS") for s in ("ada", "ben", "cy")), run.stdout
    assert "submitted file reproducibility.ipynb changed" in found["ada"]
    assert "points of" not in found["ada"]  # a markdown byte changes no point
    assert "the grader's code changed" in found["ben"] and "points of" not in found["ben"]
    assert "environment changed: python 2.7.18" in found["cy"]
    assert ("points of test_step3 in reproducibility.ipynb differ: receipt 3.0, regraded 0.0, gradebook 0.0"
            in found["cy"])
    assert "0 of 3 verified" in run.stdout


@pytest.mark.slow
def test_forced_regrades_give_the_same_seeds_and_points_and_a_new_key_new_seeds(graded, tmp_path):
    """The secret seeds derive from the course's key (0600) and the submitted files."""
    course = shutil.copytree(graded[0], tmp_path / "course")
    key = course / reexecution_seeds.KEY_FILE
    assert key.stat().st_mode & 0o777 == 0o600
    rounds = []
    for _ in range(2):
        run = autograder(course, "grade", ASSIGNMENT, "--force")
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        rounds.append(receipts(course))
    key.unlink()  # a new key: new secret seeds, the same points for these answers
    run = autograder(course, "grade", ASSIGNMENT, "--force")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    first, second, third = *rounds, receipts(course)
    for student in STUDENTS:
        assert first[student]["cells"] == second[student]["cells"] == third[student]["cells"] \
            == graded[1][student]["cells"]
        assert first[student]["seeds"] == second[student]["seeds"] == graded[1][student]["seeds"]
        assert not set(first[student]["seeds"][1:]) & set(third[student]["seeds"])


def test_no_secret_in_the_grading_report_or_the_autograded_notebooks(graded):
    """dee's step 4 prints what it can reach; no secret seed (from the receipts), no reference
    solution and no course path may end up in the report, and no secret seed in any notebook."""
    course, found = graded
    report = (course / "exports" / ASSIGNMENT / "grading_report.json").read_text(encoding="utf-8")
    notebooks = [p.read_text(encoding="utf-8") for p in (course / "autograded").rglob("*.ipynb")]
    key = (course / reexecution_seeds.KEY_FILE).read_text(encoding="ascii").strip()
    for rec in found.values():
        assert all(str(seed) not in text for seed in rec["seeds"][1:] for text in [report, *notebooks])
        assert key not in json.dumps(rec)
    assert all(key not in text for text in [report, *notebooks])
    public = release_notebook(course).read_text(encoding="utf-8")
    for source in REFERENCE.values():
        assert source in public or json.dumps(source)[1:-1] not in report
    # what the submissions put there: every student's entry (the header names the course folder)
    assert str(course) not in json.dumps(json.loads(report)["students"])


# -- verify against the gradebook and grades.csv ---------------------------------------------
CLASS = {"ada": REFERENCE, "blank": {}, "noquiz": REFERENCE, "lost": REFERENCE}


@pytest.fixture(scope="module")
def checked_class(course_template, tmp_path_factory):
    """Graded: ada (every step), blank (nothing answered), noquiz (no quiz.ipynb: failed, its steps
    graded, a receipt) and lost (quiz.ipynb not JSON: failed, nothing recorded, no receipt)."""
    course = shutil.copytree(course_template, tmp_path_factory.mktemp("verify") / "course")
    for student, answers in CLASS.items():
        hand_in(course, student, answers, ASSIGNMENT)
    (course / "submitted" / "noquiz" / ASSIGNMENT / "quiz.ipynb").unlink()
    (course / "submitted" / "lost" / ASSIGNMENT / "quiz.ipynb").write_text("{not json", encoding="utf-8")
    run = autograder(course, "grade", ASSIGNMENT)
    assert run.returncode == 1 and "2 graded, 0 skipped, 2 failed" in run.stdout, run.stdout + run.stderr
    assert (course / "autograded" / "noquiz" / ASSIGNMENT / receipt.NAME).is_file()
    assert not (course / "autograded" / "lost" / ASSIGNMENT).exists()
    return course


def gradebook(course):
    return Gradebook(f"sqlite:///{course / 'gradebook.db'}")


def edit_csv(course, edits):
    """Rewrite exports/<assignment>/grades.csv with ``edits`` ({student: {column: text}}; a new student is a new row)."""
    path = course / "exports" / ASSIGNMENT / "grades.csv"
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields, rows = reader.fieldnames, list(reader)
    for student, cells in edits.items():
        row = next((r for r in rows if r["student_id"] == student), None)
        if row is None:
            row = dict(dict.fromkeys(fields, ""), assignment=ASSIGNMENT, student_id=student)
            rows.append(row)
        row.update(cells)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


@pytest.mark.slow
def test_verify_checks_the_gradebook_and_grades_csv_of_an_untouched_class(checked_class):
    run = autograder(checked_class, "verify", ASSIGNMENT)
    assert run.returncode == 0, run.stdout + run.stderr
    found = blocks(run.stdout)
    assert all(found[s] == f"{s}: verified, every point matches\n" for s in ("ada", "blank", "noquiz")), run.stdout
    assert found["lost"] == "lost: no receipt, and no points to prove\n"
    assert "3 of 3 verified; 1 without a receipt claim no points" in run.stdout
    assert "SAWarning" not in run.stdout + run.stderr


@pytest.mark.slow
def test_verify_fails_on_a_gradebook_edited_behind_its_back(checked_class, tmp_path):
    course = shutil.copytree(checked_class, tmp_path / "course")
    with gradebook(course) as gb:
        gb.find_grade("test_step2", "reproducibility", ASSIGNMENT, "blank").auto_score = 2.0
        gb.find_grade("test_step1", "reproducibility", ASSIGNMENT, "lost").auto_score = 1.0
        gb.db.commit()
    run = autograder(course, "verify", ASSIGNMENT)
    assert run.returncode == 1, run.stdout + run.stderr
    found = blocks(run.stdout)
    assert found["blank"] == ("blank: DIFFERS\n  - points of test_step2 in reproducibility.ipynb differ: "
                              "receipt 0.0, regraded 0.0, gradebook 2.0\n"), run.stdout
    assert found["lost"] == ("lost: DIFFERS\n  - no receipt (autograded/lost/reproducibility/receipt.json)\n"
                             "  - points of test_step1 in reproducibility.ipynb have no receipt: gradebook 1.0\n")
    assert found["ada"] == "ada: verified, every point matches\n"
    assert "2 of 4 verified" in run.stdout


@pytest.mark.slow
def test_verify_fails_on_an_edited_grades_csv(checked_class, tmp_path):
    course = shutil.copytree(checked_class, tmp_path / "course")
    edit_csv(course, {"blank": {"raw_score": "9.0", "score": "9.0"}, "noquiz": {"status": "graded"},
                      "mallory": {"raw_score": "18.0", "late_submission_penalty": "0.0", "score": "18.0"}})
    run = autograder(course, "verify", ASSIGNMENT)
    assert run.returncode == 1, run.stdout + run.stderr
    found = blocks(run.stdout)
    assert found["blank"] == ("blank: DIFFERS\n"
                              "  - grades.csv raw_score 9.0 differs: receipt 0.0, regraded 0.0, gradebook 0.0\n"
                              "  - grades.csv score 9.0 differs: receipt 0.0, regraded 0.0, gradebook 0.0, "
                              "late penalty 0.0\n"), run.stdout
    assert found["noquiz"] == ("noquiz: DIFFERS\n  - grades.csv status 'graded' differs: receipt "
                               "'failed: notebook missing', regraded 'failed: notebook missing'\n")
    assert found["mallory"].startswith("mallory: DIFFERS\n  - no receipt")
    assert "grades.csv raw_score 18.0 differs: gradebook none, no receipt" in found["mallory"]
    assert found["ada"] == "ada: verified, every point matches\n"


@pytest.mark.slow
def test_verify_lists_scores_changed_by_hand_and_passes(checked_class, tmp_path):
    course = shutil.copytree(checked_class, tmp_path / "course")
    with gradebook(course) as gb:
        gb.find_grade("test_step2", "reproducibility", ASSIGNMENT, "blank").manual_score = 1.5
        gb.find_grade("test_q01", "quiz", ASSIGNMENT, "ada").extra_credit = 0.5
        gb.db.commit()
    hand = "  changed by hand (nbgrader records no author or time):\n"
    for exported in (False, True):
        run = autograder(course, "verify", ASSIGNMENT)
        assert run.returncode == 0, run.stdout + run.stderr
        found = blocks(run.stdout)
        assert found["blank"].startswith("blank: verified, every point matches\n" + hand +
                                         "    test_step2 in reproducibility.ipynb: manual score 1.5 "
                                         "(autograded 0.0)\n"), run.stdout
        assert found["ada"].startswith("ada: verified, every point matches\n" + hand +
                                       "    test_q01 in quiz.ipynb: extra credit 0.5\n")
        stale = "  note: grades.csv gives raw_score 0.0, the total before the changes by hand (gradebook now 1.5)"
        assert (stale in found["blank"]) is not exported
        if not exported:  # a rerun skips every graded submission and exports the gradebook again
            rerun = autograder(course, "grade", ASSIGNMENT)
            assert "2 skipped" in rerun.stdout, rerun.stdout + rerun.stderr


@pytest.mark.slow
def test_verify_says_when_stock_autograde_left_no_receipt(graded, tmp_path):
    """Stock ``nbgrader autograde --force`` deletes a student's receipt: verify says so and how
    to get one back, and the grade command's regrade verifies again."""
    course = shutil.copytree(graded[0], tmp_path / "course")
    nbgrader(course, "autograde", ASSIGNMENT, "--force", "--student", "ada")
    assert not (course / "autograded" / "ada" / ASSIGNMENT / receipt.NAME).exists()
    run = autograder(course, "verify", ASSIGNMENT, "--student", "ada")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "stock `nbgrader autograde`" in run.stdout
    assert "python -m autograder grade --force --student ada" in run.stdout
    assert autograder(course, "grade", ASSIGNMENT, "--force", "--student", "ada").returncode == 0
    run = autograder(course, "verify", ASSIGNMENT, "--student", "ada")
    assert run.returncode == 0, run.stdout + run.stderr


def test_verify_says_when_the_declaration_changed_since_the_grading(graded, tmp_path):
    """The receipt pins the assignment's declarations and derived expected values: a declaration
    edited (and re-derived) after the grading is named, for every student."""
    course = shutil.copytree(graded[0], tmp_path / "course")
    path = course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.grading.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["steps"][3]["title"] = "Step four"  # changes no point: only the pinned data differs
    path.write_text(json.dumps(data), encoding="utf-8")
    derived = autograder(course, "expected", ASSIGNMENT)
    assert derived.returncode == 0, derived.stdout + derived.stderr
    run = autograder(course, "verify", ASSIGNMENT, "--student", "ada")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "the assignment's declarations or derived expected values changed" in blocks(run.stdout)["ada"]
