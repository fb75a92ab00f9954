"""The numpy_seeds assignment as students answer it: the reference solution and a corpus of answer
variants, each with the points every test cell must get and the mistake its message must name.

``REFERENCE`` holds the four answer cells as a student would write them (source/numpy_seeds/
numpy_seeds.ipynb, steps step1 to step4). Each entry of ``VARIANTS`` is a dict:

- ``name``: a short id (unique; usable as a pytest id);
- ``cells``: {step id: source}, the answer cells it changes from ``REFERENCE``;
- ``points``: {test grade_id: points} for every test cell of the notebook: the cell's full points
  when its step is right, 0 when it is wrong. Steps are judged independently, each from the
  reference state before it (a wrong step 2 does not cost step 3), so only the changed steps can
  lose points, and a changed step that is still right keeps them;
- ``mistake``: {test grade_id: phrase} for every test cell that gets 0: a short phrase the failed
  check's message must contain (case-insensitive), naming the mistake.

Nothing here is an expected value typed in: full points are read from the source notebook's cell
metadata, and the numbers the hard-coded variants type in are computed with numpy when this module
is imported, exactly as a student who copied them from their own notebook would have them.
"""
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENT = "numpy_seeds"
NOTEBOOK = ROOT / "source" / ASSIGNMENT / "numpy_seeds.ipynb"

REFERENCE = {
    "step1": "import numpy as np\nrng = np.random.default_rng(42)",
    "step2": "scores = rng.integers(80, 101, size=5)",
    "step3": "order = rng.permutation(10)\ntest_idx = order[:3]\ntrain_idx = order[3:]",
    "step4": "print(test_idx)",
}
TESTS = {step: f"test_{step}" for step in REFERENCE}  # step id -> its test cell's grade_id


def _full_points(notebook: Path = NOTEBOOK) -> dict:
    """{test grade_id: points} as the source notebook's test cells declare them."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    points = {}
    for cell in cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and meta.get("grade_id") in TESTS.values():
            points[meta["grade_id"]] = meta["points"]
    missing = set(TESTS.values()) - set(points)
    if missing:
        raise ValueError(f"{notebook}: no graded test cell {sorted(missing)}")
    return points


FULL = _full_points()


def _seed42_scores() -> list:
    """The scores step 2 gives under the task seed, as a student would copy them."""
    return np.random.default_rng(42).integers(80, 101, size=5).tolist()


def _seed42_order() -> list:
    """The shuffle step 3 gives under the task seed (after step 2's draw), as a list."""
    rng = np.random.default_rng(42)
    rng.integers(80, 101, size=5)
    return rng.permutation(10).tolist()


def variant(name: str, cells: dict, mistake: dict = None) -> dict:
    """One answer variant: the steps whose test cells are named in ``mistake`` get 0, the others
    their full points."""
    mistake = dict(mistake or {})
    unknown = (set(cells) - set(REFERENCE)) | (set(mistake) - set(FULL))
    if unknown:
        raise ValueError(f"variant {name}: unknown step or test cell {sorted(unknown)}")
    wrong = {TESTS[step] for step in cells} & set(mistake)
    if wrong != set(mistake):
        raise ValueError(f"variant {name}: a mistake is named for a step it does not change")
    return {"name": name, "cells": dict(cells),
            "points": {test: 0 if test in mistake else full for test, full in FULL.items()},
            "mistake": mistake}


def answers(entry: dict) -> dict:
    """All four answer cells of a variant: the reference with the variant's cells in place."""
    return {**REFERENCE, **entry["cells"]}


SPLIT = "\ntest_idx = order[:3]\ntrain_idx = order[3:]"

VARIANTS = [
    # ------------------------------------------------------------ right, written another way
    variant("seed-keyword", {"step1": "import numpy as np\nrng = np.random.default_rng(seed=42)"}),
    # The spec judges step 1 on rng alone (a Generator in default_rng(42)'s state); np is not
    # judged, and later steps start from the reference state, which has np.
    variant("import-numpy-plain", {"step1": "import numpy\nrng = numpy.random.default_rng(42)"}),
    variant("integers-keywords", {"step2": "scores = rng.integers(low=80, high=101, size=5)"}),
    # endpoint=True includes 100: the same numbers and the same generator state as (80, 101).
    variant("integers-endpoint", {"step2": "scores = rng.integers(80, 100, size=5, endpoint=True)"}),
    # Generator.permutation(10) shuffles np.arange(10): the same order and the same state.
    variant("shuffle-arange", {"step3": "order = np.arange(10)\nrng.shuffle(order)" + SPLIT}),
    variant("split-one-line", {"step3": "order = rng.permutation(10)\n"
                                        "test_idx, train_idx = order[:3], order[3:]"}),
    # The printed text is what step 4 is judged on: order[:3] prints exactly what test_idx does.
    variant("print-slice", {"step4": "print(order[:3])"}),

    # ------------------------------------------------------------ step 1 mistakes
    variant("legacy-seed", {"step1": "import numpy as np\nnp.random.seed(42)"},
            {"test_step1": "legacy"}),
    variant("legacy-randomstate", {"step1": "import numpy as np\nrng = np.random.RandomState(42)"},
            {"test_step1": "legacy"}),
    variant("no-seed", {"step1": "import numpy as np\nrng = np.random.default_rng()"},
            {"test_step1": "without a seed"}),
    variant("seed-7", {"step1": "import numpy as np\nrng = np.random.default_rng(7)"},
            {"test_step1": "seeded with 7"}),
    variant("drawn-in-step1", {"step1": "import numpy as np\nrng = np.random.default_rng(42)\n"
                                        "first = rng.random()"},
            {"test_step1": "already drawn"}),

    # ------------------------------------------------------------ step 2 mistakes
    variant("legacy-randint", {"step2": "scores = np.random.randint(80, 101, size=5)"},
            {"test_step2": "legacy"}),
    # Both legacy calls: each step is judged on its own, so each is named.
    variant("legacy-both", {"step1": "import numpy as np\nnp.random.seed(42)",
                            "step2": "scores = np.random.randint(80, 101, size=5)"},
            {"test_step1": "legacy", "test_step2": "legacy"}),
    variant("high-exclusive", {"step2": "scores = rng.integers(80, 100, size=5)"},
            {"test_step2": "exclusive"}),
    variant("size-6", {"step2": "scores = rng.integers(80, 101, size=6)"},
            {"test_step2": "size=5"}),
    variant("float-scores", {"step2": "scores = rng.uniform(80, 101, size=5)"},
            {"test_step2": "whole numbers"}),
    variant("fresh-generator-step2", {"step2": "scores = np.random.default_rng(42).integers(80, 101, size=5)"},
            {"test_step2": "fresh"}),
    variant("hard-coded-scores", {"step2": f"scores = np.array({_seed42_scores()!r})"},
            {"test_step2": "typed in"}),
    variant("endless-loop", {"step2": "while True:\n    scores = rng.integers(80, 101, size=5)"},
            {"test_step2": "time limit"}),

    # ------------------------------------------------------------ step 3 mistakes
    variant("legacy-permutation", {"step3": "order = np.random.permutation(10)" + SPLIT},
            {"test_step3": "legacy"}),
    variant("fresh-generator-step3", {"step3": "order = np.random.default_rng(42).permutation(10)" + SPLIT},
            {"test_step3": "fresh"}),
    variant("hard-coded-split", {"step3": f"order = np.array({_seed42_order()!r})" + SPLIT},
            {"test_step3": "typed in"}),
    variant("overlap", {"step3": "order = rng.permutation(10)\ntest_idx = order[:3]\ntrain_idx = order[2:]"},
            {"test_step3": "overlap"}),
    variant("not-covering", {"step3": "order = rng.permutation(10)\ntest_idx = order[:3]\ntrain_idx = order[4:]"},
            {"test_step3": "cover"}),
    # rng.choice draws with replacement by default: ten draws from 0-9 repeat an index under
    # virtually every seed (all ten distinct has probability 10!/10**10, about 0.04%).
    variant("choice-with-replacement", {"step3": "order = rng.choice(10, 10)" + SPLIT},
            {"test_step3": "replacement"}),
    # The reference leaves numpy arrays and the split's types are judged exactly (as the first
    # assignment judges a list to be a list): Python lists of numpy integers fail. They also print
    # differently ([np.int64(6), ...]), so they are not a harmless change of spelling.
    variant("list-split", {"step3": "order = rng.permutation(10)\ntest_idx = list(order[:3])\n"
                                    "train_idx = list(order[3:])"},
            {"test_step3": "numpy array"}),
    variant("not-answered", {"step3": "# YOUR CODE HERE\nraise NotImplementedError()"},
            {"test_step3": "not answered"}),

    # ------------------------------------------------------------ step 4 mistakes
    variant("print-train", {"step4": "print(train_idx)"}, {"test_step4": "print(test_idx)"}),
    # Under seed 42 the three test indices are already in order: only a secret seed tells these
    # apart, and the declaration names them as mistakes so that every run has one that does.
    variant("print-sorted", {"step4": "print(np.sort(test_idx))"}, {"test_step4": "print(test_idx)"}),

    # ------------------------------------------------------------ right numbers, wrong type
    variant("scores-int32", {"step2": "scores = rng.integers(80, 101, size=5).astype(np.int32)"},
            {"test_step2": "dtype"}),
    variant("order-int32", {"step3": "order = rng.permutation(10).astype(np.int32)" + SPLIT},
            {"test_step3": "dtype"}),
    variant("test-sorted", {"step3": "order = rng.permutation(10)\ntest_idx = np.sort(order[:3])\n"
                                     "train_idx = order[3:]"}, {"test_step3": "split"}),
    variant("bare-name", {"step4": "test_idx"}, {"test_step4": "print(test_idx)"}),
]

if len({v["name"] for v in VARIANTS}) != len(VARIANTS):
    raise ValueError("two numpy_seeds variants share a name")
