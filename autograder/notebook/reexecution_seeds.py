"""The seeds of one grading run: the assignment's task seed, then secret seeds from OS entropy.

The secret seeds are drawn fresh for every graded submission (never stored in the course, never
passed to a student's process: it gets the generator's *state* only), so no submission can know
them in advance. They are also *chosen*: each common mistake the declaration names for a step (a
cell, see :mod:`autograder.notebook.steps`) must fail under at least one of them, so that a
mistake giving the reference's outcome under most seeds (a bound that only changes which
rejected draws are kept) fails every grading run, never by luck. Candidates run, reference and
mistakes (grader-side code only), in one sandboxed process per batch; the candidate that fails
the most mistakes not yet failed is kept, then the next such, until every mistake fails under
some kept seed; then fresh seeds fill up to the declared ``secret_seeds``. docs/grading.md derives what this leaves to chance.

With a course key (:func:`course_key`, a file only the grader can read), the candidates are not
drawn from OS entropy but derived from the key and the submission (HMAC-SHA256): the same
submission gets the same secret seeds, and so the same points, in every grading run, while no
student can compute them. A receipt records the seeds, so that ``python -m autograder verify``
regrades with exactly them.
"""
import dataclasses
import hashlib
import hmac
import os
import secrets
import sys
from itertools import count
from pathlib import Path

from . import expected, steps
from .reexecute import Limits, run_tasks

BATCH = 16        # candidate seeds run per process
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


def draw(data: dict = None, limits: Limits = Limits(), python: str = sys.executable,
         key: bytes = None, submission: bytes = b"") -> list:
    """``[task_seed, secret, ...]`` for the declaration in ``data`` (default: ``expected.json``);
    with ``key``, a function of ``key`` and ``submission`` (bytes that name the submission)."""
    data = data or expected.load()
    decl = steps.declaration(data["declaration"])
    candidates = _candidates(key, submission)
    seeds = [decl.task_seed]
    left = {(step.id, name) for step in decl.steps for name, _ in step.mistakes}
    for _ in range(MAX_BATCHES):
        if not left:
            break
        batch = separating(data, _fresh(candidates, seeds, BATCH), limits, python)
        while left:  # the candidate failing the most mistakes still left, first
            seed = max(batch, key=lambda candidate: len(batch[candidate] & left))
            if not batch[seed] & left:
                break
            seeds.append(seed)
            left -= batch.pop(seed)
    if left:
        raise RuntimeError("no secret seed among %d candidates tells these declared mistakes apart "
                           "from the reference: %s" % (BATCH * MAX_BATCHES, sorted(left)))
    return seeds + _fresh(candidates, seeds, 1 + decl.secret_seeds - len(seeds))


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
    step's check under each candidate seed (in the order given)."""
    decl = steps.declaration(data["declaration"])
    reference = data["reference"]
    jobs = [(seed, step, name, cell) for seed in candidates for step in decl.steps if step.mistakes
            for name, cell in ((None, reference[step.id]), *step.mistakes)]
    tasks = [steps.reference_task(step, reference, seed, cell, snapshot=name is None)
             for seed, step, name, cell in jobs]
    limits = dataclasses.replace(limits, output_bytes=max(limits.output_bytes, len(tasks) << 16))
    run = run_tasks(tasks, limits, python=python)
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
