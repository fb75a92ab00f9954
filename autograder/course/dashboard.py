"""``python -m autograder dashboard ASSIGNMENT``: the class at a glance, one self-contained HTML page.

Read from ``exports/<assignment>/grading_report.json`` (what ``python -m autograder grade`` wrote) and written to
``exports/dashboard.html``: the score distribution (a matplotlib histogram, inline SVG), the pass
rate of each step and quiz question, the common mistakes per step with the students who made
them, the failed submissions with their reasons, and a table of students linking to their feedback
pages (``python -m autograder.course.feedback``). The page loads nothing: no script, no font, no
image from anywhere else. Everything a graded notebook holds (the messages) is HTML-escaped.

A mistake is the message of a failed check (``report.failed_checks``: the verdicts name the
mistake). Messages that differ only in their values (numbers, lists, quoted text) are one
mistake: the page shows its text with the values that differ between students as "…", and the
values seen, each in its clause ("the generator is seeded with 7") with the students who had it.
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

from ..notebook import assignments
from ..classrun.report import export_path
from .feedback import NotGraded, label

CSS = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%;margin-bottom:1.5rem}th,td{border-bottom:1px solid #ddd;
padding:.35rem .5rem;text-align:left;vertical-align:top}td.num,th.num{text-align:right}
.bar{background:#e8e8e8;width:12rem;height:.8rem;display:inline-block}.bar span{display:block;
height:100%;background:#2f6fb0}.failed{color:#a40000}.summary span{margin-right:1.5rem}
figure{margin:0 0 1.5rem}svg{max-width:100%;height:auto}ul.seen{margin:0;padding-left:1.1rem}
#mistakes td:first-child{white-space:nowrap}"""

OK = ("graded", "skipped")  # any other status: the submission's grade is not to be trusted as is
# A value in a message: quoted text (a repr), a list, a number not part of a name.
_VALUE = re.compile(r"""'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|\[[^\[\]\n]*\]|(?<![\w.])\d+(?:\.\d+)?(?!\w)""")
_CLAUSE_END = re.compile(r"[.;:,](?=\s|$)")
EXAMPLES, NAMES = 3, 3  # per mistake: the values shown; per value: the students named


def clause(message: str, index: int) -> str:
    """The clause of ``message`` holding its ``index``-th value: cut at . ; : , outside values."""
    spans = [m.span() for m in _VALUE.finditer(message)]
    masked = _VALUE.sub(lambda m: "x" * len(m.group()), message)
    ends = [m.start() for m in _CLAUSE_END.finditer(masked)]
    start, stop = spans[index]
    left = max((end + 1 for end in ends if end < start), default=0)
    right = min((end for end in ends if end >= stop), default=len(message))
    return message[left:right].strip()


def mistake(seen: list) -> dict:
    """One mistake from ``seen``, its (student, message) pairs (same text, other values): the text
    with the values that differ shown as "…", its students, and its variants, [(the clauses of the
    differing values, [students])], most students first."""
    values = [_VALUE.findall(message) for _, message in seen]
    differ = [i for i in range(len(values[0])) if len({v[i] for v in values}) > 1]
    shown = ["…" if i in differ else value for i, value in enumerate(values[0])] + [""]
    text = "".join(part + value for part, value in zip(_VALUE.split(seen[0][1]), shown))
    variants = {}
    for student, message in seen:
        where = "; ".join(dict.fromkeys(clause(message, i) for i in differ))
        variants.setdefault(where, {})[student] = None
    return {"text": text, "students": sorted({student for student, _ in seen}),
            "variants": sorted(((where, sorted(who)) for where, who in variants.items()),
                               key=lambda v: (-len(v[1]), v[0]))}


def mistakes(failures: list) -> list:
    """The mistakes among ``failures``, (student, message) pairs, most students first."""
    groups = {}
    for student, message in failures:
        groups.setdefault(tuple(_VALUE.split(message)), []).append((student, message))
    return sorted((mistake(seen) for seen in groups.values()), key=lambda m: (-len(m["students"]), m["text"]))


def load(course: Path, assignment: str, report: Path = None) -> dict:
    """The grading report; NotGraded when there is none."""
    path = report or course / export_path(assignment, "grading_report.json")
    if not path.is_file():
        raise NotGraded(f"no grading report at {path}", assignment)
    return json.loads(path.read_text(encoding="utf-8"))


def items(students: dict, titles: dict) -> list:
    """Graded items (grade_ids) in course order: as ``titles`` ({grade_id: title}, the assignment's
    declaration order) lists them, then any other graded cell by name."""
    graded = {name for entry in students.values() for name in entry["cells"]}
    return [name for name in titles if name in graded] + sorted(graded - set(titles))


def summary(data: dict, titles: dict) -> dict:
    """Everything the page shows, as data (the tests read the same report); ``titles``:
    :func:`autograder.notebook.assignments.titles` of the report's assignment."""
    students = data["students"]
    recorded = {s: e for s, e in students.items() if e["scores_recorded"]}
    stats = []
    for name in items(students, titles):
        cells = {s: e["cells"][name] for s, e in recorded.items() if name in e["cells"]}
        passed = sum(c["score"] is not None and c["score"] >= c["max_score"] for c in cells.values())
        failures = [(s, m) for s, c in sorted(cells.items()) for m in c["messages"]]
        stats.append({"item": name, "label": label(name, titles), "passed": passed, "graded": len(cells),
                      "mistakes": mistakes(failures)})
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


def names(students: list) -> str:
    """The first few of ``students``, and how many more."""
    more = len(students) - NAMES
    return ", ".join(students[:NAMES]) + (" and %d more" % more if more > 0 else "")


def variant(where: str, who: list) -> str:
    """``where`` (the clause of the values seen) with its students, or only the students."""
    if not where:
        return names(who)
    return "%s (%d student%s: %s)" % (where, len(who), "" if len(who) == 1 else "s", names(who))


def variants_html(variants: list) -> str:
    """A mistake's first few variants as an escaped list, and how many more."""
    rows = ["<li>%s</li>" % html.escape(variant(where, who)) for where, who in variants[:EXAMPLES]]
    rest = variants[EXAMPLES:]
    if rest:
        rows.append("<li>and %d other value(s) (%d students)</li>" % (len(rest), sum(len(w) for _, w in rest)))
    return '<ul class="seen">%s</ul>' % "".join(rows)


def render(course: Path, page: Path, data: dict) -> str:
    info = summary(data, assignments.titles(course / "source", data["assignment"]))
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
                 '<th class="num">students</th><th>values seen, and who</th></tr></thead><tbody>')
    for item in info["items"]:
        for found in item["mistakes"]:
            text = found["text"].removeprefix(item["label"] + ": ")  # the item column names it
            parts.append('<tr data-item="%s"><td>%s</td><td>%s</td><td class="num">%d</td><td>%s</td></tr>'
                         % (esc(item["item"]), esc(item["label"]), esc(text), len(found["students"]),
                            variants_html(found["variants"])))
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
    """Write the dashboard (default ``exports/<assignment>/dashboard.html``) and return its path."""
    course = Path(course)
    data = load(course, assignment, report)
    if data["assignment"] != assignment:
        raise SystemExit("the grading report is for %r, not %r" % (data["assignment"], assignment))
    page = out or course / export_path(assignment, "dashboard.html")
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(render(course, page, data), encoding="utf-8")
    return page


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("assignment", help="the assignment: a folder of source/ with a *.grading.json")
    parser.add_argument("--course", type=Path, default=Path.cwd(), help="course root (default: .)")
    parser.add_argument("--report", type=Path, help="grading report (default: COURSE/exports/ASSIGNMENT/grading_report.json)")
    parser.add_argument("--out", type=Path, help="the page (default: COURSE/exports/ASSIGNMENT/dashboard.html)")


def run(args) -> int:
    try:
        page = write(args.course, args.assignment, args.out, args.report)
    except (NotGraded, assignments.DeclarationError) as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 2
    print("dashboard: %s" % page)
    return 0
