"""The student's notebook kernel during ``nbgrader autograde``: sandboxed, limited, capped.

``SandboxedExecute`` (in nbgrader_config.py, in place of ``GuardedExecute``) is
:class:`GuardedExecute` with three additions:

- the kernel is started by :class:`SandboxedKernelManager`, which wraps the kernelspec's argv
  with :func:`autograder.notebook.sandbox.bwrap.command`: bubblewrap, a fresh unprivileged uid, no network (the kernel
  talks to nbgrader over ZeroMQ ``ipc`` sockets in a 1 MiB tmpfs only the sandbox has),
  a clean environment, and rlimits for memory, processes, CPU and file size. Its working folder
  (``autograded/<student>/<assignment>/``, where nbgrader puts the notebook) becomes a
  size-capped tmpfs holding that folder's files read-only; nothing else of the course exists;
- outputs are capped in characters while they arrive (:class:`autograder.notebook.output_limit.CapOutput`);
- when the caller opened no :func:`autograder.notebook.sandbox.cgroup.budget` (stock ``nbgrader autograde``), each
  notebook gets one (:func:`autograder.notebook.sandbox.cgroup.auto_budget`).

The per-cell time limit stays nbgrader's ``Execute.timeout``, inside the notebook's time budget
(``GuardedExecute.notebook_timeout``); GuardedExecute turns a dead or stuck kernel into a failed
cell, and fails every later graded cell with the reason.
"""
import math
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from time import monotonic, sleep

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbgrader.preprocessors import Execute
from traitlets import Bool, DottedObjectName, Enum, Integer, Type
import zmq

from . import incidents
from .sandbox import bwrap, cgroup, modes
from .limits import KERNEL_TRAITS, GradingLimits
from .output_limit import CapOutput
from .cells import failed_check
from . import assignments

# Environment variables the kernel may inherit from the grader (everything else is dropped:
# the grader's environment can hold tokens and paths into the course).
# Where the notebook's folder appears inside the sandbox (its working folder), not at its host path.
WORKDIR = Path("/home/student")
# The kernel's ipc sockets, inside the sandbox only. A short fixed path: the grader reaches them
# as /proc/<pid>/root/kernel-ipc/kernel-N, well under the 107-byte limit of a socket path,
# however long the grader's TMPDIR is.
SOCKETS = Path("/kernel-ipc")
KEEP_ENV = ("NBGRADER_EXECUTION", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "PYTHONHASHSEED")


class GuardedExecute(Execute):
    """nbgrader's Execute, but a dead or unresponsive kernel fails the cell, not the submission,
    and the notebook has a total time budget.

    Stock nbgrader aborts the whole notebook (and the student gets no grades at all) when the
    kernel dies or ignores the interrupt after a timeout. Here the cell gets an error output
    saying so, and grading goes on. Fail closed: once the kernel is gone or the time budget has
    run out, no later cell is executed and every later graded code cell gets an error output
    naming the reason (nbgrader would give an unexecuted test cell full marks).
    """

    # Set from c.GradingLimits.kernel_notebook_seconds (autograder.notebook.limits), not configured here.
    notebook_timeout = Integer(
        GradingLimits.default("kernel_notebook_seconds"),
        help="Seconds the whole notebook may run in the kernel; each cell gets at most what is left "
             "(and at most the cell's time limit). 0: no budget.")

    def preprocess(self, nb, resources=None, km=None):
        self._halted = None  # why no more cells run
        self._deadline = monotonic() + self.notebook_timeout if self.notebook_timeout else None
        return super().preprocess(nb, resources, km)

    def _get_timeout(self, cell):
        timeout = super()._get_timeout(cell)
        if self._deadline is None or cell is None:
            return timeout
        left = max(1, math.ceil(self._deadline - monotonic()))
        return left if timeout is None else min(timeout, left)

    def _budget_reason(self, when: str) -> str:
        return (f"The notebook's time budget of {self.notebook_timeout} s ran out {when} (the "
                "time limit for the whole notebook).")

    def preprocess_cell(self, cell, resources, index):
        if self._halted is None and self._deadline is not None and monotonic() >= self._deadline:
            self._halted = self._budget_reason("before this cell")
            self._incident(incidents.TIMED_OUT, resources, index, self._halted)
        if self._halted is not None:
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
                failed_check(cell, self._halted + " This cell was not executed.", ename="NotExecuted")
            return cell, self.resources
        budget = cgroup.active()
        oom_before = budget.oom_kills() if budget else 0
        timeout = self._get_timeout(cell)
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except (DeadKernelError, CellTimeoutError) as exc:
            # An out-of-memory kill shows either way: the kernel dead, or its channel broken mid-message.
            oom = budget is not None and budget.oom_kills() > oom_before
            kind = incidents.KERNEL_DIED if oom or isinstance(exc, DeadKernelError) else incidents.TIMED_OUT
            if oom:
                reason = (f"The kernel died while running this cell: the submission ran out of "
                          f"its memory budget ({budget.memory_mb} MiB, the memory limit).")
            elif isinstance(exc, DeadKernelError):
                reason = "The kernel died while running this cell (os._exit, a crash, or the memory limit)."
            elif "IOPub" in str(exc):  # the end-of-cell message was lost in a flood of messages
                kind = incidents.KERNEL_STOPPED
                reason = ("The end of this cell never reached the grader: its messages flooded or "
                          "broke the kernel's channel (output limit), so the kernel was stopped.")
            else:
                reason = (f"This cell ran past the {timeout} s time limit and ignored the "
                          "interrupt, so the kernel was stopped.")
        else:
            if self._deadline is not None and monotonic() >= self._deadline and any(
                    out.get("ename") == "CellTimeoutError" for out in cell.get("outputs", [])):
                reason = self._budget_reason("while this cell ran")
                self._incident(incidents.TIMED_OUT, resources, index, reason)
                failed_check(cell, reason, ename="TimeBudgetExceeded")
                self._halted = self._budget_reason("before this cell")
            return cell, resources
        self._incident(kind, resources, index, reason)
        failed_check(cell, reason + " Later cells were not executed.", ename="KernelStopped")
        self._halted = "The kernel was stopped at an earlier cell (%s)." % reason.rstrip(".")
        return cell, self.resources

    def _incident(self, kind: str, resources, index: int, reason: str) -> None:
        """Log that no later cell runs, with the incident as data (:mod:`autograder.notebook.incidents`)."""
        message = "%s Later cells are not executed." % reason
        notebook = (resources or {}).get("nbgrader", {}).get("notebook")
        self.log.warning("cell %d: %s", index, message,
                         extra=incidents.extra(kind, notebook, index, message, halted=True))

    async def _async_handle_timeout(self, timeout, cell=None):
        """nbclient's: a cell past its time limit is interrupted (and later cells run); recorded."""
        if self.interrupt_on_timeout:  # else CellTimeoutError: preprocess_cell records it
            self.log.warning("cell interrupted at the %s s limit", timeout, extra=incidents.extra(
                incidents.TIMED_OUT, None, None, "a cell ran past the %s s limit and was interrupted; "
                "later cells ran" % timeout, halted=False))
        return await super()._async_handle_timeout(timeout, cell)


class SandboxedKernelClient(AsyncKernelClient):
    """The client of a sandboxed kernel, without the heartbeat channel: its thread blocks for
    good on a kernel that broke its own socket (and the grader with it, when it joins the
    thread). Whether the kernel lives is the kernel manager's to say (its process)."""

    def start_channels(self, shell=True, iopub=True, stdin=True, hb=True, control=True):
        super().start_channels(shell=shell, iopub=iopub, stdin=stdin, hb=False, control=control)


class SandboxedKernelManager(AsyncKernelManager):
    """An AsyncKernelManager whose kernel process runs in the course sandbox.

    The kernel's ZeroMQ ``ipc`` sockets live in a 1 MiB tmpfs that exists only inside the
    sandbox (gone with it, even when the grader is killed); the grader reaches them through
    ``/proc/<sandbox pid>/root``. The notebook's folder appears at :data:`WORKDIR` (an empty tmpfs
    with the folder's files bound read-only), not at its host path (though, as for every bind,
    ``/proc/self/mountinfo`` names the host files bound there). The connection file and the
    sandbox's passwd/group are in a private 0700 folder of the grader's, read-only in the sandbox.
    The kernel's stdin, stdout and stderr are pipes and /dev/null, never the grader's own
    descriptors (its log). Its limits are ``c.GradingLimits.kernel_*`` (:mod:`autograder.notebook.limits`).
    """

    client_class = DottedObjectName("autograder.notebook.kernel.SandboxedKernelClient")
    client_factory = Type(SandboxedKernelClient, klass=AsyncKernelClient)

    _private = None
    _mode = None
    _uid = None
    _stderr_tail = b""

    async def _async_pre_start_kernel(self, **kw):
        self._mode = modes.warn_if_unsandboxed()
        if self._mode.sandboxed and self._private is None:
            self._private = private_folder()
            if self._mode.switches_uid:
                self._uid = bwrap.new_uid()
            self.transport = "ipc"
            self.cache_ports = False
            self.connection_file = str(self._private / "kernel.json")
            self.ip = str(SOCKETS / "kernel")
        if self._mode.sandboxed and self.kernel_spec is not None:
            # A SIGINT to the process group would hit bwrap (outside the sandbox's session) and
            # tear the sandbox down; ipykernel's interrupt_request interrupts from the inside.
            self.kernel_spec.interrupt_mode = "message"
        return await super()._async_pre_start_kernel(**kw)

    def write_connection_file(self, **kwargs):
        super().write_connection_file(**kwargs)
        if self._uid is not None and os.path.exists(self.connection_file):
            os.chown(self.connection_file, self._uid, self._uid)

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        mode = self._mode or modes.warn_if_unsandboxed()
        grading = GradingLimits(config=self.config)
        limits = bwrap.ProcessLimits(cpu_seconds=grading.kernel_cpu_seconds, memory_mb=grading.kernel_memory_mb,
                                     processes=grading.kernel_processes, file_bytes=grading.kernel_file_mb << 20)
        cwd = Path(kw.get("cwd") or os.getcwd()).resolve()
        if mode.sandboxed:
            outer = kw.get("env") or os.environ
            env = {key: outer[key] for key in KEEP_ENV if key in outer}
            env.update(PATH=os.pathsep.join([str(Path(kernel_cmd[0]).parent), "/usr/bin", "/bin"]),
                       HOME="/tmp", TMPDIR="/tmp", IPYTHONDIR="/tmp/.ipython",
                       MPLCONFIGDIR="/tmp/.matplotlib", JUPYTER_RUNTIME_DIR="/tmp/.jupyter",
                       PYTHONNOUSERSITE="1", JPY_PARENT_PID="1")  # no parent poller: pid 1 is bwrap
            readable = sorted(cwd.iterdir()) if cwd.is_dir() else []
            sockets = Path(self.ip).parent
            kernel_cmd = bwrap.command(kernel_cmd, cwd=cwd, limits=limits,
                                       readable=[*readable, self.connection_file], env=env,
                                       scratch_mb=grading.kernel_scratch_mb, mode=mode, private=self._private,
                                       uid=self._uid, scratch=[(sockets, grading.kernel_sockets_kb / 1024)],
                                       workdir=WORKDIR / cwd.name)
        else:
            kernel_cmd = bwrap.command(kernel_cmd, cwd=cwd, limits=limits, mode=mode)
        self.log.debug("sandboxed kernel: %s", kernel_cmd)
        kw.update(stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        await super()._async_launch_kernel(kernel_cmd, **kw)
        process = self.provisioner.process
        threading.Thread(target=self._keep_tail, args=(process.stderr,), daemon=True).start()
        if mode.sandboxed:
            self.ip = "/proc/%d/root%s" % (_sandbox_pid(process, self), self.ip)

    def _connect_control_socket(self):
        super()._connect_control_socket()
        # A kernel that breaks its end of the channel (e.g. writes garbage into its own sockets)
        # must not block the grader forever in a send: give up after a second, then kill.
        self._control_socket.setsockopt(zmq.SNDTIMEO, 1000)

    async def _async_interrupt_kernel(self):
        try:
            await super()._async_interrupt_kernel()
        except zmq.Again:
            self.log.warning("the kernel takes no interrupt request (its channel is broken or full)")

    async def _async_request_shutdown(self, restart: bool = False):
        try:
            await super()._async_request_shutdown(restart=restart)
        except zmq.Again:
            self.log.warning("the kernel takes no shutdown request; it will be killed")

    interrupt_kernel = _async_interrupt_kernel
    request_shutdown = _async_request_shutdown

    def _keep_tail(self, stream, size: int = 2000):
        """Read the kernel's stderr to its end, keeping only the last ``size`` bytes."""
        with stream:
            for chunk in iter(lambda: stream.read1(65536), b""):
                self._stderr_tail = (self._stderr_tail + chunk)[-size:]

    @property
    def stderr_tail(self) -> str:
        """The end of what the kernel (or bwrap) wrote to stderr, for the grader's log."""
        return self._stderr_tail.decode("utf-8", "replace")

    async def _async_cleanup_resources(self, restart: bool = False):
        await super()._async_cleanup_resources(restart=restart)
        if self._private is not None and not restart:
            shutil.rmtree(self._private, ignore_errors=True)
            self._private = None

    cleanup_resources = _async_cleanup_resources


PRIVATE_PREFIX = "autograder-kernel-"


def private_folder() -> Path:
    """A fresh 0700 folder of the grader's for one kernel; stale ones of dead graders go first."""
    tmp = Path(tempfile.gettempdir())
    for old in tmp.glob(PRIVATE_PREFIX + "*"):
        parts = old.name[len(PRIVATE_PREFIX):].split("-")
        if len(parts) >= 3 and parts[0].isdigit() and cgroup._start_time(int(parts[0])) != parts[1]:
            shutil.rmtree(old, ignore_errors=True)
    owner = "%s%d-%s-" % (PRIVATE_PREFIX, os.getpid(), cgroup._start_time(os.getpid()))
    return Path(tempfile.mkdtemp(prefix=owner))


def _sandbox_pid(process, km, seconds: float = 30) -> int:
    """The pid of bwrap's child (in the sandbox's namespaces) of the bwrap ``process``."""
    deadline, pid = monotonic() + seconds, process.pid
    while monotonic() < deadline and process.poll() is None:
        try:
            children = Path("/proc/%d/task/%d/children" % (pid, pid)).read_text().split()
        except OSError:
            children = []
        if children:
            return int(children[0])
        sleep(0.005)
    sleep(0.1)  # let the stderr reader catch up
    raise RuntimeError("the kernel's sandbox did not start: %r" % km.stderr_tail[-500:])


class SandboxedExecute(CapOutput, GuardedExecute):
    """GuardedExecute with the kernel in the sandbox and the outputs capped while they arrive.

    When no budget is active (stock ``nbgrader autograde``), each notebook gets its own
    :func:`autograder.notebook.sandbox.cgroup.auto_budget`, covering its kernel and its re-executions,
    of ``c.GradingLimits.submission_memory_mb`` and ``submission_processes``.
    """

    run_every_notebook = Bool(False, help="Run a notebook in a kernel even when its declaration "
                              "(source/<assignment>/<notebook>.grading.json) decides every grade cell "
                              "outside the kernel. By default such a notebook is not run: no kernel "
                              "starts, and its autograded and feedback notebooks show no outputs of the "
                              "student's cells.").tag(config=True)
    shutdown_kernel = Enum(["graceful", "immediate"], default_value="immediate",
                           help="A sandboxed kernel holds nothing to save: the sandbox is torn down "
                                "at once.").tag(config=True)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(*args, **kwargs)
        grading = GradingLimits(config=self.config)  # refuses the old names of these limits too
        for trait, limit in KERNEL_TRAITS.items():  # the course's limits, unless a caller passed its own
            if trait not in kwargs:
                setattr(self, trait, getattr(grading, limit))

    def judged_outside(self, nb, resources) -> bool:
        """Whether every grade cell of ``nb`` is decided outside the kernel (then it need not run)."""
        ids = [cell.metadata.nbgrader.get("grade_id", "") for cell in nb.cells
               if cell.metadata.get("nbgrader", {}).get("grade")]
        info = (resources or {}).get("nbgrader", {})
        if self.run_every_notebook or not ids or "assignment" not in info:
            return False
        declared = {graded.notebook: graded.tests for graded in
                    assignments.declared(assignments.source_folder(self.config), info["assignment"])}
        return set(ids) <= set(declared.get(info.get("notebook"), ()))

    def preprocess(self, nb, resources=None, km=None):
        if self.judged_outside(nb, resources):
            self.log.info("Not executing: every grade cell of this notebook is judged outside the kernel")
            return nb, resources
        info = (resources or {}).get("nbgrader", {})
        limits = GradingLimits(config=self.config)
        cgroup.auto_budget("%s-%s" % (info.get("student", "student"), info.get("notebook", "notebook")),
                           limits.submission_memory_mb, limits.submission_processes)
        return super().preprocess(nb, resources, km)
