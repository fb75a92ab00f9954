"""The four graded steps: how each is re-executed and how its outcome is judged.

Each step is judged on its own: the cells before it are the reference answers, so a mistake
costs only the step it is in. The grader owns the seed; under every seed in ``SEEDS`` the
student's code must produce what the reference produces under that seed.
"""
import random
from dataclasses import dataclass

LOW, HIGH, COUNT = 80, 100, 5
SEEDS = (42, 2026)  # the task's seed first; the others catch code that ignores the generator
STEPS = ("step1", "step2", "step3", "step4")
PREFIX_STEPS = ("step1", "step3")  # reference answers the grader runs before later steps


@dataclass(frozen=True)
class Verdict:
    passed: bool
    message: str


def jobs(step: str, answer: str, expected: dict):
    """The (seed, cells) re-executions that judge ``answer`` for ``step``."""
    reference = expected["reference"]
    if step == "step1":
        return [(SEEDS[0], [answer])]
    if step == "step2":  # the generator starts elsewhere: only seeding it with 42 gets it there
        return [(seed, [reference["step1"], answer]) for seed in SEEDS[1:]]
    if step == "step3":
        return [(seed, [reference["step1"], "import random", answer]) for seed in SEEDS]
    if step == "step4":
        return [(seed, [reference["step1"], "import random", reference["step3"], answer])
                for seed in SEEDS]
    raise ValueError("unknown step %r" % step)


def judge(step: str, runs, expected: dict) -> Verdict:
    """Verdict on a step from its runs (in the order of :func:`jobs`)."""
    number = step[-1]
    seeds = SEEDS if step in ("step3", "step4") else SEEDS[1:] if step == "step2" else SEEDS[:1]
    for seed, run in zip(seeds, runs):
        if run.failure:
            return Verdict(False, "The grader re-ran your step %s cell and %s." % (number, run.failure))
        problem = _error(run.report["error"], number) or _CHECKS[step](run.report, seed, expected)
        if problem:
            return Verdict(False, "Step %s: %s" % (number, problem))
    return Verdict(True, "Step %s passed: re-run in a fresh Python under the grader's seeds." % number)


def _error(error, number):
    if error is None:
        return None
    kind, text = error["type"], error["message"]
    if kind == "NotImplementedError":
        return "not answered yet: replace `raise NotImplementedError()` with your code."
    if kind == "MemoryError":
        return "your cell ran out of memory (memory limit) on line %s." % error["line"]
    if kind == "SystemExit":
        return "your cell calls exit(); a graded cell must run to its end."
    if kind == "NameError":
        return ("your cell raised NameError: %s. Each step is checked on its own, after the "
                "reference answers to the steps before it; define what you use." % text)
    return "your cell raised %s on line %s: %s" % (kind, error["line"], text)


def _check_step1(report, seed, expected):
    scores = report["scores"]
    if scores is None:
        return "there is no variable called accuracy_scores (check the spelling)."
    if scores["kind"] != "list":
        return "accuracy_scores is a %s; make it a list with []." % scores["type"]
    if scores["items"]:
        return "accuracy_scores should start empty, but it holds %d item(s)." % len(scores["items"])
    return None


def _check_step2(report, seed, expected):
    from .expected import draws_from_state
    if not report["random_is_module"]:
        return "the random module is not imported under the name random; write `import random`."
    state = tuple(report["state"])
    if draws_from_state(state) == expected["step2_draws"]:
        return None
    if state == random.Random(seed).getstate()[1]:
        return ("the generator is left as it was: random.seed(42) is missing, so every run "
                "would give different numbers.")
    other = next((s for s in range(1001) if random.Random(s).getstate()[1] == state), None)
    if other is not None:
        return "the generator is seeded with %d; the task uses random.seed(42)." % other
    return ("the generator is not in the state random.seed(42) leaves it in: seed with 42 "
            "and draw no numbers in this step.")


def _check_scores(scores):
    if scores is None:
        return "accuracy_scores no longer exists after your cell."
    if scores["kind"] != "list":
        return "accuracy_scores is a %s, not a plain list." % scores["type"]
    items = scores["items"]
    if len(items) != COUNT:
        return ("accuracy_scores holds %d scores, not %d. range(5) runs the loop 5 times; "
                "common mistake: range(6) or an extra append." % (len(items), COUNT))
    if not all(isinstance(v, int) and LOW <= v <= HIGH for v in items):
        return ("the scores %s are not all whole numbers from %d to %d; common mistake: "
                "random.randint(0, 100) instead of random.randint(80, 100)." % (items, LOW, HIGH))
    return None


def _check_step3(report, seed, expected):
    problem = _check_scores(report["scores"])
    if problem:
        return problem
    if report["scores"]["items"] == expected["scores"][str(seed)]:
        return None
    if seed != SEEDS[0] and report["scores"]["items"] == expected["scores"][str(SEEDS[0])]:
        return ("your code gives the seed-42 numbers even when the generator is seeded "
                "differently: numbers typed in, a second random.seed(42), or a replaced randint. "
                "Draw each score with random.randint(80, 100) from the generator step 2 seeded.")
    return ("your scores do not follow the seeded generator: draw exactly one "
            "random.randint(80, 100) per pass of the loop, and nothing else.")


def _check_step4(report, seed, expected):
    printed = report["stdout"]
    if not printed.strip():
        return ("your cell prints nothing. A bare name shows a value only as the last line "
                "of a cell in Jupyter; use print(accuracy_scores).")
    if printed == expected["printed"][str(seed)]:
        return None
    if seed != SEEDS[0] and printed == expected["printed"][str(SEEDS[0])]:
        return ("your cell prints the same text whatever the scores are; print the list "
                "itself: print(accuracy_scores).")
    return "your cell printed %r; print the list itself: print(accuracy_scores)." % printed[:200]


_CHECKS = {"step1": _check_step1, "step2": _check_step2, "step3": _check_step3,
           "step4": _check_step4}
