"""The class dashboard (``python -m autograder dashboard``) opened in Chromium.

A small class is graded for real (``python -m autograder grade``), its feedback written, the
dashboard command run; then headless Chromium (Playwright) opens the page from disk with every
request routed: anything that is not a ``file:`` URL fails the test, and so does any console
error (the page's Content-Security-Policy would report a blocked load there). What the page shows
is compared with the grading report of the same run. A full-page screenshot goes to
``artifacts/dashboard.png``.
"""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.course import dashboard
from autograder.course.submissions import hand_in
from support import ASSIGNMENT, ROOT, env, submit

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
REFERENCE = {
    "step1": "accuracy_scores = []",
    "step2": "import random\nrandom.seed(42)",
    "step3": "for i in range(5):\n    accuracy_scores.append(random.randint(80, 100))",
    "step4": "print(accuracy_scores)",
}
CLASS = {  # the same mistake (a wrong seed) twice, with different numbers in its message
    "ada": REFERENCE,
    "ben_seed7": {**REFERENCE, "step2": "import random\nrandom.seed(7)"},
    "cleo_seed13": {**REFERENCE, "step2": "import random\nrandom.seed(13)"},
    "dev_range6": {**REFERENCE, "step3": "for i in range(6):\n    accuracy_scores.append(random.randint(80, 100))"},
}
BROKEN = "eve_broken"


@pytest.fixture(scope="module")
def graded(course_template, tmp_path_factory):
    course = Path(shutil.copytree(course_template, tmp_path_factory.mktemp("dashboard") / "course"))
    for student, answers in CLASS.items():
        hand_in(course, student, answers)
    submit(course, BROKEN, "{ not a notebook")
    environ = env()
    environ.pop("COURSE_DB_URL", None)
    for cmd in (["-m", "autograder", "grade", ASSIGNMENT, "--workers", "2"],
                ["-m", "autograder.course.feedback", ASSIGNMENT],
                ["-m", "autograder", "dashboard", ASSIGNMENT]):
        proc = subprocess.run([sys.executable, *cmd], cwd=course, env=environ, capture_output=True, text=True)
        assert proc.returncode in ((0, 1) if "grade" in cmd else (0,)), proc.stdout + proc.stderr
    report = json.loads((course / "exports" / "grading_report.json").read_text())
    return {"course": course, "report": report, "page": course / "exports" / "dashboard.html"}


@pytest.fixture(scope="module")
def shown(graded):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)")
    left, errors = [], []

    def guard(route):
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            left.append(route.request.url)
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1100, "height": 900})
            context.route("**/*", guard)
            page = context.new_page()
            requests = []
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(graded["page"].as_uri())
            out = ROOT / "artifacts" / "dashboard.png"
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=True)
            table = lambda sel: page.eval_on_selector_all(  # noqa: E731
                sel + " tbody tr", "rows => rows.map(r => [r.dataset.item || r.dataset.student || '', "
                "...Array.from(r.cells).map(c => c.innerText.trim())])")
            result = {
                "counts": page.eval_on_selector_all(".summary b", "e => Object.fromEntries(e.map(b => "
                                                    "[b.id.slice(2), b.innerText]))"),
                "svg": page.eval_on_selector("figure svg", "e => { const b = e.getBoundingClientRect(); "
                                             "return [b.width, b.height, e.querySelectorAll('path').length] }"),
                "distribution": table("#distribution"), "rates": table("#pass-rates"),
                "mistakes": table("#mistakes"), "failed": table("#failed"), "students": table("#students"),
                "loads": page.eval_on_selector_all("[src], link[href], [srcset]", "e => e.length"),
                "requests": requests,
            }
            link = page.locator('#students tr[data-student="ada"] a', has_text="reproducibility")
            link.click()
            page.wait_for_load_state()
            result["followed"] = (page.url, page.title())
        finally:
            browser.close()
    result.update(left=left, errors=errors)
    return result


def test_page_loads_nothing_from_anywhere_else(shown):
    assert shown["left"] == [] and shown["errors"] == []
    assert shown["loads"] == 0
    assert all(url.startswith("file:") for url in shown["requests"])


def test_counts_and_score_distribution_match_the_report(graded, shown):
    report = graded["report"]
    assert shown["counts"] == {"students": str(len(report["students"])),
                               **{k.replace(" ", "-"): str(v) for k, v in report["summary"].items()}}
    assert report["summary"]["graded"] == len(CLASS) and report["summary"]["failed"] == 1
    scores = [e["score"] for e in report["students"].values() if e["scores_recorded"]]
    assert [(float(row[1]), int(row[2])) for row in shown["distribution"]] == sorted(
        (s, scores.count(s)) for s in set(scores))
    width, height, paths = shown["svg"]
    assert width > 300 and height > 100 and paths > 10  # the histogram is drawn, in the page itself


def test_pass_rate_per_step_and_question(graded, shown):
    recorded = [e for e in graded["report"]["students"].values() if e["scores_recorded"]]
    items = {row[0]: row[2] for row in shown["rates"]}
    assert set(items) == {name for e in recorded for name in e["cells"]}
    for name, text in items.items():
        cells = [e["cells"][name] for e in recorded if name in e["cells"]]
        assert text == "%d / %d" % (sum(c["score"] >= c["max_score"] for c in cells), len(cells)), name


def test_common_mistakes_are_grouped_and_counted(graded, shown):
    students = graded["report"]["students"]
    seed_messages = [students[s]["cells"]["test_step2"]["messages"] for s in ("ben_seed7", "cleo_seed13")]
    assert seed_messages[0] != seed_messages[1]  # they differ, in the seed only
    step2 = [row for row in shown["mistakes"] if row[0] == "test_step2"]
    assert len(step2) == 1 and step2[0][3] == "2", step2
    assert "seeded with N" in step2[0][2]
    for name in {row[0] for row in shown["rates"]}:  # every failed-check message counted once
        messages = sum(len(e["cells"].get(name, {}).get("messages", [])) for e in students.values()
                       if e["scores_recorded"])
        assert sum(int(row[3]) for row in shown["mistakes"] if row[0] == name) == messages, name


def test_failed_submissions_with_reasons(graded, shown):
    failed = {s: e for s, e in graded["report"]["students"].items() if e["status"] not in ("graded", "skipped")}
    assert sorted(failed) == [BROKEN]
    assert [tuple(row[:5]) for row in shown["failed"]] == [
        (s, s, e["status"], e["reason"], e["detail"]) for s, e in sorted(failed.items())]


def test_student_table_links_to_feedback(graded, shown):
    rows = {row[0]: row for row in shown["students"]}
    assert sorted(rows) == sorted(graded["report"]["students"])
    for student, entry in graded["report"]["students"].items():
        if entry["scores_recorded"]:
            assert rows[student][3] == "%g / %g" % (entry["score"], entry["max_score"])
            assert "reproducibility" in rows[student][4]
    assert rows[BROKEN][3] == "—" and rows[BROKEN][4] == "—"
    url, title = shown["followed"]
    assert url == (graded["course"] / "feedback" / "ada" / ASSIGNMENT / "reproducibility.html").as_uri()
    assert title == "Feedback: reproducibility"


def test_mistake_kind_normalizes_numbers_and_quoted_text():
    assert dashboard.mistake_kind("your cell printed 'my 5 scores'; print the list") == \
        dashboard.mistake_kind('your cell printed "other"; print the list')
    assert re.search(r"seeded with N", dashboard.mistake_kind("seeded with 7; the task uses 42"))
