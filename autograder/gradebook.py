"""Read scores out of the nbgrader gradebook."""
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
