"""nbgrader configuration: the repository root is the course root."""
from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput,
                                    DeduplicateIds, IgnorePattern, LimitOutput, OverwriteCells,
                                    OverwriteKernelspec, SaveAutoGrades)

from autograder.preprocessors import ClearTags, GuardedExecute, ReexecuteSteps
from autograder.quiz import GradeQuiz

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

c.CourseDirectory.course_id = "reproducible-ml"

# Sanitize: stock steps, plus deleted or edited test cells come back, and tags are dropped.
c.OverwriteCells.add_missing_cells = True
c.Autograde.sanitize_preprocessors = [
    ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells, ClearTags, CheckCellMetadata]

# Grade: execute in the kernel (a dead or stuck kernel costs the cell, not the run), then let the
# out-of-kernel re-execution decide the step test cells, then the stock bookkeeping.
c.Execute.timeout = 15
c.Autograde.autograde_preprocessors = [
    GuardedExecute, ReexecuteSteps, GradeQuiz, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
    SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]

# Sandbox (docs/sandbox.md): the kernel runs in bubblewrap as nobody, without network, with
# memory/process/CPU limits, and its output is capped as it arrives; SandboxedExecute is
# GuardedExecute plus that. (The re-executions are sandboxed by autograder/reexecute.py.)
from autograder.kernel import SandboxedExecute  # noqa: E402

c.Autograde.autograde_preprocessors = [
    SandboxedExecute if step is GuardedExecute else step for step in c.Autograde.autograde_preprocessors]
