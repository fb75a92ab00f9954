"""The seeds of one grading run: the task seed of each steps notebook, then secret seeds.

The secret seeds are drawn fresh for every graded submission (never stored in the course, never
passed to a student's process: it gets the generator's *state* only), so no submission can know
them in advance. They are also *chosen*: each common mistake the declaration names for a step (a
cell, see :mod:`autograder.notebook.steps`) must fail under at least one of them, so that a
mistake giving the reference's outcome under most seeds (a bound that only changes which
rejected draws are kept) fails every grading run, never by luck. Candidates run, reference and
mistakes (grader-side code only), a batch at a time in the grader's own sandboxed process
(:func:`autograder.notebook.reexecute.run_grader_tasks`); the candidate that fails
the most mistakes not yet failed is kept, then the next such, until every mistake fails under
some kept seed; then fresh seeds fill up to the declared ``secret_seeds``. docs/grading.md derives what this leaves to chance.

With a course key (:func:`course_key`, a file only the grader can read), the candidates are not
drawn from OS entropy but derived from the key and the submission (HMAC-SHA256): the same
submission gets the same secret seeds, and so the same points, in every grading run, while no
student can compute them. A receipt records the seeds, so that ``python -m autograder verify``
regrades with exactly them.
"""
import hashlib
import hmac
import os
import secrets
import sys
from itertools import count
from pathlib import Path

from . import steps
from .reexecute import Limits, run_grader_tasks

BATCH = 16        # candidate seeds run per batch
MAX_BATCHES = 8   # then a mistake no candidate tells apart is a declaration error
KEY_FILE = ".secret_seeds.key"  # in the course root, beside gradebook.db


def course_key(path: Path) -> bytes:
    """The course's seed key in the file ``path`` (:data:`KEY_FILE` in the course root: 32 random
    bytes as hex, mode 0600, made on first use). Keep it: a new key gives new secret seeds to
    every later grading run."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(secrets.token_hex(32) + "\n")
    return course_key(path)


def draw(datas, limits: Limits = Limits(), python: str = sys.executable,
         key: bytes = None, submission: bytes = b"") -> list:
    """The seeds of a grading run for the steps notebooks whose derived data ``datas`` lists (an
    assignment's): their task seeds, then secret seeds, so that every declared mistake of each
    fails under some secret seed and each gets at least its declared number of secret seeds
    (every notebook runs under every seed, its own task seed being the one whose messages may
    quote values). With ``key``, a function of ``key`` and ``submission`` (bytes that name the
    submission)."""
    decls = [steps.declaration(data["declaration"]) for data in datas]
    candidates = _candidates(key, submission)
    seeds = list(dict.fromkeys(decl.task_seed for decl in decls))
    secrets_wanted = max([decl.secret_seeds for decl in decls], default=0)
    left = {(n, step.id, name) for n, decl in enumerate(decls) for step in decl.steps for name, _ in step.mistakes}
    for _ in range(MAX_BATCHES):
        if not left:
            break
        fresh = _fresh(candidates, seeds, BATCH)
        batch = {seed: set() for seed in fresh}
        for n, data in enumerate(datas):
            if any(step.mistakes for step in decls[n].steps):
                for seed, told in separating(data, fresh, limits, python).items():
                    batch[seed] |= {(n, *mistake) for mistake in told}
        while left:  # the candidate failing the most mistakes still left, first
            seed = max(batch, key=lambda candidate: len(batch[candidate] & left))
            if not batch[seed] & left:
                break
            seeds.append(seed)
            left -= batch.pop(seed)
    if left:
        raise RuntimeError("no secret seed among %d candidates tells these declared mistakes apart "
                           "from the reference: %s" % (BATCH * MAX_BATCHES, sorted(left)))
    secret = len(seeds) - len(set(decl.task_seed for decl in decls))
    return seeds + _fresh(candidates, seeds, max(0, secrets_wanted - secret))


def _candidates(key, submission: bytes):
    """Endless 63-bit seeds: OS entropy, or HMAC-SHA256 of ``submission`` and a counter under ``key``."""
    for n in count():
        if key is None:
            yield secrets.randbits(63)
        else:
            digest = hmac.new(key, b"%d\0" % n + submission, hashlib.sha256).digest()
            yield int.from_bytes(digest[:8], "big") >> 1


def _fresh(candidates, taken: list, number: int) -> list:
    found = []
    while len(found) < number:
        seed = next(candidates)
        if seed not in taken and seed not in found:
            found.append(seed)
    return found


def separating(data: dict, candidates: list, limits: Limits = Limits(), python: str = sys.executable) -> dict:
    """``{candidate: {(step id, mistake name), ...}}``: the declared mistakes that fail the
    step's check under each candidate seed (in the order given), from one batch of the grader's
    own runs (reference cells and declared mistakes only)."""
    decl = steps.declaration(data["declaration"])
    reference = data["reference"]
    jobs = [(seed, step, name, cell) for seed in candidates for step in decl.steps if step.mistakes
            for name, cell in ((None, reference[step.id]), *step.mistakes)]
    tasks = [steps.reference_task(decl, step, reference, seed, cell, snapshot=name is None)
             for seed, step, name, cell in jobs]
    run = run_grader_tasks(tasks, limits, python=python, preload=decl.preload)
    if run.failure:
        raise RuntimeError("the declared mistakes could not be run: %s" % run.failure)
    told, references = {seed: set() for seed in candidates}, {}
    for (seed, step, name, _), report in zip(jobs, run.reports):
        if name is None:
            if report["error"] is not None:
                raise RuntimeError("reference %s failed: %s" % (step.id, report["error"]))
            references[seed, step.id] = {seed: {"before": report["before"], "outcome": steps.outcome(report)},
                                         decl.task_seed: {"outcome": data["outcomes"][step.id]}}
        elif steps.problem(step, steps.outcome(report), references[seed, step.id], seed, decl.task_seed):
            told[seed].add((step.id, name))
    return told
