"""Every limit grading puts on a submission, in one place: ``c.GradingLimits.<trait>`` in the
course's ``nbgrader_config.py``.

:class:`GradingLimits` is read by everything that limits student work, from the course's own
configuration: the notebook's kernel (:class:`autograder.notebook.kernel.SandboxedKernelManager`,
:class:`~autograder.notebook.kernel.SandboxedExecute`), the out-of-kernel re-executions
(:class:`autograder.notebook.preprocessors.ReexecuteSteps`, through :meth:`GradingLimits.reexecution`),
intake (:meth:`GradingLimits.intake`), and the class run (``python -m autograder grade``: its task
time limit, and the per-submission cgroup budget its local or Dask workers open with the
snapshot's configuration). Each default lives here and nowhere else; the plain-data forms
(:class:`autograder.notebook.reexecute.Limits`, :class:`autograder.classrun.intake.Limits`) take
theirs from these traits. Receipts record :meth:`GradingLimits.in_force`.

The names these limits had before (``c.ReexecuteSteps.timeout``,
``c.SandboxedExecute.budget_memory_mb``, ...) are refused with a message naming the new trait
(:data:`RENAMED`): a limit set under an old name is never silently ignored.
"""
from traitlets import Float, Integer
from traitlets.config import Configurable

MiB = 1 << 20


class RenamedLimit(ValueError):
    """The configuration sets a limit under a name that is no longer read."""


class GradingLimits(Configurable):
    """Every limit on a submission's grading (see the module docstring and docs/sandbox.md)."""

    # -- the out-of-kernel re-execution of a step (each task: one seed of one step) -----------
    reexecution_seconds = Float(10.0, help="Wall-clock seconds one re-execution of a step may take.").tag(config=True)
    reexecution_cpu_seconds = Integer(8, help="CPU seconds one re-execution of a step may use "
                                              "(RLIMIT_CPU).").tag(config=True)
    reexecution_memory_mb = Integer(1024, help="Address space of one re-execution process, MiB "
                                               "(RLIMIT_AS).").tag(config=True)
    reexecution_output_bytes = Integer(1 << 20, help="Bytes (characters) one re-execution may print; "
                                                     "the run stops there.").tag(config=True)
    reexecution_processes = Integer(64, help="Processes + threads of one re-execution sandbox "
                                             "(RLIMIT_NPROC of its own uid).").tag(config=True)

    # -- the notebook's kernel (nbgrader autograde's execution) -------------------------------
    kernel_memory_mb = Integer(2048, help="Address space of the kernel process, MiB (RLIMIT_AS).").tag(config=True)
    kernel_processes = Integer(64, help="Processes + threads the kernel's sandbox may have "
                                        "(RLIMIT_NPROC of its own uid).").tag(config=True)
    kernel_cpu_seconds = Integer(600, help="CPU seconds for the whole kernel (RLIMIT_CPU; the per-cell "
                                           "time limit is kernel_cell_seconds).").tag(config=True)
    kernel_cell_seconds = Integer(15, help="Wall-clock seconds one cell may run in the kernel; then it is "
                                           "interrupted (and the kernel stopped if it ignores that).").tag(config=True)
    kernel_notebook_seconds = Integer(120, help="Wall-clock seconds the whole notebook may run in the kernel; "
                                                "each cell gets at most what is left, then no cell runs. "
                                                "0: no budget.").tag(config=True)
    kernel_cell_output_chars = Integer(100_000, help="Characters of output one cell may keep; the rest is "
                                                     "dropped, counted as it arrives.").tag(config=True)
    kernel_notebook_output_chars = Integer(1_000_000, help="Characters of output the whole notebook may "
                                                           "keep.").tag(config=True)
    kernel_file_mb = Integer(64, help="Largest file the kernel may write, MiB (RLIMIT_FSIZE).").tag(config=True)
    kernel_scratch_mb = Integer(256, help="Size of the kernel's writable working folder (tmpfs), MiB.").tag(config=True)
    kernel_sockets_kb = Integer(1024, help="Size of the tmpfs holding the kernel's ipc sockets, KiB.").tag(config=True)

    # -- one submission, all its sandboxes together -------------------------------------------
    submission_memory_mb = Integer(2048, help="Memory (incl. memfd and tmpfs pages) of all a "
                                              "submission's sandboxes together (one cgroup per "
                                              "submission; per notebook under stock nbgrader "
                                              "autograde), MiB.").tag(config=True)
    submission_processes = Integer(256, help="Processes + threads of all a submission's sandboxes "
                                             "together (the same cgroup).").tag(config=True)
    submission_seconds = Float(600.0, help="Seconds `python -m autograder grade` gives one submission "
                                           "(its whole grading task, local or Dask worker) before it "
                                           "is stopped as timed out; `grade --timeout` overrides it "
                                           "for one run.").tag(config=True)

    # -- intake: what `python -m autograder grade` accepts before nbgrader sees a submission -------
    intake_files = Integer(200, help="Files in one submission.").tag(config=True)
    intake_file_bytes = Integer(16 * MiB, help="Bytes of one submitted file.").tag(config=True)
    intake_total_bytes = Integer(64 * MiB, help="Bytes of all a submission's files together.").tag(config=True)
    intake_notebook_bytes = Integer(16 * MiB, help="Bytes of one submitted notebook.").tag(config=True)
    intake_json_depth = Integer(100, help="Nesting depth of a notebook's JSON (nbformat needs ~10).").tag(config=True)
    intake_cells = Integer(1000, help="Cells in one notebook.").tag(config=True)
    intake_folder_depth = Integer(8, help="Folders inside the submission folder.").tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        refuse_renamed(self.config)

    @classmethod
    def names(cls) -> list:
        """Every limit's trait name, in declaration order."""
        return [name for name in cls.class_own_traits(config=True)]

    @classmethod
    def default(cls, name: str):
        """The default of limit ``name`` (for the plain-data forms)."""
        return cls.class_traits()[name].default_value

    def in_force(self) -> dict:
        """Every limit's value, as plain data (what a receipt records)."""
        return {name: getattr(self, name) for name in self.names()}

    def reexecution(self):
        """The re-executions' limits as :class:`autograder.notebook.reexecute.Limits`."""
        from .reexecute import Limits
        return Limits(seconds=self.reexecution_seconds, cpu_seconds=self.reexecution_cpu_seconds,
                      memory_mb=self.reexecution_memory_mb, output_bytes=self.reexecution_output_bytes,
                      processes=self.reexecution_processes)

    def intake(self) -> dict:
        """Intake's limits, ``{name without "intake_": value}`` (for
        :class:`autograder.classrun.intake.Limits`)."""
        return {name[len("intake_"):]: getattr(self, name) for name in self.names() if name.startswith("intake_")}


# Old configuration names -> the trait that replaced them.
RENAMED = {
    "ReexecuteSteps.timeout": "reexecution_seconds",
    "ReexecuteSteps.cpu_seconds": "reexecution_cpu_seconds",
    "ReexecuteSteps.memory_mb": "reexecution_memory_mb",
    "ReexecuteSteps.output_bytes": "reexecution_output_bytes",
    "SandboxedKernelManager.memory_mb": "kernel_memory_mb",
    "SandboxedKernelManager.processes": "kernel_processes",
    "SandboxedKernelManager.cpu_seconds": "kernel_cpu_seconds",
    "SandboxedKernelManager.file_mb": "kernel_file_mb",
    "SandboxedKernelManager.scratch_mb": "kernel_scratch_mb",
    "SandboxedKernelManager.sockets_kb": "kernel_sockets_kb",
    "SandboxedExecute.budget_memory_mb": "submission_memory_mb",
    "SandboxedExecute.budget_processes": "submission_processes",
    "Execute.timeout": "kernel_cell_seconds",
    "SandboxedExecute.timeout": "kernel_cell_seconds",
    "GuardedExecute.notebook_timeout": "kernel_notebook_seconds",
    "SandboxedExecute.notebook_timeout": "kernel_notebook_seconds",
    "CapOutput.max_cell_chars": "kernel_cell_output_chars",
    "SandboxedExecute.max_cell_chars": "kernel_cell_output_chars",
    "CapOutput.max_notebook_chars": "kernel_notebook_output_chars",
    "SandboxedExecute.max_notebook_chars": "kernel_notebook_output_chars",
}
# The kernel preprocessor's traits that carry a limit -> the limit (SandboxedExecute sets them).
KERNEL_TRAITS = {"timeout": "kernel_cell_seconds", "notebook_timeout": "kernel_notebook_seconds",
                 "max_cell_chars": "kernel_cell_output_chars", "max_notebook_chars": "kernel_notebook_output_chars"}


def refuse_renamed(config) -> None:
    """Raise :class:`RenamedLimit` naming every limit ``config`` sets under an old name."""
    found = [f"c.{old} is no longer read: set c.GradingLimits.{new} instead (default "
             f"{GradingLimits.default(new)})" for old, new in RENAMED.items() if old in config]
    if found:
        raise RenamedLimit("nbgrader_config.py: " + "; ".join(found))


TABLE_START = "<!-- GradingLimits table: generated by `python -m autograder.notebook.limits`; tests/test_limits.py checks it -->"
TABLE_END = "<!-- end of the GradingLimits table -->"


def _shown(value) -> str:
    if isinstance(value, int) and value >= MiB and value % MiB == 0:
        return f"{value} ({value // MiB} MiB)"
    return f"{value:g}" if isinstance(value, float) else str(value)


def table() -> str:
    """The markdown table of every limit (docs/sandbox.md holds it between the markers)."""
    rows = [TABLE_START, "", "| `c.GradingLimits.` | default | what it limits |", "| --- | --- | --- |"]
    traits = GradingLimits.class_traits(config=True)
    order = {"reexecution": 0, "kernel": 1, "submission": 2, "intake": 3}
    for name in sorted(GradingLimits.names(), key=lambda n: order[n.split("_")[0]]):
        help_text = " ".join(traits[name].help.split()).replace("|", "\\|")
        rows.append(f"| `{name}` | {_shown(traits[name].default_value)} | {help_text} |")
    return "\n".join(rows + ["", TABLE_END])


if __name__ == "__main__":
    print(table())
