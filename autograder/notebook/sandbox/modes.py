"""Which sandbox this machine gives (:func:`detect`: ``bwrap-root``, ``bwrap-user`` or ``none``,
``AUTOGRADER_SANDBOX`` to force or require one) and the loud warnings when student code runs
without one; see :mod:`autograder.notebook.sandbox`."""
import functools
import logging
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Optional

ENV_SWITCH = "AUTOGRADER_SANDBOX"  # auto (default) | off | required

log = logging.getLogger("autograder.notebook.sandbox")


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


def _probe(mode: Mode) -> Optional[str]:
    """None if ``mode`` works here, else what went wrong."""
    from .bwrap import ProcessLimits, command, new_uid
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

