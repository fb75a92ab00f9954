"""Real unix accounts for the students' side of the exchange (root only): made with a unique prefix
per run and removed afterwards, commands run as them from a Python they can execute.

The course's .venv runs on a pyenv Python under a root-only folder, so :func:`students_python`
makes a venv from Debian's /usr/bin/python3 (the same 3.11) that reads the course venv's
site-packages: nbgrader, Jupyter and the rest, but not the course package (its editable install
is a .pth that only the course venv processes), as on the students' servers.
"""
import grp
import os
import pwd
import secrets
import shutil
import string
import subprocess
import sysconfig
import tempfile
import time
from pathlib import Path

import pytest

from support import ROOT

COURSE_ID = "reproducible-ml"
STUDENT_CONFIG = [ROOT / "hub" / "student", ROOT / "lab" / "exchange", ROOT / "lab"]  # first wins
STUDENT_PYTHONPATH = ROOT / "hub" / "student" / "python"


def require_root():
    if os.geteuid() != 0:
        pytest.skip("needs root: makes unix users (useradd)")


def shared_dir(prefix: str) -> Path:
    """A temp folder every account can enter (pytest's tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


def students_python(base: Path) -> Path:
    """A venv of Debian's /usr/bin/python3 in ``base`` seeing the course venv's packages."""
    venv = base / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next(venv.glob("lib/python3*/site-packages"))
    (site / "course-venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv / "bin" / "python"


def shadow_tool(cmd: list, check: bool = True) -> None:
    """useradd/userdel/groupdel, again while another process holds /etc/passwd's lock."""
    for attempt in range(50):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode == 0 or "lock" not in proc.stderr:
            break
        time.sleep(0.2)
    if check and proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr}")


class Accounts:
    """Unix users ``cr<6 random>-<role>``, each with its own group and a home under ``base``."""

    def __init__(self, base: Path):
        self.base = base
        self.prefix = "cr" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(6))
        self.made = []

    def add(self, role: str) -> str:
        name = f"{self.prefix}-{role}"
        home = self.base / "home" / name
        home.parent.mkdir(exist_ok=True)
        self.made.append(name)
        shadow_tool(["useradd", "--user-group", "--no-create-home", "--home-dir", str(home),
                     "--shell", "/usr/sbin/nologin", name])
        home.mkdir(mode=0o700)
        shutil.chown(home, name, name)
        return name

    def remove(self) -> None:
        for name in self.made:
            shadow_tool(["userdel", name], check=False)
            try:
                grp.getgrnam(name)
            except KeyError:
                continue
            shadow_tool(["groupdel", name], check=False)

    def home(self, name: str) -> Path:
        return self.base / "home" / name

    def env(self, name: str, **extra) -> dict:
        home = self.home(name)
        return {"HOME": str(home), "USER": name, "LOGNAME": name, "LANG": "C.UTF-8",
                "PATH": "/usr/local/bin:/usr/bin:/bin", "JUPYTER_CONFIG_DIR": str(home / ".jupyter"),
                "JUPYTER_DATA_DIR": str(home / ".local/share/jupyter"),
                "JUPYTER_RUNTIME_DIR": str(home / ".local/share/jupyter/runtime"), **extra}

    def as_user(self, name: str) -> dict:
        """subprocess options running as ``name``: its uid, its group and only its own groups."""
        entry = pwd.getpwnam(name)
        return {"user": entry.pw_uid, "group": entry.pw_gid,
                "extra_groups": os.getgrouplist(name, entry.pw_gid)}

    def run(self, name: str, cmd: list, cwd: Path, check: bool = True, **env) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=self.env(name, **env), capture_output=True,
                              text=True, **self.as_user(name))
        if check and proc.returncode:
            raise AssertionError(f"{name}: {' '.join(map(str, cmd))} failed ({proc.returncode}):\n"
                                 f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    def python(self, name: str, python: Path, code: str, cwd: Path, **env) -> subprocess.CompletedProcess:
        """``python -c code`` as ``name`` (not checked: the caller reads its outcome)."""
        return self.run(name, [python, "-c", code], cwd, check=False, **env)


def student_config_env() -> dict:
    """The students' Jupyter config as the hub deploys it (hub/student/ over lab/exchange/ over
    lab/) and the helpers' folder on PYTHONPATH."""
    return {"JUPYTER_CONFIG_PATH": os.pathsep.join(map(str, STUDENT_CONFIG)),
            "PYTHONPATH": str(STUDENT_PYTHONPATH)}
