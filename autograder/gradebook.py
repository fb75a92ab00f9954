"""Read scores out of the nbgrader gradebook and show them as a table."""
from nbgrader.api import Gradebook


def cell_scores(db_url: str, assignment: str) -> dict:
    """{student: {grade_id: (score, max_score)}} for every submission of ``assignment``."""
    table = {}
    with Gradebook(db_url) as gb:
        for submission in gb.assignment_submissions(assignment):
            cells = table.setdefault(submission.student.id, {})
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    cells[grade.name] = (grade.score, grade.max_score)
    return dict(sorted(table.items()))


def format_table(scores: dict, status: dict = None) -> str:
    """A per-student, per-cell score table; ``status`` (student -> text) adds a column."""
    columns = sorted({name for cells in scores.values() for name in cells})
    heads = [name.removeprefix("test_") for name in columns]
    width = max([len("student")] + [len(s) for s in scores])
    lines = ["  ".join([f"{'student':<{width}}"] + [f"{h:>6}" for h in heads] + [f"{'total':>9}"]
                       + (["status"] if status else []))]
    for student, cells in scores.items():
        got = sum(cells.get(c, (0, 0))[0] for c in columns)
        top = sum(cells.get(c, (0, 0))[1] for c in columns)
        row = [f"{student:<{width}}"] + [f"{_fmt(cells.get(c)):>6}" for c in columns]
        row.append(f"{got:g}/{top:g}".rjust(9))
        if status:
            row.append(status.get(student, ""))
        lines.append("  ".join(row))
    return "\n".join(lines)


def _fmt(cell) -> str:
    return "-" if cell is None else f"{cell[0]:g}/{cell[1]:g}"
