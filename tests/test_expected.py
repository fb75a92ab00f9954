"""The stored expected values are what the reference solution produces, on every CPython, and
what an independent computation with ``random.Random`` gives."""
import glob
import hashlib
import json
import os
import platform
import random
import shutil
import subprocess
import sys

import pytest

from autograder.notebook import assignments
from autograder.notebook import expected, steps
from support import ASSIGNMENT, DECLARATION, EXPECTED, ROOT


def cpythons():
    """Distinct CPython 3.x interpreters on PATH (and pyenv's, which its shims hide), by version."""
    candidates = [shutil.which(f"python3.{minor}") for minor in range(20)]
    root = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip() \
        if shutil.which("pyenv") else ""
    candidates += sorted(glob.glob(os.path.join(root, "versions", "3.*", "bin", "python3"))) if root else []
    found = {}
    for path in filter(None, candidates):
        probe = subprocess.run([path, "-c", "import sys; print(sys.implementation.name, sys.version.split()[0])"],
                               capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.startswith("cpython 3."):
            found.setdefault(probe.stdout.split()[1], path)
    return found


# The running interpreter derives in the first test; the others are the ones worth running.
OTHERS = {v: p for v, p in cpythons().items() if v != platform.python_version()}
STORED = expected.load(EXPECTED)
DECL = steps.declaration(STORED["declaration"])
GRADED = {g.path: g for g in assignments.declared(ROOT / "source", ASSIGNMENT)}[DECLARATION]


def test_stored_values_match_a_fresh_derivation():
    assert STORED == expected.derive(GRADED)


def test_stored_values_come_from_the_declaration_and_the_reference_solution():
    assert STORED["declaration"] == json.loads(DECLARATION.read_text(encoding="utf-8"))
    solutions = expected.reference_solutions(GRADED.source_notebook)
    assert STORED["reference"] == {step.id: solutions[step.id] for step in DECL.steps}
    assert sorted(STORED["outcomes"]) == sorted(step.id for step in DECL.steps)


def _state_hash(rng):
    words = list(rng.getstate()[1])
    return hashlib.sha256(json.dumps(words, separators=(",", ":")).encode()).hexdigest()


def test_stored_values_agree_with_an_independent_random_computation():
    """Plain Python, no harness: what the task asks for, computed with ``random.Random(seed)``."""
    seed = DECL.task_seed
    check = {step.check["kind"]: step for step in DECL.steps}
    params = check["scores"].check
    rng = random.Random(seed)
    seeded = _state_hash(rng)
    scores = [rng.randint(params["low"], params["high"]) for _ in range(params["count"])]
    out = STORED["outcomes"]
    name = params["name"]
    assert out[check["empty-list"].id]["names"][name] == ["list", []]
    assert out[check["seeded-generator"].id]["generator"] == seeded
    assert out[check["scores"].id]["names"][name] == ["list", [["int", s] for s in scores]]
    assert out[check["scores"].id]["generator"] == _state_hash(rng)
    assert out[check["printed"].id]["stdout"] == f"{scores}\n"
    assert STORED["seeds"] == [seed] == [check["seeded-generator"].check["seed"]]


@pytest.mark.skipif(not OTHERS, reason=f"only one CPython ({platform.python_version()}) on this machine: "
                                       "no other interpreter to derive the expected values with")
@pytest.mark.parametrize("version", sorted(OTHERS) or ["none"])
def test_every_other_cpython_derives_the_same_stream(version):
    print(f"deriving under {len(OTHERS)} other CPythons: {', '.join(sorted(OTHERS))}")
    assert expected.derive(GRADED, python=OTHERS[version]) == STORED


def test_every_assignments_stored_values_match_a_fresh_derivation():
    """`python -m autograder expected --check`: every graded notebook of every assignment (steps and
    quiz keys) is what its declaration and source notebook derive now."""
    run = subprocess.run([sys.executable, "-m", "autograder", "expected", "--check"], cwd=ROOT,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("is up to date") == sum(len(assignments.declared(ROOT / "source", name))
                                                    for name in assignments.names(ROOT / "source")) >= 4
