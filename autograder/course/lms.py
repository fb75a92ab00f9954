"""The course's LMS (Canvas) in and out, through one roster file.

In: ``nbgrader zip_collect ASSIGNMENT`` files a Canvas bulk download ("Download Submissions") into
``submitted/``; ``nbgrader_config.py`` makes :class:`CanvasCollector` its collector. Canvas names
each file ``<name>_<user id>_<attachment id>_<file name>`` (``<name>_LATE_<user id>_...`` when late,
``<file name>-1.ipynb`` when the student uploaded the same name again); the roster maps the Canvas
user id to the nbgrader student id. A file whose user id is not in the roster, or whose name is not
a released notebook, is skipped with a warning.

Out: ``python -m autograder lms export ASSIGNMENT --lms-id N`` writes ``exports/lms_grades.csv``,
a Canvas gradebook import: the columns ``Student, ID, SIS User ID, SIS Login ID, Section`` and
``<assignment> (<Canvas assignment id>)``, a ``Points Possible`` row second, then one row per roster
student with the score from the gradebook (after nbgrader's late penalty). The cell is left empty,
never 0, when the student has no graded submission or when ``exports/grading_report.json`` gives
the submission a status other than ``graded`` or ``skipped`` (failed, not graded): the command
lists those students and why.

The roster (default ``lms/roster.csv`` at the course root) is a CSV with the header
``student_id,name,lms_id,sis_user_id,sis_login_id,section``: the nbgrader student id (the folder in
``submitted/``), the name as Canvas shows it, the Canvas user id (the ``ID`` column of Canvas's grade
export), the SIS user and login ids (may be empty) and the section.

A missing or malformed roster, gradebook or assignment, or nothing graded, stops either command
with a message that names the file and what to do (docs/lms.md), never a traceback.
"""
import argparse
import csv
import json
import os
import re
import sys
from pathlib import Path

from nbgrader.plugins import FileNameCollectorPlugin
from traitlets import Unicode

from .feedback import NotGraded, find_assignment, gradebook_url

ROSTER = Path("lms") / "roster.csv"
ROSTER_FIELDS = ["student_id", "name", "lms_id", "sis_user_id", "sis_login_id", "section"]
CANVAS_FIELDS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
POINTS_POSSIBLE = "Points Possible"
CANVAS_NAME = re.compile(r"^(?P<name>.+?)_(?:late_)?(?P<lms_id>\d+)_(?P<attachment>\d+)_"
                         r"(?P<stem>.+?)(?:-\d+)?(?P<ext>\.[A-Za-z0-9]+)$", re.IGNORECASE)


def read_roster(path: Path) -> list:
    """The roster's rows (dicts with ROSTER_FIELDS); a missing file or column or a duplicate id is
    a ValueError that says what to do."""
    if not Path(path).is_file():
        raise ValueError(f"no LMS roster at {path}: the LMS commands need one, a CSV with the header "
                         f"{','.join(ROSTER_FIELDS)} and a row per student; docs/lms.md says how to "
                         "make it from Canvas's grade export")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [f for f in ROSTER_FIELDS if f not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; the header must be "
                             f"{','.join(ROSTER_FIELDS)}")
        rows = [{f: (row[f] or "").strip() for f in ROSTER_FIELDS} for row in reader]
    for field in ("student_id", "lms_id"):
        seen = [r[field] for r in rows]
        duplicates = sorted({v for v in seen if seen.count(v) > 1})
        if duplicates:
            raise ValueError(f"{path}: {field} repeated: {', '.join(duplicates)}")
    return rows


class CanvasCollector(FileNameCollectorPlugin):
    """``nbgrader zip_collect``'s collector for Canvas file names, students named by the roster."""

    roster = Unicode(str(ROSTER), help="roster CSV, relative to the course root (see autograder/course/lms.py)"
                     ).tag(config=True)

    def collect(self, submitted_file: str):
        if os.path.splitext(submitted_file)[1] not in self.valid_ext:
            return None
        match = CANVAS_NAME.match(os.path.basename(submitted_file))
        if match is None:
            self.log.warning("Not a Canvas submission file name: %s", submitted_file)
            return None
        path = Path(self.parent.coursedir.root, self.roster)
        try:
            students = {row["lms_id"]: row["student_id"] for row in read_roster(path)}
        except (OSError, ValueError) as exc:
            self.parent.fail(str(exc))  # logs it and exits 1, no traceback
        student = students.get(match["lms_id"])
        if student is None:
            self.log.warning("Canvas user %s is not in the roster %s; skipped %s",
                             match["lms_id"], path, submitted_file)
            return None
        return {"student_id": student, "file_id": match["stem"] + match["ext"]}


def grade_rows(assignment: str, roster: list, db_url: str, report: dict) -> tuple:
    """(points possible, {student_id: score text or ""}, {student_id: why it is empty},
    [students graded but not in the roster])."""
    from nbgrader.api import Gradebook, MissingEntry

    failed = {s: e for s, e in report.get("students", {}).items() if e["status"] not in ("graded", "skipped")}
    cells, empty = {}, {}
    with Gradebook(db_url) as gb:
        max_score = find_assignment(gb, assignment, db_url).max_score
        for row in roster:
            student = row["student_id"]
            if student in failed:
                entry = failed[student]
                cells[student], empty[student] = "", f"{entry['status']}: {entry['reason']} ({entry['detail']})"
                continue
            try:
                submission = gb.find_submission(assignment, student)
            except MissingEntry:
                cells[student], empty[student] = "", "no graded submission"
                continue
            score = max(0.0, submission.score - (submission.late_submission_penalty or 0.0))
            cells[student] = number(score)
        graded = {s.student.id for s in gb.assignment_submissions(assignment)}
    if not graded:
        raise NotGraded(f"no graded submission of {assignment!r} in the gradebook", assignment)
    unlisted = sorted(graded - {row["student_id"] for row in roster})
    return max_score, cells, empty, unlisted


def number(value: float) -> str:
    return format(round(value, 4), "g")


def export(course: Path, assignment: str, lms_assignment_id: str, roster_path: Path = None,
           out: Path = None, db_url: str = None, report_path: Path = None) -> tuple:
    """Write the Canvas gradebook-import CSV; returns (its path, {student: why empty}, [not in roster])."""
    course = Path(course)
    roster = read_roster(roster_path or course / ROSTER)
    report_path = report_path or course / "exports" / "grading_report.json"
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.exists() else {}
    if report and report.get("assignment") != assignment:
        raise ValueError(f"{report_path} is the report of {report.get('assignment')!r}, not {assignment!r}")
    db_url = gradebook_url(course, assignment, db_url)
    max_score, cells, empty, unlisted = grade_rows(assignment, roster, db_url, report)
    out = out or course / "exports" / "lms_grades.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(CANVAS_FIELDS + [f"{assignment} ({lms_assignment_id})"])
        writer.writerow([POINTS_POSSIBLE, "", "", "", "", number(max_score)])
        for row in roster:
            writer.writerow([row["name"], row["lms_id"], row["sis_user_id"], row["sis_login_id"],
                             row["section"], cells[row["student_id"]]])
    return out, empty, unlisted


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="lms_command", required=True)
    ex = sub.add_parser("export", help="the Canvas gradebook-import CSV (exports/lms_grades.csv)")
    ex.add_argument("assignment", help="assignment id, e.g. reproducibility")
    ex.add_argument("--lms-id", required=True, help="the assignment's id in Canvas (its column header)")
    ex.add_argument("--course", type=Path, default=Path.cwd(), help="course root (default: .)")
    ex.add_argument("--roster", type=Path, help=f"roster CSV (default: COURSE/{ROSTER})")
    ex.add_argument("--out", type=Path, help="the CSV (default: COURSE/exports/lms_grades.csv)")
    ex.add_argument("--db", help="gradebook URL (default: COURSE_DB_URL, else COURSE/gradebook.db)")


def run(args) -> int:
    try:
        out, empty, unlisted = export(args.course, args.assignment, args.lms_id, args.roster, args.out, args.db)
    except (OSError, ValueError, NotGraded) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"LMS grades: {out}")
    for student, why in sorted(empty.items()):
        print(f"  left empty for {student}: {why}")
    if unlisted:
        print(f"  graded but not in the roster (not exported): {', '.join(unlisted)}")
    return 0
