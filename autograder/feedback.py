"""Per-student feedback HTML that shows points and teaching messages, and nothing else.

``python -m autograder.feedback ASSIGNMENT`` (``make feedback``) writes
``feedback/<student>/<assignment>/<notebook>.html`` for every autograded submission, the layout
``nbgrader generate_feedback`` uses (so ``nbgrader release_feedback`` can hand them out).

Stock ``generate_feedback`` renders the whole autograded notebook: the code of every test cell,
hidden tests included (nbgrader issue #917), and every output, tracebacks included. This page is
built from the gradebook (points) and from the *outputs* of the graded test cells only: for each
step or question, its points and, when it lost points, the message of each failed check (the
``evalue`` of the cell's error outputs, which the course's graders write so that they name the
mistake, never an expected value or a correct letter). No cell source, no traceback, no
printed output, no markdown (the quiz's options) is copied into the page.
"""
import argparse
import html
import sys
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry

from .report import failed_checks

CSS = """body{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #ddd;padding:.4rem;
text-align:left;vertical-align:top}.lost{color:#a40000}.full{color:#1a7f37}ul{margin:.2rem 0}"""


def label(grade_id: str) -> str:
    """``test_step3`` -> ``Step 3``, ``test_q04`` -> ``Question 4``, otherwise the id."""
    name = grade_id[5:] if grade_id.startswith("test_") else grade_id
    if name.startswith("step") and name[4:].isdigit():
        return "Step %d" % int(name[4:])
    if name.startswith("q") and name[1:].isdigit():
        return "Question %d" % int(name[1:])
    return name


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


def render(student: str, assignment: str, notebook: str, items: list, total, comments=()) -> str:
    score = sum(i[1] for i in items)
    max_score = sum(i[2] for i in items)
    rows = []
    for grade_id, got, top, messages in items:
        css = "full" if got >= top else "lost"
        text = "".join("<li>%s</li>" % html.escape(m) for m in messages)
        rows.append('<tr><td>%s</td><td class="%s">%g / %g</td><td>%s</td></tr>'
                    % (html.escape(label(grade_id)), css, got, top,
                       "<ul>%s</ul>" % text if text else "passed" if got >= top else ""))
    notes = "".join("<li>%s</li>" % html.escape(c) for c in comments if c)
    return """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Feedback: %(nb)s</title><style>%(css)s</style></head>
<body>
<h1>Feedback: %(nb)s</h1>
<p>Student <b>%(student)s</b>, assignment <b>%(assignment)s</b>.
Score for this notebook: <b>%(score)g / %(max)g</b>%(total)s.</p>
<table><thead><tr><th>Item</th><th>Points</th><th>What the grader found</th></tr></thead>
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
       "rows": "\n".join(rows),
       "notes": "<h2>Comments</h2><ul>%s</ul>" % notes if notes else ""}


def generate(course: Path, assignment: str, students=None, db_url: str = None) -> list:
    """Write the feedback pages; returns their paths."""
    course = Path(course)
    db_url = db_url or "sqlite:///%s" % (course / "gradebook.db")
    written = []
    with Gradebook(db_url) as gb:
        for submission in gb.assignment_submissions(assignment):
            student = submission.student.id
            if students and student not in students:
                continue
            total = (submission.score, submission.max_score)
            for notebook in submission.notebooks:
                grades = {g.name: (g.score, g.max_score) for g in notebook.grades}
                comments = [c.comment for c in notebook.comments if c.comment]
                autograded = course / "autograded" / student / assignment / (notebook.name + ".ipynb")
                items = notebook_items(autograded, grades)
                page = render(student, assignment, notebook.name, items, total, comments)
                out = course / "feedback" / student / assignment / (notebook.name + ".html")
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(page, encoding="utf-8")
                written.append(out)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.feedback", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignment", help="assignment id, e.g. reproducibility")
    parser.add_argument("--course", type=Path, default=Path.cwd(), help="course root (default: .)")
    parser.add_argument("--student", action="append", default=[], metavar="ID",
                        help="only this student (repeatable)")
    parser.add_argument("--db", help="gradebook URL (default: sqlite:///COURSE/gradebook.db)")
    args = parser.parse_args(argv)
    try:
        written = generate(args.course, args.assignment, args.student or None, args.db)
    except MissingEntry as exc:
        print("no such assignment in the gradebook: %s" % exc, file=sys.stderr)
        return 2
    print("wrote %d feedback page(s) under %s" % (len(written), args.course / "feedback"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
