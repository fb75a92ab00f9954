"""A deployed class for tests/test_hub_e2e.py and bench/rush.py: tests/hub_support.py's ``make hub``
from a fresh clone (temp paths, free loopback ports, a unique prefix), grading on submit tuned by
``extra_config``, and what the students and the instructor do: unix accounts in the groups, the
hub's login form, ``nbgrader`` run as a student (runuser) from the students' environment with the
environment the hub's spawner gives their servers, the grading journal and gradebook read as root.
Everything made is removed by :meth:`DeployedClass.close`; the hub stopped by its own pid."""
import json
import os
import pwd
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import nbformat
import requests

import hub_support

RUNUSER = shutil.which("runuser", path="/usr/sbin:/usr/bin:/sbin:/bin")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
ASSIGNMENT = "reproducibility"
NOTEBOOK = "reproducibility.ipynb"


def skip_reason(browser: bool = False) -> str:
    """Why this machine cannot run a deployed class ("" when it can)."""
    if os.geteuid() != 0:
        return "needs root: make hub creates unix users and groups and the hub logs them in through PAM"
    if not shutil.which("node") or not shutil.which("npm"):
        return "needs Node.js >= 20 and npm (configurable-http-proxy): not on PATH"
    if browser:
        if not CHROMIUM.exists():
            return f"{CHROMIUM} is missing (apt-get install chromium)"
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            return "playwright (python package) is not installed"
    return ""


class DeployedClass:
    """``make hub`` deployed and running; accounts made with :meth:`add_user`."""

    def __init__(self, extra_config: str = ""):
        self.prefix = hub_support.unique_prefix()
        self.private = Path(tempfile.mkdtemp(prefix="hube2e-"))
        self.served = Path(tempfile.mkdtemp(prefix="hube2eserved-"))
        self.hub, self.passwords, self.made = None, {}, []
        try:
            self.clone = hub_support.fresh_clone(self.private)
            self.settings = hub_support.configure(self.clone, self.served, self.prefix)
            if extra_config:
                with open(self.clone / "nbgrader_config.py", "a") as config:
                    config.write("\n# tests/e2e_support.py\n" + extra_config + "\n")
            self.hub = hub_support.Hub(self.clone, self.private / "make-hub.log")
            self.hub.wait_listening(self.settings["port"])
            self.coursehub = json.loads((Path(self.settings["hub_state"]) / "coursehub.json").read_text())
        except BaseException:
            self.close()
            raise
        self.course_id = self.coursehub["course_id"]
        self.base = f"http://127.0.0.1:{self.settings['port']}"
        self.course = Path(self.settings["course_root"]) / "course"
        self.exchange = Path(self.settings["exchange"]) / self.course_id

    # -- accounts -------------------------------------------------------------------------------
    def add_user(self, short: str, role: str) -> str:
        """A unix account ``<prefix><short>`` with a password, in the group of ``role``
        ("student", "instructor", or None), home made by ``useradd -m`` under the served folder."""
        name = f"{self.prefix}{short}"
        group = {"student": self.settings["student_group"], "instructor": self.settings["instructor_group"],
                 None: None}[role]
        self.passwords[name] = f"pw-{short}-{os.urandom(6).hex()}"
        for attempt in range(60):       # other helpers hold the account files' lock now and then
            try:
                hub_support.add_user(name, self.passwords[name], group, home=self.served / "home" / name)
                break
            except subprocess.CalledProcessError:
                if attempt == 59:
                    raise
                subprocess.run(["userdel", "--remove", name], capture_output=True)
                time.sleep(0.5)
        self.made.append(name)
        return name

    def home(self, name: str) -> Path:
        return Path(pwd.getpwnam(name).pw_dir)

    def env(self, name: str) -> dict:
        """What the spawner gives ``name``'s server (students' Jupyter config, exchange, helpers)."""
        student_env = Path(self.settings["student_env"])
        return {"HOME": str(self.home(name)), "USER": name, "LOGNAME": name, "LANG": "C.UTF-8",
                "PATH": f"{student_env / 'venv' / 'bin'}:/usr/local/bin:/usr/bin:/bin",
                "JUPYTER_CONFIG_PATH": str(student_env / "etc" / "jupyter"),
                "NBGRADER_EXCHANGE": self.settings["exchange"], "PYTHONPATH": self.coursehub["student_python"]}

    def run_as(self, name: str, argv: list, cwd: Path = None, check: bool = True,
               timeout: float = 300) -> subprocess.CompletedProcess:
        """``argv`` as unix user ``name`` (runuser), in ``cwd`` (default: their home)."""
        proc = subprocess.run([RUNUSER, "-u", name, "--", *map(str, argv)], cwd=cwd or self.home(name),
                              env=self.env(name), capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode:
            raise AssertionError(f"{name}: {' '.join(map(str, argv))} failed ({proc.returncode}):\n"
                                 f"{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
        return proc

    def nbgrader(self, name: str, *args, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        """``nbgrader ARGS`` as student ``name`` in their home, from the students' environment."""
        python = Path(self.settings["student_env"]) / "venv" / "bin" / "python"
        return self.run_as(name, [python, "-m", "nbgrader", *args], check=check, timeout=timeout)

    def write_answer(self, name: str, answers: dict, folder: Path = None) -> Path:
        """The fetched notebook with ``answers`` (grade_id -> source) written AS ``name`` (the
        release notebook from the exchange filled in, piped through ``tee`` run by them)."""
        from autograder.course.submissions import fill
        path = (folder or self.home(name) / ASSIGNMENT) / NOTEBOOK
        nb = fill(self.exchange / "outbound" / ASSIGNMENT / NOTEBOOK, answers)
        proc = subprocess.run([RUNUSER, "-u", name, "--", "tee", str(path)], input=nbformat.writes(nb),
                              text=True, capture_output=True, env=self.env(name), cwd=self.home(name))
        assert proc.returncode == 0, proc.stderr
        return path

    # -- the hub --------------------------------------------------------------------------------
    def login(self, name: str) -> tuple:
        """(session, final response) after posting the hub's login form as ``name``."""
        session = requests.Session()
        form = session.get(f"{self.base}/hub/login", timeout=30)
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', form.text)
        data = {"username": name, "password": self.passwords[name]}
        if xsrf:
            data["_xsrf"] = xsrf.group(1)
        return session, session.post(f"{self.base}/hub/login", data=data, timeout=120)

    # -- the grader's side (read as root) --------------------------------------------------------
    def rows(self) -> list:
        """The grading journal's submissions (course_root/grading/queue.db), as dicts."""
        path = Path(self.settings["course_root"]) / "grading" / "queue.db"
        if not path.exists():
            return []
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        db.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in db.execute("SELECT * FROM submissions ORDER BY id")]
        except sqlite3.OperationalError:        # the service has not made its tables yet
            return []
        finally:
            db.close()

    def scores(self) -> dict:
        """{student: total score} of the assignment in the deployed course's gradebook."""
        from nbgrader.api import Gradebook
        with Gradebook(f"sqlite:///{self.course / 'gradebook.db'}", course_id=self.course_id) as book:
            return {s.student.id: s.score for s in book.assignment_submissions(ASSIGNMENT)}

    def feedback_files(self) -> list:
        """The released feedback pages in the exchange (nbgrader names them by a hash)."""
        folder = self.exchange / "feedback"
        return sorted(folder.iterdir()) if folder.is_dir() else []

    def leftover_accounts(self) -> list:
        return [line.split(":")[0] for path in ("/etc/passwd", "/etc/group")
                for line in Path(path).read_text().splitlines() if line.startswith(self.prefix)]

    def close(self) -> list:
        """Stop the hub (by its pid), remove every account and group of the prefix and the folders."""
        try:
            if self.hub is not None:
                self.hub.stop()
        finally:
            removed = hub_support.remove_users_and_groups(self.prefix)
            for _ in range(20):         # userdel/groupdel refused while another holds the lock
                if not self.leftover_accounts():
                    break
                time.sleep(0.5)
                hub_support.remove_users_and_groups(self.prefix)
            shutil.rmtree(self.private, ignore_errors=True)
            shutil.rmtree(self.served, ignore_errors=True)
        return removed
