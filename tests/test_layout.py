"""The grader's layout: four parts, imports pointing one way (notebook <- classrun <- course <- hub)."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "autograder"
PARTS = ("notebook", "classrun", "course", "hub")  # each may import only the parts before it
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def part_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE).parts
    return rel[0] if len(rel) > 1 else ""


def imported_parts(path: Path, root: Path = PACKAGE) -> dict:
    """``{part: [line numbers]}`` of the autograder parts ``path`` (below ``root``) imports
    ("" for the package itself)."""
    found = {}
    package = ["autograder", *path.relative_to(root).parts[:-1]]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = base + (node.module.split(".") if node.module else [])
            names = [".".join(module + [alias.name]) for alias in node.names] if not node.module \
                else [".".join(module)]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "autograder":
                found.setdefault(parts[1] if len(parts) > 1 and parts[1] in PARTS else "", []).append(node.lineno)
    return found


def test_every_module_lives_in_a_part():
    loose = [p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    assert not loose
    assert {part_of(p) for p in MODULES} == {"", *PARTS}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_one_way(path):
    here = part_of(path)
    allowed = set(PARTS) | {""} if here == "" else set(PARTS[:PARTS.index(here) + 1])
    wrong = {part: lines for part, lines in imported_parts(path).items() if part not in allowed}
    assert not wrong, f"{path.relative_to(PACKAGE)} imports {wrong} (allowed: {sorted(allowed)})"


def test_the_harness_imports_nothing_of_the_grader():
    """It runs alone in the sandbox (``python -I harness.py``): the grader's code is not there."""
    assert imported_parts(PACKAGE / "notebook" / "harness.py") == {}


def test_the_check_sees_a_wrong_way_import(tmp_path):
    """A notebook module importing the class run is caught (the check can fail)."""
    bad = tmp_path / "autograder" / "notebook" / "probe.py"
    bad.parent.mkdir(parents=True)
    bad.write_text("from ..classrun import report\nfrom autograder.course import demo\nfrom . import steps\n"
                   "import autograder.classrun.task\n", encoding="utf-8")
    assert imported_parts(bad, tmp_path / "autograder") == {"classrun": [1, 4], "course": [2], "notebook": [3]}
