"""The ``reproducibility`` assignment's answers, for every test that hands some in.

``REFERENCE`` is the reference solution by grade_id (tests/test_suite_layout.py proves it equals
the solution cells of ``source/reproducibility/reproducibility.ipynb``); the ``STEPn_*`` strings
are the answer variants several suites use (a named mistake each); ``EXAMPLE_CLASS`` is the
bundled example class (``examples/reproducibility/class.json``, the same file ``make demo`` grades).
"""
import json

from nbformat.v4 import new_code_cell

from corpus.attacks import CELL_LIMIT, SLEEPING_CELLS
from support import ASSIGNMENT, ROOT, fill

REFERENCE = {
    "step1": "accuracy_scores = []",
    "step2": "import random\nrandom.seed(42)",
    "step3": "for i in range(5):\n    accuracy_scores.append(random.randint(80, 100))",
    "step4": "print(accuracy_scores)",
}

# Answer variants: one step answered with a named mistake.
STEP2_NO_SEED = "import random"                                     # forgot the seed
STEP2_SEED_7 = "import random\nrandom.seed(7)"                      # the wrong seed
STEP3_RANGE_6 = "for i in range(6):\n    accuracy_scores.append(random.randint(80, 100))"  # six draws

# The bundled example class: student -> answers by grade_id (the quiz answer cells q01-q10 too).
EXAMPLE_CLASS = {k: v for k, v in json.loads((ROOT / "examples" / ASSIGNMENT / "class.json").read_text()).items()
                 if not k.startswith("_")}


def attacked(attack: str) -> dict:
    """The reference solution with ``attack`` run in step 1, after its answer."""
    return {**REFERENCE, "step1": "accuracy_scores = []\n" + attack}


def sleeper(release):
    """The reference solution after SLEEPING_CELLS cells that each sleep past the cell limit."""
    nb = fill(release, REFERENCE)
    nb.cells[1:1] = [new_code_cell("import time\ntime.sleep(%d)" % (CELL_LIMIT + 5)) for _ in range(SLEEPING_CELLS)]
    return nb
