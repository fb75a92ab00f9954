"""``make hub`` end to end on this machine: a fresh clone deployed for real (grader account, venvs,
exchange, proxy) into temporary paths, the hub on free loopback ports, real unix users logging in
through the hub's form (HTTP client, and Chromium for the student's Assignments panel). Needs root
(users, groups, PAM, cgroups) and Node >= 20; everything made is removed, the hub stopped by the
pid of the ``make hub`` it started."""
import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

import hub_support
from autograder.notebook.sandbox.cgroup import _cgroup_places

pytestmark = [pytest.mark.root, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")


def _skip_reason() -> str:
    if os.geteuid() != 0:
        return "needs root: make hub creates unix users and groups and the hub logs them in through PAM"
    if not shutil.which("node") or not shutil.which("npm"):
        return "needs Node.js >= 20 and npm (configurable-http-proxy): not on PATH"
    return ""


class Deployment:
    def __init__(self, clone: Path, settings: dict, hub: hub_support.Hub, prefix: str):
        self.clone, self.settings, self.hub, self.prefix = clone, settings, hub, prefix
        self.base = f"http://127.0.0.1:{settings['port']}"
        self.passwords = {}

    def login(self, user: str) -> tuple:
        """(session, final response) after posting the hub's login form as ``user``."""
        session = requests.Session()
        form = session.get(f"{self.base}/hub/login", timeout=30)
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', form.text)
        data = {"username": user, "password": self.passwords[user]}
        if xsrf:
            data["_xsrf"] = xsrf.group(1)
        return session, session.post(f"{self.base}/hub/login", data=data, timeout=120)

    def server_up(self, session: requests.Session, user: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # the page goes through the hub's OAuth (spawn-pending while it starts), then the API
            page = session.get(f"{self.base}/user/{user}/lab", timeout=60)
            if page.status_code == 200 and page.url.endswith(f"/user/{user}/lab"):
                answer = session.get(f"{self.base}/user/{user}/api/status", timeout=30)
                assert answer.status_code == 200, answer.text[:300]
                return answer.json()
            time.sleep(1)
        raise AssertionError(f"{user}'s server did not answer:\n{self.hub.text()[-4000:]}")


@pytest.fixture(scope="module")
def deployment():
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    prefix = hub_support.unique_prefix()
    private = Path(tempfile.mkdtemp(prefix="hubtest-"))
    served = Path(tempfile.mkdtemp(prefix="hubserved-"))
    hub = None
    try:
        clone = hub_support.fresh_clone(private)
        settings = hub_support.configure(clone, served, prefix)
        hub = hub_support.Hub(clone, private / "make-hub.log")
        hub.wait_listening(settings["port"])
        found = Deployment(clone, settings, hub, prefix)
        for role, group in (("student", settings["student_group"]),
                            ("instructor", settings["instructor_group"]), ("outsider", None)):
            name = f"{prefix}{role[0]}"
            found.passwords[name] = f"pw-{role}-{prefix}"
            hub_support.add_user(name, found.passwords[name], group, home=served / "home" / name)
            setattr(found, role, name)
        yield found
    finally:
        if hub is not None:
            hub.stop()
        hub_support.remove_users_and_groups(prefix)
        shutil.rmtree(private, ignore_errors=True)
        shutil.rmtree(served, ignore_errors=True)


def test_outsider_is_refused(deployment):
    _, answer = deployment.login(deployment.outsider)
    assert answer.status_code == 403
    assert f"User '{deployment.outsider}' not allowed" in deployment.hub.text()
    assert f"/user/{deployment.outsider}" not in deployment.hub.text()    # no server for them


def test_student_logs_in_and_the_server_starts_with_a_private_home(deployment):
    home = Path(pwd.getpwnam(deployment.student).pw_dir)
    home.chmod(0o755)                              # what Debian's useradd -m makes
    session, answer = deployment.login(deployment.student)
    assert answer.status_code == 200, answer.text[:500]
    deployment.server_up(session, deployment.student)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700


def test_formgrader_is_the_instructors_only(deployment):
    student, _ = deployment.login(deployment.student)
    refused = student.get(f"{deployment.base}/services/{deployment_course_id(deployment)}/formgrader", timeout=60)
    assert refused.status_code == 403
    instructor, answer = deployment.login(deployment.instructor)
    assert answer.status_code == 200
    reached = instructor.get(f"{deployment.base}/services/{deployment_course_id(deployment)}/formgrader",
                             timeout=60)
    assert reached.status_code == 200 and "nbgrader formgrade" in reached.text
    # the assignments formgrader lists are the course's, read from the grader's copy
    listed = instructor.get(f"{deployment.base}/services/{deployment_course_id(deployment)}"
                            "/formgrader/api/assignments", timeout=60).json()
    assert sorted(a["name"] for a in listed) == released_assignments(deployment)


def deployment_course_id(deployment) -> str:
    return json.loads((Path(deployment.settings["hub_state"]) / "coursehub.json").read_text())["course_id"]


def released_assignments(deployment) -> list:
    return sorted(p.name for p in (deployment.clone / "release").iterdir() if p.is_dir())


def test_every_assignment_is_released_by_the_grader(deployment):
    outbound = Path(deployment.settings["exchange"]) / deployment_course_id(deployment) / "outbound"
    assert sorted(p.name for p in outbound.iterdir()) == released_assignments(deployment)
    grader = pwd.getpwnam(deployment.settings["grader_user"]).pw_uid
    assert {p.stat().st_uid for p in outbound.rglob("*")} == {grader}
    assert stat.S_IMODE(Path(deployment.settings["exchange"]).stat().st_mode) == 0o1777


def test_hub_state_and_course_are_private(deployment):
    state, course = Path(deployment.settings["hub_state"]), Path(deployment.settings["course_root"])
    assert stat.S_IMODE(state.stat().st_mode) == 0o700 and state.stat().st_uid == 0
    database = state / "jupyterhub.sqlite"
    assert database.exists() and not database.stat().st_mode & 0o077
    assert stat.S_IMODE(course.stat().st_mode) == 0o700
    assert course.stat().st_uid == pwd.getpwnam(deployment.settings["grader_user"]).pw_uid


def test_student_env_holds_no_course(deployment):
    env = Path(deployment.settings["student_env"])
    names = [p for p in env.rglob("*")]
    assert len(names) > 1000                       # a whole venv was looked at
    # no byte-identical copy of any file of the course's source/ (solutions, declarations, data)
    secret = {hashlib.sha256(p.read_bytes()).digest(): p for p in (deployment.clone / "source").rglob("*")
              if p.is_file() and p.stat().st_size}
    sizes = {p.stat().st_size for p in secret.values()}
    copies = [p for p in names if p.is_file() and not p.is_symlink() and p.stat().st_size in sizes
              and hashlib.sha256(p.read_bytes()).digest() in secret]
    assert len(secret) > 5 and not copies
    assert not [p for p in names if p.name.endswith((".expected.json", ".grading.json"))]
    assert not [p for p in names if p.name == "autograder"]
    imported = subprocess.run([str(env / "venv" / "bin" / "python"), "-c", "import autograder"],
                              env={"PYTHONPATH": str(env / "python")}, cwd=env, capture_output=True, text=True)
    assert "No module named 'autograder'" in imported.stderr
    # what the student env does hold: the Assignment List and Validate, no formgrader
    server = json.loads((env / "etc" / "jupyter" / "jupyter_server_config.json").read_text())
    extensions = server["ServerApp"]["jpserver_extensions"]
    assert extensions["nbgrader.server_extensions.assignment_list"] is True
    assert extensions["nbgrader.server_extensions.formgrader"] is False


def test_student_server_runs_in_its_own_cgroup(deployment):
    session, _ = deployment.login(deployment.student)
    deployment.server_up(session, deployment.student)
    uid = pwd.getpwnam(deployment.student).pw_uid
    pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _owner(p) == uid]
    assert pids, "no process of the student is running"
    version, parents, _ = _cgroup_places()
    key = "cgroup2" if version == 2 else "memory"
    folder = parents[key] / f"coursehub-{deployment.student}"
    members = {int(pid) for pid in (folder / "cgroup.procs").read_text().split()}
    assert set(pids) <= members
    limit = (folder / ("memory.max" if version == 2 else "memory.limit_in_bytes")).read_text()
    assert int(limit) == deployment.settings["server_memory_mb"] << 20
    pids_folder = parents["cgroup2" if version == 2 else "pids"] / f"coursehub-{deployment.student}"
    assert int((pids_folder / "pids.max").read_text()) == deployment.settings["server_processes"]


def _owner(proc: Path) -> int:
    try:
        return proc.stat().st_uid
    except FileNotFoundError:
        return -1


def test_a_rerun_installs_nothing(deployment):
    started = time.monotonic()
    rerun = subprocess.run([str(deployment.clone / ".venv" / "bin" / "python"), "-m", "autograder", "hub",
                            "--no-start"], cwd=deployment.clone, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stderr.count("is up to date") == 3, rerun.stderr
    assert "released into" in rerun.stderr and "nothing new" in rerun.stderr
    assert "pip install" not in rerun.stderr and "npm ci" not in rerun.stderr
    print(f"make hub's deployment again, nothing changed: {time.monotonic() - started:.1f} s")


@pytest.mark.parametrize("how", ["other", "student group"])
def test_refuses_a_checkout_students_can_read(deployment, how):
    top = Path(tempfile.mkdtemp(prefix="hubopen-"))
    try:
        top.chmod(0o755)
        for folder in top.parents:
            assert folder.stat().st_mode & 0o001, f"{folder} is closed: this probe needs an open path"
        _refused_when_readable(deployment, how, top / "checkout")
    finally:
        shutil.rmtree(top)


def _refused_when_readable(deployment, how, readable):
    shutil.copytree(deployment.clone, readable, symlinks=True, ignore=shutil.ignore_patterns(".venv", ".git"))
    for path in [readable, *readable.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    if how == "student group":
        group = deployment.settings["student_group"]
        for path in [readable, *readable.rglob("*")]:
            shutil.chown(path, group=group)
            path.chmod(0o750 if path.is_dir() else 0o640)
    refused = subprocess.run([str(deployment.clone / ".venv" / "bin" / "python"), "-m", "autograder", "hub",
                              "--no-start", "--checkout", str(readable)], capture_output=True, text=True)
    assert refused.returncode == 2
    assert f"students can read {readable}/" in refused.stderr
    assert f"chmod 700 {readable}" in refused.stderr


@pytest.mark.browser
def test_student_sees_the_assignments_panel_in_chromium(deployment):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.route("**/*", lambda route: route.continue_()
                       if route.request.url.startswith(deployment.base + "/") else route.abort())
            page.goto(f"{deployment.base}/hub/login")
            page.fill("#username_input", deployment.student)
            page.fill("#password_input", deployment.passwords[deployment.student])
            page.click("#login_submit")
            page.wait_for_url(re.compile(rf"/user/{deployment.student}/lab"), timeout=120000)
            page.wait_for_selector("#jp-main-dock-panel", timeout=120000)
            page.locator('#jp-menu-panel .lm-MenuBar-itemLabel:text("Nbgrader")').click()
            shown = page.locator("#jp-mainmenu-nbgrader li.lm-Menu-item:not(.lm-mod-hidden)")
            expect(shown).to_have_count(1)         # the Assignment List only: no formgrader
            expect(shown).to_have_attribute("data-command", "nbgrader:open-assignment-list")
            shown.click()
            released = page.locator("#released_assignments_list > .list_item .item_name")
            expect(released).to_have_count(len(released_assignments(deployment)), timeout=60000)
            assert sorted(released.all_inner_texts()) == released_assignments(deployment)
            # docs/hub.md's figure: an idle logged-in student, JupyterLab open, no kernel
            version, parents, _ = _cgroup_places()
            cgroup = parents["cgroup2" if version == 2 else "memory"] / f"coursehub-{deployment.student}"
            print(f"memory of {deployment.student}'s idle server:", hub_support.server_memory(cgroup, version))
        finally:
            browser.close()


def _grading_services(deployment) -> set:
    """Pids of the deployment's grading service: the grader's processes running it, below the hub."""
    uid = pwd.getpwnam(deployment.settings["grader_user"]).pw_uid
    found = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or _owner(proc) != uid:
            continue
        try:
            command = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"autograder.hub.grading_service" in command and _below(int(proc.name), deployment.hub.proc.pid):
            found.add(int(proc.name))
    return found


def _below(pid: int, ancestor: int) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            pid = int((Path("/proc") / str(pid) / "stat").read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            return False
    return False


def test_the_hub_restarts_a_killed_grading_service(deployment):
    """Item 4: SIGKILL the grading service; the hub starts it again (tests/test_grading_service.py
    proves a restarted service grades what was pending exactly once)."""
    deadline = time.monotonic() + 120
    while not (before := _grading_services(deployment)) and time.monotonic() < deadline:
        time.sleep(1)
    assert len(before) == 1, f"grading service processes: {before}\n{deployment.hub.text()[-3000:]}"
    os.kill(before.pop(), signal.SIGKILL)
    deadline = time.monotonic() + 180          # JupyterHub polls its services every 30 s
    while not (after := _grading_services(deployment)) and time.monotonic() < deadline:
        time.sleep(1)
    assert len(after) == 1, f"not restarted:\n{deployment.hub.text()[-3000:]}"
    assert "Service grading exited" in deployment.hub.text()
