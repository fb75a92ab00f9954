"""A real ``make hub`` deployment for tests/test_hub.py: a fresh clone in a private temp folder, every
CourseHub path and name under a unique prefix, free loopback ports, unix users made and removed."""
import os
import re
import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fresh_clone(top: Path) -> Path:
    """A clone of this repository's HEAD in ``top`` (mode 0700), and its uncommitted changes to
    tracked files, so a test runs what is in the work tree."""
    top.chmod(0o700)
    clone = top / "course"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(clone)], check=True)
    diff = subprocess.run(["git", "diff", "HEAD", "--binary"], cwd=REPO, capture_output=True, check=True).stdout
    if diff:
        subprocess.run(["git", "apply", "--whitespace=nowarn"], cwd=clone, input=diff, check=True)
    return clone


def configure(clone: Path, top: Path, prefix: str) -> dict:
    """CourseHub settings (unique names, paths under ``top``, which students may enter, free
    ports) appended to the clone's nbgrader_config.py, as an instructor would set them; returns them."""
    top.mkdir(exist_ok=True)
    top.chmod(0o755)
    settings = {"student_group": f"{prefix}-students", "instructor_group": f"{prefix}-instructors",
                "grader_user": f"{prefix}-grader", "course_root": str(top / "srv" / "course"),
                "hub_state": str(top / "state"), "student_env": str(top / "student-env"),
                "exchange": str(top / "srv" / "exchange"), "port": free_port(),
                "hub_port": free_port(), "proxy_api_port": free_port(), "formgrader_port": free_port(),
                "server_memory_mb": 700, "server_processes": 300}
    with open(clone / "nbgrader_config.py", "a") as config:
        config.write("\n# tests/hub_support.py\n")
        for name, value in settings.items():
            config.write(f"c.CourseHub.{name} = {value!r}\n")
    return settings


def unique_prefix() -> str:
    return "cr" + secrets.token_hex(3)


def add_user(name: str, password: str, group: str = None, home: Path = None) -> None:
    """A unix user with a password (chpasswd), home made by ``useradd -m`` (Debian: 0755)."""
    command = ["useradd", "--create-home", "--shell", "/bin/bash"]
    if home:
        home.parent.mkdir(mode=0o755, exist_ok=True)
        command += ["--home-dir", str(home)]
    if group:
        command += ["--groups", group]
    for attempt in range(60):            # other programs may hold the lock on /etc/passwd
        made = subprocess.run(command + [name], capture_output=True, text=True)
        if made.returncode == 0 or "lock" not in made.stderr:
            break
        time.sleep(1)
    assert made.returncode == 0, made.stderr
    subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True)


def remove_users_and_groups(prefix: str) -> list:
    """Every user and group whose name starts with ``prefix-`` or ``prefix`` removed; returns them."""
    removed = []
    for line in Path("/etc/passwd").read_text().splitlines():
        name = line.split(":")[0]
        if name.startswith(prefix):
            _retry_on_lock(["userdel", "--remove", name])
            removed.append(name)
    for line in Path("/etc/group").read_text().splitlines():
        name = line.split(":")[0]
        if name.startswith(prefix):
            _retry_on_lock(["groupdel", name])
            removed.append(name)
    return removed


def _retry_on_lock(command: list) -> None:
    for _ in range(60):
        done = subprocess.run(command, capture_output=True, text=True)
        if "lock" not in done.stderr:
            return
        time.sleep(1)


class Hub:
    """``make hub`` started in its own session; stopped through the pid of that process group."""

    def __init__(self, clone: Path, log: Path):
        self.log_path = log
        self.log = open(log, "wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "VIRTUAL_ENV"))}
        self.started = time.monotonic()
        self.proc = subprocess.Popen(["make", "hub"], cwd=clone, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True, env=env)

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_listening(self, port: int, timeout: float = 900) -> None:
        """Until the hub's login page answers on ``port`` (deployment included), or fail with its log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"make hub exited {self.proc.returncode}:\n{self.text()[-6000:]}")
            if re.search(r"JupyterHub is now running", self.text()):
                print(f"make hub: the hub answered {time.monotonic() - self.started:.0f} s after the start")
                return
            time.sleep(1)
        raise AssertionError(f"make hub not up after {timeout} s:\n{self.text()[-6000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.log.close()


def server_memory(cgroup: Path, version: int) -> str:
    """The memory of one student's server tree, as the cgroup counts it (what its limit applies
    to) and as the PSS of its processes (shared pages split among those sharing them)."""
    usage = int((cgroup / ("memory.current" if version == 2 else "memory.usage_in_bytes")).read_text())
    pss = 0
    for pid in (cgroup / "cgroup.procs").read_text().split():
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss += int(line.split()[1]) << 10
    return f"cgroup {usage / 2**20:.0f} MiB, PSS {pss / 2**20:.0f} MiB"
