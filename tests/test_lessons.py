"""The lesson notebooks in notebooks/ run, and their prose cannot drift away from their code.

Two independent guards keep the text honest:

* every number written in a markdown cell must be produced by a code cell *above* it (it appears in
  that cell's executed output) or be a literal in the lesson's code (the seed 42, ``range(5)``...);
  a prose number that no cell produces fails the test, whichever number it is;
* the key seeded results are recomputed here, outside the notebook, and must match both the executed
  output and the prose.

The lessons are executed with nbclient on the venv's ``python3`` kernel, in a temporary working
directory, with every Jupyter/IPython/matplotlib directory (and HOME) pointed into a temporary folder
so that nothing is written to the user's home directory.
"""

from __future__ import annotations

import random
import re
import statistics
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parent.parent
LESSONS_DIR = REPO / "notebooks"
LESSONS = ["01_why_reproducibility", "02_seeds_across_libraries", "03_seeded_model_spread"]

# A number as a reader sees it: 42, 0.809, 2.4.6 — but not the digits inside names such as PCG64,
# MT19937 or float64, nor the "700" of "700x350".
NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)*(?![\w])")


def numbers(text: str) -> set[str]:
    return set(NUMBER.findall(text))


def read_lesson(name: str) -> nbformat.NotebookNode:
    return nbformat.read(LESSONS_DIR / f"{name}.ipynb", as_version=4)


def output_text(cell) -> str:
    """The text a reader sees under a code cell: streams, results and displays (text/plain)."""
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            parts.append(out.get("data", {}).get("text/plain", ""))
        elif out.output_type == "error":
            parts.append("\n".join(out.traceback))
    return "".join(parts)


def all_output_text(nb) -> str:
    return "\n".join(output_text(c) for c in nb.cells if c.cell_type == "code")


def markdown_text(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def printed(nb, label: str) -> list[str]:
    """Every value printed on a line of the form ``<label>: <value>``, in order."""
    pattern = re.compile(rf"^{re.escape(label)}: (.*)$", re.MULTILINE)
    return pattern.findall(all_output_text(nb))


def printed_once(nb, label: str) -> str:
    values = printed(nb, label)
    assert len(values) == 1, f"expected one line starting {label!r}, found {values}"
    return values[0]


@pytest.fixture(scope="module")
def isolated_env(tmp_path_factory):
    """Point every per-user directory the kernel or Jupyter could write to into a temp folder."""
    base = tmp_path_factory.mktemp("lesson-env")
    with pytest.MonkeyPatch.context() as mp:
        for var, sub in [
            ("HOME", "home"),
            ("IPYTHONDIR", "ipython"),
            ("MPLCONFIGDIR", "matplotlib"),
            ("JUPYTER_RUNTIME_DIR", "runtime"),
            ("XDG_CACHE_HOME", "cache"),
            ("XDG_CONFIG_HOME", "config"),
        ]:
            (base / sub).mkdir()
            mp.setenv(var, str(base / sub))
        mp.delenv("PYTHONHASHSEED", raising=False)
        mp.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
        yield base


def execute(name: str, workdir: Path) -> nbformat.NotebookNode:
    nb = read_lesson(name)
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=300,
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()
    return nb


@pytest.fixture(scope="module")
def executed(isolated_env, tmp_path_factory):
    """Execute each lesson once per test module and hand out the executed notebooks."""
    cache: dict[str, nbformat.NotebookNode] = {}

    def get(name: str) -> nbformat.NotebookNode:
        if name not in cache:
            cache[name] = execute(name, tmp_path_factory.mktemp(name))
        return cache[name]

    return get


# --------------------------------------------------------------------------------------------------
# All lessons
# --------------------------------------------------------------------------------------------------

def test_the_lesson_list_is_complete():
    assert sorted(p.stem for p in LESSONS_DIR.glob("*.ipynb")) == sorted(LESSONS)


@pytest.mark.parametrize("name", LESSONS)
def test_lesson_is_stored_without_outputs(name):
    nb = read_lesson(name)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    dirty = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
    assert not dirty, f"{name}: cells {dirty} carry outputs or execution counts; clear them before committing"


@pytest.mark.parametrize("name", LESSONS)
def test_lesson_runs_cleanly(name, executed):
    nb = executed(name)
    problems = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                problems.append(f"cell {i}: {out.ename}: {out.evalue}")
            elif out.output_type == "stream" and out.name == "stderr":
                problems.append(f"cell {i} wrote to stderr: {out.text.strip()}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", LESSONS)
def test_every_number_in_the_prose_is_produced_by_a_cell(name, executed):
    nb = executed(name)
    code_literals = numbers("\n".join(c.source for c in nb.cells if c.cell_type == "code"))
    produced_so_far: set[str] = set()
    drift = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            produced_so_far |= numbers(output_text(cell))
            continue
        if cell.cell_type != "markdown":
            continue
        unexplained = numbers(cell.source) - produced_so_far - code_literals
        if unexplained:
            drift.append(f"markdown cell {i} states {sorted(unexplained)}, which no cell above prints "
                         f"and the code does not contain:\n    {cell.source[:200]!r}")
    assert not drift, f"{name}: prose and code disagree\n" + "\n".join(drift)


def test_the_prose_check_catches_a_drifted_number(executed):
    """The guard above must really fail: a stale number in the prose is reported."""
    nb = executed("03_seeded_model_spread")
    produced = numbers(all_output_text(nb))
    code_literals = numbers("\n".join(c.source for c in nb.cells if c.cell_type == "code"))
    stale_prose = "The report reads test accuracy 0.811 ± 0.037."
    assert numbers(stale_prose) - produced - code_literals == {"0.811"}


# --------------------------------------------------------------------------------------------------
# Lesson 1: the same training twice, without and with random.seed(42)
# --------------------------------------------------------------------------------------------------

def _scores(text: str) -> list[int]:
    return [int(x) for x in re.findall(r"\d+", text)]


def test_lesson1_seeded_runs_match_an_independent_computation(executed):
    nb = executed("01_why_reproducibility")
    generator = random.Random(42)
    expected = [generator.randint(80, 100) for _ in range(5)]
    continuation = [generator.randint(80, 100) for _ in range(5)]
    assert expected == [100, 83, 80, 88, 87]  # the value the graded assignment checks

    assert _scores(printed_once(nb, "seeded run 1")) == expected
    assert _scores(printed_once(nb, "seeded run 2")) == expected
    assert _scores(printed_once(nb, "seeded once, run 1")) == expected
    assert _scores(printed_once(nb, "seeded once, run 2")) == continuation
    assert printed(nb, "same results") == ["False", "True"]

    prose = markdown_text(nb)
    assert str(expected) in prose and str(continuation) in prose


def test_lesson1_unseeded_runs_differ(executed):
    nb = executed("01_why_reproducibility")
    first = _scores(printed_once(nb, "unseeded run 1"))
    second = _scores(printed_once(nb, "unseeded run 2"))
    assert len(first) == len(second) == 5
    assert all(80 <= s <= 100 for s in first + second)
    assert first != second  # equal by chance with probability 21**-5, about 2e-7


def test_lesson1_quiz_value(executed):
    nb = executed("01_why_reproducibility")
    random.seed(42)
    expected = random.randint(1, 10)
    assert printed_once(nb, "random.randint(1, 10) after random.seed(42)") == str(expected)
    assert f"It prints {expected}, every time" in markdown_text(nb)


# --------------------------------------------------------------------------------------------------
# Lesson 2: generators across libraries, seed_everything and its limits
# --------------------------------------------------------------------------------------------------

def test_lesson2_numpy_values_match_an_independent_computation(executed):
    nb = executed("02_seeds_across_libraries")
    modern = np.random.default_rng(42).integers(80, 101, size=5).tolist()
    legacy = np.random.RandomState(42).randint(80, 101, size=5).tolist()
    assert modern != legacy  # the point the lesson makes: different algorithms

    assert printed_once(nb, "default_rng(42) scores") == str(modern)
    assert printed_once(nb, "a fresh default_rng(42)") == str(modern)
    assert printed_once(nb, "legacy np.random.seed(42) scores") == str(legacy)
    assert printed_once(nb, "seed, then draw") == str(legacy)
    assert printed_once(nb, "seed, library call, then draw") != str(legacy)
    assert printed_once(nb, "numpy draws equal after random.seed(42)") == "False"

    helper = " ".join(str(v) for v in (random.Random(42).randint(80, 100),
                                       int(np.random.RandomState(42).randint(80, 101)),
                                       int(np.random.default_rng(42).integers(80, 101))))
    assert printed(nb, "after seed_everything(42)") == [helper, helper]

    prose = markdown_text(nb)
    assert str(modern) in prose and str(legacy) in prose and helper in prose


def test_lesson2_pythonhashseed_demonstration(executed):
    nb = executed("02_seeds_across_libraries")
    assert printed_once(nb, "hash unchanged after setting PYTHONHASHSEED in this process") == "True"
    assert printed_once(nb, "distinct hashes without PYTHONHASHSEED") == "3"
    assert printed_once(nb, "distinct hashes with PYTHONHASHSEED=0") == "1"


def test_lesson2_reports_the_versions_it_ran_with(executed):
    nb = executed("02_seeds_across_libraries")
    assert re.search(rf"^numpy {re.escape(np.__version__)}$", all_output_text(nb), re.MULTILINE)


# --------------------------------------------------------------------------------------------------
# Lesson 3: a seeded numpy model, its spread across seeds, and how to report it
# --------------------------------------------------------------------------------------------------

def _accuracies_by_seed(nb) -> dict[int, float]:
    found = re.findall(r"^seed (\d+): accuracy (\d\.\d+)$", all_output_text(nb), re.MULTILINE)
    return {int(seed): float(acc) for seed, acc in found}


def test_lesson3_same_seed_gives_identical_accuracy(executed):
    nb = executed("03_seeded_model_spread")
    repeats = [float(x) for x in re.findall(r"\d\.\d+", printed_once(nb, "seed 42, three runs"))]
    assert len(repeats) == 3 and len(set(repeats)) == 1
    assert printed_once(nb, "identical") == "True"
    assert f"All three runs give {repeats[0]:g}" in markdown_text(nb)


def test_lesson3_summary_is_recomputed_from_the_per_seed_accuracies(executed):
    nb = executed("03_seeded_model_spread")
    by_seed = _accuracies_by_seed(nb)
    assert sorted(by_seed) == list(range(10))
    accuracies = [by_seed[s] for s in sorted(by_seed)]
    assert len(set(accuracies)) > 1, "different seeds should give a spread"

    mean = statistics.mean(accuracies)
    std = statistics.stdev(accuracies)  # sample standard deviation, as the lesson teaches
    summary = f"{mean:.3f} ± {std:.3f}"
    output = all_output_text(nb)
    assert f"mean accuracy {mean:.3f}, standard deviation {std:.3f} across 10 seeds" in output
    assert f"test accuracy {summary} (mean ± sample standard deviation over 10 seeds: {sorted(by_seed)};" in output

    prose = markdown_text(nb)
    assert f'"test accuracy {summary}"' in prose
    best = max(by_seed, key=lambda s: (by_seed[s], -s))
    worst = min(by_seed, key=lambda s: (by_seed[s], s))
    assert f"from {by_seed[worst]:.2f} (seed {worst}) to {by_seed[best]:.2f}" in prose


def test_lesson3_plots_the_spread(executed):
    nb = executed("03_seeded_model_spread")
    images = [out for c in nb.cells if c.cell_type == "code" for out in c.outputs
              if "image/png" in out.get("data", {})]
    assert len(images) == 1


def test_lesson3_is_reproducible_end_to_end(executed, tmp_path):
    """Executing the whole lesson a second time, in a new kernel, prints exactly the same text."""
    first = all_output_text(executed("03_seeded_model_spread"))
    second = all_output_text(execute("03_seeded_model_spread", tmp_path))
    assert first == second
