"""``python -m autograder verify ASSIGNMENT [--student ID ...] [--course DIR] [--csv PATH]``: prove the grades.

Each graded cell's points must agree in four places: the student's receipt
(``autograded/<student>/<assignment>/receipt.json``, :mod:`autograder.classrun.receipt`), a regrade of
the submission as it is now with the receipt's seeds (:func:`autograder.classrun.task.grade`: a
temporary course, fresh sandboxed processes), the auto score in the gradebook (the course's
database, ``gradebook.db`` or ``COURSE_DB_URL``, read once per run) and the student's row of
``exports/grades.csv`` (total, late penalty, score, status). The submitted files, the grader's code
and data and the environment must be the ones the receipt recorded. The regrade runs under the
limits the receipt records (every ``c.GradingLimits`` value the grading ran under); where they are
not the course's configuration now, a note says which, with both values.

- A manual score or extra credit in the gradebook is no difference: it is listed as changed by
  hand, cell and value (nbgrader records no author or time for a grade). grades.csv gives the
  gradebook's total with it or, exported before it, the receipt's total (then a note says so).
- A failed submission's points are its receipt's; a grading that recorded none wrote no receipt,
  and a student without one whom the gradebook or grades.csv gives points is a difference (a grade
  nobody can prove).
- A missing grades.csv is a note (``grade`` writes it after every run); a student with a receipt
  missing from it is a difference.

Exit status 0 when every point matches and nothing changed; 1 naming each difference (student,
notebook and cell, the receipt's, the regrade's, the gradebook's and grades.csv's values); 2 when
there is nothing to check.
"""
import argparse
import math
import sys
from pathlib import Path

from ..notebook.limits import GradingLimits, RenamedLimit
from . import gradebook, receipt, report, task
from .status import GRADED, NO_SUBMISSION, SKIPPED, Status

HAND = "changed by hand (nbgrader records no author or time)"


def receipt_differences(course: Path, snapshot: dict, student: str, recorded: dict) -> tuple:
    """(what differs between the receipt ``recorded`` and the submission, grader, environment and
    a regrade now; the regrade's result)."""
    submitted = course / snapshot["paths"]["submitted"].replace(task.SUBMITTED, student)
    found = []
    now = receipt.files(submitted)
    for name in sorted(set(now) | set(recorded["submitted"])):
        if name not in now:
            found.append(f"submitted file {name} is missing")
        elif name not in recorded["submitted"]:
            found.append(f"submitted file {name} was added")
        elif now[name] != recorded["submitted"][name]:
            found.append(f"submitted file {name} changed (sha256 {now[name][:12]}, receipt {recorded['submitted'][name][:12]})")
    grader = receipt.grader(course / snapshot["paths"]["source"])
    what = {"code": "the grader's code changed (autograder/*.py)",
            "data": "the assignment's declarations or derived expected values changed "
                    "(source/<assignment>/*.grading.json, *.expected.json)"}
    found += [what[part] for part in ("code", "data") if grader[part] != recorded["grader"][part]]
    env = receipt.environment()
    found += [f"environment changed: {key} {recorded['environment'].get(key)} -> {env[key]}"
              for key in sorted(env) if env[key] != recorded["environment"].get(key)]
    files = {str(p.relative_to(submitted)): p.read_bytes() for p in sorted(submitted.rglob("*"))
             if p.is_file() and not p.is_symlink()} if submitted.is_dir() else {}
    with gradebook.no_sawarning():
        result = task.grade(snapshot, student, files, seeds=recorded["seeds"],
                            limits=recorded_limits(recorded))
    if result["status"] != recorded["status"]["status"]:
        found.append(f"status {recorded['status']['status']} -> {result['status']} ({result.get('reason')})")
    return found, result


def recorded_limits(recorded: dict) -> dict:
    """The GradingLimits values a receipt records (empty for a receipt that records none, as
    receipts before version 2: the regrade then runs under the course's limits now)."""
    grading = (recorded.get("limits") or {}).get("grading") or {}
    return {name: value for name, value in grading.items() if name in GradingLimits.names()}


def limits_notes(recorded: dict, now: dict) -> list:
    """What verify says when the receipt's limits are not the course's configuration ``now``
    (:meth:`GradingLimits.in_force`)."""
    grading = recorded_limits(recorded)
    if not grading:
        return ["the receipt records no grading limits (a receipt before version 2): regraded under "
                "the course's limits now"]
    changed = [f"{name} {grading[name]} (now {now[name]})" for name in sorted(grading)
               if name in now and grading[name] != now[name]]
    if not changed:
        return []
    return ["graded under limits that differ from the course's configuration now; regraded under the "
            "receipt's: " + ", ".join(changed)]


def cell_differences(recorded: dict, regraded: dict, book: dict, notebooks: dict) -> list:
    """Each cell to which the receipt, the regrade and the gradebook's auto score do not all give the
    same points."""
    found = []
    for name in sorted(set(recorded) | set(regraded) | set(book)):
        was, got = recorded.get(name, {}).get("score"), regraded.get(name, {}).get("score")
        auto = book.get(name, {}).get("auto_score")
        if not (same(was, got) and same(was, auto)):
            found.append(f"points of {where(name, notebooks)} differ: receipt {shown(was)}, "
                         f"regraded {shown(got)}, gradebook {shown(auto)}")
    return found


def unproven(book: dict, notebooks: dict) -> list:
    """Each cell to which the gradebook gives auto points, for a student without a receipt."""
    return [f"points of {where(name, notebooks)} have no receipt: gradebook {shown(cell['auto_score'])}"
            for name, cell in sorted(book.items()) if not same(cell["auto_score"] or 0.0, 0.0)]


def by_hand(book: dict, notebooks: dict) -> list:
    """Each cell with a manual score or extra credit in the gradebook, with its values."""
    changed = []
    for name, cell in sorted(book.items()):
        parts = ([f"manual score {shown(cell['manual_score'])} (autograded {shown(cell['auto_score'])})"]
                 if cell["manual_score"] is not None else [])
        parts += [f"extra credit {shown(cell['extra_credit'])}"] if cell["extra_credit"] is not None else []
        if parts:
            changed.append(f"{where(name, notebooks)}: {', '.join(parts)}")
    return changed


def csv_differences(rows: list, recorded, regraded, submission, trusted: bool) -> tuple:
    """(differences, notes) of a student's grades.csv ``rows``. ``recorded``, ``regraded``: the
    receipt and the regrade (None: no receipt); ``submission``: the gradebook's (None: none);
    ``trusted``: its auto scores are the receipt's, so its total (by-hand changes included) stands."""
    if not rows:
        return (["grades.csv has no row for this student"] if recorded else []), []
    found = [f"grades.csv has {len(rows)} rows for this student"] if len(rows) > 1 else []
    notes = []
    proven = total(recorded["cells"]) if recorded else 0.0
    book = submission["score"] if submission else None
    penalty = submission["late_submission_penalty"] if submission else 0.0
    accepted = [proven] + ([book] if trusted and book is not None else [])
    values = (f"receipt {shown(proven)}, regraded {shown(total(regraded.get('cells', {})))}, "
              f"gradebook {shown(book)}" if recorded else f"gradebook {shown(book)}, no receipt")
    for row in rows:
        raw, late, score = (row.get(column) or None for column in report.SCORE_COLUMNS)
        if not recorded and raw is None and score is None:
            continue  # no points claimed (write_csv leaves a grade that was not recorded empty)
        if not any(same(raw, t) for t in accepted):
            found.append(f"grades.csv raw_score {raw or 'empty'} differs: {values}")
        elif trusted and not same(raw, book):  # the receipt's total: exported before the changes by hand
            notes.append(f"grades.csv gives raw_score {raw}, the total before the changes by hand (gradebook "
                         f"now {shown(book)}); `python -m autograder grade` exports it again")
        if not same(late, penalty):
            found.append(f"grades.csv late_submission_penalty {late or 'empty'} differs: gradebook {shown(penalty)}")
        if not any(same(score, max(0.0, t - penalty)) for t in accepted):
            found.append(f"grades.csv score {score or 'empty'} differs: {values}, late penalty {shown(penalty)}")
        if recorded:
            found += status_difference(row.get("status") or "", recorded["status"], regraded)
    return found, notes


def status_difference(text: str, status: dict, regraded: dict) -> list:
    """grades.csv's status ``text`` unless it is the receipt's. A graded one may also read
    ``skipped`` (a later run found it graded) or nothing (a ``grade --student`` run for others)."""
    recorded = Status.from_json(status)
    expected = recorded.text()
    if text in ({GRADED.value, SKIPPED.value, ""} if recorded.state is GRADED else {expected}):
        return []
    return [f"grades.csv status {repr(text) if text else 'empty'} differs: receipt {expected!r}, "
            f"regraded {Status.from_json(regraded).text()!r}"]


def total(cells: dict) -> float:
    return sum(float(cell.get("score") or 0.0) for cell in cells.values())


def same(a, b) -> bool:
    """The same points (numbers or their text); None only equals None."""
    if a is None or b is None:
        return a is None and b is None
    try:
        return math.isclose(float(a), float(b), abs_tol=1e-9)
    except (TypeError, ValueError):
        return False


def shown(value) -> str:
    return "none" if value is None else str(round(value, 6)) if isinstance(value, float) else str(value)


def where(cell: str, notebooks: dict) -> str:
    return f"{cell} in {notebooks[cell]}.ipynb" if cell in notebooks else cell


def check(course: Path, snapshot: dict, student: str, book: tuple, grades_csv, named: bool,
          limits_now: dict = None) -> tuple:
    """(differences, changes by hand, notes) for ``student``. ``book``: :func:`gradebook.read_grades`;
    ``grades_csv``: :func:`report.read_csv` (None: no grades.csv); ``named``: asked for by name, so
    no receipt is a difference even when nothing claims points; ``limits_now``: the course's
    :meth:`GradingLimits.in_force` (None: read from the snapshot's configuration)."""
    notebooks, submissions = book
    submission = submissions.get(student)
    cells = submission["grades"] if submission else {}
    folder = course / snapshot["paths"]["autograded"].replace(task.SUBMITTED, student)
    recorded = receipt.read(folder) if (folder / receipt.NAME).is_file() else None
    if recorded:
        found, regraded = receipt_differences(course, snapshot, student, recorded)
        found += cell_differences(recorded["cells"], regraded.get("cells", {}), cells, notebooks)
        trusted = submission is not None and all(
            same(recorded["cells"].get(name, {}).get("score"), cells.get(name, {}).get("auto_score"))
            for name in set(recorded["cells"]) | set(cells))
    else:
        regraded, found = None, unproven(cells, notebooks)
        trusted = not found
    notes = limits_notes(recorded, limits_now or course_limits(course, snapshot)) if recorded else []
    if grades_csv is not None:
        more, csv_notes = csv_differences(grades_csv.get(student, []), recorded, regraded, submission, trusted)
        found += more
        notes += csv_notes
    if not recorded and (found or named):
        stock = (": its autograded folder has none, as stock `nbgrader autograde` leaves it (a --force run "
                 f"deletes one); `python -m autograder grade --force --student {student}` regrades it "
                 "with a receipt") if folder.is_dir() else ""
        found.insert(0, f"no receipt ({folder.relative_to(course) / receipt.NAME}){stock}")
    return found, by_hand(cells, notebooks), notes


def show(student: str, receipted: bool, found: list, hand: list, notes: list) -> None:
    """Print ``student``'s verdict, each difference, each change by hand and each note."""
    verdict = ("DIFFERS" if found else "verified, every point matches" if receipted
               else "no receipt, and no points to prove")
    lines = [f"{student}: {verdict}"] + [f"  - {line}" for line in found]
    lines += [f"  {HAND}:"] + [f"    {line}" for line in hand] if hand else []
    lines += [f"  note: {line}" for line in notes]
    print("\n".join(lines), flush=True)


def course_limits(course: Path, snapshot: dict) -> dict:
    """The course's limits now (its nbgrader_config.py): :meth:`GradingLimits.in_force`."""
    app = task.course_app(course, snapshot["assignment"])
    return GradingLimits(config=app.config).in_force()


def receipted_students(course: Path, snapshot: dict) -> list:
    pattern = snapshot["paths"]["autograded"]
    parent = (course / pattern.split(task.SUBMITTED)[0])
    return sorted(p.name for p in parent.iterdir()
                  if (course / pattern.replace(task.SUBMITTED, p.name) / receipt.NAME).is_file()) \
        if parent.is_dir() else []


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("assignment", help="the assignment: a folder of source/ with a *.grading.json")
    parser.add_argument("--student", action="append", default=[], metavar="ID",
                        help="verify only this student (repeatable; default: every student with a "
                             "receipt, a submission in the gradebook or a row in the grades CSV)")
    parser.add_argument("--course", type=Path, default=Path.cwd(), help="course root (default: .)")
    parser.add_argument("--csv", type=Path, help="the grades CSV `grade` wrote, relative to the course root "
                                                 "(default: exports/ASSIGNMENT/grades.csv)")


def run(args) -> int:
    course = args.course.resolve()
    args.csv = args.csv or report.export_path(args.assignment, "grades.csv")
    app = task.course_app(course, args.assignment)
    snapshot = task.snapshot(course, args.assignment, app)
    try:
        limits_now = GradingLimits(config=app.config).in_force()
    except RenamedLimit as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    book = gradebook.read_grades(app.coursedir.db_url, app.coursedir.course_id, args.assignment)
    _, submissions = book
    path = course / args.csv
    grades_csv = report.read_csv(path, args.assignment) if path.is_file() else None
    if grades_csv is None:
        print(f"note: no {args.csv} to compare (`python -m autograder grade` writes it)")
    receipted = set(receipted_students(course, snapshot))
    listed = {student for student, rows in (grades_csv or {}).items()  # not a class member who handed nothing in
              if any(row.get("status") != NO_SUBMISSION for row in rows)}
    students = args.student or sorted(receipted | set(submissions) | listed)
    checked = failed = unclaimed = 0
    for student in students:
        found, hand, notes = check(course, snapshot, student, book, grades_csv, named=bool(args.student),
                                   limits_now=limits_now)
        checked += student in receipted or bool(found)
        failed += bool(found)
        unclaimed += student not in receipted and not found
        show(student, student in receipted, found, hand, notes)
    if not checked:
        print(f"no receipts for {args.assignment} under {course}: grade with `python -m autograder grade`")
        return 2
    print(f"{checked - failed} of {checked} verified"
          + (f"; {unclaimed} without a receipt claim no points" if unclaimed else ""))
    return 1 if failed else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder verify", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
