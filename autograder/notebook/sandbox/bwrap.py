"""The bubblewrap command every sandboxed process is started with (:func:`command`), its
rlimits (:class:`ProcessLimits`) and the uids sandboxes run under; see :mod:`autograder.notebook.sandbox`."""
import os
import resource
import secrets
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from .launcher import _launch
from .modes import Mode, detect

UID_BASE, UID_SPAN = 3_000_000_000, 1 << 24  # the uids student sandboxes run under (root mode); the next span: grader-side ones
GRADER = Path(__file__).resolve().parents[2]  # the autograder package: never visible inside

# /etc entries a Python process (and matplotlib/numpy) may want; nothing secret.
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf", "alternatives", "fonts", "mime.types", "ssl/openssl.cnf")


@dataclass(frozen=True)
class ProcessLimits:
    """rlimits for one sandboxed process tree (None: leave as inherited)."""

    cpu_seconds: Optional[int] = None   # RLIMIT_CPU, per process
    memory_mb: Optional[int] = None     # RLIMIT_AS, per process
    processes: Optional[int] = None     # RLIMIT_NPROC: processes + threads of the sandbox uid
    file_bytes: Optional[int] = None    # RLIMIT_FSIZE: largest file it may write

    def _rlimits(self) -> list:
        """``(prlimit option, resource.RLIMIT_*, (soft, hard))`` of each limit set, and no core files.
        The CPU limit's hard one is a second later: SIGXCPU at the soft, SIGKILL at the hard."""
        values = [("cpu", resource.RLIMIT_CPU, self.cpu_seconds, 1),
                  ("as", resource.RLIMIT_AS, None if self.memory_mb is None else self.memory_mb << 20, 0),
                  ("nproc", resource.RLIMIT_NPROC, self.processes, 0),
                  ("fsize", resource.RLIMIT_FSIZE, self.file_bytes, 0), ("core", resource.RLIMIT_CORE, 0, 0)]
        return [(option, which, (soft, soft + slack)) for option, which, soft, slack in values if soft is not None]

    def prlimit_args(self) -> list:
        """The options of ``prlimit`` that set these limits on the command it runs."""
        return ["--%s=%d:%d" % (option, *pair) for option, _, pair in self._rlimits()]

    def apply(self) -> None:
        """Set these limits on the calling process (e.g. a child before exec, where no prlimit runs)."""
        for _, which, pair in self._rlimits():
            resource.setrlimit(which, pair)


def new_uid() -> int:
    """A fresh uid for one sandbox: no account, no files, no processes anywhere."""
    return UID_BASE + secrets.randbelow(UID_SPAN)


def grader_uid() -> int:
    """A uid for a sandbox running grader-side code only (reference runs): from a range of its
    own, so that no student's sandbox ever runs under it."""
    return UID_BASE + UID_SPAN + secrets.randbelow(UID_SPAN)


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

    def bind(self, path, option="--ro-bind", at=None):
        """``path`` at ``at`` (default: the same path) in the sandbox."""
        path, at = Path(path), Path(at or path)
        self.mkdirs(at.parent)
        self.args += [option, str(path), str(at)]
        self.made.add(at)
        self.bound.add(at)

    def scratch(self, path, size_mb: float):
        """An empty writable tmpfs of ``size_mb`` MiB at ``path``."""
        path = Path(path)
        self.mkdirs(path.parent)
        self.args += ["--perms", "1777", "--size", str(int(size_mb * (1 << 20))), "--tmpfs", str(path)]
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
    for hook in sorted(Path(sys.prefix).glob("lib/python*/site-packages/__editable__*.pth")):
        # the grader's editable install: its finder points at nothing the sandbox shows, and
        # loading it is a third of each sandboxed interpreter's start-up
        args.args += ["--ro-bind", os.devnull, str(hook)]
    lib64 = Path(sys.prefix, "lib64")
    if lib64.is_symlink() and Path(sys.prefix, "lib") in args.bound:
        args.args += ["--symlink", os.readlink(lib64), str(lib64)]
    shown = [p for p in args.bound if p == GRADER or p in GRADER.parents]
    if shown:
        raise RuntimeError(f"the grader's package ({GRADER}) lies inside {shown[0]}, which the sandbox "
                           "shows to student code: its data (quiz key, expected values) would be "
                           "readable. Install the course package editable (pip install -e COURSE, as "
                           "`make venv` does), never into the environment's site-packages.")
    return args


def command(argv: Sequence[str], *, cwd, limits: ProcessLimits = ProcessLimits(),
            readable: Sequence = (), writable: Sequence = (), env: Optional[dict] = None,
            scratch_mb: int = 64, mode: Optional[Mode] = None, interpreters: Sequence = (),
            private=None, uid: Optional[int] = None, scratch: Sequence = (), workdir=None) -> list:
    """``argv`` wrapped so that it runs sandboxed (or, without a sandbox, at least limited).

    ``cwd`` becomes an empty writable tmpfs of ``scratch_mb`` MiB (``/tmp`` has 64 MiB), into which
    the ``readable`` paths are bound read-only (at the same paths); ``writable`` paths (folders
    the grader shares with the process, e.g. the kernel's ipc sockets) are bound read-write.
    ``env`` (when given) replaces the environment inside the sandbox. The grader's own Python
    is visible read-only; ``interpreters`` names other ones to make visible (their installation).
    ``private`` is a folder of the grader's (not visible to the student) where the sandbox's
    /etc/passwd and /etc/group are written; ``uid`` the uid to run under (default: a new one).
    ``scratch`` lists more ``(path, size_mb)`` tmpfs folders, mounted after the binds.
    ``workdir`` (when given) is where ``cwd`` appears inside the sandbox, the ``readable`` paths
    below ``cwd`` with it, so that its working folder is not at a host path (``/proc/self/mountinfo``
    still names the host source of every bind).

    The argv starts with a small launcher (:data:`LAUNCHER`) that puts the process into the
    active :func:`budget`'s cgroup, closes every inherited descriptor but 0, 1 and 2, and hands
    bwrap its arguments and the seccomp filter through descriptors (so the sandbox's
    ``/proc/1/cmdline`` shows none of bwrap's options).
    """
    mode = mode or detect()
    prlimit = shutil.which("prlimit")
    limited = [prlimit, *limits.prlimit_args(), "--"] if prlimit else []
    if not mode.sandboxed:
        return _launch([*limited, *argv], bwrap=False)
    args = _base_args(mode, interpreters)
    cwd = Path(cwd)
    inside = Path(workdir or cwd)
    if inside != Path("/tmp"):
        args.scratch(inside, scratch_mb)
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
        path = Path(path)
        args.bind(path, at=inside / path.relative_to(cwd) if cwd in path.parents else path)
    for path in writable:
        args.bind(path, "--bind")
    for path, size_mb in scratch:
        args.scratch(path, size_mb)
    args.args += ["--chdir", str(inside)]
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
    return _launch([*args.args, *limited, *argv], bwrap=True)
