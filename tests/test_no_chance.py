"""No grade left to chance: the same answer regraded gives the same points, every time.

A wrong bound such as ``randint(80, 101)`` draws the reference's numbers unless a rejected draw
lands on the extra value, so under one random secret seed it passed in most runs. The secret
seeds of every grading run are now chosen to tell the declared mistakes apart from the
reference (:mod:`autograder.notebook.reexecution_seeds`); each answer below is regraded 20 times,
each time with fresh seeds, as ``nbgrader autograde`` does.
"""
import copy
import random

import pytest

from autograder.notebook import expected, reexecution_seeds, steps
from autograder.notebook.preprocessors import ReexecuteSteps
from support import EXPECTED

DATA = expected.load(EXPECTED)
DECL = steps.declaration(DATA["declaration"])
REGRADES = 20


def loop(draw):
    return "for i in range(5):\n    accuracy_scores.append(%s)" % draw


def scores(seed):
    rng = random.Random(seed)
    return [rng.randint(80, 100) for _ in range(5)]


ANSWERS = {  # step 3's answer -> whether it earns the points
    "right": (loop("random.randint(80, 100)"), True),
    "same draws, other words": ("accuracy_scores += [random.choice(range(80, 101)) for _ in range(5)]", True),
    "randint(80, 101)": (loop("random.randint(80, 101)"), False),
    "randint(80, 102)": (loop("random.randint(80, 102)"), False),
    "randint(80, 111)": (loop("random.randint(80, 111)"), False),
    "randint(80, 99)": (loop("random.randint(80, 99)"), False),
    "randrange(80, 100)": (loop("random.randrange(80, 100)"), False),
    "randint(81, 100)": (loop("random.randint(81, 100)"), False),
    "sample(range(80, 101), 5)": ("accuracy_scores = random.sample(range(80, 101), 5)", False),
    "sample(range(80, 103), 5)": ("accuracy_scores = random.sample(range(80, 103), 5)", False),
    "hard-coded seed-42 scores": ("accuracy_scores = %r" % scores(42), False),
}


def test_the_wrong_bounds_pass_under_seed_42_so_only_secret_seeds_can_tell():
    """The cases below are the hard ones: each gives the task seed's numbers."""
    rng = random.Random(42)
    for name in ("randint(80, 101)", "randint(80, 102)", "hard-coded seed-42 scores", "same draws, other words"):
        namespace = {"random": rng, "accuracy_scores": []}
        rng.seed(42)
        exec(ANSWERS[name][0], namespace)
        assert namespace["accuracy_scores"] == scores(42), name


def _outcome(cell, seed):
    namespace = {"random": random.Random(seed), "accuracy_scores": []}
    exec(cell, namespace)
    return namespace["accuracy_scores"]


def _same(cell, other, seeds=range(1, 201)):
    return all(_outcome(cell, seed) == _outcome(other, seed) for seed in seeds)


def test_every_way_to_draw_that_matches_seed_42_is_right_declared_or_in_the_proved_family():
    """docs/grading.md's derivation, case 1: of these ways to draw five scores, each one that
    gives seed 42's numbers is the same draws in other words, a declared mistake, or a
    ``randint(80, high)`` with ``high`` in 95..110 (whose failure the declared bounds imply)."""
    step = next(step for step in DECL.steps if step.mistakes)
    family = [loop("random.randint(80, %d)" % high) for high in range(95, 111)]
    declared = [cell for _, cell in step.mistakes] + family
    right = loop("random.randint(80, 100)")
    ways = []
    for low in range(70, 91):
        for end in range(low + 5, 131):
            span = end - low
            ways += [loop("random.randint(%d, %d)" % (low, end)), loop("random.randrange(%d, %d)" % (low, end)),
                     loop("random.choice(range(%d, %d))" % (low, end)),
                     "accuracy_scores += random.sample(range(%d, %d), 5)" % (low, end),
                     "accuracy_scores += random.choices(range(%d, %d), k=5)" % (low, end),
                     loop("int(random.random() * %d) + %d" % (span, low)),
                     loop("round(random.uniform(%d, %d))" % (low, end)),
                     loop("%d + random.getrandbits(5) %% %d" % (low, span)),
                     "pool = list(range(%d, %d))\nrandom.shuffle(pool)\naccuracy_scores += pool[:5]" % (low, end)]
    matching = [way for way in ways if _outcome(way, 42) == _outcome(right, 42)]
    assert len(matching) > 3  # the boundary cases are among them
    for way in matching:
        assert _same(way, right) or any(_same(way, cell) for cell in declared), way


@pytest.mark.parametrize("name", ANSWERS)
@pytest.mark.slow
def test_regrading_the_same_answer_gives_the_same_points(name):
    answer, earns = ANSWERS[name]
    grader = ReexecuteSteps()
    passed = [grader.verdicts({"step3": answer}, {"step3"}, DATA)["step3"].passed for _ in range(REGRADES)]
    assert passed == [earns] * REGRADES


def test_every_run_has_secret_seeds_that_fail_each_declared_mistake():
    mistakes = {(step.id, name) for step in DECL.steps for name, _ in step.mistakes}
    assert mistakes  # the assignment declares some
    for _ in range(5):
        seeds = reexecution_seeds.draw([DATA])
        assert seeds[0] == DECL.task_seed and len(seeds) == len(set(seeds)) >= 1 + DECL.secret_seeds
        told = reexecution_seeds.separating(DATA, seeds[1:])
        assert set().union(*told.values()) == mistakes


def test_a_declared_mistake_no_seed_tells_apart_is_an_error():
    """A 'mistake' that is the reference in other words cannot be failed: the grader says so."""
    data = copy.deepcopy(DATA)
    step = next(s for s in data["declaration"]["steps"] if s.get("mistakes"))
    step["mistakes"] = [{"name": "the reference itself", "cell": data["reference"][step["id"]]}]
    with pytest.raises(RuntimeError, match="the reference itself"):
        reexecution_seeds.draw([data])
