"""The seeds of one grading run: the assignment's task seed, then secret seeds from OS entropy.

The secret seeds are drawn fresh for every graded submission (never stored in the course, never
passed to a student's process: it gets the generator's *state* only), so no submission can know
them in advance. A receipt records them, so that ``python -m autograder verify`` can regrade with
exactly the same seeds.
"""
import secrets

from . import expected, steps


def draw(data: dict = None) -> list:
    """``[task_seed, secret, ...]`` for the declaration in ``data`` (default: ``expected.json``)."""
    decl = steps.declaration((data or expected.load())["declaration"])
    seeds = [decl.task_seed]
    while len(seeds) < 1 + decl.secret_seeds:
        seed = secrets.randbits(63)
        if seed not in seeds:
            seeds.append(seed)
    return seeds
