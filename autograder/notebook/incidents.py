"""What stopped a notebook's kernel, as data the grading process records (never text to parse).

:class:`autograder.notebook.kernel.GuardedExecute` logs each incident with the incident attached to
the log record (``extra={FIELD: {...}}``); whoever grades collects the records' :data:`FIELD`
(:func:`of`). A student's code cannot make such a record: it runs in the kernel, not in the
grading process. An incident is ``{"reason", "notebook", "cell", "message", "halted"}``:
``reason`` one of :data:`REASONS`; ``cell`` the cell's index (None: not known); ``halted``: no
later cell ran in the kernel (else the cell was interrupted and the later cells ran).
"""
KERNEL_DIED = "kernel died"
TIMED_OUT = "timed out"
KERNEL_STOPPED = "kernel stopped"
REASONS = (KERNEL_DIED, TIMED_OUT, KERNEL_STOPPED)

FIELD = "autograder_incident"  # the attribute of the logging.LogRecord


def extra(reason: str, notebook, cell, message: str, halted: bool) -> dict:
    """The ``extra=`` of the log call that reports an incident."""
    assert reason in REASONS, reason
    return {FIELD: {"reason": reason, "notebook": notebook, "cell": cell, "message": message, "halted": halted}}


def of(record):
    """The incident a ``logging.LogRecord`` carries, or None."""
    return getattr(record, FIELD, None)
