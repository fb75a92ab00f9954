"""``python -m autograder dashboard ASSIGNMENT``: the class at a glance, one self-contained HTML page.

Read from ``exports/grading_report.json`` (what ``python -m autograder grade`` wrote) and written to
``exports/dashboard.html``: the score distribution (a matplotlib histogram, inline SVG), the pass
rate of each step and quiz question, the common mistakes per step with counts, the failed
submissions with their reasons, and a table of students linking to their feedback pages
(``python -m autograder.course.feedback``). The page loads nothing: no script, no font, no image from
anywhere else.

A mistake is the message of a failed check (``report.failed_checks``: the verdicts name the
mistake); messages that differ only in numbers or in quoted text the student wrote count as one.
"""
import argparse
import html
import io
import json
import os
import re
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import quote

from matplotlib.figure import Figure

from .feedback import label

CSS = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%;margin-bottom:1.5rem}th,td{border-bottom:1px solid #ddd;
padding:.35rem .5rem;text-align:left;vertical-align:top}td.num,th.num{text-align:right}
.bar{background:#e8e8e8;width:12rem;height:.8rem;display:inline-block}.bar span{display:block;
height:100%;background:#2f6fb0}.failed{color:#a40000}.summary span{margin-right:1.5rem}
figure{margin:0 0 1.5rem}svg{max-width:100%;height:auto}"""

OK = ("graded", "skipped")  # any other status: the submission's grade is not to be trusted as is
_QUOTED = re.compile(r"""'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*\"""")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def mistake_kind(message: str) -> str:
    """The message with quoted text and numbers replaced: one kind per mistake, not per student."""
    return _NUMBER.sub("N", _QUOTED.sub("'…'", message))


def load(course: Path, report: Path = None) -> dict:
    return json.loads((report or course / "exports" / "grading_report.json").read_text(encoding="utf-8"))


def items(students: dict) -> list:
    """Graded items (grade_ids) in course order: steps, then quiz questions, then the rest."""
    names = {name for entry in students.values() for name in entry["cells"]}
    return sorted(names, key=lambda n: (0 if n.startswith("test_step") else 1 if n.startswith("test_q") else 2, n))


def summary(data: dict) -> dict:
    """Everything the page shows, as data (the tests read the same report)."""
    students = data["students"]
    recorded = {s: e for s, e in students.items() if e["scores_recorded"]}
    stats = []
    for name in items(students):
        cells = [e["cells"][name] for e in recorded.values() if name in e["cells"]]
        passed = sum(c["score"] is not None and c["score"] >= c["max_score"] for c in cells)
        mistakes = Counter(mistake_kind(m) for c in cells for m in c["messages"])
        stats.append({"item": name, "label": label(name), "passed": passed, "graded": len(cells),
                      "mistakes": mistakes.most_common()})
    return {"assignment": data["assignment"], "summary": data["summary"],
            "scores": {s: e["score"] for s, e in recorded.items()},
            "max_score": max((e["max_score"] for e in recorded.values()), default=0),
            "items": stats,
            "failed": {s: e for s, e in students.items() if e["status"] not in OK}}


def histogram_svg(scores: list, max_score: float) -> str:
    """A histogram of the total scores, one bar per point, as inline SVG (text drawn as paths)."""
    fig = Figure(figsize=(6.4, 2.8))
    ax = fig.add_subplot()
    top = max(1, int(max_score + 0.999))
    ax.hist(scores, bins=[b - 0.5 for b in range(top + 2)], color="#2f6fb0", edgecolor="white")
    ax.set_xlim(-0.5, top + 0.5)
    ax.set_xlabel("total score (of %g)" % max_score)
    ax.set_ylabel("students")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.yaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    out = io.StringIO()
    fig.savefig(out, format="svg", metadata={"Date": None})
    text = out.getvalue()
    return text[text.index("<svg"):]


def distribution(scores: list) -> list:
    """[(score, students)] for each score reached."""
    return sorted(Counter(scores).items())


def feedback_links(course: Path, page: Path, student: str, assignment: str) -> str:
    folder = course / "feedback" / student / assignment
    links = []
    for path in sorted(folder.glob("*.html")):
        href = quote(os.path.relpath(path, page.parent).replace(os.sep, "/"))
        links.append('<a href="%s">%s</a>' % (href, html.escape(path.stem)))
    return " ".join(links) or "—"


def render(course: Path, page: Path, data: dict) -> str:
    info = summary(data)
    esc = html.escape
    scores = sorted(info["scores"].values())
    counts = info["summary"]
    parts = ['<p class="summary"><span><b id="n-students">%d</b> submissions</span>%s</p>' % (
        len(data["students"]), "".join(
            '<span%s><b id="n-%s">%d</b> %s</span>' % ("" if status in OK or not count else ' class="failed"',
                                                       esc(status.replace(" ", "-")), count, esc(status))
            for status, count in counts.items()))]
    parts.append("<h2>Score distribution</h2>")
    if scores:
        parts.append("<figure>%s</figure>" % histogram_svg(scores, info["max_score"]))
        parts.append('<table id="distribution"><thead><tr><th>total score</th><th class="num">students'
                     "</th></tr></thead><tbody>%s</tbody></table>" % "".join(
                         '<tr><td>%g</td><td class="num">%d</td></tr>' % pair for pair in distribution(scores)))
    else:
        parts.append("<p>No scores recorded.</p>")
    parts.append('<h2>Pass rate per step and question</h2><table id="pass-rates"><thead><tr><th>item</th>'
                 '<th class="num">passed</th><th class="num">rate</th><th></th></tr></thead><tbody>')
    for item in info["items"]:
        rate = item["passed"] / item["graded"] if item["graded"] else 0.0
        parts.append('<tr data-item="%s"><td>%s</td><td class="num">%d / %d</td><td class="num">%.0f%%</td>'
                     '<td><span class="bar"><span style="width:%.1f%%"></span></span></td></tr>'
                     % (esc(item["item"]), esc(item["label"]), item["passed"], item["graded"],
                        100 * rate, 100 * rate))
    parts.append("</tbody></table>")
    parts.append('<h2>Common mistakes</h2><table id="mistakes"><thead><tr><th>item</th><th>mistake</th>'
                 '<th class="num">students</th></tr></thead><tbody>')
    for item in info["items"]:
        for kind, count in item["mistakes"]:
            parts.append('<tr data-item="%s"><td>%s</td><td>%s</td><td class="num">%d</td></tr>'
                         % (esc(item["item"]), esc(item["label"]), esc(kind), count))
    parts.append("</tbody></table>")
    parts.append('<h2>Failed submissions</h2><table id="failed"><thead><tr><th>student</th><th>status</th>'
                 "<th>reason</th><th>detail</th><th>scores</th></tr></thead><tbody>")
    for student, entry in sorted(info["failed"].items()):
        parts.append('<tr data-student="%s"><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>'
                     % (esc(student), esc(student), esc(entry["status"]), esc(entry["reason"] or ""),
                        esc(entry["detail"] or ""),
                        "recorded" if entry["scores_recorded"] else "none recorded"))
    if not info["failed"]:
        parts.append('<tr><td colspan="5">none</td></tr>')
    parts.append("</tbody></table>")
    parts.append('<h2>Students</h2><table id="students"><thead><tr><th>student</th><th>status</th>'
                 '<th class="num">score</th><th>feedback</th></tr></thead><tbody>')
    for student, entry in sorted(data["students"].items()):
        score = "%g / %g" % (entry["score"], entry["max_score"]) if entry["scores_recorded"] else "—"
        status = entry["status"] + (": %s" % entry["reason"] if entry["reason"] else "")
        parts.append('<tr data-student="%s"><td>%s</td><td>%s</td><td class="num">%s</td><td>%s</td></tr>'
                     % (esc(student), esc(student), esc(status), score,
                        feedback_links(course, page, student, data["assignment"])))
    parts.append("</tbody></table>")
    return """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>Class dashboard: %(a)s</title><style>%(css)s</style></head>
<body><h1>Class dashboard: %(a)s</h1>
%(body)s
</body></html>
""" % {"a": esc(data["assignment"]), "css": CSS, "body": "\n".join(parts)}


def write(course: Path, assignment: str, out: Path = None, report: Path = None) -> Path:
    """Write the dashboard (default ``exports/dashboard.html``) and return its path."""
    course = Path(course)
    data = load(course, report)
    if data["assignment"] != assignment:
        raise SystemExit("the grading report is for %r, not %r" % (data["assignment"], assignment))
    page = out or course / "exports" / "dashboard.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(render(course, page, data), encoding="utf-8")
    return page


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("assignment", help="assignment id, e.g. reproducibility")
    parser.add_argument("--course", type=Path, default=Path.cwd(), help="course root (default: .)")
    parser.add_argument("--report", type=Path, help="grading report (default: COURSE/exports/grading_report.json)")
    parser.add_argument("--out", type=Path, help="the page (default: COURSE/exports/dashboard.html)")


def run(args) -> int:
    try:
        page = write(args.course, args.assignment, args.out, args.report)
    except FileNotFoundError as exc:
        print("no grading report (run `python -m autograder grade %s` first): %s" % (args.assignment, exc),
              file=sys.stderr)
        return 2
    print("dashboard: %s" % page)
    return 0
