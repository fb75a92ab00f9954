"""nbgrader preprocessors the course adds to ``nbgrader autograde`` (see nbgrader_config.py).

Each does one transformation: ``ClearTags`` closes a hole in the stock pipeline (the kernel's own
preprocessors are in :mod:`autograder.kernel`); ``ReexecuteSteps`` replaces the kernel's verdict on the step test cells with one made
outside the kernel.
"""
import re
import sys

from nbformat.v4 import new_output
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Float, Integer, Unicode

from . import expected, steps
from .reexecute import Limits, run_cells


def failed_check(cell, message: str, ename: str = "GraderCheckFailed") -> None:
    """Make ``cell`` show exactly one error output (nbgrader scores such a test cell 0)."""
    cell.outputs = [new_output("error", ename=ename, evalue=message, traceback=[f"{ename}: {message}"])]


def passed_check(cell, message: str) -> None:
    """Make ``cell`` show exactly one stdout line (full marks for a test cell)."""
    cell.outputs = [new_output("stream", name="stdout", text=message + "\n")]


def show_verdict(cell, verdict, ename: str = "GraderCheckFailed") -> None:
    """Make a test cell show ``verdict`` (a :class:`autograder.steps.Verdict`), whatever was there."""
    if verdict.passed:
        passed_check(cell, verdict.message)
    else:
        failed_check(cell, verdict.message, ename=ename)


def grade_cells_matching(nb, pattern) -> list:
    """``(cell, group 1 of the match)`` for each grade cell whose grade_id matches ``pattern``."""
    found = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        match = pattern.match(meta.get("grade_id", "")) if meta.get("grade") else None
        if match:
            found.append((cell, match.group(1)))
    return found


def answer_sources(nb) -> dict:
    """The source of each code solution cell, by grade_id, as the notebook being graded holds it."""
    return {cell.metadata.nbgrader["grade_id"]: cell.source for cell in nb.cells
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution")}


class ClearTags(NbGraderPreprocessor):
    """Drop cell tags, so a student cannot tag a cell ``skip-execution`` (or anything else
    that changes how the notebook runs) in their submission."""

    def preprocess_cell(self, cell, resources, index):
        cell.metadata.pop("tags", None)
        return cell, resources


class ReexecuteSteps(NbGraderPreprocessor):
    """Grade the step test cells by re-running the student's step cells outside the kernel.

    Reads each step's source from the notebook being graded (by grade_id), runs it in fresh
    ``python -I`` processes under the grader's seeds (see :mod:`autograder.steps`) and sets the
    outputs of the cells ``test_<step>`` / ``test_<step>_<word>`` to the verdict, whatever the
    kernel printed there.
    """

    timeout = Float(10.0, help="Wall-clock seconds one re-execution may take.").tag(config=True)
    cpu_seconds = Integer(8, help="CPU seconds one re-execution may use.").tag(config=True)
    memory_mb = Integer(1024, help="Address space of one re-execution, in MiB.").tag(config=True)
    output_bytes = Integer(1 << 20, help="Bytes one re-execution may print.").tag(config=True)
    python = Unicode(sys.executable, help="Interpreter for the re-executions.").tag(config=True)

    _TEST_ID = re.compile(r"^test_(step\d+)(?:_\w+)?$")

    def preprocess(self, nb, resources):
        targets = grade_cells_matching(nb, self._TEST_ID)
        if not targets:
            return nb, resources
        verdicts = self.verdicts(answer_sources(nb), {step for _, step in targets})
        for cell, step in targets:
            show_verdict(cell, verdicts[step])
        return nb, resources

    def verdicts(self, answers: dict, wanted) -> dict:
        """Verdict per step named in ``wanted``, from the answers by grade_id."""
        data = expected.load()
        limits = Limits(seconds=self.timeout, cpu_seconds=self.cpu_seconds,
                        memory_mb=self.memory_mb, output_bytes=self.output_bytes)
        verdicts = {}
        for step in sorted(wanted):
            if step not in answers:
                verdicts[step] = steps.Verdict(False, f"The answer cell for {step} is missing from the notebook.")
                continue
            runs = [run_cells(cells, seed, limits, python=self.python)
                    for seed, cells in steps.jobs(step, answers[step], data)]
            verdicts[step] = steps.judge(step, runs, data)
            self.log.info("%s: %s", step, verdicts[step].message)
        return verdicts
