"""The class dashboard (``python -m autograder dashboard``) opened in Chromium.

A small class is graded for real (``python -m autograder grade``), its feedback written, the
dashboard command run; then headless Chromium (Playwright) opens the page from disk with every
request routed: anything that is not a ``file:`` URL fails the test, and so does any console
error (the page's Content-Security-Policy would report a blocked load there). What the page shows
is compared with the grading report of the same run. Screenshots go to ``artifacts/browser/``:
``dashboard.png`` (the full page) and ``dashboard-mistakes.png`` (the common mistakes table).
"""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.course import dashboard
from browser_support import CHROMIUM, CHROMIUM_ARGS
from corpus import reproducibility
from support import ASSIGNMENT, ROOT, env, hand_in, submit

ARTIFACTS = ROOT / "artifacts" / "browser"
REFERENCE = reproducibility.REFERENCE
HOSTILE = "<img src=x onerror=alert(1)>"  # printed by a student: the page must show it as text
CLASS = {  # the same mistake (a wrong seed) three times, with two different seeds in its message
    "ada": REFERENCE,
    "ben_seed7": {**REFERENCE, "step2": reproducibility.STEP2_SEED_7},
    "cleo_seed13": {**REFERENCE, "step2": "import random\nrandom.seed(13)"},
    "dev_range6": {**REFERENCE, "step3": reproducibility.STEP3_RANGE_6},
    "fay_seed7": {**REFERENCE, "step2": reproducibility.STEP2_SEED_7},
    "gus_html": {**REFERENCE, "step4": f"print({HOSTILE!r})"},
    "hal_text": {**REFERENCE, "step4": "print('scores:', accuracy_scores)"},
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
    report = json.loads((course / "exports" / ASSIGNMENT / "grading_report.json").read_text())
    return {"course": course, "report": report, "page": course / "exports" / ASSIGNMENT / "dashboard.html"}


@pytest.fixture(scope="module")
def shown(graded):
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    mistakes_png = ARTIFACTS / "dashboard-mistakes.png"
    mistakes_png.unlink(missing_ok=True)  # the file the test finds is this run's
    left, errors = [], []

    def guard(route):
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            left.append(route.request.url)
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1100, "height": 900})
            context.route("**/*", guard)
            page = context.new_page()
            requests = []
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(graded["page"].as_uri())
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
            page.locator("#mistakes").screenshot(path=str(mistakes_png))
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
                "requests": requests, "mistakes_png": mistakes_png,
            }
            link = page.locator('#students tr[data-student="ada"] a', has_text="reproducibility")
            link.click()
            page.wait_for_load_state()
            result["followed"] = (page.url, page.title())
        finally:
            browser.close()
    result.update(left=left, errors=errors)
    return result


@pytest.mark.browser
def test_page_loads_nothing_from_anywhere_else(shown):
    assert shown["left"] == [] and shown["errors"] == []
    assert shown["loads"] == 0
    assert all(url.startswith("file:") for url in shown["requests"])


@pytest.mark.browser
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


@pytest.mark.browser
def test_pass_rate_per_step_and_question(graded, shown):
    recorded = [e for e in graded["report"]["students"].values() if e["scores_recorded"]]
    items = {row[0]: row[2] for row in shown["rates"]}
    assert set(items) == {name for e in recorded for name in e["cells"]}
    for name, text in items.items():
        cells = [e["cells"][name] for e in recorded if name in e["cells"]]
        assert text == "%d / %d" % (sum(c["score"] >= c["max_score"] for c in cells), len(cells)), name


def mistake_rows(shown, item):
    """[(mistake, students, [values seen, and who])] of ``item`` as the browser shows them."""
    return [(row[2], int(row[3]), row[4].splitlines()) for row in shown["mistakes"] if row[0] == item]


@pytest.mark.browser
def test_common_mistakes_show_the_real_values(shown):
    """A mistake made with different values is one row, its values shown with who had them: no N."""
    (text, students, seen), = mistake_rows(shown, "test_step2")
    assert "seeded with …" in text and "random.seed(42)" in text  # the task's seed is the same for all
    assert students == 3
    assert len(seen) == 2
    assert "seeded with 7 (2 students: ben_seed7, fay_seed7)" in seen[0]
    assert "seeded with 13 (1 student: cleo_seed13)" in seen[1]
    (text, students, seen), = mistake_rows(shown, "test_step3")
    assert "holds 6 scores, not 5" in text and seen == ["dev_range6"]
    (text, students, seen), = mistake_rows(shown, "test_step4")
    assert "printed …" in text and students == 2
    assert any(repr(HOSTILE + "\n") in line and line.endswith("(1 student: gus_html)") for line in seen), seen
    quiz = [row for row in shown["mistakes"] if row[0].startswith("test_q")]
    assert quiz and all("It scores 0" in row[2] for row in quiz)
    assert not any(re.search(r"\bN\b", " ".join(row)) for row in shown["mistakes"])
    png = shown["mistakes_png"].read_bytes()
    assert png.startswith(b"\x89PNG") and int.from_bytes(png[16:20], "big") > 400  # the table, this run


@pytest.mark.browser
def test_every_failed_check_is_in_one_mistake(graded, shown):
    students = graded["report"]["students"]
    for name in {row[0] for row in shown["rates"]}:
        failing = [s for s, e in students.items()
                   if e["scores_recorded"] and e["cells"].get(name, {}).get("messages")]
        assert sum(count for _, count, _ in mistake_rows(shown, name)) == len(failing), name


@pytest.mark.browser
def test_failed_submissions_with_reasons(graded, shown):
    failed = {s: e for s, e in graded["report"]["students"].items() if e["status"] not in ("graded", "skipped")}
    assert sorted(failed) == [BROKEN]
    assert [tuple(row[:5]) for row in shown["failed"]] == [
        (s, s, e["status"], e["reason"], e["detail"]) for s, e in sorted(failed.items())]


@pytest.mark.browser
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


def test_values_inside_quoted_text_or_lists_stay_whole():
    """A clause is cut at . ; : , outside values only; a constant value is shown, not hidden."""
    found, = dashboard.mistakes([("a", "Step 4: your cell printed 'x; y, 3'; print it: print(s, 9)."),
                                 ("b", "Step 4: your cell printed [1, 2]; print it: print(s, 9).")])
    assert found["text"] == "Step 4: your cell printed …; print it: print(s, 9)."
    assert found["variants"] == [("your cell printed 'x; y, 3'", ["a"]), ("your cell printed [1, 2]", ["b"])]


def test_nothing_graded_says_to_grade_first(course):
    environ = env()
    environ.pop("COURSE_DB_URL", None)
    proc = subprocess.run([sys.executable, "-m", "autograder", "dashboard", ASSIGNMENT], cwd=course,
                          env=environ, capture_output=True, text=True)
    assert proc.returncode == 2
    assert f"no grading report at {course / 'exports' / ASSIGNMENT / 'grading_report.json'}" in proc.stderr
    assert f"Grade first: python -m autograder grade {ASSIGNMENT}" in proc.stderr
    assert "Errno" not in proc.stderr and "Traceback" not in proc.stderr
    assert not (course / "exports" / ASSIGNMENT / "dashboard.html").exists()
