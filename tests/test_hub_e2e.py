"""The class served end to end (issue 21, item 5): ``make hub`` from a fresh clone deployed into temp
paths (tests/e2e_support.py over tests/hub_support.py), grading on submit on, newly made unix
users in the course's groups. Student A works in Chromium: logs in through the hub's form, fetches
in the Assignments panel, Validates, submits a mistaken answer, gets feedback naming the mistake
with no instructor action, fixes it, resubmits, gets every step's points. Student B, by HTTP and
as B's own unix account, is denied each of A's things; the instructor sees the class in
formgrader. Screenshots in artifacts/hub-e2e/. Needs root, Node >= 20 and /usr/bin/chromium."""
import html
import re
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
import requests

from corpus import reproducibility
from e2e_support import ASSIGNMENT, CHROMIUM, CHROMIUM_ARGS, NOTEBOOK, DeployedClass, skip_reason

pytestmark = [pytest.mark.root, pytest.mark.browser, pytest.mark.slow]

SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "hub-e2e"
FEEDBACK_BOUND = 120            # the "feedback within 120 s, no instructor action"
MISTAKE = {**reproducibility.REFERENCE, "step2": reproducibility.STEP2_NO_SEED}    # forgot the seed
FIXED = reproducibility.REFERENCE
CONFIG = "c.CourseHub.attempt_interval = 5.0\nc.GradingService.poll_seconds = 0.5\n"


@pytest.fixture(scope="module")
def klass():
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    deployed = DeployedClass(CONFIG)
    try:
        deployed.a = deployed.add_user("a", "student")
        deployed.b = deployed.add_user("b", "student")
        deployed.i = deployed.add_user("i", "instructor")
        deployed.story = {}
        yield deployed
    finally:
        deployed.close()
        assert not deployed.leftover_accounts()


def steps(page: str) -> dict:
    """{"Step n": (points got, points possible, what the grader found)} from a feedback page."""
    found = {}
    for label, points, text in re.findall(r"<tr><td>(Step \d+)</td><td class=\"\w+\">(.*?)</td><td>(.*?)</td></tr>",
                                          page, re.S):
        got, possible = (float(x) for x in points.split(" / "))
        found[label] = (got, possible, html.unescape(re.sub("<[^>]+>", " ", text)))
    return found


def feedback_pages(klass, name: str) -> dict:
    """{submission timestamp: page} A fetched into ~/reproducibility/feedback/ (read as root)."""
    folder = klass.home(name) / ASSIGNMENT / "feedback"
    return {p.parent.name: p.read_text() for p in folder.glob(f"*/{NOTEBOOK.replace('.ipynb', '.html')}")}


def wait_feedback(page, klass, name: str, before: int, shot: str) -> tuple:
    """Refresh the panel until the submission's feedback is available, Fetch Feedback, return
    (seconds from the submit click, the newest page). Bounded by FEEDBACK_BOUND."""
    from playwright.sync_api import expect
    started = klass.story["submitted_at"]
    submitted = page.locator("#submitted_assignments_list")
    while True:
        page.locator("#refresh_assignments_list").click()
        expect(submitted).to_contain_text(ASSIGNMENT, timeout=30000)
        if submitted.filter(has_text="feedback available to fetch").count():
            break
        assert time.monotonic() - started < FEEDBACK_BOUND, \
            f"no feedback {FEEDBACK_BOUND} s after submitting:\n{klass.rows()}\n{klass.hub.text()[-3000:]}"
        time.sleep(1)
    waited = time.monotonic() - started
    submitted.locator('.item_status button:text("Fetch Feedback")').first.click()
    expect(submitted).not_to_contain_text("feedback available to fetch", timeout=60000)
    pages = feedback_pages(klass, name)
    assert len(pages) == before + 1, sorted(pages)      # this submission's page, fetched
    newest = max(pages)
    page.screenshot(path=str(SHOTS / f"{shot}-panel.png"))
    return waited, newest, pages[newest]


def test_student_submits_gets_feedback_fixes_and_gets_full_points(klass):
    reason = skip_reason(browser=True)
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import expect, sync_playwright
    SHOTS.mkdir(parents=True, exist_ok=True)
    a = klass.a
    released_before = len([r for r in klass.rows() if r["student"] == a and r["state"] == "released"])
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.route("**/*", lambda route: route.continue_()
                       if route.request.url.startswith(klass.base + "/") else route.abort())
            page.goto(f"{klass.base}/hub/login")
            page.fill("#username_input", a)
            page.fill("#password_input", klass.passwords[a])
            page.screenshot(path=str(SHOTS / "1-login.png"))
            page.click("#login_submit")
            page.wait_for_url(re.compile(rf"/user/{a}/lab"), timeout=180000)
            page.wait_for_selector("#jp-main-dock-panel", timeout=180000)
            page.locator('#jp-menu-panel .lm-MenuBar-itemLabel:text("Nbgrader")').click()
            page.locator('#jp-mainmenu-nbgrader li[data-command="nbgrader:open-assignment-list"]').click()
            released = page.locator("#released_assignments_list > .list_item").filter(has_text=ASSIGNMENT)
            expect(released).to_have_count(1, timeout=60000)
            released.locator(".item_status button").click()                       # Fetch
            fetched = page.locator("#fetched_assignments_list > .list_item").filter(has_text=ASSIGNMENT)
            expect(fetched).to_have_count(1, timeout=60000)
            assert (klass.home(a) / ASSIGNMENT / NOTEBOOK).is_file()
            fetched.get_by_role("button", name=ASSIGNMENT).click()               # show its notebooks
            validate = page.locator('#fetched_assignments_list button:text("Validate")').first
            expect(validate).to_be_visible(timeout=30000)
            validate.click()
            dialog = page.locator(".jp-Dialog")
            expect(dialog).to_contain_text("Validation Results", timeout=120000)
            page.screenshot(path=str(SHOTS / "2-validate.png"))
            dialog.locator("button.jp-mod-accept").click()

            klass.write_answer(a, MISTAKE)                          # as A, into A's fetched folder
            fetched.locator('.item_status button:text("Submit")').click()
            klass.story["submitted_at"] = time.monotonic()
            waited, stamp, first = wait_feedback(page, klass, a, 0, "3-mistake")
            print(f"feedback on the mistaken answer {waited:.1f} s after Submit")
            page.goto(f"{klass.base}/user/{a}/files/{ASSIGNMENT}/feedback/{stamp}/reproducibility.html")
            expect(page.locator("body")).to_contain_text("Step 2")
            page.screenshot(path=str(SHOTS / "4-feedback-mistake.png"), full_page=True)
            table = steps(first)
            assert sorted(table) == ["Step 1", "Step 2", "Step 3", "Step 4"], table
            assert table["Step 2"][0] == 0 < table["Step 2"][1]
            assert "random.seed(42) is missing" in table["Step 2"][2], table["Step 2"]     # names the mistake
            assert all(table[s][0] == table[s][1] > 0 for s in ("Step 1", "Step 3", "Step 4")), table

            page.goto(f"{klass.base}/user/{a}/lab")
            page.wait_for_selector("#jp-main-dock-panel", timeout=120000)
            page.locator('#jp-menu-panel .lm-MenuBar-itemLabel:text("Nbgrader")').click()
            page.locator('#jp-mainmenu-nbgrader li[data-command="nbgrader:open-assignment-list"]').click()
            klass.write_answer(a, FIXED)
            fetched = page.locator("#fetched_assignments_list > .list_item").filter(has_text=ASSIGNMENT)
            expect(fetched).to_have_count(1, timeout=60000)
            fetched.locator('.item_status button:text("Submit")').click()
            klass.story["submitted_at"] = time.monotonic()
            waited, stamp, second = wait_feedback(page, klass, a, 1, "5-fixed")
            print(f"feedback on the fixed answer {waited:.1f} s after Submit (attempt interval 5 s)")
            page.goto(f"{klass.base}/user/{a}/files/{ASSIGNMENT}/feedback/{stamp}/reproducibility.html")
            expect(page.locator("body")).to_contain_text("Step 4")
            page.screenshot(path=str(SHOTS / "6-feedback-full.png"), full_page=True)
            table = steps(second)
            assert sorted(table) == ["Step 1", "Step 2", "Step 3", "Step 4"], table
            assert all(got == possible > 0 for got, possible, _ in table.values()), table
        finally:
            browser.close()
    graded = [r for r in klass.rows() if r["student"] == a and r["state"] == "released"]
    assert len(graded) == released_before + 2, klass.rows()        # each submission graded once
    assert klass.scores()[a] > 0


@pytest.fixture(scope="module")
def a_graded(klass):
    """A has a graded submission and its feedback (by the command line if the browser test did
    not run); returns A's gradebook score then."""
    a = klass.a
    if not [r for r in klass.rows() if r["student"] == a and r["state"] == "released"]:
        klass.nbgrader(a, "fetch_assignment", ASSIGNMENT)
        klass.write_answer(a, FIXED)
        klass.nbgrader(a, "submit", ASSIGNMENT)
        deadline = time.monotonic() + FEEDBACK_BOUND
        while not [r for r in klass.rows() if r["student"] == a and r["state"] == "released"]:
            assert time.monotonic() < deadline, klass.rows()
            time.sleep(1)
        klass.nbgrader(a, "fetch_feedback", ASSIGNMENT)
    assert feedback_pages(klass, a)
    return klass.scores()[a]


def as_b(klass, *command) -> subprocess.CompletedProcess:
    return klass.run_as(klass.b, list(command), check=False)


def test_b_cannot_read_or_change_a_s_files(klass, a_graded):
    a_home = klass.home(klass.a)
    secret = a_home / ASSIGNMENT / NOTEBOOK
    fetched_feedback = next((a_home / ASSIGNMENT / "feedback").glob("*/*.html"))
    cache = a_home / ".local" / "share" / "jupyter" / "nbgrader_cache"
    assert secret.is_file() and cache.is_dir()
    for path in (a_home, secret, fetched_feedback, cache):
        probe = as_b(klass, "cat" if path.is_file() else "ls", path)
        assert probe.returncode != 0 and "Permission denied" in probe.stderr, (path, probe)
    before = secret.read_bytes()
    for command in (["touch", a_home / "planted"], ["sh", "-c", f"echo x >> {secret}"],
                    ["rm", "-f", secret], ["mv", secret, klass.home(klass.b) / "stolen"]):
        probe = as_b(klass, *command)
        assert probe.returncode != 0, (command, probe)
    assert secret.read_bytes() == before and not (a_home / "planted").exists()
    # the course (submissions being graded, gradebook, feedback source) is the grader's alone
    for path in (Path(klass.settings["course_root"]), klass.course / "submitted" / klass.a):
        probe = as_b(klass, "ls", path)
        assert probe.returncode != 0 and "Permission denied" in probe.stderr, (path, probe)


def test_b_cannot_read_a_s_submission_or_feedback_in_the_exchange(klass, a_graded):
    inbound, feedback = klass.exchange / "inbound", klass.exchange / "feedback"
    probe = as_b(klass, "ls", feedback)
    assert probe.returncode != 0 and "Permission denied" in probe.stderr, probe
    for page in klass.feedback_files():     # named by a hash of A's submission: B cannot list or compute it
        assert page.parent == feedback
    a_entries = [p for p in inbound.iterdir() if p.name.startswith(klass.a + "+")] if inbound.is_dir() else []
    for entry in a_entries:                 # anything of A's still waiting in inbound
        probe = as_b(klass, "ls", entry)
        assert probe.returncode != 0, (entry, probe)
    # B's own Fetch Feedback brings nothing of A's
    klass.nbgrader(klass.b, "fetch_assignment", ASSIGNMENT)
    klass.nbgrader(klass.b, "fetch_feedback", ASSIGNMENT, check=False)
    assert not list((klass.home(klass.b) / ASSIGNMENT).glob("feedback/*"))


def test_b_cannot_submit_as_a(klass, a_graded):
    """nbgrader's own submit with --student=A, and a hand-made inbound folder named for A: both
    are B's files, so both are quarantined; A's grade and feedback stay as they were."""
    a, b = klass.a, klass.b
    released_before = len([r for r in klass.rows() if r["student"] == a and r["state"] == "released"])
    pages_before = klass.feedback_files()
    klass.write_answer(b, {**FIXED, "step1": "accuracy_scores = [100] * 5"})
    forged = klass.nbgrader(b, "submit", ASSIGNMENT, f"--student={a}", check=False)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S.000000 UTC", time.gmtime())
    by_hand = klass.exchange / "inbound" / f"{a}+{ASSIGNMENT}+{stamp}+forgedbyb"
    made = as_b(klass, "sh", "-c", f'mkdir "{by_hand}" && cp {klass.home(b) / ASSIGNMENT / NOTEBOOK} "{by_hand}/"'
                                   f' && echo "{stamp}" > "{by_hand}/timestamp.txt"')
    assert made.returncode == 0, made      # inbound is writable by every student: the service must vet
    deadline = time.monotonic() + 60
    quarantine = Path(klass.settings["course_root"]) / "grading" / "quarantine.log"
    while "forgedbyb" not in (quarantine.read_text() if quarantine.exists() else ""):
        assert time.monotonic() < deadline, (forged.stderr[-2000:], klass.rows())
        time.sleep(0.5)
    log = quarantine.read_text()
    assert log.count(a) >= 1 + (forged.returncode == 0), log
    assert not [p for p in (klass.exchange / "inbound").iterdir() if p.name.startswith(a + "+")]
    time.sleep(5)                          # a poll or two more: nothing of it is graded
    rows = klass.rows()
    assert len([r for r in rows if r["student"] == a and r["state"] == "released"]) == released_before, rows
    assert not [r for r in rows if r["student"] == a and r["state"] in ("received", "grading", "graded")], rows
    assert klass.scores()[a] == a_graded
    assert klass.feedback_files() == pages_before


PROBE = """import urllib.error, urllib.request
class Stay(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None
try:
    print(urllib.request.build_opener(Stay).open("{}", timeout=60).status)
except urllib.error.HTTPError as answer:
    print(answer.code)
"""


def _server_port(klass, name: str) -> int:
    db = sqlite3.connect(f"file:{Path(klass.settings['hub_state']) / 'jupyterhub.sqlite'}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT servers.port FROM servers JOIN spawners ON spawners.server_id = servers.id "
                         "JOIN users ON users.id = spawners.user_id WHERE users.name = ?", (name,)).fetchone()
    finally:
        db.close()
    assert row and row[0], f"{name} has no server running"
    return row[0]


def _token(klass, session: requests.Session, name: str) -> str:
    """An API token of ``name``'s own, made through the hub with their login cookie."""
    xsrf = next((c.value for c in session.cookies if c.name == "_xsrf" and c.path.startswith("/hub")), "")
    answer = session.post(f"{klass.base}/hub/api/users/{name}/tokens", json={"note": "e2e probe"},
                          headers={"X-XSRFToken": xsrf}, timeout=30)
    assert answer.status_code in (200, 201), answer.text[:300]
    return answer.json()["token"]


def test_b_cannot_reach_a_s_server_or_the_formgrader(klass, a_graded):
    a, b = klass.a, klass.b
    a_session, _ = klass.login(a)
    assert a_session.get(f"{klass.base}/user/{a}/api/contents/{ASSIGNMENT}", timeout=120).status_code == 200
    session, answer = klass.login(b)
    assert answer.status_code == 200
    token = _token(klass, session, b)
    for path in (f"/user/{a}/lab", f"/user/{a}/api/contents/{ASSIGNMENT}", f"/user/{a}/files/{ASSIGNMENT}/{NOTEBOOK}"):
        reached = session.get(klass.base + path, timeout=60)
        assert reached.status_code == 403 or not reached.url.startswith(f"{klass.base}/user/{a}/"), \
            (path, reached.status_code, reached.url)
        assert "accuracy_scores" not in reached.text
        with_token = requests.get(klass.base + path, headers={"Authorization": f"token {token}"}, timeout=60,
                                  allow_redirects=False)
        assert with_token.status_code in (302, 403), (path, with_token.status_code)
    port = _server_port(klass, a)                     # A's server on its own port, B's credentials
    for headers in ({"Authorization": f"token {token}"}, {}):
        direct = requests.get(f"http://127.0.0.1:{port}/user/{a}/api/contents/{ASSIGNMENT}", headers=headers,
                              cookies=session.cookies, timeout=60, allow_redirects=False)
        assert direct.status_code in (302, 403), (headers, direct.status_code, direct.text[:200])
        assert "accuracy_scores" not in direct.text
    service = f"/services/{klass.course_id}/formgrader"
    assert session.get(klass.base + service, timeout=60).status_code == 403
    direct = requests.get(f"http://127.0.0.1:{klass.settings['formgrader_port']}{service}/api/assignments",
                          headers={"Authorization": f"token {token}"}, timeout=60, allow_redirects=False)
    assert direct.status_code in (302, 403), direct.status_code
    as_unix = as_b(klass, "python3", "-c", PROBE.format(f"http://127.0.0.1:{klass.settings['formgrader_port']}"
                                                        f"{service}/api/assignments"))
    assert as_unix.stdout.split() in (["302"], ["403"]), as_unix      # to the hub's login, or refused


def test_instructor_sees_the_class_in_formgrader(klass, a_graded):
    session, answer = klass.login(klass.i)
    assert answer.status_code == 200
    service = f"{klass.base}/services/{klass.course_id}/formgrader"
    listed = session.get(f"{service}/api/submissions/{ASSIGNMENT}", timeout=120)
    assert listed.status_code == 200, listed.text[:300]
    by_student = {s["student"]: s for s in listed.json()}
    assert by_student[klass.a]["autograded"] and by_student[klass.a]["submitted"], by_student[klass.a]
    assert by_student[klass.a]["score"] == a_graded
    reason = skip_reason(browser=True)
    if reason:
        return
    from playwright.sync_api import expect, sync_playwright
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.route("**/*", lambda route: route.continue_()
                       if route.request.url.startswith(klass.base + "/") else route.abort())
            page.goto(f"{klass.base}/hub/login")
            page.fill("#username_input", klass.i)
            page.fill("#password_input", klass.passwords[klass.i])
            page.click("#login_submit")
            page.wait_for_load_state()
            page.goto(f"{service}/manage_submissions/{ASSIGNMENT}")
            expect(page.locator("body")).to_contain_text(klass.a, timeout=60000)
            page.screenshot(path=str(SHOTS / "7-formgrader.png"), full_page=True)
        finally:
            browser.close()


def test_instructor_sees_the_dashboard(klass, a_graded):
    """The grading service writes the class dashboard when a grade run ends (in the course the
    formgrader serves to instructors only)."""
    page = klass.course / "exports" / ASSIGNMENT / "dashboard.html"
    deadline = time.monotonic() + 120
    while not page.is_file() and time.monotonic() < deadline:
        time.sleep(1)
    text = page.read_text(encoding="utf-8")
    assert f"Class dashboard: {ASSIGNMENT}" in text
    assert "HIDDEN TESTS" not in text
