"""nbgrader preprocessors the course adds to ``nbgrader autograde`` (see nbgrader_config.py).

Each does one transformation: ``ClearTags`` closes a hole in the stock pipeline (the kernel's own
preprocessors are in :mod:`autograder.notebook.kernel`); ``OverwriteCellsQuietly`` restores the
hidden tests without a warning per test cell; ``ReexecuteSteps`` replaces the kernel's verdict
on the step test cells with one made outside the kernel.
"""
import json
import sys
from pathlib import Path

from nbformat import NotebookNode
from nbgrader.api import MissingEntry
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor, OverwriteCells
from traitlets import Int, List, Unicode

from . import assignments
from . import expected, reexecution_seeds, steps
from .cells import answer_sources, show_verdict
from .reexecute import Limits, run_isolated


class ClearTags(NbGraderPreprocessor):
    """Drop cell tags, so a student cannot tag a cell ``skip-execution`` (or anything else
    that changes how the notebook runs) in their submission."""

    def preprocess_cell(self, cell, resources, index):
        cell.metadata.pop("tags", None)
        return cell, resources


class OverwriteCellsQuietly(OverwriteCells):
    """nbgrader's ``OverwriteCells`` without its warning for the one change every submission
    has: a locked test cell whose hidden tests ``generate_assignment`` removed. Such a cell gets
    its hidden tests back first, so a warning (and the restore) is left for real edits."""

    def preprocess_cell(self, cell, resources, index):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id and cell.metadata.nbgrader.get("locked"):
            try:
                source = self.gradebook.find_source_cell(grade_id, self.notebook_id, self.assignment_id).source
            except MissingEntry:
                source = None
            if source is not None and cell.source == self.released(source):
                cell.source = source
        return super().preprocess_cell(cell, resources, index)

    def released(self, source: str) -> str:
        """``source`` as ``generate_assignment`` releases it: without its hidden tests."""
        cell = NotebookNode(source=source)  # all it reads and writes (a validated new cell: 0.25 ms each)
        ClearHiddenTests(parent=self)._remove_hidden_test_region(cell)
        return cell.source


class ReexecuteSteps(NbGraderPreprocessor):
    """Grade the step test cells by re-running the student's step cells outside the kernel.

    The steps come from the derived data of each steps notebook of the course
    (``<notebook>.expected.json`` in ``CourseDirectory.source_directory``: the declaration, the
    reference cells, the task seed's outcomes; see :mod:`autograder.notebook.steps`), read when
    nbgrader builds the preprocessor, before the notebook's kernel starts. For a declared
    notebook, each step's cell (read from the notebook being graded, by grade_id) runs once per
    seed (:mod:`autograder.notebook.reexecution_seeds`), starting from the reference state as
    data, each run in a child forked from one fresh sandboxed ``python -I`` process and handed
    its own task only; the reference outcomes for the secret seeds are computed now, in the
    grader's own sandboxed process (reference code only, never a student's). The verdict becomes the output of the step's test cells, whatever the
    kernel printed there.
    """

    python = Unicode(sys.executable, help="Interpreter for the re-executions.").tag(config=True)
    seeds = List(Int(), help="The seeds to grade under, task seed first. Empty (default): the "
                 "task seed and secret seeds chosen for each notebook.").tag(config=True)
    seed_key_file = Unicode(reexecution_seeds.KEY_FILE, help="The course's seed key (relative to the "
                            "working directory: the course root for nbgrader autograde; made 0600 on "
                            "first use): the secret seeds are derived from it and the notebook's answers, "
                            "so a notebook gets the same points in every run. Empty: fresh OS entropy "
                            "for every notebook.").tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.notebooks = assignments.derived(assignments.source_folder(self.config), "steps", _load)  # (assignment, notebook) -> data

    def preprocess(self, nb, resources):
        data = assignments.found(self.notebooks, resources)
        if data is None:
            return nb, resources
        decl = steps.declaration(data["declaration"])
        tests = {test: step for step in decl.steps for test in step.tests}
        targets = [(cell, tests[cell.metadata.nbgrader["grade_id"]]) for cell in nb.cells
                   if cell.metadata.get("nbgrader", {}).get("grade")
                   and cell.metadata.nbgrader.get("grade_id") in tests]
        if not targets:
            return nb, resources
        verdicts = self.verdicts(answer_sources(nb), {step.id for _, step in targets}, data)
        for cell, step in targets:
            show_verdict(cell, verdicts[step.id])
        return nb, resources

    def limits(self) -> Limits:
        """The re-executions' limits: ``c.GradingLimits.reexecution_*`` (:mod:`autograder.notebook.limits`)."""
        from .limits import GradingLimits
        return GradingLimits(parent=self).reexecution()

    def verdicts(self, answers: dict, wanted, data: dict) -> dict:
        """Verdict per step id in ``wanted``, from the answers by grade_id."""
        decl = steps.declaration(data["declaration"])
        seeds = list(self.seeds) or reexecution_seeds.draw(
            [data], self.limits(), self.python, key=reexecution_seeds.course_key(Path(self.seed_key_file))
            if self.seed_key_file else None, submission=json.dumps(answers, sort_keys=True).encode())
        if len(set(seeds)) != len(seeds) or decl.task_seed not in seeds:
            raise ValueError("ReexecuteSteps.seeds must hold the task seed %d and no seed twice"
                             % decl.task_seed)
        secret = [seed for seed in seeds if seed != decl.task_seed]
        references = expected.references(data, secret, self.limits(), self.python) if secret else {}
        references[decl.task_seed] = self.task_references(data)
        seeds = sorted(seeds, key=lambda s: s != decl.task_seed)  # the task seed first
        graded = [step for step in decl.steps if step.id in wanted and step.id in answers]
        tasks = {(step.id, seed): steps.student_task(step, answers[step.id], references[seed][step.id]["before"])
                 for step in graded for seed in seeds}
        runs = dict(zip(tasks, run_isolated([dict(task, group=step_id) for (step_id, _), task in tasks.items()],
                                            self.limits(), python=self.python, preload=decl.preload)))
        verdicts = {}
        for step in decl.steps:
            if step.id not in wanted:
                continue
            if step.id not in answers:
                verdicts[step.id] = steps.Verdict(False, f"The answer cell for {step.id} is missing from the notebook.")
                continue
            for n in range(1, len(seeds) + 1):  # stop at the first failing seed (a pass needs them all)
                verdict = steps.judge(step, [(s, runs[step.id, s]) for s in seeds[:n] if runs[step.id, s]],
                                      {s: references[s][step.id] for s in seeds[:n]}, decl.task_seed)
                if not verdict.passed:
                    break
            verdicts[step.id] = verdict
            self.log.info("%s: %s", step.id, verdict.message)
        return verdicts

    def task_references(self, data: dict) -> dict:
        """The reference outcomes under the task seed, once per process, checked against the
        stored ones (a grader whose reference no longer gives them must not grade)."""
        task_seed = steps.declaration(data["declaration"]).task_seed
        key = (json.dumps(data, sort_keys=True), self.python)
        if key not in _TASK_REFERENCES:
            found = expected.references(data, [task_seed], self.limits(), self.python)[task_seed]
            if {step: f["outcome"] for step, f in found.items()} != data["outcomes"]:
                raise RuntimeError("the reference solution no longer gives the stored expected values "
                                   "under the task seed: run `python -m autograder.notebook.expected`")
            _TASK_REFERENCES[key] = found
        return _TASK_REFERENCES[key]


_TASK_REFERENCES = {}  # (data, python) -> the task seed's reference outcomes, once per process
_DATA = {}  # expected_file -> its data, read once per process before any kernel runs


def _load(graded) -> dict:
    path = str(graded.expected_path)
    if path not in _DATA:
        _DATA[path] = expected.load(Path(path))
    return _DATA[path]
