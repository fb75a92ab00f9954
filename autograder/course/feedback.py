"""Per-student feedback HTML that shows points and teaching messages, and nothing else.

``python -m autograder.course.feedback ASSIGNMENT`` (``make feedback``) writes
``feedback/<student>/<assignment>/<notebook>.html`` for every autograded submission, the layout
``nbgrader generate_feedback`` uses (so ``nbgrader release_feedback`` can hand them out). With
nothing graded it writes nothing, creates no gradebook, and exits 2 saying what to run first
(:class:`NotGraded`, which the dashboard and the LMS export share).

Stock ``generate_feedback`` renders the whole autograded notebook: the code of every test cell,
hidden tests included (nbgrader issue #917), and every output, tracebacks included. This page is
built from the gradebook (points) and from the *outputs* of the graded test cells only: for each
step or question, its points and, when it lost points, the message of each failed check (the
``evalue`` of the cell's error outputs, which the course's graders write so that they name the
mistake, never an expected value or a correct letter). No cell source, no traceback, no
printed output, no markdown (the quiz's options) is copied into the page.

Next to the pages go the two files ``nbgrader release_feedback`` reads: ``timestamp.txt`` and
``submission_secret.txt``, copied from the autograded submission (``nbgrader submit`` wrote them;
the student's ``nbgrader fetch_feedback`` finds its page by that secret). A submission that did not
come through ``nbgrader submit`` (an LMS download, a copy by hand) has no secret: it gets the
gradebook's timestamp and a fresh random secret, so ``release_feedback`` still works, but no
student can fetch that page from the exchange; hand it out another way (the command says which).

Grading on submit (:mod:`autograder.hub.grading_service`) writes the pages with ``withheld``
notebooks (the quiz, until its scores are released): such a notebook's page says its answers were
received and shows no points, and no page shows the assignment's total (the quiz's score would be
the difference). A late submission's pages say how late it was and the penalty nbgrader recorded.
"""
import argparse
import html
import secrets
import shutil
import sys
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry

from ..notebook import assignments
from ..classrun.database import from_environment, shown
from ..classrun.report import failed_checks

USAGE = """Write each graded student's feedback: one HTML page per notebook with the points of every
step and quiz question and, where points were lost, what the grader found. Hidden tests, expected
values and quiz answers are never shown.

Run it after grading (python -m autograder grade ASSIGNMENT); rerun it after every regrade.
The pages go to COURSE/feedback/<student>/<assignment>/<notebook>.html.

Hand them back:
  nbgrader's exchange: nbgrader release_feedback ASSIGNMENT; students fetch their feedback in
    JupyterLab's Assignment List (docs/exchange.md)
  otherwise (an LMS, e-mail): give each student the folder feedback/<student>/; the command
    lists the students whose pages the exchange cannot hand back.
"""

CSS = """body{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #ddd;padding:.4rem;
text-align:left;vertical-align:top}.lost{color:#a40000}.full{color:#1a7f37}ul{margin:.2rem 0}"""


class NotGraded(Exception):
    """Nothing graded to work from; the message says what is missing and, given the assignment,
    what to run first."""

    def __init__(self, what: str, assignment: str = None):
        super().__init__(what + ("" if assignment is None else f". Grade first: python -m autograder grade "
                                 f"{assignment} (in the course folder, or with --course DIR)"))


def gradebook_url(course: Path, assignment: str, db_url: str = None) -> str:
    """``db_url``, else ``COURSE_DB_URL``, else the course's ``gradebook.db``, which must exist
    (nbgrader would create an empty one)."""
    url = db_url or from_environment()
    if url:
        return url
    path = course / "gradebook.db"
    if not path.is_file():
        raise NotGraded(f"no gradebook at {path}: nothing is graded in {course}", assignment)
    return f"sqlite:///{path}"


def find_assignment(gb: Gradebook, assignment: str, url: str):
    """The gradebook's ``assignment``; NotGraded, naming the ones it has, when it has not that one."""
    try:
        return gb.find_assignment(assignment)
    except MissingEntry:
        known = sorted(a.name for a in gb.assignments)
        if known:  # a typo, most likely
            raise NotGraded(f"the gradebook {shown(url)} has no assignment {assignment!r} "
                            f"(it has: {', '.join(known)})") from None
        raise NotGraded(f"the gradebook {shown(url)} has no assignment", assignment) from None


def label(grade_id: str, titles: dict) -> str:
    """The title the assignment declares for a test cell (``titles``: :func:`autograder.notebook.assignments.titles`),
    otherwise its grade_id."""
    return titles.get(grade_id, grade_id)


def notebook_items(autograded: Path, grades: dict) -> list:
    """[(grade_id, score, max_score, [messages])] for the graded cells, in notebook order."""
    nb = nbformat.read(autograded, as_version=4) if autograded.exists() else None
    cells = [] if nb is None else [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    items, seen = [], set()
    for cell in cells:
        grade_id = cell.metadata.nbgrader["grade_id"]
        if grade_id not in grades:
            continue
        score, max_score = grades[grade_id]
        messages = failed_checks(cell) if score < max_score else []
        if score < max_score and not messages and cell.cell_type == "code":
            messages = ["This check did not pass."]
        items.append((grade_id, score, max_score, messages))
        seen.add(grade_id)
    for grade_id, (score, max_score) in sorted(grades.items()):  # graded but not in the file
        if grade_id not in seen:
            items.append((grade_id, score, max_score, [] if score >= max_score else
                          ["No output was recorded for this item."]))
    return items


def late_note(seconds_late: float, penalty: float) -> str:
    """What a page says of a late submission ("" when it was on time)."""
    if not seconds_late or seconds_late <= 0:
        return ""
    if seconds_late < 120:
        late = "%.0f second(s)" % seconds_late
    elif seconds_late < 7200:
        late = "%.0f minute(s)" % (seconds_late / 60)
    else:
        late = "%.1f hour(s)" % (seconds_late / 3600)
    return "This submission was handed in %s after the due date%s." % (
        late, "; late penalty: %g point(s)" % penalty if penalty else "")


def render_withheld(student: str, assignment: str, notebook: str, when: str) -> str:
    """The page of a notebook whose scores are not released yet: no points, no messages."""
    return """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Feedback: %(nb)s</title><style>%(css)s</style></head>
<body>
<h1>Feedback: %(nb)s</h1>
<p>Student <b>%(student)s</b>, assignment <b>%(assignment)s</b>.</p>
<p>Your answers in this notebook were received and graded. Its score is released %(when)s.</p>
</body></html>
""" % {"nb": html.escape(notebook), "css": CSS, "student": html.escape(student),
       "assignment": html.escape(assignment), "when": html.escape(when)}


def render_failed(student: str, assignment: str, notebook: str, reason: str) -> str:
    """The page of a submission whose grading recorded nothing: the grader's reason (a fixed
    phrase of :mod:`autograder.classrun.status`, never text from the submission)."""
    return """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Feedback: %(nb)s</title><style>%(css)s</style></head>
<body>
<h1>Feedback: %(nb)s</h1>
<p>Student <b>%(student)s</b>, assignment <b>%(assignment)s</b>.</p>
<p class="lost">This submission could not be graded: %(reason)s. Check it with Validate, then
submit again; ask your instructor if this persists.</p>
</body></html>
""" % {"nb": html.escape(notebook), "css": CSS, "student": html.escape(student),
       "assignment": html.escape(assignment), "reason": html.escape(reason)}


def render(student: str, assignment: str, notebook: str, items: list, total, comments=(), titles=None,
           late: str = "") -> str:
    """The page of one notebook; ``titles`` ({grade_id: title}) names its items; ``total`` None
    leaves the assignment's total out; ``late`` (:func:`late_note`) is said under the score."""
    titles = titles or {}
    score = sum(i[1] for i in items)
    max_score = sum(i[2] for i in items)
    rows = []
    for grade_id, got, top, messages in items:
        css = "full" if got >= top else "lost"
        text = "".join("<li>%s</li>" % html.escape(m) for m in messages)
        rows.append('<tr><td>%s</td><td class="%s">%g / %g</td><td>%s</td></tr>'
                    % (html.escape(label(grade_id, titles)), css, got, top,
                       "<ul>%s</ul>" % text if text else "passed" if got >= top else ""))
    notes = "".join("<li>%s</li>" % html.escape(c) for c in comments if c)
    return """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Feedback: %(nb)s</title><style>%(css)s</style></head>
<body>
<h1>Feedback: %(nb)s</h1>
<p>Student <b>%(student)s</b>, assignment <b>%(assignment)s</b>.
Score for this notebook: <b>%(score)g / %(max)g</b>%(total)s.</p>
%(late)s<table><thead><tr><th>Item</th><th>Points</th><th>What the grader found</th></tr></thead>
<tbody>
%(rows)s
</tbody></table>
%(notes)s
<p>Each step was re-run by the grader in a fresh Python under its own seeds; quiz answers were
read from your answer cells. Hidden tests and expected values are not shown.</p>
</body></html>
""" % {"nb": html.escape(notebook), "css": CSS, "student": html.escape(student),
       "assignment": html.escape(assignment), "score": score, "max": max_score,
       "total": "" if total is None else " (assignment total: %g / %g)" % total,
       "late": '<p class="lost">%s</p>\n' % html.escape(late) if late else "",
       "rows": "\n".join(rows),
       "notes": "<h2>Comments</h2><ul>%s</ul>" % notes if notes else ""}


EXCHANGE_FILES = ("timestamp.txt", "submission_secret.txt")


def exchange_files(autograded: Path, folder: Path, timestamp) -> bool:
    """Put ``release_feedback``'s files in ``folder``; False when the submission had no secret."""
    for name in EXCHANGE_FILES:
        if (autograded / name).is_file():
            shutil.copyfile(autograded / name, folder / name)
    if not (folder / "timestamp.txt").is_file():
        (folder / "timestamp.txt").write_text(str(timestamp or ""), encoding="utf-8")
    if (folder / "submission_secret.txt").is_file():
        return True
    (folder / "submission_secret.txt").write_text(secrets.token_hex(64), encoding="utf-8")
    return False


def submissions(gb: Gradebook, assignment: str, students=None) -> list:
    """The gradebook's submissions of ``assignment``: of ``students`` (those it has) or all.
    Looked up one by one: grading on submit writes a few students' pages at a time in a class of
    hundreds."""
    if not students:
        return gb.assignment_submissions(assignment)
    found = []
    for student in sorted(set(students)):
        try:
            found.append(gb.find_submission(assignment, student))
        except MissingEntry:
            continue
    return found


def generate(course: Path, assignment: str, students=None, db_url: str = None, notes=None,
             withheld=None) -> list:
    """Write the feedback pages; returns their paths.

    ``withheld`` ({notebook name: when its scores are released}): those notebooks' pages show no
    points (:func:`render_withheld`), no page shows the assignment's total, and a late penalty
    counts only the notebooks shown (with ``penalty_method = 'zero'`` a withheld notebook's
    penalty is its score).

    ``notes`` (a dict), when given, gets ``"ungraded"``: students whose grading failed before
    anything was recorded (no ``autograded/`` folder: no page, rather than a page of zeros), and
    ``"unfetchable"``: students whose submission did not come through ``nbgrader submit``.
    """
    notes = {} if notes is None else notes
    notes.update(ungraded=[], unfetchable=[])
    course = Path(course)
    db_url = gradebook_url(course, assignment, db_url)
    titles = assignments.titles(course / "source", assignment)
    written = []
    with Gradebook(db_url) as gb:
        find_assignment(gb, assignment, db_url)
        for submission in submissions(gb, assignment, students):
            student = submission.student.id
            folder = course / "feedback" / student / assignment
            shutil.rmtree(folder, ignore_errors=True)  # no page of an earlier grading is left over
            if not (course / "autograded" / student / assignment).is_dir():
                notes["ungraded"].append(student)
                continue
            folder.mkdir(parents=True)
            if not exchange_files(course / "autograded" / student / assignment, folder, submission.timestamp):
                notes["unfetchable"].append(student)
            total = None if withheld else (submission.score, submission.max_score)
            penalty = sum(nb.late_submission_penalty or 0 for nb in submission.notebooks
                          if not (withheld and nb.name in withheld))
            late = late_note(submission.total_seconds_late, penalty)
            for notebook in submission.notebooks:
                out = folder / (notebook.name + ".html")
                if withheld and notebook.name in withheld:
                    out.write_text(render_withheld(student, assignment, notebook.name, withheld[notebook.name]),
                                   encoding="utf-8")
                    written.append(out)
                    continue
                grades = {g.name: (g.score, g.max_score) for g in notebook.grades}
                comments = [c.comment for c in notebook.comments if c.comment]
                autograded = course / "autograded" / student / assignment / (notebook.name + ".ipynb")
                items = notebook_items(autograded, grades)
                page = render(student, assignment, notebook.name, items, total, comments, titles, late)
                out.write_text(page, encoding="utf-8")
                written.append(out)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.course.feedback", description=USAGE,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("assignment", help="the assignment: a folder of source/ with a *.grading.json")
    parser.add_argument("--course", type=Path, default=Path.cwd(), help="course root (default: .)")
    parser.add_argument("--student", action="append", default=[], metavar="ID",
                        help="only this student (repeatable)")
    parser.add_argument("--db", help="gradebook URL (default: COURSE_DB_URL, else sqlite:///COURSE/gradebook.db)")


def run(args) -> int:
    notes = {}
    try:
        written = generate(args.course, args.assignment, args.student or None, args.db, notes)
    except (NotGraded, assignments.DeclarationError) as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 2
    if notes["ungraded"]:
        print("no page (grading failed, nothing recorded; see exports/grading_report.json): %s"
              % ", ".join(sorted(notes["ungraded"])))
    if not written:
        who = " from " + ", ".join(args.student) if args.student else ""
        print("error: %s" % NotGraded("no feedback page written: no graded submission of %r%s in %s"
                                      % (args.assignment, who, args.course), args.assignment), file=sys.stderr)
        return 2
    print("wrote %d feedback page(s) under %s" % (len(written), args.course / "feedback"))
    print("hand them back: nbgrader release_feedback %s" % args.assignment)
    if notes["unfetchable"]:
        print("not handed in with `nbgrader submit`, so not fetchable from the exchange (give these "
              "pages out another way): %s" % ", ".join(sorted(notes["unfetchable"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
