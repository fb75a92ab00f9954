"""``make hub``'s refusals: the machine it needs (root, Node), and a checkout whose secrets a student
could read (``source/``, the keys, the expected values and declarations, the gradebook)."""
import grp
import os
import re
import stat
import subprocess
from pathlib import Path

# configurable-http-proxy 5.3.0 declares "engines": {"node": ">= 20"} (it is an ES module).
NODE_MAJOR = 20
# Folders of a checkout that hold no course secrets and may be large.
SKIPPED = {".git", ".venv", "node_modules", "__pycache__", ".pytest_cache"}


class Refused(Exception):
    """``make hub`` cannot go on; the message names what and the fix."""


def require_root() -> None:
    if os.geteuid() != 0:
        raise Refused("make hub must run as root: it creates unix groups and the grader account, "
                      "and the hub starts each student's server under the student's uid. "
                      "Run `sudo make hub`.")


def require_node(node: str = "node") -> str:
    """The Node version (``v20.20.2``), or :class:`Refused` when Node is missing or older than 20."""
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        raise Refused(f"make hub needs Node.js {NODE_MAJOR} or newer with npm (for "
                      f"configurable-http-proxy, the hub's proxy): `{node}` was not found. On Debian 12: "
                      "install Node 20 from NodeSource (https://github.com/nodesource/distributions) "
                      "or `apt-get install nodejs npm` on Debian 13.") from None
    found = re.match(r"v(\d+)\.", version)
    if not found or int(found.group(1)) < NODE_MAJOR:
        raise Refused(f"make hub needs Node.js {NODE_MAJOR} or newer (configurable-http-proxy 5.3.0 "
                      f"requires it); `{node} --version` says {version!r}. Install Node {NODE_MAJOR}+ "
                      "(https://github.com/nodesource/distributions) and run make hub again.")
    return version


def secrets(checkout: Path) -> list:
    """The checkout's paths a student must not read: everything in ``source/``, the keys
    (``.secret_seeds.key``, ``*.key``, ``*.pem``), ``*.expected.json``, ``*.grading.json``,
    ``gradebook.db``."""
    found = []
    for folder, dirs, files in os.walk(checkout):
        dirs[:] = [d for d in dirs if d not in SKIPPED]
        here = Path(folder)
        in_source = here == checkout / "source" or checkout / "source" in here.parents
        if in_source:
            found.append(here)
        for name in files:
            if in_source or name in (".secret_seeds.key", "gradebook.db") or name.endswith(
                    (".key", ".pem", ".expected.json", ".grading.json")):
                found.append(here / name)
    return found


def _open_to(st: os.stat_result, other_bit: int, group_bit: int, gids: set) -> bool:
    return bool(st.st_mode & other_bit) or (st.st_gid in gids and bool(st.st_mode & group_bit))


def exposure(path: Path, gids: set) -> str:
    """Why a student (any "other" user, or a member of a group in ``gids``) can read ``path``, or
    "" when they cannot: every folder from / down must let them in and the path itself be readable."""
    path = Path(os.path.abspath(path))
    for folder in reversed(path.parents):
        if not _open_to(os.stat(folder), stat.S_IXOTH, stat.S_IXGRP, gids):
            return ""
    st = os.stat(path)
    if not _open_to(st, stat.S_IROTH, stat.S_IRGRP, gids):
        return ""
    return (f"mode {stat.filemode(st.st_mode)} (group {_group_name(st.st_gid)}), and every folder "
            "above it lets students in")


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def refuse_readable_checkout(checkout: Path, student_group: str) -> None:
    """:class:`Refused` naming the first secret of ``checkout`` a student could read, and the fix."""
    try:
        gids = {grp.getgrnam(student_group).gr_gid}
    except KeyError:
        gids = set()
    for path in secrets(checkout):
        why = exposure(path, gids)
        if why:
            raise Refused(f"make hub refuses to start: students can read {path} ({why}). The "
                          f"course's secrets (source/, keys, *.expected.json, *.grading.json, "
                          f"gradebook.db) must stay the instructor's. Fix: `chmod 700 {checkout}` "
                          f"(or `chmod -R o-rwx,g-rwx {path}`), then run make hub again.")
