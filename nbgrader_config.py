"""nbgrader configuration: the repository root is the course root."""
from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput,
                                    DeduplicateIds, IgnorePattern, LimitOutput, OverwriteCells,
                                    OverwriteKernelspec, SaveAutoGrades)

from autograder.kernel import SandboxedExecute
from autograder.preprocessors import ClearTags, ReexecuteSteps
from autograder.quiz import GradeQuiz

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

c.CourseDirectory.course_id = "reproducible-ml"

# Sanitize: stock steps, plus deleted or edited test cells come back, and tags are dropped.
c.OverwriteCells.add_missing_cells = True
c.Autograde.sanitize_preprocessors = [
    ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells, ClearTags, CheckCellMetadata]

# Grade: execute in the sandboxed kernel (docs/sandbox.md: bubblewrap, no network, limits, output
# capped as it arrives; a dead or stuck kernel costs the cell, not the run), then let the
# out-of-kernel re-execution decide the step test cells and the quiz, then the stock bookkeeping.
c.Execute.timeout = 15
c.Autograde.autograde_preprocessors = [
    SandboxedExecute, ReexecuteSteps, GradeQuiz, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
    SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
