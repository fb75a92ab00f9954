"""Who can touch a submission in nbgrader's exchange, with real unix accounts: a grader, students A
and B. nbgrader's own submit leaves A's submission folder mode 0777 in an ``inbound`` without
sticky bit: B cannot list ``inbound``, but knowing the name B renames A's files and A's whole
submission, and moves the whole course folder aside in an exchange root of mode 0777. With the students' configuration (hub/student/python/private_submit.py) and ``inbound``
as the grader keeps it (3733: setgid, sticky, write-only for others), the exchange root 1777: B can neither list, read,
rename, change nor add to A's submission, nor touch A's released feedback; A submits again; the
grader collects, and can move a submission out of ``inbound`` (which a 0755 folder would forbid)."""
import errno
import json
import os
import pwd
import shutil
import stat
import sys
from pathlib import Path

import pytest

from student_support import (COURSE_ID, Accounts, require_root, shared_dir, student_config_env,
                             students_python)
from support import ASSIGNMENT, ROOT

pytestmark = [pytest.mark.root, pytest.mark.slow]

NOTEBOOK = "reproducibility.ipynb"
INBOUND_MODE = 0o3733  # what the grader side keeps inbound at (setgid + sticky + rwx-wx-wx)

PROBE = """
import errno, json, os, sys
out = {}
for label, (op, *args) in json.loads(sys.argv[1]).items():
    try:
        if op == "read":
            open(args[0], "rb").read()
        elif op == "write":
            open(args[0], "ab").close()
        elif op == "chmod":
            os.chmod(args[0], int(args[1], 8))
        else:
            getattr(os, op)(*args)
        out[label] = "ok"
    except OSError as exc:
        out[label] = errno.errorcode[exc.errno]
print(json.dumps(out))
"""


class Exchange:
    """A course owned by the grader account, its exchange, and students running nbgrader."""

    def __init__(self, base: Path, course_template: Path, accounts: Accounts, students_config: bool):
        self.accounts, self.base = accounts, base
        self.grader, self.a, self.b = (accounts.add(r) for r in ("grader", "a", "b"))
        self.python = students_python(base)
        self.root = base / "exchange"
        self.root.mkdir(mode=0o1777)  # root's, like /tmp: nbgrader needs it writable by all
        self.root.chmod(0o1777)
        self.course = Path(shutil.copytree(course_template, base / "course"))
        shutil.chown(self.course, self.grader, self.grader)
        for path in self.course.rglob("*"):
            shutil.chown(path, self.grader, self.grader)
        self.exchange = self.root / COURSE_ID
        self.student_env = {"NBGRADER_EXCHANGE": str(self.root),
                            **(student_config_env() if students_config else {})}
        # The grader's venv holds the course package (the course's nbgrader_config.py imports it).
        self.nbgrader_as(self.grader, "release_assignment", ASSIGNMENT, cwd=self.course, PYTHONPATH=str(ROOT))
        for student in (self.a, self.b):
            self.nbgrader_as(student, "fetch_assignment", ASSIGNMENT, f"--course={COURSE_ID}")

    def nbgrader_as(self, name, *args, cwd=None, check=True, **env):
        cwd = cwd or self.accounts.home(name)
        environ = self.student_env if name != self.grader else {"NBGRADER_EXCHANGE": str(self.root)}
        return self.accounts.run(name, [self.python, "-m", "nbgrader", *args, f"--Exchange.root={self.root}"],
                                 cwd, check=check,
                                 **{**environ, **env})

    def submit(self, student) -> Path:
        before = set(self.inbound_entries())
        self.nbgrader_as(student, "submit", ASSIGNMENT, f"--course={COURSE_ID}")
        (new,) = set(self.inbound_entries()) - before
        return self.exchange / "inbound" / new

    def inbound_entries(self):
        return os.listdir(self.exchange / "inbound")

    def probe(self, name, **ops) -> dict:
        """{label: "ok" or the errno name} of each ``label=(op, *args)`` tried as ``name``."""
        proc = self.accounts.run(name, [self.python, "-c", PROBE, json.dumps(
            {k: [str(x) for x in v] for k, v in ops.items()})], self.accounts.home(name))
        return json.loads(proc.stdout)


@pytest.fixture
def accounts():
    require_root()
    base = shared_dir("exchange-modes-")
    made = Accounts(base)
    try:
        yield made
    finally:
        made.remove()
        shutil.rmtree(base, ignore_errors=True)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_nbgrader_s_own_submit_lets_another_student_rename_a_submission(accounts, course_template):
    ex = Exchange(accounts.base, course_template, accounts, students_config=False)
    submission = ex.submit(ex.a)
    assert mode(ex.exchange / "inbound") == 0o2733  # what nbgrader's release makes: no sticky bit
    assert mode(submission) == 0o777
    assert ex.probe(ex.b, list=("listdir", ex.exchange / "inbound")) == {"list": "EACCES"}
    found = ex.probe(ex.b, rename_file=("rename", submission / NOTEBOOK, submission / "mine.ipynb"),
                     add=("write", submission / "extra.ipynb"),
                     rename_submission=("rename", submission, ex.exchange / "inbound" / "hijacked"))
    assert found == {"rename_file": "ok", "add": "ok", "rename_submission": "ok"}
    # nbgrader's release makes a missing exchange root 0777, no sticky bit: B can move the whole
    # course folder aside (and put a folder of their own in its place).
    ex.root.chmod(0o777)
    aside = ex.root / "aside"
    assert ex.probe(ex.b, move_course=("rename", ex.exchange, aside)) == {"move_course": "ok"}


def test_students_config_keeps_a_submission_to_its_student_and_the_grader(accounts, course_template):
    ex = Exchange(accounts.base, course_template, accounts, students_config=True)
    (ex.exchange / "inbound").chmod(INBOUND_MODE)  # the grader's side (grading service) keeps it so
    first = ex.submit(ex.a)
    grader_group = pwd.getpwnam(ex.grader).pw_gid
    for path in [first, *first.rglob("*")]:
        assert path.lstat().st_uid == pwd.getpwnam(ex.a).pw_uid
        if path.is_dir():  # the group inherited from setgid inbound: the grader's
            assert (path.lstat().st_gid, mode(path)) == (grader_group, 0o770), (path, oct(mode(path)))
        else:
            assert mode(path) == 0o644, (path, oct(mode(path)))
    inbound = ex.exchange / "inbound"
    target = inbound / "hijacked"
    found = ex.probe(ex.b, list=("listdir", inbound), list_submission=("listdir", first),
                     read=("read", first / NOTEBOOK), change=("write", first / NOTEBOOK),
                     add=("write", first / "extra.ipynb"),
                     rename_file=("rename", first / NOTEBOOK, first / "mine.ipynb"),
                     rename_submission=("rename", first, target),
                     delete=("rmdir", first), chmod=("chmod", first, "777"),
                     move_course=("rename", ex.exchange, ex.root / "aside"))
    assert found == {"list": "EACCES", "list_submission": "EACCES", "read": "EACCES", "change": "EACCES",
                     "add": "EACCES", "rename_file": "EACCES", "rename_submission": "EPERM",
                     "delete": "EPERM", "chmod": "EPERM", "move_course": "EPERM"}, found

    # A submits again; B's own submission works too and lands beside, not over, A's.
    second = ex.submit(ex.a)
    other = ex.submit(ex.b)
    assert {first.name, second.name, other.name} == set(ex.inbound_entries())

    # The grader collects A's newest, byte for byte what A handed in.
    ex.nbgrader_as(ex.grader, "collect", ASSIGNMENT, cwd=ex.course, PYTHONPATH=str(ROOT))
    collected = ex.course / "submitted" / ex.a / ASSIGNMENT / NOTEBOOK
    assert collected.read_bytes() == (second / NOTEBOOK).read_bytes()

    # The grader releases feedback for it; A fetches it; B can neither list nor change it.
    folder = ex.course / "feedback" / ex.a / ASSIGNMENT
    ex.accounts.run(ex.grader, ["mkdir", "-p", folder], ex.course)
    ex.accounts.run(ex.grader, ["cp", second / "timestamp.txt", second / "submission_secret.txt", folder], ex.course)
    ex.accounts.run(ex.grader, ["sh", "-c", "echo '<p>Step 1: 1 / 1</p>' > reproducibility.html"], folder)
    ex.nbgrader_as(ex.grader, "release_feedback", ASSIGNMENT, cwd=ex.course, PYTHONPATH=str(ROOT))
    (page,) = (ex.exchange / "feedback").iterdir()
    ex.nbgrader_as(ex.a, "fetch_feedback", ASSIGNMENT, f"--course={COURSE_ID}")
    fetched = list((ex.accounts.home(ex.a) / ASSIGNMENT / "feedback").rglob("reproducibility.html"))
    assert [p.read_text() for p in fetched] == ["<p>Step 1: 1 / 1</p>\n"]
    found = ex.probe(ex.b, list=("listdir", ex.exchange / "feedback"), change=("write", page),
                     rename=("rename", page, ex.exchange / "feedback" / "x.html"), delete=("unlink", page))
    assert found == {"list": "EACCES", "change": "EACCES", "rename": "EACCES", "delete": "EACCES"}, found

    # The grading service moves a vetted submission out of inbound into its own staging: possible
    # with the group's rwx, impossible when the folder is 0755 (moving a folder rewrites its "..").
    staging = ex.base / "staging"
    staging.mkdir(mode=0o700)
    shutil.chown(staging, ex.grader, ex.grader)
    assert ex.probe(ex.grader, move=("rename", first, staging / first.name)) == {"move": "ok"}
    ex.accounts.run(ex.a, ["chmod", "755", second], ex.base)
    assert ex.probe(ex.grader, move=("rename", second, staging / second.name)) == {"move": "EACCES"}


def test_a_submit_into_an_inbound_that_is_not_setgid_is_refused(accounts, course_template):
    ex = Exchange(accounts.base, course_template, accounts, students_config=True)
    (ex.exchange / "inbound").chmod(0o1733)
    refused = ex.nbgrader_as(ex.a, "submit", ASSIGNMENT, f"--course={COURSE_ID}", check=False)
    assert refused.returncode != 0
    assert "is not set up for submissions" in refused.stderr and "tell your instructor" in refused.stderr
    assert ex.inbound_entries() == []
