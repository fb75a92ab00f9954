"""The graded steps as data, and the generic judge.

A steps notebook declares its steps in ``<notebook>.grading.json`` beside the source notebook
(:mod:`autograder.notebook.assignments`; docs/assignments.md): per step its id, title and test cells,
the reference steps whose outcome it starts from (``before``), the modules it may use
(``imports``), the names it is judged on (``reports``), a ``check`` (a kind from
:data:`autograder.notebook.check_kinds.KINDS` with its parameters) and, optionally, a ``reseed``
(``{"name", "factory"}``: where this step's reference runs before another step, ``name`` is then
bound to ``factory(seed)``, so the run's seed reaches a generator the step seeds with a literal);
plus the task seed, how many secret seeds a grading run draws, the modules every run loads first
(``preload``), and per step the common ``mistakes`` (cells) that every grading run's secret seeds
must tell apart from the reference (see :mod:`autograder.notebook.reexecution_seeds`). Nothing
else in the grader knows a step, a name or a number of an assignment.

A step passes when, under every seed of the run, its cell leaves exactly what the reference
solution leaves under that seed (the reference runs through the same harness, in its own
process). The task seed's outcomes are the stored, derived ``expected.json``; the secret seeds'
are computed at grade time, so code that does not draw from the generator cannot match them.
Messages about a run under a secret seed are fixed phrases: they never quote what the student's
process produced, so nothing of that run (a seed, a state) can reach feedback.
"""
import json
from dataclasses import dataclass
from pathlib import Path

from .check_kinds import KINDS, REPORTED, state_hash


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
    reseed: tuple = ()    # (name, factory): bound to factory(seed) where this step runs before another
    constant: bool = False  # its reference outcome is the same under every seed (declared, and checked)


@dataclass(frozen=True)
class Declaration:
    notebook: str
    task_seed: int
    secret_seeds: int
    steps: tuple
    preload: tuple = ()

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.id == step_id)


def declaration(data: dict) -> Declaration:
    """The declaration from its JSON data, checked: a ValueError names the field that is wrong."""
    def need(ok, field, problem):
        if not ok:
            raise ValueError(f"{field}: {problem}")

    def strings(value, field):
        need(type(value) is list and all(type(v) is str and v for v in value), field,
             "must be a list of names")
        return tuple(value)

    need(type(data) is dict, "(file)", "must hold a JSON object")
    for field in ("notebook", "task_seed", "secret_seeds", "steps"):
        need(field in data, field, "missing")
    need(type(data["task_seed"]) is int and data["task_seed"] >= 0, "task_seed", "must be a whole number >= 0")
    need(type(data["secret_seeds"]) is int and 1 <= data["secret_seeds"] <= 8, "secret_seeds",
         "must be a whole number from 1 to 8")
    need(type(data["steps"]) is list and data["steps"], "steps", "must be a non-empty list")
    steps, seen, declared_tests = [], set(), set()
    for n, raw in enumerate(data["steps"]):
        where = f"steps[{n}]"
        need(type(raw) is dict and type(raw.get("id")) is str and raw["id"], f"{where}.id", "missing")
        where = f"steps[{n}] ({raw['id']})"
        need(raw["id"] not in seen, f"{where}.id", "declared twice")
        check = raw.get("check")
        need(type(check) is dict, f"{where}.check", "missing")
        need(check.get("kind") in KINDS, f"{where}.check.kind",
             f"unknown check kind {check.get('kind')!r} (known: {', '.join(sorted(KINDS))})")
        kind = KINDS[check["kind"]]
        need(set(check) - {"kind"} == set(kind.parameters), f"{where}.check",
             f"kind {check['kind']} takes exactly {sorted(kind.parameters)}")
        reports = strings(raw.get("reports", []), f"{where}.reports")
        for name, what in kind.parameters.items():
            value = check[name]
            if what == REPORTED:
                need(type(value) is str and value in reports, f"{where}.check.{name}",
                     f"must name a variable the step reports ({list(reports)}), not {value!r}")
            else:
                need(type(value) is int, f"{where}.check.{name}", f"must be a whole number, not {value!r}")
        tests = strings(raw.get("tests"), f"{where}.tests")
        twice = sorted(set(tests) & declared_tests)
        need(not twice, f"{where}.tests", f"{twice} already belong to a step above")
        declared_tests.update(tests)
        before = strings(raw.get("before", []), f"{where}.before")
        unknown = [s for s in before if s not in seen]
        need(not unknown, f"{where}.before", f"names {unknown}, not a step declared above it")
        mistakes = raw.get("mistakes", [])
        need(type(mistakes) is list and all(type(m) is dict and set(m) == {"name", "cell"}
                                            and type(m["name"]) is str and type(m["cell"]) is str
                                            for m in mistakes),
             f"{where}.mistakes", 'must be a list of {"name", "cell"}')
        reseed = raw.get("reseed")
        need(reseed is None or (type(reseed) is dict and set(reseed) == {"name", "factory"}
                                and type(reseed["name"]) is str and reseed["name"].isidentifier()
                                and type(reseed["factory"]) is str and "." in reseed["factory"]),
             f"{where}.reseed", 'must be {"name": a Python name, "factory": "module.function"}')
        need(type(raw.get("constant", False)) is bool, f"{where}.constant", "must be true or false")
        steps.append(Step(raw["id"], raw.get("title", raw["id"]), tests,
                          before, strings(raw.get("imports", []), f"{where}.imports"),
                          reports, dict(check),
                          tuple((m["name"], m["cell"]) for m in mistakes),
                          (reseed["name"], reseed["factory"]) if reseed else (), raw.get("constant", False)))
        seen.add(raw["id"])
    return Declaration(data["notebook"], data["task_seed"], data["secret_seeds"], tuple(steps),
                       strings(data.get("preload", []), "preload"))


def read_declaration(path: Path) -> dict:
    """The JSON data of a declaration file, checked."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    declaration(data)
    return data


# ---------------------------------------------------------------- the jobs

def reference_tasks(decl: Declaration, reference: dict, seed: int) -> list:
    """Harness tasks running each step's reference cell, after the reference cells of its
    ``before`` steps, under ``seed``; each also reports the state it started from."""
    return [reference_task(decl, step, reference, seed, reference[step.id], snapshot=True) for step in decl.steps]


def reference_task(decl: Declaration, step: Step, reference: dict, seed: int, cell: str,
                   snapshot: bool = False) -> dict:
    """The harness task running ``cell`` (grader-side code: a reference or a declared mistake)
    where ``step`` starts under ``seed``: after the reference cells of its ``before`` steps."""
    return {"before": {"seed": seed, "imports": list(step.imports),
                       "cells": [item for s in step.before for item in _reference_cells(s, reference, decl)]},
            "cells": [cell], "report": list(step.reports), "snapshot": snapshot}


def _reference_cells(step_id: str, reference: dict, decl) -> list:
    """A ``before`` step's reference cell, then its reseed (see the harness)."""
    reseed = decl.step(step_id).reseed
    return [reference[step_id]] + ([{"reseed": reseed[0], "factory": reseed[1]}] if reseed else [])


def student_task(step: Step, answer: str, before: dict) -> dict:
    """The harness task for a student's cell: it starts from ``before`` (plain data: values and
    the generator's state), never from reference code."""
    return {"before": {"state": before}, "cells": [answer], "report": list(step.reports)}


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
    before = references[seed]["before"]
    context = {"want": references[seed]["outcome"], "task": references[task_seed]["outcome"],
               "before": state_hash(before["generator"]), "before_names": before["names"],
               "detail": detail, "task_seed": task_seed}
    parameters = {k: v for k, v in step.check.items() if k != "kind"}
    return _error(got["error"], detail) or KINDS[step.check["kind"]].check(got, context, **parameters)


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
