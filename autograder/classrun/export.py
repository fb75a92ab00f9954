"""``nbgrader export`` with the grades CSV's ``status`` column (``c.ExportApp.plugin_class``).

Stock ``nbgrader export`` gives a submission whose grading failed an ordinary score (0.0, or
what nbgrader kept of it). This plugin writes nbgrader's CSV, then the ``status`` column of
``exports/grades.csv`` (:func:`autograder.classrun.report.write_csv`), read from the gradebook
alone: a submission :func:`autograder.classrun.gradebook.mark_failed` marked reads
``failed: <reason>``, with empty score cells when no points were recorded; any other submission
reads ``graded``; a student without one, ``no submission``.
"""
import csv
import os

from nbgrader.api import MissingEntry
from nbgrader.plugins import CsvExportPlugin

from . import gradebook, report
from .status import GRADED, NO_SUBMISSION, Status


class StatusCsvExport(CsvExportPlugin):
    """nbgrader's CSV export plus a ``status`` column (see the module)."""

    def export(self, gb) -> None:
        super().export(gb)
        path = self.to or "grades.csv"
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            fields, rows = list(reader.fieldnames or []) + ["status"], list(reader)
        for row in rows:
            row.update(status(gb, row["assignment"], row["student_id"]))
        with open(path + ".tmp", "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(path + ".tmp", path)


def status(gb, assignment: str, student: str) -> dict:
    """The ``status`` cell of ``student``'s row, and empty score cells when nothing was recorded."""
    try:
        submission = gb.find_submission(assignment, student)
    except MissingEntry:
        return {"status": NO_SUBMISSION}
    reason = gradebook.failed_reason(submission)
    if reason is None:
        return {"status": GRADED.value}
    cells = {"status": Status.failed(reason).text()}
    grades = [grade for notebook in submission.notebooks for grade in notebook.grades]
    if all(grade.auto_score is None and grade.manual_score is None for grade in grades):
        cells.update(dict.fromkeys(report.SCORE_COLUMNS, ""))
    return cells
