"""The stored expected values are what the reference solution produces, on every CPython."""
import glob
import os
import shutil
import subprocess

import pytest

from autograder import expected


def cpythons():
    """Distinct CPython 3.x interpreters on PATH (and pyenv's, which its shims hide)."""
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


INTERPRETERS = cpythons()


def test_stored_values_match_a_fresh_derivation():
    assert expected.load() == expected.derive()


def test_stored_values_come_from_the_reference_solution():
    stored = expected.load()
    solutions = expected.reference_solutions(expected.SOURCE)
    assert stored["reference"] == {k: solutions[k] for k in stored["reference"]}
    assert stored["printed"]["42"] == f"{stored['scores']['42']}\n"


@pytest.mark.skipif(not INTERPRETERS, reason="no other CPython 3.x interpreter on this machine")
@pytest.mark.parametrize("version", sorted(INTERPRETERS) or ["none"])
def test_every_cpython_derives_the_same_stream(version):
    assert expected.derive(python=INTERPRETERS[version]) == expected.load()
