"""The graded steps as data, and the generic judge.

An assignment declares its steps in ``<notebook>.grading.json`` beside the source notebook (see
``source/reproducibility/reproducibility.grading.json``): per step its id, title and test cells,
the reference steps whose outcome it starts from (``before``), the modules it may use
(``imports``), the names it is judged on (``reports``) and a ``check`` (a kind from
:data:`CHECKS` with its parameters), plus the task seed and how many secret seeds a grading run
draws, and per step the common ``mistakes`` (cells) that every grading run's secret seeds must
tell apart from the reference (see :mod:`autograder.notebook.reexecution_seeds`). Nothing else in
the grader knows a step, a name or a number of the assignment.

A step passes when, under every seed of the run, its cell leaves exactly what the reference
solution leaves under that seed (the reference runs through the same harness, in its own
process). The task seed's outcomes are the stored, derived ``expected.json``; the secret seeds'
are computed at grade time, so code that does not draw from the generator cannot match them.
Messages about a run under a secret seed are fixed phrases: they never quote what the student's
process produced, so nothing of that run (a seed, a state) can reach feedback.
"""
import hashlib
import json
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


@dataclass(frozen=True)
class Verdict:
    passed: bool
    message: str


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    tests: tuple
    before: tuple
    imports: tuple
    reports: tuple
    check: dict
    mistakes: tuple = ()  # (name, cell) pairs every grading run's secret seeds must fail


@dataclass(frozen=True)
class Declaration:
    notebook: str
    task_seed: int
    secret_seeds: int
    steps: tuple

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.id == step_id)


def declaration(data: dict) -> Declaration:
    """The declaration from its JSON data, checked (ValueError names what is wrong)."""
    steps, seen = [], set()
    for raw in data["steps"]:
        step = Step(raw["id"], raw.get("title", raw["id"]), tuple(raw["tests"]), tuple(raw["before"]),
                    tuple(raw.get("imports", ())), tuple(raw.get("reports", ())), dict(raw["check"]),
                    tuple((m["name"], m["cell"]) for m in raw.get("mistakes", ())))
        if step.check.get("kind") not in CHECKS:
            raise ValueError("step %s: unknown check kind %r" % (step.id, step.check.get("kind")))
        if not set(step.before) <= seen:
            raise ValueError("step %s: 'before' names a step not declared above it" % step.id)
        missing = set(CHECKS[step.check["kind"]][1]) - set(step.check)
        if missing:
            raise ValueError("step %s: check %s needs %s" % (step.id, step.check["kind"], sorted(missing)))
        seen.add(step.id)
        steps.append(step)
    if type(data["task_seed"]) is not int or type(data["secret_seeds"]) is not int or data["secret_seeds"] < 1:
        raise ValueError("task_seed must be an integer and secret_seeds at least 1")
    return Declaration(data["notebook"], data["task_seed"], data["secret_seeds"], tuple(steps))


def read_declaration(path: Path) -> dict:
    """The JSON data of a declaration file, checked."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    declaration(data)
    return data


# ---------------------------------------------------------------- the jobs

def reference_tasks(decl: Declaration, reference: dict, seed: int) -> list:
    """Harness tasks running each step's reference cell, after the reference cells of its
    ``before`` steps, under ``seed``; each also reports the state it started from."""
    return [reference_task(step, reference, seed, reference[step.id], snapshot=True) for step in decl.steps]


def reference_task(step: Step, reference: dict, seed: int, cell: str, snapshot: bool = False) -> dict:
    """The harness task running ``cell`` (grader-side code: a reference or a declared mistake)
    where ``step`` starts under ``seed``: after the reference cells of its ``before`` steps."""
    return {"before": {"seed": seed, "imports": list(step.imports), "cells": [reference[s] for s in step.before]},
            "cells": [cell], "report": list(step.reports), "snapshot": snapshot}


def student_task(step: Step, answer: str, before: dict) -> dict:
    """The harness task for a student's cell: it starts from ``before`` (plain data: values and
    the generator's state), never from reference code."""
    return {"before": {"state": before}, "cells": [answer], "report": list(step.reports)}


def state_hash(words) -> str:
    """A fingerprint of a ``random`` generator state (its 625 words)."""
    return hashlib.sha256(json.dumps(list(words), separators=(",", ":")).encode("ascii")).hexdigest()


def outcome(report: dict) -> dict:
    """What a run is judged on, from a (validated) harness report."""
    error = report["error"]
    return {"error": None if error is None else {k: error[k] for k in ("type", "message", "line")},
            "stdout": report["stdout"], "names": dict(report["names"]),
            "generator": state_hash(report["generator"])}


# ---------------------------------------------------------------- the judge

def judge(step: Step, runs, references: dict, task_seed: int) -> Verdict:
    """Verdict on ``step`` from ``runs`` (``(seed, Run)`` pairs). ``references[seed]`` holds the
    reference's ``outcome`` and ``before`` state for that seed. Fails closed: exactly one run per
    seed, each with a valid report, or the step fails."""
    title = step.title
    if not references or task_seed not in references or len(runs) != len(references) \
            or {seed for seed, _ in runs} != set(references):
        return Verdict(False, "%s: the grader could not re-run this step under each of its seeds; "
                              "ask your instructor." % title)
    ordered = sorted(runs, key=lambda pair: pair[0] != task_seed)  # the task seed's run first
    for seed, run in ordered:
        if run.failure:
            failure = run.failure if seed == task_seed or "by signal" not in run.failure \
                else "the Python process was killed"
            return Verdict(False, "The grader re-ran your %s cell and %s." % (title.lower(), failure))
        found = problem(step, outcome(run.report), references, seed, task_seed)
        if found:
            return Verdict(False, "%s: %s" % (title, found))
    return Verdict(True, "%s passed: re-run in a fresh Python under the grader's seeds." % title)


def problem(step: Step, got: dict, references: dict, seed: int, task_seed: int):
    """What is wrong with ``got`` (an :func:`outcome`) for ``step`` under ``seed``, or None.
    ``references[seed]`` holds the reference ``outcome`` and ``before`` state, and
    ``references[task_seed]`` at least the ``outcome``."""
    detail = seed == task_seed
    context = {"want": references[seed]["outcome"], "task": references[task_seed]["outcome"],
               "before": state_hash(references[seed]["before"]["generator"]),
               "detail": detail, "task_seed": task_seed}
    return _error(got["error"], detail) or CHECKS[step.check["kind"]][0](got, context, **step.check)


def _error(error, detail):
    if error is None:
        return None
    kind, text = error["type"], error["message"]
    if kind == "NotImplementedError":
        return "not answered yet: replace `raise NotImplementedError()` with your code."
    if kind == "SystemExit":
        return "your cell calls exit(); a graded cell must run to its end."
    if not detail:
        return ("your cell raised an exception when the grader re-ran it with the generator seeded "
                "differently; it must run the same way whatever the numbers drawn.")
    if kind == "MemoryError":
        return "your cell ran out of memory (memory limit) on line %s." % error["line"]
    if kind == "NameError":
        return ("your cell raised NameError: %s. Each step is checked on its own, after the "
                "reference answers to the steps before it; define what you use." % text)
    return "your cell raised %s on line %s: %s" % (kind, error["line"], text)


def _type_name(value, detail):
    if value[0] != "other":
        return value[0]
    return value[1] if detail else "another type"


def _empty_list(got, c, kind, name):
    value = got["names"].get(name)
    if value == c["want"]["names"].get(name):
        return None
    if value is None:
        return "there is no variable called %s (check the spelling)." % name
    if value[0] != "list":
        return "%s is a %s; make it a list with []." % (name, _type_name(value, c["detail"]))
    if c["detail"]:
        return "%s should start empty, but it holds %d item(s)." % (name, len(value[1]))
    return "%s should start empty." % name


@lru_cache(maxsize=None)
def _seeded_states(up_to: int = 1000) -> dict:
    """Fingerprint of the state ``random.seed(n)`` leaves, for n in 0..up_to."""
    return {state_hash(random.Random(n).getstate()[1]): n for n in range(up_to + 1)}


def _seeded_generator(got, c, kind, module, seed):
    call = "%s.seed(%d)" % (module, seed)
    if got["names"].get(module) != c["want"]["names"].get(module):
        return "the %s module is not imported under the name %s; write `import %s`." % (module, module, module)
    if got["generator"] == c["want"]["generator"]:
        return None
    if got["generator"] == c["before"]:
        return ("the generator is left as it was: %s is missing, so every run would give "
                "different numbers." % call)
    other = _seeded_states().get(got["generator"]) if c["detail"] else None
    if other is not None:
        return "the generator is seeded with %d; the task uses %s." % (other, call)
    return ("the generator is not in the state %s leaves it in: seed with %d and draw no numbers "
            "in this step." % (call, seed))


def _scores(got, c, kind, name, count, low, high):
    value, want = got["names"].get(name), c["want"]["names"].get(name)
    if value == want:
        return None
    detail = c["detail"]
    draw = "random.randint(%d, %d)" % (low, high)
    if value is None:
        return "%s no longer exists after your cell." % name
    if value[0] != "list":
        return "%s is a %s, not a plain list." % (name, _type_name(value, detail))
    items = value[1]
    if len(items) != count:
        held = ("holds %d scores, not %d" % (len(items), count) if detail
                else "does not always hold %d scores" % count)
        return ("%s %s. range(%d) runs the loop %d times; common mistake: range(%d) or an extra "
                "append." % (name, held, count, count, count + 1))
    if not all(v[0] == "int" and low <= v[1] <= high for v in items):
        shown = "the scores %s are" % [v[1] if v[0] == "int" else _type_name(v, True) for v in items] \
            if detail else "the scores are"
        return ("%s not all whole numbers from %d to %d; common mistake: random.randint(0, %d) "
                "instead of %s." % (shown, low, high, high, draw))
    if not detail and value == c["task"]["names"].get(name):
        return ("your code gives the seed-%d numbers even when the generator is seeded "
                "differently: numbers typed in, a second random.seed(%d), or a replaced randint. "
                "Draw each score with %s from the seeded generator."
                % (c["task_seed"], c["task_seed"], draw))
    return ("your scores do not follow the seeded generator: draw exactly one %s per pass of "
            "the loop, and nothing else." % draw)


def _printed(got, c, kind, name):
    printed = got["stdout"]
    if printed == c["want"]["stdout"]:
        return None
    if not printed.strip():
        return ("your cell prints nothing. A bare name shows a value only as the last line "
                "of a cell in Jupyter; use print(%s)." % name)
    if not c["detail"] and printed == c["task"]["stdout"]:
        return ("your cell prints the same text whatever the scores are; print the list "
                "itself: print(%s)." % name)
    if c["detail"]:
        return "your cell printed %r; print the list itself: print(%s)." % (printed[:200], name)
    return ("your cell prints something else when the generator is seeded differently; print "
            "the list itself: print(%s)." % name)


# kind -> (check function, the parameters it needs besides "kind")
CHECKS = {
    "empty-list": (_empty_list, ("name",)),
    "seeded-generator": (_seeded_generator, ("module", "seed")),
    "scores": (_scores, ("name", "count", "low", "high")),
    "printed": (_printed, ("name",)),
}
