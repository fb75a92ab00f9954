"""A class on one machine for the grading service's tests and bench: real unix accounts (a
student group, students, the grader account; made with useradd and removed), a deployed course
owned by the grader (a copy of the repo's course under ``<base>/root/course``), nbgrader's
exchange with the assignment released by the grader, and the service started as a real process
as the grader account.

The accounts run a venv made from Debian's /usr/bin/python3 (the pyenv Python on PATH is
root-only) that loads this checkout's .venv packages and the course package through a .pth file.
"""
import grp
import os
import pwd
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
COURSE_ID = "reproducible-ml"
SITE = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def account_tool(*command: str, check: bool = True) -> subprocess.CompletedProcess:
    """useradd, userdel, groupadd or groupdel; retried while another process holds the account
    files' lock (exit status 10: other helpers make accounts on this machine too)."""
    for _ in range(60):
        proc = subprocess.run(command, capture_output=True, text=True)
        if proc.returncode != 10:
            break
        time.sleep(0.5)
    if check and proc.returncode:
        raise AssertionError(f"{' '.join(command)} failed ({proc.returncode}): {proc.stderr}")
    return proc


def account_venv(base: Path) -> Path:
    """A venv any account can run: Debian's Python, this checkout's packages."""
    venv = base / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "course.pth").write_text(f"import site; site.addsitedir({str(SITE)!r})\n")
    return venv


class ClassOnMachine:
    """The accounts, course, exchange and service of one test run; :meth:`close` removes them."""

    def __init__(self, course_template: Path, students=(), config: str = ""):
        self.prefix = "cr" + secrets.token_hex(3)
        self.base = Path(tempfile.mkdtemp(prefix=f"{self.prefix}-", dir="/tmp"))
        os.chmod(self.base, 0o755)
        self.group = self.prefix + "s"
        self.grader = self.prefix + "g"
        self.users, self.service, self.groups = [], None, []  # groups: the services' process groups
        try:
            self.venv = account_venv(self.base)
            self.python = str(self.venv / "bin" / "python")
            account_tool("groupadd", self.group)
            self.add_user(self.grader, groups=())
            self.root = self.base / "root"
            self.root.mkdir()
            self.course = Path(shutil.copytree(course_template, self.root / "course"))
            self.exchange = self.base / "exchange"
            self.exchange.mkdir()
            os.chmod(self.exchange, 0o777)
            with open(self.course / "nbgrader_config.py", "a", encoding="utf-8") as f:
                f.write(f"\nc.CourseHub.course_root = {str(self.root)!r}\n"
                        f"c.CourseHub.exchange = {str(self.exchange)!r}\n"
                        f"c.CourseHub.student_group = {self.group!r}\n"
                        f"c.CourseHub.grader_user = {self.grader!r}\n"
                        f"c.Exchange.root = {str(self.exchange)!r}\n"
                        "c.GradingService.poll_seconds = 0.5\n" + config)
            subprocess.run(["chown", "-R", f"{self.grader}:", str(self.root)], check=True)
            os.chmod(self.root, 0o700)
            self.as_user(self.grader, "-m", "nbgrader", "release_assignment", "reproducibility", cwd=self.course)
            self.students = {}
            for name in students:
                self.add_student(name)
        except BaseException:
            self.close()
            raise

    # -- accounts -------------------------------------------------------------------------------
    def add_user(self, name: str, groups=None) -> Path:
        home = self.base / "home" / name
        home.mkdir(parents=True)
        command = ["useradd", "-M", "-d", str(home), "-s", "/usr/sbin/nologin", "-N"]
        if groups:
            command += ["-G", ",".join(groups)]
        account_tool(*command, name)
        self.users.append(name)
        subprocess.run(["chown", f"{name}:", str(home)], check=True)
        os.chmod(home, 0o700)
        return home

    def add_student(self, short: str, in_group: bool = True) -> str:
        """A student account ``<prefix><short>``; its work folder holds the fetched assignment."""
        name = self.prefix + short
        home = self.add_user(name, [self.group] if in_group else ())
        self.students[short] = name
        (home / "work").mkdir()
        subprocess.run(["chown", f"{name}:", str(home / "work")], check=True)
        self.nbgrader(name, "fetch_assignment", "reproducibility")
        return name

    def env(self, name: str) -> dict:
        home = self.base / "home" / name
        keep = {k: os.environ[k] for k in ("AUTOGRADER_SANDBOX", "LANG") if k in os.environ}
        return dict(keep, HOME=str(home), USER=name, LOGNAME=name,
                    PATH=f"{self.venv / 'bin'}:/usr/sbin:/usr/bin:/sbin:/bin",
                    JUPYTER_CONFIG_DIR=str(home / ".jupyter"), JUPYTER_DATA_DIR=str(home / ".local/share/jupyter"),
                    TRAITLETS_APPLICATION_RAISE_CONFIG_FILE_ERROR="1")

    def as_user(self, name: str, *args, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(["runuser", "-u", name, "--", self.python, *args], cwd=cwd, env=self.env(name),
                              capture_output=True, text=True)
        if check and proc.returncode:
            raise AssertionError(f"{name}: {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                                 f"{proc.stderr[-5000:]}")
        return proc

    def nbgrader(self, name: str, *args, check: bool = True) -> subprocess.CompletedProcess:
        """``nbgrader ARGS`` as student ``name`` in their work folder."""
        return self.as_user(name, "-m", "nbgrader", *args, f"--course={COURSE_ID}",
                            f"--Exchange.root={self.exchange}", cwd=self.base / "home" / name / "work", check=check)

    def answer(self, name: str, answers: dict) -> None:
        """Fill the student's fetched notebooks with ``answers`` (by grade_id: steps, quiz questions)."""
        from autograder.course.submissions import fill
        for path in sorted((self.base / "home" / name / "work" / "reproducibility").glob("*.ipynb")):
            nbformat.write(fill(path, answers), path)
            subprocess.run(["chown", f"{name}:", str(path)], check=True)

    def submit(self, name: str, answers: dict) -> str:
        """Answer and ``nbgrader submit``: the submission's timestamp (its cache folder's)."""
        self.answer(name, answers)
        self.nbgrader(name, "submit", "reproducibility")
        return self.cached(name)[-1]

    def cached(self, name: str) -> list:
        """The timestamps of the student's submissions, in nbgrader's cache, oldest first."""
        cache = self.base / "home" / name / ".local/share/jupyter/nbgrader_cache" / COURSE_ID
        return sorted(p.name.split("+")[2] for p in cache.iterdir()) if cache.is_dir() else []

    def fetch_feedback(self, name: str) -> dict:
        """{submission timestamp: {notebook: page}} the student fetched."""
        self.nbgrader(name, "fetch_feedback", "reproducibility")
        folder = self.base / "home" / name / "work" / "reproducibility" / "feedback"
        if not folder.is_dir():
            return {}
        return {stamp.name: {p.stem: p.read_text(encoding="utf-8") for p in stamp.glob("*.html")}
                for stamp in folder.iterdir()}

    # -- the service ----------------------------------------------------------------------------
    def start(self) -> subprocess.Popen:
        self.log = open(self.base / f"service-{len(list(self.base.glob('service-*.log')))}.log", "w")
        account = pwd.getpwnam(self.grader)
        self.service = subprocess.Popen(
            [self.python, "-m", "autograder.hub.grading_service"], user=account.pw_uid, group=account.pw_gid,
            extra_groups=[], cwd=self.course, env=self.env(self.grader), stdout=self.log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self.groups.append(self.service.pid)
        return self.service

    def kill(self, sig=signal.SIGKILL) -> None:
        """Send ``sig`` to the service process (the one this object started) alone; wait for it."""
        os.kill(self.service.pid, sig)
        self.service.wait(timeout=60)
        self.log.close()

    def stop(self) -> None:
        if self.service and self.service.poll() is None:
            os.killpg(self.service.pid, signal.SIGTERM)
            try:
                self.service.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.service.pid, signal.SIGKILL)
                self.service.wait()
        if self.service:
            self.log.close()

    def rows(self) -> list:
        """The journal's submissions, as dicts."""
        db = sqlite3.connect(f"file:{self.root / 'grading' / 'queue.db'}?mode=ro", uri=True)
        db.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in db.execute("SELECT * FROM submissions ORDER BY id")]
        finally:
            db.close()

    def events(self) -> list:
        db = sqlite3.connect(f"file:{self.root / 'grading' / 'queue.db'}?mode=ro", uri=True)
        try:
            return db.execute("SELECT at, submission, event, detail FROM events ORDER BY rowid").fetchall()
        finally:
            db.close()

    def wait_for(self, predicate, timeout: float = 600, what: str = "") -> None:
        """Poll until ``predicate()`` holds (a bound against hanging, never a measured claim)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.service is not None and self.service.poll() is not None:
                raise AssertionError(f"the service exited ({self.service.returncode}): {self.service_log()[-3000:]}")
            try:
                if predicate():
                    return
            except sqlite3.OperationalError:  # the journal is not made yet
                pass
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting for {what}; service log:\n{self.service_log()[-5000:]}")

    def service_log(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.base.glob("service-*.log")))

    def close(self) -> None:
        try:
            self.stop()
            for group in self.groups:  # what a killed service left (its grade run), by its group
                try:
                    os.killpg(group, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        finally:
            for name in self.users:
                account_tool("userdel", name, check=False)
            try:
                grp.getgrnam(self.group)
                account_tool("groupdel", self.group, check=False)
            except KeyError:
                pass
            shutil.rmtree(self.base, ignore_errors=True)
