"""What the grader writes into a graded notebook's cells, and reads from them."""
from nbformat.v4 import new_output


def failed_check(cell, message: str, ename: str = "GraderCheckFailed") -> None:
    """Make ``cell`` show exactly one error output (nbgrader scores such a test cell 0)."""
    cell.outputs = [new_output("error", ename=ename, evalue=message, traceback=[f"{ename}: {message}"])]


def passed_check(cell, message: str) -> None:
    """Make ``cell`` show exactly one stdout line (full marks for a test cell)."""
    cell.outputs = [new_output("stream", name="stdout", text=message + "\n")]


def show_verdict(cell, verdict, ename: str = "GraderCheckFailed") -> None:
    """Make a test cell show ``verdict`` (a :class:`autograder.notebook.steps.Verdict`), whatever was there."""
    if verdict.passed:
        passed_check(cell, verdict.message)
    else:
        failed_check(cell, verdict.message, ename=ename)


def answer_sources(nb) -> dict:
    """The source of each code solution cell, by grade_id, as the notebook being graded holds it."""
    return {cell.metadata.nbgrader["grade_id"]: cell.source for cell in nb.cells
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution")}
