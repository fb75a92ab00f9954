"""Hand-in and hand-back through nbgrader's exchange, as nbgrader's own tests do it.

An exchange folder in a temp dir, the instructor in a course directory, three students each with
their own HOME, working folder, Jupyter dirs and user name. Real commands throughout: the
instructor releases (``nbgrader release_assignment``); the students fetch, answer and submit
(``nbgrader fetch_assignment`` / ``submit``); the instructor collects (``nbgrader collect``), grades
with ``python -m autograder grade``, writes the safe feedback (``python -m autograder.course.feedback``) and
releases it (``nbgrader release_feedback``); each student fetches it (``nbgrader fetch_feedback``)
and gets exactly the course's safe pages for their own submission. A fourth submission copied into
``submitted/`` by hand (as from an LMS) has no submission secret: feedback is still written and
``release_feedback`` still runs (it stopped with FileNotFoundError on ``timestamp.txt`` before).
"""
import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from corpus import reproducibility
from support import ASSIGNMENT, BIN, env, fill, hand_in

pytestmark = pytest.mark.slow  # a whole exchange round trip

COURSE_ID = "reproducible-ml"
REFERENCE = reproducibility.REFERENCE
STUDENTS = {  # user name -> the answers they type into the fetched notebook
    "ada": REFERENCE,
    "ben": {**REFERENCE, "step2": reproducibility.STEP2_SEED_7},
    "cleo": {},
}
BY_HAND = "dev_by_hand"


def run(cmd, cwd, environ):
    proc = subprocess.run(cmd, cwd=cwd, env=environ, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc


class Student:
    """One student's account: own HOME, working folder, Jupyter dirs (nbgrader's cache) and user name."""

    def __init__(self, name: str, base: Path, exchange: Path):
        self.name, self.exchange = name, exchange
        self.home = base / name
        self.work = self.home / "work"
        self.work.mkdir(parents=True)
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("COURSE_DB_URL", "JUPYTER_CONFIG_PATH", "JUPYTER_PATH")}
        self.env.update(HOME=str(self.home), USER=name, LOGNAME=name,
                        JUPYTER_CONFIG_DIR=str(self.home / ".jupyter"),
                        JUPYTER_DATA_DIR=str(self.home / ".local/share/jupyter"),
                        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")

    def nbgrader(self, *args):
        return run([sys.executable, "-m", "nbgrader", *args, f"--course={COURSE_ID}",
                    f"--Exchange.root={self.exchange}"], self.work, self.env)


@pytest.fixture(scope="module")
def flow(course_template, tmp_path_factory):
    base = tmp_path_factory.mktemp("exchange")
    course = Path(shutil.copytree(course_template, base / "course"))
    exchange = base / "exchange"
    instructor_env = env(NBGRADER_EXCHANGE=str(exchange))  # nbgrader_config.py reads it
    instructor_env.pop("COURSE_DB_URL", None)

    def instructor(*cmd):
        return run(list(cmd), course, instructor_env)

    def nbgrader(*args):
        return instructor(sys.executable, "-m", "nbgrader", *args)

    nbgrader("release_assignment", ASSIGNMENT)
    students = {name: Student(name, base / "students", exchange) for name in STUDENTS}
    for name, student in students.items():
        student.nbgrader("fetch_assignment", ASSIGNMENT)
        path = student.work / ASSIGNMENT / "reproducibility.ipynb"
        nbformat.write(fill(path, STUDENTS[name]), path)
        # one machine, one Unix user: --student names the student as JupyterHub's accounts would
        student.nbgrader("submit", ASSIGNMENT, f"--student={name}")
    collected = nbgrader("collect", ASSIGNMENT)
    hand_in(course, BY_HAND, REFERENCE)  # e.g. from an LMS download: no nbgrader submit
    graded = instructor(sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--workers", "2")
    written = instructor(sys.executable, "-m", "autograder.course.feedback", ASSIGNMENT)
    released = nbgrader("release_feedback", ASSIGNMENT)
    for student in students.values():
        student.nbgrader("fetch_feedback", ASSIGNMENT, f"--student={student.name}")
    report = json.loads((course / "exports" / ASSIGNMENT / "grading_report.json").read_text())
    return {"course": course, "exchange": exchange, "students": students, "report": report,
            "collected": collected, "graded": graded, "written": written, "released": released}


def fetched(student) -> dict:
    """{notebook name: page} the student fetched (one folder per submission timestamp)."""
    folders = list((student.work / ASSIGNMENT / "feedback").iterdir())
    assert len(folders) == 1, folders
    return {p.stem: p.read_text(encoding="utf-8") for p in folders[0].glob("*.html")}


def test_collect_finds_every_submission(flow):
    for name in STUDENTS:
        folder = flow["course"] / "submitted" / name / ASSIGNMENT
        released = [p.name for p in (flow["course"] / "release" / ASSIGNMENT).iterdir()]
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            released + ["submission_secret.txt", "timestamp.txt"])
    assert sorted(flow["report"]["students"]) == sorted([*STUDENTS, BY_HAND])
    assert all(e["status"] == "graded" for e in flow["report"]["students"].values())


def test_each_student_fetches_exactly_their_own_safe_pages(flow):
    course = flow["course"]
    for name, student in flow["students"].items():
        pages = fetched(student)
        assert sorted(pages) == ["quiz", "reproducibility"]
        for notebook, page in pages.items():
            published = (course / "feedback" / name / ASSIGNMENT / f"{notebook}.html").read_text(encoding="utf-8")
            assert page == published, (name, notebook)
            assert f"Student <b>{name}</b>" in page
            assert not [other for other in [*STUDENTS, BY_HAND] if other != name and f"<b>{other}</b>" in page]
            for secret in ("BEGIN HIDDEN TESTS", "BEGIN SOLUTION", "assert ", "Traceback"):
                assert secret not in page, (name, secret)


def test_fetched_points_are_the_graded_points(flow):
    from autograder.notebook import assignments
    from autograder.course.feedback import label

    titles = assignments.titles(flow["course"] / "source", ASSIGNMENT)
    for name, student in flow["students"].items():
        shown = {}
        for page in fetched(student).values():
            for item, points in re.findall(r"<tr><td>(.*?)</td><td class=\"\w+\">(.*?)</td>", page):
                shown[html.unescape(item)] = points
        cells = flow["report"]["students"][name]["cells"]
        assert shown == {label(g, titles): "%g / %g" % (c["score"], c["max_score"]) for g, c in cells.items()}
    # the three students differ where their answers differ
    steps = {name: flow["report"]["students"][name]["cells"]["test_step2"]["score"] for name in STUDENTS}
    assert steps["ada"] > 0 and steps["ben"] == 0 and steps["cleo"] == 0


def test_release_feedback_works_for_a_submission_not_made_through_the_exchange(flow):
    folder = flow["course"] / "feedback" / BY_HAND / ASSIGNMENT
    assert (folder / "reproducibility.html").is_file() and (folder / "timestamp.txt").is_file()
    assert "Releasing feedback for student '%s'" % BY_HAND in flow["released"].stderr
    assert BY_HAND in flow["written"].stdout.split("not fetchable", 1)[1]
    assert not any(name in flow["written"].stdout.split("not fetchable", 1)[1] for name in STUDENTS)
    # the exchange holds one page per released notebook, named by a hash, nothing else
    outbound = sorted(p.name for p in (flow["exchange"] / COURSE_ID / "feedback").iterdir())
    assert len(outbound) == 2 * (len(STUDENTS) + 1)
    assert all(re.fullmatch(r"[0-9a-f]{32}\.html", n) for n in outbound), outbound


@pytest.mark.browser
def test_student_fetches_and_submits_in_the_assignment_list(course_template, tmp_path):
    """The Assignment List in the students' JupyterLab (Chromium, Playwright): the released
    assignment is listed, Fetch puts it in the student's folder, Submit hands it in, and the
    instructor's ``nbgrader collect`` finds it. The server runs with the students' lab/ config
    and lab/exchange/ on top, exactly as lab/run-lab.sh does when NBGRADER_EXCHANGE is set
    (lab/exchange/labconfig turns the "Nbgrader" menu on: the Assignment List has no other way
    in). With the instructor plugins off, the menu shows the Assignment List and nothing else."""
    from playwright.sync_api import expect, sync_playwright

    from browser_support import REPO, VENV_BIN, free_port, isolated_env
    from nbgrader.utils import get_username

    course = Path(shutil.copytree(course_template, tmp_path / "course"))
    exchange = tmp_path / "exchange"
    instructor_env = env(NBGRADER_EXCHANGE=str(exchange))
    instructor_env.pop("COURSE_DB_URL", None)
    nbgrader = [sys.executable, "-m", "nbgrader"]
    run([*nbgrader, "release_assignment", ASSIGNMENT], course, instructor_env)

    work = tmp_path / "student"
    work.mkdir()
    lab_env = isolated_env(tmp_path / "state")
    lab_env.pop("COURSE_DB_URL", None)
    lab_env.update(JUPYTER_CONFIG_PATH=os.pathsep.join(map(str, [REPO / "lab" / "exchange", REPO / "lab"])),
                   NBGRADER_EXCHANGE=str(exchange))
    port, token = free_port(), "t" * 32
    log = open(tmp_path / "lab.log", "w")
    server = subprocess.Popen(
        [str(VENV_BIN / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
         "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         *(["--allow-root"] if os.getuid() == 0 else [])],
        cwd=work, env=lab_env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    shots = REPO / "artifacts" / "exchange"
    shots.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"])
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.route("**/*", lambda route: route.continue_()
                           if route.request.url.startswith(f"http://127.0.0.1:{port}/") else route.abort())
                for _ in range(120):  # the server answers within a few seconds
                    try:
                        page.goto(f"http://127.0.0.1:{port}/lab?token={token}")
                        break
                    except Exception:
                        if server.poll() is not None:
                            raise
                        page.wait_for_timeout(500)
                page.wait_for_selector("#jp-main-dock-panel", timeout=60000)
                page.locator('#jp-menu-panel .lm-MenuBar-itemLabel:text("Nbgrader")').click()
                shown_items = page.locator("#jp-mainmenu-nbgrader li.lm-Menu-item:not(.lm-mod-hidden)")
                expect(shown_items).to_have_count(1)  # no formgrader, course list, create assignment
                expect(shown_items).to_have_attribute("data-command", "nbgrader:open-assignment-list")
                shown_items.click()
                released = page.locator("#released_assignments_list > .list_item")
                expect(released).to_have_count(1, timeout=30000)
                expect(released.first.locator(".item_name")).to_have_text(ASSIGNMENT)
                expect(released.first.locator(".item_course")).to_have_text(COURSE_ID)
                page.screenshot(path=str(shots / "1-released.png"))
                released.first.locator(".item_status button").click()
                fetched_rows = page.locator("#fetched_assignments_list > .list_item")
                expect(fetched_rows).to_have_count(1, timeout=30000)
                page.screenshot(path=str(shots / "2-fetched.png"))
                fetched_rows.first.locator('.item_status button:text("Submit")').click()
                submitted = page.locator("#submitted_assignments_list > .list_item")
                expect(submitted).to_have_count(1, timeout=30000)
                page.screenshot(path=str(shots / "3-submitted.png"))
            finally:
                browser.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()

    fetched_files = sorted(p.name for p in (work / ASSIGNMENT).iterdir())
    assert fetched_files == sorted(p.name for p in (course / "release" / ASSIGNMENT).iterdir())
    run([*nbgrader, "collect", ASSIGNMENT], course, instructor_env)
    handed_in = course / "submitted" / get_username() / ASSIGNMENT
    for name in fetched_files:
        if name.endswith(".ipynb"):
            assert (handed_in / name).read_bytes() == (work / ASSIGNMENT / name).read_bytes(), name
