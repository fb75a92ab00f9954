"""The test suite's own rules, so that the next change can trust it:

- no test module imports another test module (shared pieces live in tests/support.py,
  tests/services.py, tests/browser_support.py or tests/corpus/), not even in a script it runs;
- a module that uses root, the bubblewrap sandbox, PostgreSQL, Chromium or Dask carries that
  marker, every marker is registered in pyproject.toml, and ``make test-fast`` leaves out exactly
  the tests marked with one;
- each assignment's reference solution lives in tests/corpus/ (equal to the solution cells of its
  source notebook) and nowhere else in tests/.
"""
import ast
import importlib
import re
import tomllib
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
CORPUS = TESTS / "corpus"
SELF = Path(__file__).resolve()  # the checks' own examples are not checked
MODULES = sorted(p for p in TESTS.glob("test_*.py") if p != SELF)
TEST_NAMES = {path.stem for path in TESTS.glob("test_*.py")}
EVERY_FILE = sorted(p for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts and p != SELF)
PYTEST_MARKS = {"parametrize", "skip", "skipif", "xfail", "usefixtures", "filterwarnings"}

# marker -> what in a module shows that it needs it: names it uses (variables, arguments,
# attributes, imports) and string constants (e.g. a command's first word)
NEEDS = {
    "root": {"names": {"small_disk", "budget", "auto_budget", "_cgroup_places"},
             "strings": {"mount", "umount", "useradd", "userdel", "groupadd"}},
    "bwrap": {"names": {"sandboxed", "switches_uid", "ATTACKS", "DaskCluster", "dask_cluster"},
              "strings": set()},
    "postgres": {"names": {"postgres", "Postgres"}, "strings": set()},
    "browser": {"names": {"sync_playwright", "CHROMIUM", "CHROMIUM_ARGS"}, "strings": {"/usr/bin/chromium"}},
    "dask": {"names": {"DaskCluster", "dask_cluster"}, "strings": set()},
}
SCRIPT_IMPORT = re.compile(r"^\s*(?:from\s+(test_\w+)\s+import|import\s+(test_\w+))", re.M)


def rel(path: Path) -> str:
    return str(path.relative_to(TESTS))


def registered_markers() -> dict:
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "--strict-markers" in options["addopts"].split(), "an unregistered marker must be an error"
    return dict(line.split(":", 1) for line in options["markers"])


def imported_test_modules(source: str, test_names=TEST_NAMES) -> set:
    """The test modules ``source`` imports: in its import statements and in the scripts (string
    constants) it runs."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found |= {a or b for a, b in SCRIPT_IMPORT.findall(node.value)}
    return found & test_names


def used(source: str) -> tuple:
    """(names, string constants) of ``source``."""
    names, strings = set(), set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(alias.asname or alias.name).split(".")[-1] for alias in node.names}
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            strings.add(node.value)
    return names, strings


def markers_of(source: str) -> set:
    """The markers ``source`` applies (``pytest.mark.X`` anywhere: pytestmark or a decorator)."""
    return {node.attr for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
            and node.value.attr == "mark"}


def missing_markers(source: str) -> dict:
    """{marker: [what shows the need]} for each need of ``source`` it does not mark."""
    names, strings = used(source)
    have = markers_of(source)
    missing = {}
    for marker, signs in NEEDS.items():
        seen = sorted(names & signs["names"]) + sorted(strings & signs["strings"])
        if seen and marker not in have:
            missing[marker] = seen
    return missing


# ------------------------------------------------------------------ no test module imports another

@pytest.mark.parametrize("path", EVERY_FILE, ids=rel)
def test_no_module_imports_a_test_module(path):
    wrong = imported_test_modules(path.read_text(encoding="utf-8")) - {path.stem}
    assert not wrong, f"{rel(path)} imports test module(s) {sorted(wrong)}: move what they share to " \
                      "tests/support.py or tests/corpus/"


def test_the_import_check_sees_an_import_and_a_script_import():
    names = {"test_budget", "test_grade_command", "test_resume"}
    source = ("import json\nfrom test_grade_command import CLASS\nimport test_resume as r\n"
              "SCRIPT = 'import sys\\nfrom test_budget import _execute\\n'\n")
    assert imported_test_modules(source, names) == names
    assert imported_test_modules("from support import env\nfrom corpus import reproducibility\n", names) == set()


# ------------------------------------------------------------------ markers

def test_markers_are_registered_and_the_fast_tier_leaves_out_every_need():
    markers = registered_markers()
    assert set(NEEDS) <= set(markers), f"unregistered: {sorted(set(NEEDS) - set(markers))}"
    used_anywhere = set().union(*(markers_of(p.read_text(encoding="utf-8")) for p in EVERY_FILE))
    assert used_anywhere - PYTEST_MARKS <= set(markers), sorted(used_anywhere - PYTEST_MARKS - set(markers))
    makefile = (ROOT / "Makefile").read_text()
    target = re.search(r"^test-fast:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert target, "the Makefile has no test-fast target"
    expression = re.search(r'-m "not \(([^)]*)\)"', target.group(1))
    assert expression, target.group(1)
    assert set(expression.group(1).split(" or ")) == set(markers)  # every marker is left out
    assert "AUTOGRADER_SANDBOX=off" in target.group(1)  # the same tests with and without bubblewrap


@pytest.mark.parametrize("path", MODULES, ids=rel)
def test_a_module_using_a_service_carries_its_marker(path):
    missing = missing_markers(path.read_text(encoding="utf-8"))
    assert not missing, f"{rel(path)} needs marker(s) it does not carry: {missing} (pytest.mark.<name>, " \
                        "registered in pyproject.toml)"


def test_the_marker_check_sees_a_module_without_its_marker():
    postgres = "from services import postgres\n\ndef test_a(postgres):\n    postgres.database()\n"
    assert missing_markers(postgres) == {"postgres": ["postgres"]}
    assert missing_markers("import pytest\npytestmark = pytest.mark.postgres\n" + postgres) == {}
    disk = "import pytest\n\n@pytest.mark.bwrap\ndef test_b(small_disk):\n    pass\n"
    assert missing_markers(disk) == {"root": ["small_disk"]}
    browser = "def test_c():\n    from playwright.sync_api import sync_playwright\n"
    assert missing_markers(browser) == {"browser": ["sync_playwright"]}
    assert missing_markers("import subprocess\nsubprocess.run(['useradd', 'x'])\n") == {"root": ["useradd"]}


# ------------------------------------------------------------------ the corpus

def corpus_modules() -> list:
    """The corpus modules that hold an assignment's reference solution (``REFERENCE``)."""
    found = []
    for path in sorted(CORPUS.glob("*.py")):
        module = importlib.import_module(f"corpus.{path.stem}")
        if hasattr(module, "REFERENCE"):
            found.append(module)
    return found


def solution_cells(notebook: Path) -> dict:
    """{grade_id: source} of the instructor notebook's solution cells, without the markers."""
    import nbformat
    solutions = {}
    for cell in nbformat.read(notebook, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            solutions[meta["grade_id"]] = "\n".join(
                line for line in cell.source.splitlines()
                if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))
    return solutions


def pasted(source: str, reference: dict) -> list:
    """Where ``source`` holds ``reference``: a dict literal of its answers, or a string holding
    its longest answer (the assignment's real work: for reproducibility, step 3's loop)."""
    longest = max(reference.values(), key=len)
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Dict):
            pairs = {k.value: v.value for k, v in zip(node.keys, node.values)
                     if isinstance(k, ast.Constant) and isinstance(v, ast.Constant)}
            if len(reference) > 1 and all(pairs.get(k) == v for k, v in reference.items()):
                found.append(f"line {node.lineno}: the reference solution")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and longest in node.value:
            found.append(f"line {node.lineno}: {longest!r}")
    return found


def test_the_corpus_holds_the_reproducibility_reference():
    assert "corpus.reproducibility" in [module.__name__ for module in corpus_modules()]


@pytest.mark.parametrize("module", corpus_modules(), ids=lambda m: m.__name__)
def test_the_corpus_reference_is_the_source_notebooks_solution(module):
    assignment = module.__name__.split(".")[-1]
    notebook = ROOT / "source" / assignment / f"{assignment}.ipynb"
    assert module.REFERENCE == solution_cells(notebook)


@pytest.mark.parametrize("path", [p for p in EVERY_FILE if CORPUS not in p.parents], ids=rel)
def test_reference_solutions_live_only_in_the_corpus(path):
    source = path.read_text(encoding="utf-8")
    found = {module.__name__: pasted(source, module.REFERENCE) for module in corpus_modules()}
    found = {name: where for name, where in found.items() if where}
    assert not found, f"{rel(path)} pastes a reference solution {found}: use it from tests/corpus/"


def test_the_corpus_check_sees_a_pasted_reference():
    from corpus import reproducibility
    reference = reproducibility.REFERENCE
    assert len(pasted("ANSWERS = %r\n" % (reference,), reference)) == 2  # the dict, and step 3 in it
    step3 = max(reference.values(), key=len)
    assert pasted("CELL = 'x = 1\\n' + %r\n" % (step3 + "\nprint(1)",), reference) == [f"line 1: {step3!r}"]
    assert pasted("from corpus import reproducibility\nA = reproducibility.REFERENCE\n", reference) == []
