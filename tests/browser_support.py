"""Helpers for the real-browser test: a student JupyterLab started through its launcher (the
course repository's lab/run-lab.sh, or the student kit's start-lab.sh), stopped by its own process
id, with every per-user directory inside a temporary folder."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def isolated_env(base: Path, venv_bin: Path | None = VENV_BIN) -> dict[str, str]:
    """The process environment with HOME and every Jupyter/IPython/matplotlib/XDG dir under base.

    ``venv_bin`` goes first on PATH; with None, PATH keeps nothing of the course repository, so a
    student kit proves it runs without it. pip keeps using the machine's download cache, and the
    rustup that pip asks for `rustc --version` (for its user agent) keeps its own settings."""
    env = dict(os.environ)
    env.setdefault("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip"))
    if (Path.home() / ".rustup").is_dir():
        env.setdefault("RUSTUP_HOME", str(Path.home() / ".rustup"))
    for var, sub in [
        ("HOME", "home"),
        ("JUPYTER_CONFIG_DIR", "jupyter-config"),
        ("JUPYTER_DATA_DIR", "jupyter-data"),
        ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"),
        ("IPYTHONDIR", "ipython"),
        ("MPLCONFIGDIR", "matplotlib"),
        ("XDG_CONFIG_HOME", "xdg-config"),
        ("XDG_CACHE_HOME", "xdg-cache"),
        ("XDG_DATA_HOME", "xdg-data"),
    ]:
        path = base / sub
        path.mkdir(parents=True, exist_ok=True)
        env[var] = str(path)
    env.pop("JUPYTER_CONFIG_PATH", None)
    env.pop("JUPYTER_PATH", None)
    path = [p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(REPO))]
    env["PATH"] = os.pathsep.join(([str(venv_bin)] if venv_bin else []) + path)
    return env


class StudentLab:
    """A students' JupyterLab started by ``bash launcher`` in ``home``, working in ``workdir``.

    The course repository: launcher lab/run-lab.sh (what `make lab` runs), venv .venv/, workdir set
    through LAB_WORKDIR. The student kit: launcher start-lab.sh, which first creates the kit's
    .venv/ with ``PYTHON`` and then runs the kit's lab/run-lab.sh in its default workdir student/.
    Both end in `exec jupyter lab`, so the Popen pid is the server's own pid.
    """

    def __init__(self, workdir: Path, state: Path, log_path: Path, *, home: Path = REPO,
                 launcher: str = "lab/run-lab.sh", extra_env: dict[str, str] | None = None):
        self.home = home
        self.venv = home / ".venv"
        self.launcher = launcher
        self.workdir = workdir
        self.env = isolated_env(state, VENV_BIN if home == REPO else None)
        if workdir != home / "student":
            self.env["LAB_WORKDIR"] = str(workdir)
        self.env.update(extra_env or {})
        self.log_path = log_path
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.proc: subprocess.Popen | None = None
        self._log = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}{path}{sep}token={self.token}"

    def start(self, timeout: float = 90) -> None:
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            ["bash", str(self.home / self.launcher), "--no-browser", "--ip=127.0.0.1",
             f"--port={self.port}", f"--IdentityProvider.token={self.token}",
             "--ServerApp.port_retries=0",
             # No news feed or update check: the test machine has no network, and a news prompt
             # would only cover part of the screenshots.
             "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
            cwd=self.home, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.proc.returncode}:\n{self.log()}")
            try:
                self.api("/api/status")
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.3)
        raise RuntimeError(f"JupyterLab did not answer within {timeout:.0f} s:\n{self.log()}")

    def api(self, path: str, method: str = "GET"):
        req = urllib.request.Request(self.url(path), method=method)
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
            return json.loads(body) if body else None

    def status(self, path: str) -> int:
        try:
            with urllib.request.urlopen(self.url(path), timeout=10) as resp:
                return resp.status
        except urllib.error.HTTPError as err:
            return err.code

    def log(self) -> str:
        if self._log:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Shut the kernels down through the API, then stop the server by its own pid."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                for kernel in self.api("/api/kernels") or []:
                    self.api(f"/api/kernels/{kernel['id']}", method="DELETE")
            except Exception:
                pass  # the server may already be going down; terminate/kill below still run
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self._log:
            self._log.close()
            self._log = None

