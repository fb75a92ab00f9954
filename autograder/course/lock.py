"""Pinned requirements, resolved on the oldest CPython the course supports.

``python -m autograder.course.lock [--python /usr/bin/python3]`` resolves pyproject.toml's dependencies
with pip in a throw-away venv of that interpreter (default: Debian 12's ``/usr/bin/python3``,
3.11.2) and writes the whole tree, pinned, to ``requirements.lock``; then resolves the students'
packages (``STUDENT``) against those pins and writes ``kit/requirements.txt`` (with the few
packages only macOS needs, pinned under a marker). A package whose newest release needs a newer
Python (soupsieve 3.0.2+ needs >= 3.11.5) is thus held back to the newest release that installs
everywhere. Needs the package index; run by hand, commit the result.
"""
import argparse
import json
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
STUDENT_LOCK = ROOT / "kit" / "requirements.txt"
# What students run: JupyterLab with nbgrader's Validate button, a kernel, the lessons' libraries.
STUDENT = ["nbgrader", "jupyterlab", "ipykernel", "numpy", "matplotlib"]


# Markers as on a Mac: the kit's README offers macOS, where ipykernel also needs appnope.
MACOS = {"sys_platform": "darwin", "platform_system": "Darwin", "os_name": "posix"}
MACOS_MARKER = 'sys_platform == "darwin"'


def resolve(python: str, requirements: list[str], *options: str) -> dict[str, dict]:
    """{name: pip's metadata} of everything pip would install for ``requirements`` on ``python``."""
    with tempfile.TemporaryDirectory() as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        report = Path(tmp) / "report.json"
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                        "--disable-pip-version-check", "--dry-run", "--ignore-installed",
                        "--report", str(report), *options, *requirements],
                       check=True, stderr=subprocess.DEVNULL)
        resolution = json.loads(report.read_text())
    return {item["metadata"]["name"]: item["metadata"] for item in resolution["install"]}


def macos_only(python: str, resolved: dict[str, dict], roots: list[str]) -> dict[str, dict]:
    """The packages ``roots`` also need on macOS, beyond ``resolved``, each the newest release that
    installs on ``python`` (pip evaluates markers for the machine it runs on, so they are followed here)."""
    environment = dict(default_environment(), **MACOS, extra="")
    known = {canonical(name): meta for name, meta in resolved.items()}
    extra, todo, seen = {}, [canonical(name) for name in roots], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for requirement in map(Requirement, known[name].get("requires_dist") or []):
            if requirement.marker and not requirement.marker.evaluate(environment):
                continue
            child = canonical(requirement.name)
            if child not in known:
                found = resolve(python, [f"{requirement.name}{requirement.specifier}"], "--no-deps")
                extra.update(found)
                known.update({canonical(n): meta for n, meta in found.items()})
            todo.append(child)
    return extra


def pins(resolved: dict[str, dict], header: str, macos: dict[str, dict] = {}) -> str:
    lines = {name: f"{name}=={meta['version']}" for name, meta in resolved.items()}
    lines.update({name: f"{name}=={meta['version']} ; {MACOS_MARKER}" for name, meta in macos.items()})
    return header + "".join(lines[name] + "\n" for name in sorted(lines, key=str.lower))


def parse(text: str) -> dict[str, str]:
    """{canonical name: version} of a pins file written by ``pins``, for this machine's markers."""
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate():
                found[canonical(requirement.name)] = str(requirement.specifier).removeprefix("==")
    return found


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.course.lock", description=__doc__.splitlines()[0])
    parser.add_argument("--python", default="/usr/bin/python3",
                        help="the oldest interpreter to support (default: %(default)s)")
    args = parser.parse_args(argv)
    version = subprocess.run([args.python, "-c", "import platform; print(platform.python_version())"],
                             capture_output=True, text=True, check=True).stdout.strip()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    LOCK.write_text(pins(resolve(args.python, project["dependencies"]),
                         f"# python -m autograder.course.lock: pyproject.toml's dependencies resolved on "
                         f"CPython {version}.\n"))
    student = resolve(args.python, STUDENT, "-c", str(LOCK))
    STUDENT_LOCK.write_text(pins(student,
                                 f"# The student kit's packages ({', '.join(STUDENT)}), pinned as in "
                                 f"requirements.lock\n# (python -m autograder.course.lock; resolved on "
                                 f"CPython {version}, plus what macOS adds).\n",
                                 macos_only(args.python, student, STUDENT)))
    print(f"wrote {LOCK.name} and {STUDENT_LOCK.relative_to(ROOT)} (resolved on CPython {version})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
