"""The sandbox every piece of student code runs in during grading: Debian's ``bubblewrap``.

Both the notebook kernel (:mod:`autograder.notebook.kernel`) and every out-of-kernel re-execution
(:mod:`autograder.notebook.reexecute`) are started through :func:`command`, which wraps an argv in
``bwrap`` so that the student's code

- sees a filesystem made only of the operating system (``/usr`` and a few ``/etc`` files), the
  Python installation read-only (the venv's ``bin``/``lib`` only, not its Jupyter runtime or
  IPython history), the files it is graded on read-only, an empty size-capped writable working
  folder and ``/tmp``; nothing of the course (``source/``, ``autograder/notebook/expected.json``, the quiz
  key, ``gradebook.db``, other students' folders) exists in there;
- has no network (a fresh network namespace; the kernel talks to nbgrader over ZeroMQ ``ipc``
  sockets in a small tmpfs of the sandbox's), its own PID namespace (everything it starts dies with
  it, and it cannot see or signal other processes), its own IPC and UTS namespaces;
- runs under a fresh unprivileged uid of its own (random, above 3e9, no account, listed as
  ``student`` in the sandbox's own /etc/passwd) without capabilities when grading runs as root,
  so the process limit (``RLIMIT_NPROC``, which the kernel never enforces for root, and which
  counts per uid) holds per sandbox, also when several are graded at once; when grading runs as
  an ordinary user, bwrap's user namespace gives the same effect;
- gets its resource limits from ``prlimit`` (util-linux) inside the sandbox, after the uid change;
- cannot create user namespaces (a seccomp filter), so it cannot mount anything of its own;
- inherits no descriptor of the grader's (a launcher closes all but 0, 1, 2 before bwrap).

:func:`budget` puts all the sandboxes of one submission into one cgroup (memory, including memfd
and tmpfs pages, and processes, for all of them together).

Where bwrap is missing or cannot create namespaces, :func:`command` still applies the resource
limits, and :func:`warn_if_unsandboxed` says loudly (log + stderr) that student code runs with
the grader's permissions. ``AUTOGRADER_SANDBOX=off`` forces that mode (for debugging);
``AUTOGRADER_SANDBOX=required`` makes grading fail instead. ``python -m autograder.notebook.sandbox``
prints which mode this machine gets.
"""
import atexit
import contextlib
import functools
import json
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
GRADER = Path(__file__).resolve().parents[1]  # the autograder package: never visible inside
ENV_SWITCH = "AUTOGRADER_SANDBOX"  # auto (default) | off | required

# /etc entries a Python process (and matplotlib/numpy) may want; nothing secret.
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf", "alternatives", "fonts", "mime.types", "ssl/openssl.cnf")

log = logging.getLogger("autograder.notebook.sandbox")


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


# ---------------------------------------------------------------- launcher, seccomp

# Runs on the host (the grader's Python, -I -S), replaced at once by bwrap (or, unsandboxed,
# by prlimit): joins the budget's cgroups, closes every descriptor but 0-2, and passes bwrap its
# arguments (fd 3) and the seccomp filter (fd 4) through memfds. Exit 125: could not join.
LAUNCHER = r"""
import json, os, sys
spec, argv = json.loads(sys.argv[1]), sys.argv[2:]
try:
    for path in spec["join"]:
        with open(path, "w") as procs:
            procs.write("%d\n" % os.getpid())
except OSError as exc:
    sys.stderr.write("autograder sandbox: cannot join the submission's budget: %s\n" % exc)
    os._exit(125)
os.closerange(3, 1 << 20)
if spec["bwrap"]:
    end = argv.index("--")
    for fd, data in ((3, "".join(a + "\0" for a in argv[1:end]).encode()),
                     (4, bytes.fromhex(spec.get("seccomp", "")))):
        mem = os.memfd_create("bwrap", 0)
        os.write(mem, data)
        os.lseek(mem, 0, 0)
        if mem != fd:
            os.dup2(mem, fd)
            os.close(mem)
    argv = [argv[0], "--args", "3", *argv[end:]]
try:
    os.execv(argv[0], argv)
except OSError as exc:
    sys.stderr.write("autograder sandbox: cannot start %s: %s\n" % (argv[0], exc))
    os._exit(127)
"""

# Seccomp (classic BPF, see seccomp(2)): no new user namespaces (clone/unshare with
# CLONE_NEWUSER fail with EPERM; clone3, whose flags BPF cannot read, fails with ENOSYS and glibc
# falls back to clone), and no foreign system-call ABI (i386, x32) that would bypass the check.
_ARCH = {"x86_64": (0xC000003E, {"unshare": 272, "clone": 56, "clone3": 435}, True),
         "aarch64": (0xC00000B7, {"unshare": 97, "clone": 220, "clone3": 435}, False)}
CLONE_NEWUSER = 0x10000000


def seccomp_filter(machine: Optional[str] = None) -> Optional[bytes]:
    """The filter for this machine's architecture (None: not known here)."""
    import errno
    import platform
    import struct
    known = _ARCH.get(machine or platform.machine())
    if known is None:
        return None
    audit_arch, nr, x32 = known
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, eperm, enosys = 0x7FFF0000, 0x00050000 | errno.EPERM, 0x00050000 | errno.ENOSYS
    prog = [(ld, 0, 0, 4), (jeq, 1, 0, audit_arch), (ret, 0, 0, eperm), (ld, 0, 0, 0)]
    if x32:
        prog += [(jge, 0, 1, 0x40000000), (ret, 0, 0, eperm)]
    prog += [(jeq, 0, 1, nr["clone3"]), (ret, 0, 0, enosys),
             (jeq, 1, 0, nr["unshare"]), (jeq, 0, 3, nr["clone"]),
             (ld, 0, 0, 16), (jset, 0, 1, CLONE_NEWUSER), (ret, 0, 0, eperm),
             (ret, 0, 0, allow)]
    return b"".join(struct.pack("=HBBI", *op) for op in prog)


def _launch(argv: list, bwrap: bool) -> list:
    spec = {"join": _active.join_files() if _active is not None else [], "bwrap": bwrap}
    if bwrap:
        program = seccomp_filter()
        if program is None:
            _warn_once_text("NEW USER NAMESPACES NOT BLOCKED: no seccomp filter for this CPU "
                            "architecture; student code may mount a tmpfs of any size.")
        else:
            argv = [argv[0], "--seccomp", "4", *argv[1:]]
            spec["seccomp"] = program.hex()
    return [sys.executable, "-I", "-S", "-c", LAUNCHER, json.dumps(spec), *argv]


# ---------------------------------------------------------------- one budget per submission

BUDGET_MEMORY_MB = 2048   # memory of all a submission's sandboxes together (incl. memfd, tmpfs)
BUDGET_PROCESSES = 256    # processes + threads of all a submission's sandboxes together
CGROUP_PREFIX = "autograder-budget-"
_active = None            # the Budget in force in this process, if any


def _read(path) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _start_time(pid: int) -> str:
    """The start time of process ``pid`` (with the pid, names one process for good)."""
    fields = _read("/proc/%d/stat" % pid).rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else ""


def _cgroup_places() -> tuple:
    """``(version, {controller: folder to create budgets in}, reason)``: v2 if its memory and
    pids controllers can be delegated, else v1's memory and pids hierarchies."""
    mounts, own = {}, {}
    for line in _read("/proc/self/mountinfo").splitlines():
        left, _, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if len(fields) < 5 or len(rest) < 3:
            continue
        if rest[0] == "cgroup2":
            mounts.setdefault("cgroup2", (fields[4], fields[3]))
        elif rest[0] == "cgroup":
            for option in rest[2].split(","):
                if option in ("memory", "pids"):
                    mounts.setdefault(option, (fields[4], fields[3]))
    for line in _read("/proc/self/cgroup").splitlines():
        number, controllers, path = line.split(":", 2)
        for name in controllers.split(","):
            own[name or "cgroup2"] = path

    def folder(key):
        mount, root = mounts[key]
        path = own.get(key, "/")
        path = path[len(root):] if root != "/" and path.startswith(root) else path
        return Path(mount + path.rstrip("/"))

    if "cgroup2" in mounts:
        for parent in (folder("cgroup2"), Path(mounts["cgroup2"][0])):
            if {"memory", "pids"} <= set(_read(parent / "cgroup.controllers").split()):
                try:
                    (parent / "cgroup.subtree_control").write_text("+memory +pids")
                    return 2, {"cgroup2": parent}, ""
                except OSError:
                    continue
    found = {key: folder(key) for key in ("memory", "pids") if key in mounts}
    found = {key: path for key, path in found.items() if os.access(path, os.W_OK)}
    if found:
        missing = {"memory", "pids"} - set(found)
        return 1, found, ("no writable %s cgroup" % " or ".join(missing)) if missing else ""
    return 0, {}, "no cgroup (v2 with memory+pids delegated, or v1 memory/pids) can be created here"


class Budget:
    """One cgroup (v2) or one memory + one pids cgroup (v1) for a submission's sandboxes."""

    def __init__(self, name: str, memory_mb: int, processes: int):
        self.name, self.memory_mb, self.processes = name, memory_mb, processes
        self.version, parents, self.missing = _cgroup_places()
        label = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "_.") else "_"
                        for ch in name)[:40]
        own = "%s%d-%s-%s-%s" % (CGROUP_PREFIX, os.getpid(), _start_time(os.getpid()), label,
                                 secrets.token_hex(4))
        self.folders = {}
        for key, parent in parents.items():
            sweep(parent)
            try:
                (parent / own).mkdir()
            except OSError as exc:
                self.missing = "cannot create a %s cgroup: %s" % (key, exc)
                continue
            self.folders[key] = parent / own
        limits = {"memory": [("memory.limit_in_bytes", memory_mb << 20),
                             ("memory.memsw.limit_in_bytes", memory_mb << 20)],
                  "pids": [("pids.max", processes)],
                  "cgroup2": [("memory.max", memory_mb << 20), ("memory.swap.max", 0),
                              ("pids.max", processes)]}
        for key, folder in self.folders.items():
            for file, value in limits[key]:
                if (folder / file).exists():
                    (folder / file).write_text(str(value))

    @property
    def enforced(self) -> list:
        """What this budget limits: "memory", "pids"."""
        return ["memory", "pids"] if "cgroup2" in self.folders else sorted(self.folders)

    def join_files(self) -> list:
        return [str(folder / "cgroup.procs") for folder in self.folders.values()]

    def _value(self, key: str, file: str, field: Optional[str] = None) -> int:
        folder = self.folders.get("cgroup2", self.folders.get(key))
        text = _read(folder / file) if folder else ""
        if field is None:
            return int(text or 0)
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name == field:
                return int(value)
        return 0

    def oom_kills(self) -> int:
        """Processes the kernel killed for going over the memory budget."""
        if self.version == 2:
            return self._value("memory", "memory.events", "oom_kill")
        return self._value("memory", "memory.oom_control", "oom_kill")

    def memory_refused(self) -> int:
        """Times an allocation hit the memory budget."""
        if self.version == 2:
            return self._value("memory", "memory.events", "max")
        return self._value("memory", "memory.failcnt")

    def pids_refused(self) -> int:
        """Times a fork or thread was refused for going over the process budget."""
        return self._value("pids", "pids.events", "max")

    def peak_memory_mb(self) -> float:
        """Most memory the submission's sandboxes held together (v1; v2 on Linux >= 5.19)."""
        file = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        return self._value("memory", file) / (1 << 20)

    def pids(self) -> set:
        return {int(pid) for path in self.join_files() for pid in _read(path).split()}

    def close(self):
        """Kill every process in the budget, remove its cgroups."""
        for folder in self.folders.values():
            _kill_and_remove(folder)
        self.folders = {}


def _kill_and_remove(folder: Path) -> None:
    import time
    if (folder / "cgroup.kill").exists():
        try:
            (folder / "cgroup.kill").write_text("1")
        except OSError:
            pass
    for _ in range(500):  # a fork bomb is bounded by pids.max; each round kills all it sees
        pids = [int(pid) for pid in _read(folder / "cgroup.procs").split()]
        for pid in pids:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        try:
            folder.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.01)
    log.error("could not remove cgroup %s: processes %s still in it", folder, pids)


def sweep(parent: Path) -> list:
    """Remove the budgets whose owner process is gone (a worker killed mid-submission)."""
    removed = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return removed
    for folder in entries:
        parts = folder.name[len(CGROUP_PREFIX):].split("-", 2)
        if not folder.name.startswith(CGROUP_PREFIX) or len(parts) < 3 or not parts[0].isdigit():
            continue
        if _start_time(int(parts[0])) != parts[1]:
            log.warning("removing the stale budget %s (its grader process is gone)", folder)
            _kill_and_remove(folder)
            removed.append(folder)
    return removed


@contextlib.contextmanager
def budget(name: str, memory_mb: Optional[int] = None, processes: Optional[int] = None):
    """While active, every sandbox :func:`command` starts in this process (the kernel and
    every re-execution) joins one cgroup limiting memory (including memfd and tmpfs pages) and
    processes of them all together; on exit, everything in it is killed and the cgroup removed.
    Stale budgets of dead grader processes are removed first. Yields the :class:`Budget`."""
    global _active
    if _auto is not None:  # a notebook's automatic budget, left open: its sandboxes are gone
        auto_budget_close()
    if _active is not None:
        raise RuntimeError("a budget is already active in this process: %s" % _active.name)
    current = Budget(name, memory_mb or BUDGET_MEMORY_MB, processes or BUDGET_PROCESSES)
    if set(current.enforced) != {"memory", "pids"}:
        _warn_once_text(BUDGET_MISSING % (", ".join(current.enforced) or "nothing",
                                          current.missing or "unknown"))
    _active = current
    try:
        yield current
    finally:
        _active = None
        current.close()


def active() -> Optional[Budget]:
    """The budget in force in this process, if any."""
    return _active


_auto = None  # the automatic budget's context (stock ``nbgrader autograde``)


def auto_budget(name: str, memory_mb: Optional[int] = None, processes: Optional[int] = None):
    """A budget for one notebook when the caller opened none (stock ``nbgrader autograde``):
    it closes the previous automatic one, and stays active until the next notebook or the end
    of the process, so it covers the notebook's kernel and its re-executions. A budget the
    caller opened (``python -m autograder grade``, one per submission) is left alone."""
    global _auto
    if _auto is not None:
        _auto.__exit__(None, None, None)
        _auto = None
    if _active is not None:
        return _active
    if not atexit_registered:
        atexit.register(auto_budget_close)
        atexit_registered.append(True)
    context = budget(name, memory_mb, processes)
    opened = context.__enter__()
    _auto = context
    return opened


atexit_registered = []


def auto_budget_close() -> None:
    global _auto
    if _auto is not None:
        _auto.__exit__(None, None, None)
        _auto = None


BUDGET_MISSING = ("SUBMISSION BUDGET ONLY PARTLY ENFORCED (enforced: %s; %s): the memory "
                  "(including memfd and tmpfs pages) or the processes of all a submission's "
                  "sandboxes together are not capped; only the per-process limits apply.")


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


def _warn_once(reason: str) -> None:
    _warn_once_text(UNSANDBOXED % reason)


@functools.lru_cache(maxsize=None)
def _warn_once_text(text: str) -> None:
    """:func:`warn_loudly`, once per process."""
    warn_loudly(text)


def warn_loudly(text: str) -> None:
    """``text`` on the log (where one is set up) and, in a banner, on stderr."""
    if log.hasHandlers():
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
