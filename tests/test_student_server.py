"""A student's JupyterLab with the students' configuration (hub/student/ over lab/exchange/ over
lab/, hub/student/python on PYTHONPATH), run by a real unix account against a real exchange made
unreadable or unwritable: Fetch, Fetch Feedback and Submit answer ``{"success": false}`` with a
sentence naming what failed (nbgrader's own handlers answer the old list for a failing fetch, shown
by the same server with the extension turned off), and the Assignments panel shows it (Chromium).
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from browser_support import free_port
from student_support import (COURSE_ID, Accounts, require_root, shared_dir, student_config_env,
                             students_python)
from support import ASSIGNMENT, ROOT, nbgrader

pytestmark = [pytest.mark.root, pytest.mark.slow]

VENV_SHARE = Path(sys.executable).parent.parent / "share" / "jupyter"


class Server:
    """JupyterLab as the student ``name``, working in their home's work/; stopped by its own pid."""

    def __init__(self, accounts: Accounts, name: str, python: Path, exchange: Path, *args: str):
        self.port, self.token = free_port(), os.urandom(16).hex()
        self.work = accounts.home(name) / "work"
        if not self.work.exists():
            accounts.run(name, ["mkdir", "-p", self.work], accounts.home(name))
        self.log = accounts.base / f"{name}-{self.port}.log"
        env = accounts.env(name, NBGRADER_EXCHANGE=str(exchange), JUPYTER_PATH=str(VENV_SHARE),
                           JUPYTERLAB_DIR=str(VENV_SHARE / "lab"), **student_config_env())
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                [str(python), "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
                 "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
                 f"--ServerApp.root_dir={self.work}", "--LabApp.news_url=None",
                 "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", *args],
                cwd=self.work, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, **accounts.as_user(name))
        deadline = time.monotonic() + 90
        while True:
            try:
                self.call("GET", "/api/status")
                return
            except (urllib.error.URLError, ConnectionError):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"JupyterLab did not start:\n{self.log.read_text()[-3000:]}")
                time.sleep(0.3)

    def call(self, method: str, path: str, body: dict = None):
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 200
            return json.loads(response.read() or b"null")

    def action(self, action: str) -> dict:
        return self.call("POST", f"/assignments/{action}", {"course_id": COURSE_ID, "assignment_id": ASSIGNMENT})

    def listed(self) -> dict:
        answer = self.call("GET", f"/assignments?course_id={COURSE_ID}")
        assert answer["success"], answer
        return {a["status"] for a in answer["value"] if a["assignment_id"] == ASSIGNMENT}

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@pytest.fixture
def setup(course_template):
    require_root()
    base = shared_dir("student-server-")
    accounts = Accounts(base)
    servers = []
    try:
        student = accounts.add("ada")
        python = students_python(base)
        course = Path(shutil.copytree(course_template, base / "course"))
        exchange = base / "exchange"
        nbgrader(course, "release_assignment", ASSIGNMENT, f"--Exchange.root={exchange}")

        def server(*args):
            servers.append(Server(accounts, student, python, exchange, *args))
            return servers[-1]

        yield {"server": server, "exchange": exchange / COURSE_ID, "accounts": accounts,
               "student": student, "course": course, "base": base}
    finally:
        for running in servers:
            running.stop()
        accounts.remove()
        shutil.rmtree(base, ignore_errors=True)


class Denied:
    """``path`` chmod'ed to ``mode`` (root's files: the student cannot undo it) while in the block."""

    def __init__(self, path: Path, mode: int):
        self.path, self.mode = path, mode

    def __enter__(self):
        self.old = self.path.stat().st_mode & 0o7777
        self.path.chmod(self.mode)

    def __exit__(self, *exc):
        self.path.chmod(self.old)


def test_failing_actions_say_so_and_the_panel_recovers(setup):
    server = setup["server"]()
    assert "assignment_list_errors: Fetch, Fetch Feedback and Submit report failures" in server.log.read_text()
    exchange = setup["exchange"]
    assert server.listed() == {"released"}

    with Denied(exchange / "outbound" / ASSIGNMENT, 0o700):
        answer = server.action("fetch")
    assert answer["success"] is False
    assert answer["value"].startswith(f"Could not fetch '{ASSIGNMENT}': You don't have read permissions")
    assert "tell your instructor" in answer["value"] and "Traceback" not in answer["value"]
    assert not (server.work / ASSIGNMENT).exists()
    assert server.listed() == {"released"}

    assert server.action("fetch")["success"]
    assert (server.work / ASSIGNMENT / "reproducibility.ipynb").is_file()
    assert server.listed() == {"fetched"}

    with Denied(exchange / "inbound", 0o2700):
        answer = server.action("submit")
    assert answer["success"] is False
    assert answer["value"].startswith(f"Could not submit '{ASSIGNMENT}': You don't have write permissions")
    assert not list((exchange / "inbound").iterdir())

    answer = server.action("submit")
    assert answer["success"], answer
    assert len(list((exchange / "inbound").iterdir())) == 1
    assert server.listed() == {"fetched", "submitted"}

    (exchange / "feedback").mkdir(mode=0o700)
    answer = server.action("fetch_feedback")
    assert answer["success"] is False
    assert answer["value"].startswith(f"Could not fetch the feedback of '{ASSIGNMENT}': You don't have "
                                      "execute permissions")
    (exchange / "feedback").chmod(0o711)  # as nbgrader's release_feedback makes it: nothing released yet
    assert server.action("fetch_feedback")["success"]


def test_nbgrader_s_own_handler_answers_a_failing_fetch_with_the_old_list(setup):
    """The fact the extension fixes: without it, the same failure answers success and the list."""
    stock = setup["server"]("--ServerApp.jpserver_extensions=assignment_list_errors=False")
    assert "report failures" not in stock.log.read_text()
    with Denied(setup["exchange"] / "outbound" / ASSIGNMENT, 0o700):
        answer = stock.call("POST", "/assignments/fetch", {"course_id": COURSE_ID, "assignment_id": ASSIGNMENT})
    assert answer["success"] is True and isinstance(answer["value"], list)
    assert "You don't have read permissions" in stock.log.read_text()  # it did fail


def test_the_helpers_import_no_course_code():
    """The students' servers hold nbgrader, not the course package."""
    import ast
    for module in (ROOT / "hub" / "student" / "python").glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not [n for n in names if n.split(".")[0] == "autograder"], module


@pytest.mark.browser
def test_the_assignments_panel_shows_each_failure(setup):
    """Chromium: Fetch, Submit and Fetch Feedback each fail once (exchange denied) and the student
    sees why: the lists' error line for a fetch, nbgrader's error dialog for a submit. Screenshots
    in artifacts/student-server/."""
    from playwright.sync_api import expect, sync_playwright

    server, exchange = setup["server"](), setup["exchange"]
    shots = ROOT / "artifacts" / "student-server"
    shots.mkdir(parents=True, exist_ok=True)
    released_error = "#released_assignments_list_error"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.route("**/*", lambda route: route.continue_()
                       if route.request.url.startswith(f"http://127.0.0.1:{server.port}/") else route.abort())
            page.goto(f"http://127.0.0.1:{server.port}/lab?token={server.token}")
            page.wait_for_selector("#jp-main-dock-panel", timeout=60000)
            page.locator('#jp-menu-panel .lm-MenuBar-itemLabel:text("Nbgrader")').click()
            page.locator('#jp-mainmenu-nbgrader li[data-command="nbgrader:open-assignment-list"]').click()
            released = page.locator("#released_assignments_list > .list_item")
            expect(released).to_have_count(1, timeout=30000)

            with Denied(exchange / "outbound" / ASSIGNMENT, 0o700):
                released.first.locator(".item_status button").click()
                expect(page.locator(released_error)).to_contain_text(
                    f"Could not fetch '{ASSIGNMENT}': You don't have read permissions", timeout=30000)
            page.screenshot(path=str(shots / "1-fetch-failed.png"))

            page.locator("#refresh_assignments_list").click()
            expect(released).to_have_count(1, timeout=30000)
            released.first.locator(".item_status button").click()
            fetched = page.locator("#fetched_assignments_list > .list_item")
            expect(fetched).to_have_count(1, timeout=30000)

            with Denied(exchange / "inbound", 0o2700):
                fetched.first.locator('.item_status button:text("Submit")').click()
                dialog = page.locator(".nbgrader-ErrorDialog")
                expect(dialog).to_contain_text("Assignment not submitted", timeout=30000)
                expect(dialog).to_contain_text(f"Could not submit '{ASSIGNMENT}': You don't have write permissions")
            page.screenshot(path=str(shots / "2-submit-failed.png"))
            dialog.locator("button:has-text('Ok')").click()

            fetched.first.locator('.item_status button:text("Submit")').click()
            submitted = page.locator("#submitted_assignments_list > .list_item")
            expect(submitted).to_have_count(1, timeout=30000)

            (exchange / "feedback").mkdir(mode=0o700, exist_ok=True)
            (exchange / "feedback").chmod(0o700)
            submitted.first.locator('.item_status button:text("Fetch Feedback")').click()
            expect(page.locator("#submitted_assignments_list_error")).to_contain_text(
                f"Could not fetch the feedback of '{ASSIGNMENT}': You don't have execute permissions",
                timeout=30000)
            page.screenshot(path=str(shots / "3-fetch-feedback-failed.png"))
        finally:
            browser.close()
