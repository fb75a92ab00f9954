"""nbgrader configuration: the repository root is the course root."""
import os

from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput,
                                    DeduplicateIds, IgnorePattern, LimitOutput, OverwriteKernelspec,
                                    SaveAutoGrades)

from autograder.classrun.database import from_environment
from autograder.classrun.export import StatusCsvExport
from autograder.hub.formgrader import CourseFeedbackExporter
from autograder.notebook.kernel import SandboxedExecute
from autograder.course.lms import CanvasCollector
from autograder.notebook.preprocessors import ClearTags, OverwriteCellsQuietly, ReexecuteSteps
from autograder.notebook.quiz import GradeQuiz

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

c.CourseDirectory.course_id = "reproducible-ml"
# Each graded notebook's declaration and derived data (source/<assignment>/*.grading.json and
# *.expected.json, autograder/assignments.py)
# stays grader-side: generate_assignment copies everything else in source/<assignment>/.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.grading.json",
                           "*.expected.json"]

# The gradebook: COURSE_DB_URL (an SQLAlchemy URL, e.g. PostgreSQL) when set, else gradebook.db.
if from_environment():
    c.CourseDirectory.db_url = from_environment()

# The exchange (docs/exchange.md): NBGRADER_EXCHANGE when set (students' lab/exchange/ reads the
# same variable), else nbgrader's default /srv/nbgrader/exchange.
if os.environ.get("NBGRADER_EXCHANGE"):
    c.Exchange.root = os.environ["NBGRADER_EXCHANGE"]

# Sanitize: stock steps, plus deleted or edited test cells come back (hidden tests without a
# warning per cell), and tags are dropped.
c.OverwriteCells.add_missing_cells = True
c.Autograde.sanitize_preprocessors = [
    ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCellsQuietly, ClearTags, CheckCellMetadata]

# Grade: execute in the sandboxed kernel (docs/sandbox.md: bubblewrap, no network, limits, output
# capped as it arrives; a dead or stuck kernel costs the cell, not the run), then let the
# out-of-kernel re-execution decide the step test cells and the quiz, then the stock bookkeeping.
# A notebook whose every grade cell is decided outside the kernel (both notebooks here) is not
# executed at all; c.SandboxedExecute.run_every_notebook = True runs every notebook (outputs kept).
# Every limit on a submission (the kernel's time per cell and per notebook, its output caps and
# rlimits, the re-executions' rlimits, the per-submission memory and process budget, the task time
# of `python -m autograder grade`, intake) is a trait of GradingLimits (docs/sandbox.md has the
# table of them and their defaults), e.g. c.GradingLimits.submission_memory_mb = 4096 or
# c.GradingLimits.kernel_cell_seconds = 30. Receipts record the values in force.
c.Autograde.autograde_preprocessors = [
    SandboxedExecute, ReexecuteSteps, GradeQuiz, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
    SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
# Autograde validates a notebook once, after its last preprocessor (nbconvert's default checks it
# after each one); a notebook a preprocessor left invalid is still refused. Only here: nbconvert
# 7.16 fails with it when a converter has no preprocessor (GenerateFeedback below).
c.Autograde.Exporter.optimistic_validation = True

# `nbgrader export`: grades.csv with the status column `python -m autograder grade` writes (a
# failed submission reads "failed: <reason>" with empty scores, never an ordinary 0).
c.ExportApp.plugin_class = StatusCsvExport

# LMS in (docs/lms.md): `nbgrader zip_collect` files a Canvas bulk download under the roster's
# student ids (lms/roster.csv), released notebook names only.
c.ZipCollectApp.collector_plugin = CanvasCollector
c.ZipCollectApp.strict = True

# Feedback (docs/exchange.md): `nbgrader generate_feedback` and formgrader's "Generate Feedback"
# write the course's safe pages (autograder/course/feedback.py: points and failed-check messages),
# never nbgrader's, which show every test cell, hidden ones included.
c.GenerateFeedback.exporter_class = CourseFeedbackExporter
c.GenerateFeedback.preprocessors = []
