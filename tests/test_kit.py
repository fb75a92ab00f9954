"""The student kit (`make student-kit`, autograder/course/kit.py) and the pins it and the course install.

The kit's JupyterLab in a real browser (unpacked into an empty folder, installed for real and
started by its own start-lab.sh on Debian's Python 3.11.2, assignment filled and validated, the
venv exactly the kit's pins) is tests/test_browser.py's "kit" run. Here: the zip is reproducible
and holds exactly the student files; no byte of it gives an answer away, and the scanner that says
so catches every kind of secret planted into a copy; the students' requirements are the lock's
pins without the instructor's tools; the lock and the kit's pins resolve on every CPython 3.11+ the
machine has (pip's dry run: each pin has a release for that interpreter, nothing unpinned comes
in); an exchange turns the Assignment List on.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
import urllib.request
import zipfile
from pathlib import Path

import nbformat
import pytest
from packaging.requirements import Requirement

from autograder.course import kit, lock
from browser_support import REPO, StudentLab

QUIZ_KEY = json.loads((REPO / "source" / "reproducibility" / "quiz.expected.json").read_text())
EXPECTED = json.loads((REPO / "source" / "reproducibility" / "reproducibility.expected.json").read_text())
SOURCE = REPO / "source" / "reproducibility"


@pytest.fixture(scope="module")
def kit_zip(tmp_path_factory) -> Path:
    return kit.build(tmp_path_factory.mktemp("kit"))


def unzipped(archive: Path) -> dict[str, bytes]:
    """{path inside the kit's top folder: bytes} of every entry."""
    top = kit.kit_name() + "/"
    with zipfile.ZipFile(archive) as zipped:
        names = zipped.namelist()
        assert all(name.startswith(top) for name in names), names
        return {name[len(top):]: zipped.read(name) for name in names}


# ---------------------------------------------------------------- the zip

def test_the_kit_is_named_after_the_course_and_version(kit_zip):
    assert kit_zip.name == f"{kit.course_id()}-student-{kit.version()}.zip"
    assert kit.course_id() == "reproducible-ml"  # what nbgrader_config.py says today
    assert re.fullmatch(r"\d+\.\d+\.\d+", kit.version())


def test_two_builds_are_the_same_bytes(kit_zip, tmp_path):
    again = kit.build(tmp_path)
    assert again.read_bytes() == kit_zip.read_bytes()
    with zipfile.ZipFile(kit_zip) as zipped:
        infos = zipped.infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    modes = {i.filename.split("/", 1)[1]: i.external_attr >> 16 for i in infos}
    assert modes.pop("start-lab.sh") == modes.pop("lab/run-lab.sh") == 0o100755
    assert set(modes.values()) == {0o100644}


def test_the_kit_holds_the_student_files_and_nothing_else(kit_zip):
    files = unzipped(kit_zip)
    expected = {name: (REPO / "kit" / name).read_bytes() for name in ("README.md", "requirements.txt", "start-lab.sh")}
    for pattern in ("lab/**/*", "release/**/*", "notebooks/*.ipynb", "hub/student/python/**/*"):
        expected.update({p.relative_to(REPO).as_posix(): p.read_bytes() for p in REPO.glob(pattern)
                         if p.is_file() and "__pycache__" not in p.parts and ".ipynb_checkpoints" not in p.parts})
    assert sorted(files) == sorted(expected)
    assert files == expected
    for needed in ("release/reproducibility/reproducibility.ipynb", "release/reproducibility/quiz.ipynb",
                   "release/reproducibility/practice.py", "lab/run-lab.sh", "lab/jupyter_server_config.json",
                   "lab/labconfig/page_config.json", "hub/student/python/assignment_list_errors.py",
                   "hub/student/python/private_submit.py"):
        assert needed in files


def test_the_kits_lab_config_hides_instructor_tools_and_the_terminal(kit_zip):
    files = unzipped(kit_zip)
    server = json.loads(files["lab/jupyter_server_config.json"])["ServerApp"]
    assert server["terminals_enabled"] is False
    extensions = server["jpserver_extensions"]
    assert extensions["nbgrader.server_extensions.validate_assignment"] is True
    for tool in ("formgrader", "course_list", "assignment_list"):
        assert extensions[f"nbgrader.server_extensions.{tool}"] is False
    disabled = json.loads(files["lab/labconfig/page_config.json"])["disabledExtensions"]
    for plugin in ("formgrader", "create-assignment", "course-list", "assignment-list", "menu"):
        assert disabled[f"@jupyter/nbgrader:{plugin}"] is True
    # With an exchange, only the Assignment List comes back; the course id is the instructor's.
    exchange = json.loads(files["lab/exchange/jupyter_server_config.json"])["ServerApp"]["jpserver_extensions"]
    assert {k: v for k, v in exchange.items() if extensions[k] != v} == {
        "nbgrader.server_extensions.assignment_list": True}
    # (The Assignment List opens from the "Nbgrader" menu; without the formgrader, course list and
    # create-assignment plugins the menu has no other item.)
    assert json.loads(files["lab/exchange/labconfig/page_config.json"]) == {
        "disabledExtensions": {"@jupyter/nbgrader:assignment-list": False, "@jupyter/nbgrader:menu": False}}
    assert kit.course_id(REPO / "lab" / "exchange" / "nbgrader_config.py") == kit.course_id()


# ---------------------------------------------------------------- secrets

def test_the_secret_list_is_derived_from_the_instructors_files():
    known = kit.secrets()
    for question, entry in QUIZ_KEY["questions"].items():
        assert known[f"solution of quiz.ipynb:{question}"] == f'{question}="{entry["answer"]}"'
    hidden = [what for what in known if what.startswith("hidden test of reproducibility.ipynb:test_step")]
    assert len(hidden) >= 4
    for data in ("source/reproducibility/reproducibility.expected.json", "source/reproducibility/quiz.expected.json"):
        assert any(what.startswith(f"grader data from {data} #") for what in known), data
    # The coding steps' reference code is taught in lesson 01, so it is not on the list.
    assert not any(what.startswith("solution of reproducibility.ipynb") for what in known)


def test_no_byte_of_the_kit_gives_an_answer_away(kit_zip):
    files = unzipped(kit_zip)
    assert kit.find_secrets(files) == []
    # The raw bytes too, independently of the scanner: no nbgrader marker, no grader-side name.
    blob = b"\n".join(files.values())
    for needle in (b"BEGIN SOLUTION", b"BEGIN HIDDEN TESTS", b"quiz_key", b"expected.json"):
        assert needle not in blob


def _notebook_with_cell(data: bytes, source: str, outputs: list | None = None) -> bytes:
    nb = nbformat.reads(data.decode(), as_version=4)
    cell = nbformat.v4.new_code_cell(source)
    if outputs:
        cell.outputs = outputs
    nb.cells.append(cell)
    return nbformat.writes(nb).encode()


def _hidden_test(grade_id: str) -> str:
    """The hidden-test region of one test cell of the instructor's assignment notebook."""
    cells = nbformat.read(SOURCE / "reproducibility.ipynb", as_version=4).cells
    source = next(c.source for c in cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    return kit.HIDDEN.findall(source)[0]


PLANTS = {
    # name: (plant(files) -> the planted path, words the finding must contain)
    "instructor notebook as the release": (
        lambda f: _put(f, "release/reproducibility/quiz.ipynb", (SOURCE / "quiz.ipynb").read_bytes()),
        "solution of quiz.ipynb:q01"),
    "a quiz answer, reformatted, in a new cell": (
        lambda f: _put(f, "release/reproducibility/quiz.ipynb", _notebook_with_cell(
            f["release/reproducibility/quiz.ipynb"], f"q07   =  '{QUIZ_KEY['questions']['q07']['answer']}'")),
        "solution of quiz.ipynb:q07"),
    "a solution marker in the practice helper": (
        lambda f: _put(f, "release/reproducibility/practice.py",
                       f["release/reproducibility/practice.py"] + b"\n### BEGIN SOLUTION\n"),
        "nbgrader marker"),
    "a hidden test line in the README": (
        lambda f: _put(f, "README.md", f["README.md"] + _hidden_test("test_step3").encode()),
        "hidden test of reproducibility.ipynb:test_step3"),
    "the expected outcomes in a lesson's output": (
        lambda f: _put(f, "notebooks/01_why_reproducibility.ipynb", _notebook_with_cell(
            f["notebooks/01_why_reproducibility.ipynb"], "print(expected)",
            [nbformat.v4.new_output("stream", name="stdout",
                                    text=(REPO / "source" / "reproducibility" / "reproducibility.expected.json").read_text())])),
        "grader data from source/reproducibility/reproducibility.expected.json"),
    "expected.json shipped": (
        lambda f: _put(f, "lab/reproducibility.expected.json", (REPO / "source" / "reproducibility" / "reproducibility.expected.json").read_bytes()),
        "instructor or grader-side file"),
    "the quiz key pasted into the practice helper": (
        lambda f: _put(f, "release/reproducibility/practice.py",
                       f["release/reproducibility/practice.py"] + b"\nKEY = '''"
                       + (REPO / "source" / "reproducibility" / "quiz.expected.json").read_bytes() + b"'''\n"),
        "grader data from source/reproducibility/quiz.expected.json"),
    "the instructor's nbgrader_config.py": (
        lambda f: _put(f, "nbgrader_config.py", (REPO / "nbgrader_config.py").read_bytes()),
        "instructor or grader-side file"),
    "the formgrader switched on": (
        lambda f: _put(f, "lab/jupyter_server_config.json", f["lab/jupyter_server_config.json"].replace(
            b'"nbgrader.server_extensions.formgrader": false', b'"nbgrader.server_extensions.formgrader": true')),
        "instructor setting"),
}


def _put(files: dict[str, bytes], name: str, data: bytes) -> str:
    assert files.get(name) != data, f"planting into {name} changed nothing"
    files[name] = data
    return name


@pytest.mark.parametrize("plant", PLANTS, ids=list(PLANTS))
def test_the_scanner_catches_a_planted_secret(kit_zip, plant):
    files = unzipped(kit_zip)
    put, words = PLANTS[plant]
    planted = put(files)
    findings = kit.find_secrets(files)
    assert any(f.startswith(f"{planted}: ") and words in f for f in findings), findings
    assert all(f.startswith(f"{planted}: ") for f in findings), findings  # nothing else flagged


def test_build_writes_no_kit_with_a_secret(kit_zip, tmp_path, monkeypatch):
    files = unzipped(kit_zip)
    PLANTS["the instructor's nbgrader_config.py"][0](files)
    monkeypatch.setattr(kit, "kit_files", lambda root: files)
    with pytest.raises(RuntimeError, match="nbgrader_config.py: instructor or grader-side file"):
        kit.build(tmp_path)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- requirements

def test_student_requirements_are_the_locks_pins_without_instructor_tools(kit_zip):
    student = lock.parse(unzipped(kit_zip)["requirements.txt"].decode())
    pinned = lock.parse((REPO / "requirements.lock").read_text())
    for needed in lock.STUDENT:
        assert lock.canonical(needed) in student
    for tool in ("pytest", "playwright", "dask", "distributed", "psycopg"):
        assert tool not in student
    assert {name: pinned.get(name) for name in student} == student
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"
    for requirement in project["dependencies"]:  # every direct dependency pinned, and as locked
        name, version = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(\S+)", requirement).groups()
        assert pinned[lock.canonical(name)] == version


def _cpythons() -> dict[str, Path]:
    """Debian's /usr/bin/python3 and the newest pyenv CPython of each minor version from 3.11 up."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = {"debian": Path("/usr/bin/python3")}
    for minor in ("3.11", "3.12", "3.13"):
        builds = sorted(root.glob(f"{minor}.*/bin/python"),
                        key=lambda p: [int(x) for x in p.parent.parent.name.split(".") if x.isdigit()])
        found[minor] = builds[-1] if builds else root / f"{minor}.x" / "bin" / "python"
    return found


CPYTHONS = _cpythons()


@pytest.fixture(scope="module")
def lock_resolutions(tmp_path_factory) -> dict[str, dict | str]:
    """pip's dry-run report of `pip install -r requirements.lock` (what `make venv` runs) in a fresh
    venv of each interpreter, all at once (each is mostly waiting on the index); or why not."""
    base, started = tmp_path_factory.mktemp("resolve"), {}
    for name, python in CPYTHONS.items():
        if not python.exists():
            started[name] = f"{python} is not on this machine"
            continue
        version = subprocess.run([str(python), "-c", "import sys; print(sys.version_info >= (3, 11))"],
                                 capture_output=True, text=True).stdout.strip()
        if version != "True":
            started[name] = f"{python} is older than 3.11, which the course needs"
            continue
        venv = base / name
        subprocess.run([str(python), "-m", "venv", str(venv)], check=True)
        started[name] = (venv / "report.json", subprocess.Popen(
            [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "install", "--dry-run",
             "--ignore-installed", "--report", str(venv / "report.json"), "-r", str(REPO / "requirements.lock")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    results = {}
    for name, job in started.items():
        if isinstance(job, str):
            results[name] = job
            continue
        report, proc = job
        stderr = proc.communicate()[1]
        assert proc.returncode == 0, f"{name}: pip install -r requirements.lock failed:\n{stderr[-4000:]}"
        results[name] = json.loads(report.read_text())
    return results


@pytest.mark.parametrize("python", list(CPYTHONS))
@pytest.mark.slow
def test_the_lock_and_the_kit_resolve_exactly_as_pinned(lock_resolutions, kit_zip, python):
    """On this interpreter: `pip install -r requirements.lock` (what `make venv` runs) installs every
    pin and nothing unpinned; and the kit's requirements pin the whole closure of the students'
    packages in that resolution (markers evaluated for this interpreter), so they install alone."""
    resolution = lock_resolutions[python]
    if isinstance(resolution, str):
        pytest.skip(resolution)
    installs = {lock.canonical(i["metadata"]["name"]): i["metadata"] for i in resolution["install"]}
    assert {name: meta["version"] for name, meta in installs.items()} == lock.parse(
        (REPO / "requirements.lock").read_text())
    student_file = unzipped(kit_zip)["requirements.txt"].decode()
    student = lock.parse(student_file)
    # Each package the students' set needs here is pinned, as locked. (A pin can be unneeded on a
    # newer Python, e.g. overrides below 3.12 only; pip then installs it anyway, harmlessly.)
    needed, elsewhere = _closure(installs, resolution["environment"])
    assert not elsewhere
    assert {name: student.get(name) for name in needed} == {name: installs[name]["version"] for name in needed}
    # What a Mac needs beyond that is pinned under a darwin marker, in a release its requirement allows.
    _, on_macos = _closure(installs, dict(resolution["environment"], sys_platform="darwin",
                                          platform_system="Darwin", os_name="posix"))
    pinned = [Requirement(line) for line in student_file.splitlines() if line and not line.startswith("#")]
    macos_pins = {lock.canonical(r.name): r for r in pinned if r.marker is not None}
    assert set(macos_pins) == set(on_macos)
    for name, requirement in on_macos.items():
        version = str(macos_pins[name].specifier).removeprefix("==")
        assert requirement.specifier.contains(version), (name, version, requirement)


def _closure(installs: dict[str, dict], environment: dict) -> tuple[set, dict]:
    """The students' packages and their dependencies under ``environment``'s markers: (those in
    ``installs``, {name: Requirement} of those not in it)."""
    seen, outside, todo = set(), {}, [(lock.canonical(name), "") for name in lock.STUDENT]
    while todo:  # (package, extra) pairs: jupyter-events needs jsonschema[format-nongpl]
        name, extra = todo.pop()
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        for r in map(Requirement, installs[name].get("requires_dist") or []):
            if r.marker is None or r.marker.evaluate(dict(environment, extra=extra)):
                if lock.canonical(r.name) in installs:
                    todo += [(lock.canonical(r.name), e) for e in ["", *r.extras]]
                else:
                    outside[lock.canonical(r.name)] = r
    return {name for name, _ in seen}, outside


# ---------------------------------------------------------------- the exchange switch

def test_an_exchange_turns_the_assignment_list_on(tmp_path):
    """NBGRADER_EXCHANGE makes lab/run-lab.sh serve nbgrader's Assignment List for this course's
    exchange (here a released assignment laid out the way nbgrader's exchange stores it); the
    terminal and the formgrader stay off."""
    exchange = tmp_path / "exchange"
    shutil.copytree(REPO / "release" / "reproducibility", exchange / kit.course_id() / "outbound" / "reproducibility")
    lab = StudentLab(tmp_path / "work", tmp_path / "state", tmp_path / "lab.log",
                     extra_env={"NBGRADER_EXCHANGE": str(exchange)})
    lab.start()
    try:
        listed = lab.api(f"/assignments?course_id={kit.course_id()}")
        assert listed["success"] is True, listed
        assert [(a["assignment_id"], a["status"]) for a in listed["value"]] == [("reproducibility", "released")]
        assert lab.status("/formgrader") == 404
        assert lab.status("/api/terminals") == 404
        with urllib.request.urlopen(lab.url("/lab"), timeout=30) as page:
            html = page.read().decode()
        config = json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                                      html, re.S).group(1))
        disabled = config["disabledExtensions"]
        for plugin in ("formgrader", "create-assignment", "course-list"):
            assert f"@jupyter/nbgrader:{plugin}" in disabled
        for plugin in ("assignment-list", "menu", "validate-assignment"):
            assert f"@jupyter/nbgrader:{plugin}" not in disabled
        assert config["terminalsAvailable"] is False
    finally:
        lab.stop()
    assert "Assignment List on" in lab.log()
    assert not (tmp_path / "work" / "reproducibility").exists()  # fetched from the list, not copied
