"""The student kit: everything a student needs, and nothing that gives an answer away.

``python -m autograder.course.kit`` (``make student-kit``) writes ``dist/<course>-student-<version>.zip``
(course id from nbgrader_config.py, version from pyproject.toml). Inside one top folder:

    README.md, requirements.txt, start-lab.sh   from kit/ (students' README, pins, one-command start)
    lab/                                        the students' JupyterLab launcher and configuration
    hub/student/python/                         its server helpers (Assignment List errors, private submit)
    release/<assignment>/                       every assignment, released: its notebooks and helpers
    notebooks/*.ipynb                           the lessons

The zip is reproducible: sorted entries, fixed timestamps and modes, so two builds are the same
bytes. Before writing, ``find_secrets`` scans every file (and every string inside each notebook)
for what students must not have, all derived from the instructor's files: nbgrader's solution
and hidden-test markers, the hidden tests' text, quiz answers (solutions that neither the lessons
nor the assignment's own instructions show: the coding steps' reference code is taught in lesson 01
and graded by re-running it, so it is no secret), every distinctive string of the grader-side data
(autograder/*.json, source/**/*.json: expected outcomes, grading declarations, quiz keys), grader-side
files by name (``*.grading.json``, ``*.expected.json`` among them), and instructor settings. A kit
with a finding, or without the release of an assignment of ``source/``, is not written.
"""
import argparse
import ast
import io
import json
import re
import sys
import tomllib
import zipfile
from pathlib import Path

from ..notebook import assignments

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"
TEMPLATE = ROOT / "kit"
EXECUTABLE = {"start-lab.sh", "lab/run-lab.sh"}
# nbgrader's solution and hidden-test delimiters (ClearSolutions / ClearHiddenTests defaults).
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
# Grader-side or instructor-only files and folders, by name.
FORBIDDEN_PARTS = {"source", "autograder", "submitted", "autograded", "feedback", "exports",
                   "gradebook.db"}
# Grader-side files by how their names end: declarations and what is derived from them (keys).
GRADER_SIDE_SUFFIXES = (assignments.DECLARATION, assignments.DERIVED)
# Instructor settings that must not be in any kit file.
INSTRUCTOR_SETTINGS = ("from autograder", "import autograder", "c.Autograde", "db_url",
                       '"nbgrader.server_extensions.formgrader":true')
SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)
DOTTED_NAME = re.compile(r"[A-Za-z_][\w.]*")  # e.g. a library function a declaration names: no secret
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)


def course_id(config: Path = ROOT / "nbgrader_config.py") -> str:
    """``c.CourseDirectory.course_id`` as the instructor's nbgrader_config.py sets it (read with ast)."""
    for node in ast.walk(ast.parse(config.read_text())):
        if (isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "c.CourseDirectory.course_id"
                and isinstance(node.value, ast.Constant)):
            return node.value.value
    raise ValueError(f"{config} sets no c.CourseDirectory.course_id")


def version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def kit_name() -> str:
    return f"{course_id()}-student-{version()}"


def _files_under(folder: Path, pattern: str = "**/*"):
    for path in sorted(folder.glob(pattern)):
        parts = path.relative_to(folder).parts
        if path.is_file() and not any(p.startswith(".") or p == "__pycache__" for p in parts):
            yield path


def unreleased(root: Path = ROOT) -> list[str]:
    """The assignments of ``root/source`` whose release (every notebook, in ``root/release``) is
    missing: messages, [] when all are released."""
    missing = []
    for assignment in assignments.names(root / "source"):
        notebooks = sorted(p.name for p in (root / "source" / assignment).glob("*.ipynb"))
        absent = [n for n in notebooks if not (root / "release" / assignment / n).is_file()]
        if absent:
            missing.append(f"{assignment}: not released ({', '.join(absent)} missing in release/{assignment}/); "
                           "run python -m autograder release")
    return missing


def kit_files(root: Path = ROOT) -> dict[str, bytes]:
    """{path inside the kit: content} for every file the kit holds (every released assignment)."""
    files = {name: (TEMPLATE / name).read_bytes()
             for name in ("README.md", "requirements.txt", "start-lab.sh")}
    for folder in ("lab", "release", "hub/student/python"):
        for path in _files_under(root / folder):
            files[path.relative_to(root).as_posix()] = path.read_bytes()
    for path in _files_under(root / "notebooks", "*.ipynb"):
        files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


# ---------------------------------------------------------------- secrets

def _normal(text: str) -> str:
    """Whitespace removed and quotes unified, so reformatting does not hide a secret."""
    return re.sub(r"\s+", "", text).replace("'", '"')


def _cells(notebook: Path) -> list[dict]:
    return json.loads(notebook.read_text(encoding="utf-8"))["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def secrets(root: Path = ROOT) -> dict[str, str]:
    """{what it is: the text that must not appear} derived from the instructor's files.

    Values are matched against ``_normal``-ised text, except the markers (matched as they are)."""
    found = {f"nbgrader marker {m!r}": m for m in MARKERS}
    sources = sorted((root / "source").glob("*/*.ipynb"))
    # What the course shows openly: the lessons, and the instructor notebooks minus their
    # solution and hidden-test regions (the instructions and visible checks).
    public = "\0".join([_normal(_source(c)) for nb in sorted((root / "notebooks").glob("*.ipynb"))
                         for c in _cells(nb)]
                        + [_normal(HIDDEN.sub("", SOLUTION.sub("", _source(c)))) for nb in sources
                           for c in _cells(nb)])
    for notebook in sources:
        for cell in _cells(notebook):
            text, grade_id = _source(cell), cell["metadata"].get("nbgrader", {}).get("grade_id")
            for block in SOLUTION.findall(text):
                if _normal(block) and _normal(block) not in public:
                    found[f"solution of {notebook.name}:{grade_id}"] = _normal(block)
            for block in HIDDEN.findall(text):
                for n, line in enumerate(block.splitlines()):
                    if len(line.strip()) >= 20:
                        found[f"hidden test of {notebook.name}:{grade_id} line {n + 1}"] = _normal(line)
    # Grader-side data (expected outcomes, grading declaration, quiz key): every distinctive
    # string in it, key or value, that the course does not show openly anyway.
    for data in sorted((ROOT / "autograder").rglob("*.json")) + sorted((root / "source").rglob("*.json")):
        for n, text in enumerate(_strings(json.loads(data.read_text(encoding="utf-8")))):
            if len(_normal(text)) >= 24 and _normal(text) not in public and not DOTTED_NAME.fullmatch(text):
                where = data.relative_to(ROOT if data.is_relative_to(ROOT / "autograder") else root)
                found[f"grader data from {where} #{n}"] = _normal(text)
    return found


def _strings(item) -> list[str]:
    """Every string in a JSON value, keys included, in document order."""
    if isinstance(item, str):
        return [item]
    if isinstance(item, dict):
        return [s for key, value in item.items() for s in [key, *_strings(value)]]
    if isinstance(item, list):
        return [s for value in item for s in _strings(value)]
    return []


def _texts(name: str, data: bytes) -> list[str]:
    """The file as text, and for a notebook also every string inside its JSON (cells, outputs)."""
    texts = [data.decode("utf-8", errors="replace")]
    if name.endswith(".ipynb"):
        texts.append("\n".join(_strings(json.loads(data))))
    return texts


def find_secrets(files: dict[str, bytes], root: Path = ROOT) -> list[str]:
    """One message per secret found in ``files`` ({path in kit: content}) of the course at ``root``;
    [] when clean."""
    known = secrets(root)
    findings = []
    for name, data in sorted(files.items()):
        parts = name.split("/")
        if FORBIDDEN_PARTS & set(parts) or name.endswith((".db", *GRADER_SIDE_SUFFIXES)) or (
                parts[-1] == "nbgrader_config.py" and parts[0] != "lab"):
            findings.append(f"{name}: instructor or grader-side file")
        for text in _texts(name, data):
            normal = _normal(text)
            for what, secret in known.items():
                hit = secret in text if what.startswith("nbgrader marker") else secret in normal
                if hit:
                    findings.append(f"{name}: {what}")
            for setting in INSTRUCTOR_SETTINGS:
                if _normal(setting) in normal:
                    findings.append(f"{name}: instructor setting {setting!r}")
    return sorted(set(findings))


# ---------------------------------------------------------------- the zip

def write_zip(files: dict[str, bytes], top: str) -> bytes:
    """The zip's bytes: entries sorted, dated 1980-01-01, modes 644 (755 for the launchers)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(f"{top}/{name}", date_time=(1980, 1, 1, 0, 0, 0))
            info.create_system = 3  # Unix, so unzip applies the modes below
            info.external_attr = (0o100755 if name in EXECUTABLE else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name], compresslevel=9)
    return buffer.getvalue()


def build(out_dir: Path = DIST, root: Path = ROOT) -> Path:
    """Write the kit of the course at ``root`` into ``out_dir``; raise if any secret would go with it
    or an assignment is not released."""
    missing = unreleased(root)
    if missing:
        raise RuntimeError("the student kit would lack an assignment:\n  " + "\n  ".join(missing))
    files = kit_files(root)
    findings = find_secrets(files, root)
    if findings:
        raise RuntimeError("the student kit would give answers away:\n  " + "\n  ".join(findings))
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{kit_name()}.zip"
    target.write_bytes(write_zip(files, kit_name()))
    return target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.course.kit", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=DIST, help="folder for the zip (default: dist/)")


def run(args) -> int:
    target = build(args.out)
    with zipfile.ZipFile(target) as archive:
        count = len(archive.namelist())
    print(f"{target} ({count} files, {target.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
