"""The sandbox every piece of student code runs in during grading: Debian's ``bubblewrap``.

Both the notebook kernel (:mod:`autograder.kernel`) and every out-of-kernel re-execution
(:mod:`autograder.reexecute`) are started through :func:`command`, which wraps an argv in
``bwrap`` so that the student's code

- sees a filesystem made only of the operating system (``/usr`` and a few ``/etc`` files), the
  Python installation read-only (the venv's ``bin``/``lib`` only, not its Jupyter runtime or
  IPython history), the files it is graded on read-only, an empty size-capped writable working
  folder and ``/tmp``; nothing of the course (``source/``, ``autograder/expected.json``, the quiz
  key, ``gradebook.db``, other students' folders) exists in there;
- has no network (a fresh network namespace; the kernel talks to nbgrader over ZeroMQ ``ipc``
  sockets in a folder bound in for that), its own PID namespace (everything it starts dies with
  it, and it cannot see or signal other processes), its own IPC and UTS namespaces;
- runs under a fresh unprivileged uid of its own (random, above 3e9, no account, listed as
  ``student`` in the sandbox's own /etc/passwd) without capabilities when grading runs as root,
  so the process limit (``RLIMIT_NPROC``, which the kernel never enforces for root, and which
  counts per uid) holds per sandbox, also when several are graded at once; when grading runs as
  an ordinary user, bwrap's user namespace gives the same effect;
- gets its resource limits from ``prlimit`` (util-linux) inside the sandbox, after the uid change.

Where bwrap is missing or cannot create namespaces, :func:`command` still applies the resource
limits, and :func:`warn_if_unsandboxed` says loudly (log + stderr) that student code runs with
the grader's permissions. ``AUTOGRADER_SANDBOX=off`` forces that mode (for debugging);
``AUTOGRADER_SANDBOX=required`` makes grading fail instead. ``python -m autograder.sandbox``
prints which mode this machine gets.
"""
import functools
import logging
import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

UID_BASE, UID_SPAN = 3_000_000_000, 1 << 24  # the uids sandboxes run under (root mode)
ENV_SWITCH = "AUTOGRADER_SANDBOX"  # auto (default) | off | required

# /etc entries a Python process (and matplotlib/numpy) may want; nothing secret.
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf", "alternatives", "fonts", "mime.types", "ssl/openssl.cnf")

log = logging.getLogger("autograder.sandbox")


@dataclass(frozen=True)
class ProcessLimits:
    """rlimits for one sandboxed process tree (None: leave as inherited)."""

    cpu_seconds: Optional[int] = None   # RLIMIT_CPU, per process
    memory_mb: Optional[int] = None     # RLIMIT_AS, per process
    processes: Optional[int] = None     # RLIMIT_NPROC: processes + threads of the sandbox uid
    file_mb: Optional[int] = None       # RLIMIT_FSIZE: largest file it may write

    def prlimit_args(self) -> list:
        args = []
        if self.cpu_seconds is not None:
            args.append("--cpu=%d:%d" % (self.cpu_seconds, self.cpu_seconds + 1))
        if self.memory_mb is not None:
            args.append("--as=%d" % (self.memory_mb << 20))
        if self.processes is not None:
            args.append("--nproc=%d" % self.processes)
        if self.file_mb is not None:
            args.append("--fsize=%d" % (self.file_mb << 20))
        return args + ["--core=0"]


@dataclass(frozen=True)
class Mode:
    """How this machine sandboxes: ``name`` is ``bwrap-root``, ``bwrap-user`` or ``none``."""

    name: str
    reason: str

    @property
    def sandboxed(self) -> bool:
        return self.name != "none"

    @property
    def switches_uid(self) -> bool:
        return self.name == "bwrap-root"


def new_uid() -> int:
    """A fresh uid for one sandbox: no account, no files, no processes anywhere."""
    return UID_BASE + secrets.randbelow(UID_SPAN)


def _python_paths() -> list:
    """What the interpreter needs, read-only: the base installation and the venv's code."""
    paths = [Path(sys.base_prefix).resolve(), Path(sys.executable).resolve().parent]
    if sys.prefix != sys.base_prefix:  # a venv: its code, not its share/ (Jupyter runtime) etc.
        venv = Path(sys.prefix)
        paths += [venv / "bin", venv / "lib", venv / "pyvenv.cfg"]
        if (venv / "lib64").is_dir() and not (venv / "lib64").is_symlink():
            paths.append(venv / "lib64")
    return paths


class _Args:
    """bwrap arguments, creating every parent folder once, as 0755 (bwrap would otherwise copy
    the host's modes, e.g. 0700 for /root, and the sandbox uid could not traverse them)."""

    def __init__(self, args):
        self.args = list(args)
        self.made = {Path("/")}   # folders that exist in the sandbox
        self.bound = set()        # paths bound (their contents come along)

    def mkdirs(self, path: Path):
        for parent in reversed([path, *path.parents]):
            if parent not in self.made:
                self.args += ["--perms", "0755", "--dir", str(parent)]
                self.made.add(parent)

    def bind(self, path, option="--ro-bind"):
        path = Path(path)
        self.mkdirs(path.parent)
        self.args += [option, str(path), str(path)]
        self.made.add(path)
        self.bound.add(path)

    def scratch(self, path, size_mb: int):
        """An empty writable tmpfs of ``size_mb`` MiB at ``path``."""
        path = Path(path)
        self.mkdirs(path.parent)
        self.args += ["--perms", "1777", "--size", str(size_mb << 20), "--tmpfs", str(path)]
        self.made.add(path)  # empty: what lies below it on the host still has to be bound


def _base_args(mode: Mode, interpreters=()) -> _Args:
    args = _Args([shutil.which("bwrap"), "--die-with-parent", "--new-session",
                  "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
                  "--unshare-cgroup-try", "--hostname", "sandbox",
                  "--proc", "/proc", "--dev", "/dev"])
    if mode.name == "bwrap-user":
        args.args.insert(1, "--unshare-user")
    args.made.update({Path("/proc"), Path("/dev")})
    args.scratch("/tmp", 64)
    # The OS: /usr read-only, the merged-/usr symlinks (or directories) at the top.
    args.bind("/usr")
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/", top)
        if path.is_symlink():
            args.args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args.bind(path)
    args.mkdirs(Path("/etc"))
    for name in ETC_FILES:
        if Path("/etc", name).exists():
            args.bind(Path("/etc", name))
    extra = [Path(p).resolve().parent.parent for p in interpreters]  # <prefix>/bin/python
    for path in _python_paths() + extra:
        if path.exists() and not any(p in args.bound for p in [path, *path.parents]):
            args.bind(path)
    lib64 = Path(sys.prefix, "lib64")
    if lib64.is_symlink() and Path(sys.prefix, "lib") in args.bound:
        args.args += ["--symlink", os.readlink(lib64), str(lib64)]
    return args


def command(argv: Sequence[str], *, cwd, limits: ProcessLimits = ProcessLimits(),
            readable: Sequence = (), writable: Sequence = (), env: Optional[dict] = None,
            scratch_mb: int = 64, mode: Optional[Mode] = None, interpreters: Sequence = (),
            private=None, uid: Optional[int] = None) -> list:
    """``argv`` wrapped so that it runs sandboxed (or, without a sandbox, at least limited).

    ``cwd`` becomes an empty writable tmpfs of ``scratch_mb`` MiB (``/tmp`` has 64 MiB), into which
    the ``readable`` paths are bound read-only (at the same paths); ``writable`` paths (folders
    the grader shares with the process, e.g. the kernel's ipc sockets) are bound read-write.
    ``env`` (when given) replaces the environment inside the sandbox. The grader's own Python
    is visible read-only; ``interpreters`` names other ones to make visible (their installation).
    ``private`` is a folder of the grader's (not visible to the student) where the sandbox's
    /etc/passwd and /etc/group are written; ``uid`` the uid to run under (default: a new one).
    """
    mode = mode or detect()
    prlimit = shutil.which("prlimit")
    limited = [prlimit, *limits.prlimit_args(), "--"] if prlimit else []
    if not mode.sandboxed:
        return [*limited, *argv]
    args = _base_args(mode, interpreters)
    cwd = Path(cwd)
    if cwd != Path("/tmp"):
        args.scratch(cwd, scratch_mb)
    uid = (uid or new_uid()) if mode.switches_uid else os.getuid()
    if private is not None:
        names = {"passwd": "root:x:0:0:root:/root:/bin/sh\nstudent:x:%d:%d:student:/tmp:/bin/sh\n",
                 "group": "root:x:0:\nstudent:x:%d:\n"}
        for name, text in names.items():
            path = Path(private, name)
            path.write_text(text % ((uid, uid) if name == "passwd" else (uid,)), encoding="utf-8")
            path.chmod(0o644)
            args.args += ["--ro-bind", str(path), "/etc/" + name]
    else:
        for name in ("passwd", "group"):
            if Path("/etc", name).exists():
                args.bind(Path("/etc", name))
    for path in readable:
        args.bind(path)
    for path in writable:
        args.bind(path, "--bind")
    args.args += ["--chdir", str(cwd)]
    if env is not None:
        args.args.append("--clearenv")
        for key, value in sorted(env.items()):
            args.args += ["--setenv", key, str(value)]
    if mode.switches_uid:
        # bwrap keeps these two capabilities only for setpriv, which drops them with the uid.
        args.args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--",
                      shutil.which("setpriv"), "--reuid=%d" % uid, "--regid=%d" % uid,
                      "--clear-groups", "--"]
    else:
        args.args.append("--")
    return [*args.args, *limited, *argv]


def _probe(mode: Mode) -> Optional[str]:
    """None if ``mode`` works here, else what went wrong."""
    uid = new_uid()
    argv = command([sys.executable, "-I", "-c", "import os; print(os.getuid())"], cwd="/tmp",
                   mode=mode, limits=ProcessLimits(processes=16), uid=uid)
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if proc.returncode != 0:
        return (proc.stderr or proc.stdout).strip()[-300:] or "exit status %d" % proc.returncode
    if mode.switches_uid and proc.stdout.strip() != str(uid):
        return "the sandbox did not run as uid %d" % uid
    return None


@functools.lru_cache(maxsize=None)
def detect() -> Mode:
    """The sandbox this machine gives (probed once per process)."""
    switch = os.environ.get(ENV_SWITCH, "auto").lower()
    if switch in ("off", "none", "0", "no"):
        return Mode("none", "%s=%s" % (ENV_SWITCH, switch))
    missing = [tool for tool in ("bwrap", "setpriv" if os.geteuid() == 0 else "bwrap", "prlimit")
               if not shutil.which(tool)]
    if missing:
        mode = Mode("none", "not installed: %s (apt-get install bubblewrap util-linux)"
                    % ", ".join(sorted(set(missing))))
    else:
        mode = Mode("bwrap-root" if os.geteuid() == 0 else "bwrap-user", "bubblewrap works")
        problem = _probe(mode)
        if problem:
            mode = Mode("none", "bwrap cannot create its sandbox here: %s" % problem)
    if not mode.sandboxed and switch == "required":
        raise RuntimeError("%s=required but no sandbox: %s" % (ENV_SWITCH, mode.reason))
    return mode


UNSANDBOXED = ("GRADING RUNS UNSANDBOXED (%s): student code runs with the grader's own "
               "permissions and can read source/, the answer keys and the gradebook and write "
               "anywhere the grader can. Only the resource limits apply. Install bubblewrap "
               "(apt-get install bubblewrap) to close this.")


@functools.lru_cache(maxsize=None)
def _warn_once(reason: str) -> None:
    text = UNSANDBOXED % reason
    log.warning(text)
    banner = "!" * 78
    print("\n%s\n%s\n%s\n" % (banner, text, banner), file=sys.stderr, flush=True)


def warn_if_unsandboxed() -> Mode:
    """The mode; when it is ``none``, a loud warning (once per process) on the log and stderr."""
    mode = detect()
    if not mode.sandboxed:
        _warn_once(mode.reason)
    return mode


def main() -> int:
    mode = warn_if_unsandboxed()
    print("sandbox: %s (%s)" % (mode.name, mode.reason))
    return 0 if mode.sandboxed else 1


if __name__ == "__main__":
    sys.exit(main())
