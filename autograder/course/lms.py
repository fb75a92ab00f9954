"""The course's LMS (Canvas) in and out, through one roster file.

In: ``nbgrader zip_collect ASSIGNMENT`` files a Canvas bulk download ("Download Submissions") into
``submitted/``; ``nbgrader_config.py`` makes :class:`CanvasCollector` its collector. Canvas names
each file ``<name>_<user id>_<attachment id>_<file name>`` (``<name>_LATE_<user id>_...`` when late,
``<file name>-1.ipynb`` when the student uploaded the same name again); the roster maps the Canvas
user id to the nbgrader student id. A file whose user id is not in the roster, or whose name is not
a released notebook, is skipped with a warning.

Out: ``python -m autograder lms export [ASSIGNMENT ...] --lms-id [ASSIGNMENT=]N ...`` writes
``exports/lms_grades.csv``, a Canvas gradebook import: the columns ``Student, ID, SIS User ID, SIS
Login ID, Section`` and one column ``<assignment> (<Canvas assignment id>)`` per assignment (those
named, else every assignment of the gradebook that has a graded submission), a ``Points Possible``
row second (each assignment's maximum score in the gradebook), then one row per roster student
with each score from the gradebook (after nbgrader's late penalty). A cell is left empty, never 0,
when the student has no graded submission of that assignment or when the assignment's grading
report (``exports/grading_report.json`` when it is that assignment's, ``exports/<assignment>/
grading_report.json``, or ``--report``) gives the submission a status other than ``graded`` or
``skipped`` (failed, not graded): the command lists those students and why.

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

from ..classrun.database import shown
from ..classrun.report import export_path
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


def grade_rows(assignment: str, roster: list, gb, db_url: str, report: dict) -> tuple:
    """(points possible, {student_id: score text or ""}, {student_id: why it is empty},
    {students graded}) of ``assignment`` in the open gradebook ``gb``."""
    from nbgrader.api import MissingEntry

    failed = {s: e for s, e in report.get("students", {}).items() if e["status"] not in ("graded", "skipped")}
    cells, empty = {}, {}
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
    return max_score, cells, empty, graded


def number(value: float) -> str:
    return format(round(value, 4), "g")


def read_reports(course: Path, report_paths=None, exported=()) -> dict:
    """``{assignment: grading report}``: the ``report_paths`` given, else those that exist of
    ``exports/<assignment>/grading_report.json`` for each of ``exported``. A report given by path
    must be of an exported assignment."""
    given = report_paths is not None
    paths = list(report_paths) if given else [course / export_path(assignment, "grading_report.json")
                                              for assignment in exported]
    reports = {}
    for path in paths:
        path = Path(path)
        if not path.exists():
            if given:
                raise ValueError(f"no grading report at {path}")
            continue
        report = json.loads(path.read_text(encoding="utf-8"))
        assignment = report.get("assignment")
        if assignment not in exported:
            if given:
                raise ValueError(f"{path} is the report of {assignment!r}, not of an exported assignment "
                                 f"({', '.join(exported)})")
            continue
        if assignment in reports:
            if given:
                raise ValueError(f"two grading reports of {assignment!r}: {reports[assignment][0]} and {path}")
            if reports[assignment][0].stat().st_mtime > path.stat().st_mtime:
                continue  # of two found, the one written last
        reports[assignment] = (path, report)
    return {assignment: report for assignment, (_, report) in reports.items()}


def export(course: Path, lms_ids: dict, assignments: list = None, roster_path: Path = None,
           out: Path = None, db_url: str = None, report_paths: list = None) -> tuple:
    """Write the Canvas gradebook-import CSV, one column per assignment: ``assignments`` (each must
    have a graded submission), else every assignment of the gradebook that has one. ``lms_ids``:
    ``{assignment: Canvas assignment id}`` for each of them. Returns (its path, {assignment:
    {student: why empty}}, [students graded but not in the roster], [assignments not exported:
    nothing graded], [exported assignments without a grading report])."""
    from nbgrader.api import Gradebook

    course = Path(course)
    roster = read_roster(roster_path or course / ROSTER)
    db_url = gradebook_url(course, assignments[0] if assignments and len(assignments) == 1 else None, db_url)
    columns, empty, graded, skipped = [], {}, set(), []
    with Gradebook(db_url) as gb:
        if assignments:
            names = list(dict.fromkeys(assignments))
        else:
            names = sorted(a.name for a in gb.assignments)
            if not names:
                raise NotGraded(f"the gradebook {shown(db_url)} has no assignment: nothing is graded")
        missing = [a for a in names if not lms_ids.get(a)]
        if missing and assignments:
            raise ValueError(f"no Canvas assignment id for {', '.join(missing)}: give --lms-id "
                             + " ".join(f"{a}=ID" for a in missing))
        rows = {}
        for assignment in names:
            found = grade_rows(assignment, roster, gb, db_url, {})
            if not found[3]:
                if assignments:
                    raise NotGraded(f"no graded submission of {assignment!r} in the gradebook", assignment)
                skipped.append(assignment)
                continue
            rows[assignment] = found
        if not rows:
            raise NotGraded(f"no graded submission of {', '.join(names)} in the gradebook",
                            names[0] if len(names) == 1 else None)
        missing = [a for a in rows if not lms_ids.get(a)]
        if missing:
            raise ValueError(f"no Canvas assignment id for {', '.join(missing)}: give --lms-id "
                             + " ".join(f"{a}=ID" for a in missing))
        reports = read_reports(course, report_paths, list(rows))
        for assignment in rows:
            if assignment in reports:  # the grading report's failures are empty cells
                rows[assignment] = grade_rows(assignment, roster, gb, db_url, reports[assignment])
    unknown = sorted(set(lms_ids) - set(rows) - set(skipped))
    if unknown:
        raise ValueError(f"--lms-id for {', '.join(unknown)}, which is not exported "
                         f"(exported: {', '.join(rows)})")
    for assignment, (max_score, cells, why, graded_here) in rows.items():
        columns.append((assignment, max_score, cells))
        empty[assignment] = why
        graded |= graded_here
    unlisted = sorted(graded - {row["student_id"] for row in roster})
    out = out or course / "exports" / "lms_grades.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(CANVAS_FIELDS + [f"{a} ({lms_ids[a]})" for a, _, _ in columns])
        writer.writerow([POINTS_POSSIBLE, "", "", "", ""] + [number(m) for _, m, _ in columns])
        for row in roster:
            writer.writerow([row["name"], row["lms_id"], row["sis_user_id"], row["sis_login_id"],
                             row["section"]] + [cells[row["student_id"]] for _, _, cells in columns])
    unreported = [a for a in rows if a not in reports]
    return out, empty, unlisted, skipped, unreported


def lms_ids(values: list, assignments: list) -> dict:
    """``{assignment: Canvas id}`` from ``--lms-id`` values, each ``ASSIGNMENT=ID``, or a bare ``ID``
    when exactly one assignment is named."""
    ids = {}
    for value in values:
        assignment, sep, lms_id = value.rpartition("=")
        if not sep:
            if len(assignments or ()) != 1 or len(values) != 1:
                raise ValueError(f"--lms-id {value}: say whose id it is, --lms-id ASSIGNMENT={value} "
                                 "(a bare id only when one assignment is named)")
            assignment = assignments[0]
        if not assignment or not lms_id.strip():
            raise ValueError(f"--lms-id {value}: expected ASSIGNMENT=ID")
        if assignment in ids:
            raise ValueError(f"--lms-id given twice for {assignment!r}")
        ids[assignment] = lms_id.strip()
    return ids


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="lms_command", required=True)
    ex = sub.add_parser("export", help="the Canvas gradebook-import CSV (exports/lms_grades.csv), one column per "
                                       "assignment")
    ex.add_argument("assignment", nargs="*",
                    help="assignment ids (default: every assignment of the gradebook "
                         "with a graded submission)")
    ex.add_argument("--lms-id", action="append", default=[], required=True, metavar="[ASSIGNMENT=]ID",
                    help="an assignment's id in Canvas (its column header), one per exported assignment "
                         "(repeatable); a bare ID when one assignment is named")
    ex.add_argument("--course", type=Path, default=Path.cwd(), help="course root (default: .)")
    ex.add_argument("--roster", type=Path, help=f"roster CSV (default: COURSE/{ROSTER})")
    ex.add_argument("--out", type=Path, help="the CSV (default: COURSE/exports/lms_grades.csv)")
    ex.add_argument("--db", help="gradebook URL (default: COURSE_DB_URL, else COURSE/gradebook.db)")
    ex.add_argument("--report", type=Path, action="append", metavar="FILE",
                    help="a grading report (repeatable; default: COURSE/exports/grading_report.json and "
                         "COURSE/exports/<assignment>/grading_report.json, where they exist)")


def run(args) -> int:
    try:
        ids = lms_ids(args.lms_id, args.assignment)
        out, empty, unlisted, skipped, unreported = export(
            args.course, ids, args.assignment or None, args.roster, args.out, args.db, args.report)
    except (OSError, ValueError, NotGraded) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"LMS grades: {out}")
    several = len(empty) > 1
    for assignment, why in empty.items():
        for student, text in sorted(why.items()):
            print(f"  left empty for {student}" + (f" in {assignment}" if several else "") + f": {text}")
    for assignment in unreported:
        print(f"  no grading report of {assignment}: its cells are the gradebook's scores (a failed "
              "grading's recorded scores are not left empty); give it with --report")
    if skipped:
        print(f"  not exported (nothing graded): {', '.join(skipped)}")
    if unlisted:
        print(f"  graded but not in the roster (not exported): {', '.join(unlisted)}")
    return 0
