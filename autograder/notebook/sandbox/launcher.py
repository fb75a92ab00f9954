"""The launcher bwrap is started through (joins the submission's cgroup budget, closes the
grader's descriptors, hands bwrap its arguments and the seccomp filter through memfds), and the
seccomp filter itself; see :mod:`autograder.notebook.sandbox`."""
import json
import sys
from typing import Optional

from . import cgroup
from .modes import _warn_once_text

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
    spec = {"join": cgroup.active().join_files() if cgroup.active() is not None else [], "bwrap": bwrap}
    if bwrap:
        program = seccomp_filter()
        if program is None:
            _warn_once_text("NEW USER NAMESPACES NOT BLOCKED: no seccomp filter for this CPU "
                            "architecture; student code may mount a tmpfs of any size.")
        else:
            argv = [argv[0], "--seccomp", "4", *argv[1:]]
            spec["seccomp"] = program.hex()
    return [sys.executable, "-I", "-S", "-c", LAUNCHER, json.dumps(spec), *argv]
