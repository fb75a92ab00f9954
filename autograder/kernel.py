"""The student's notebook kernel during ``nbgrader autograde``: sandboxed, limited, capped.

``SandboxedExecute`` (in nbgrader_config.py, in place of ``GuardedExecute``) is
:class:`GuardedExecute` with two additions:

- the kernel is started by :class:`SandboxedKernelManager`, which wraps the kernelspec's argv
  with :func:`autograder.sandbox.command`: bubblewrap, a fresh unprivileged uid, no network (the kernel
  talks to nbgrader over ZeroMQ ``ipc`` sockets in a private folder bound into the sandbox),
  a clean environment, and rlimits for memory, processes, CPU and file size. Its working folder
  (``autograded/<student>/<assignment>/``, where nbgrader puts the notebook) becomes a
  size-capped tmpfs holding that folder's files read-only; nothing else of the course exists;
- outputs are capped in characters while they arrive (:class:`autograder.output_limit.CapOutput`).

The per-cell time limit stays nbgrader's ``Execute.timeout``; GuardedExecute turns a kernel that
ignores the interrupt into a failed cell.
"""
import os
import shutil
import tempfile
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbgrader.preprocessors import Execute
from traitlets import Integer

from . import sandbox
from .output_limit import CapOutput
from .preprocessors import failed_check

# Environment variables the kernel may inherit from the grader (everything else is dropped:
# the grader's environment can hold tokens and paths into the course).
KEEP_ENV = ("NBGRADER_EXECUTION", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "PYTHONHASHSEED")


class GuardedExecute(Execute):
    """nbgrader's Execute, but a dead or unresponsive kernel fails the cell, not the submission.

    Stock nbgrader aborts the whole notebook (and the student gets no grades at all) when the
    kernel dies or ignores the interrupt after a timeout. Here the cell gets an error output
    saying so, the remaining cells are left unexecuted, and grading goes on.
    """

    def preprocess(self, nb, resources=None, km=None):
        self._halted = False
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell, resources, index):
        if self._halted:
            return cell, self.resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            reason = "The kernel died while running this cell (os._exit, a crash, or the memory limit)."
        except CellTimeoutError:
            reason = (f"This cell ran past the {self.timeout} s time limit and ignored the "
                      "interrupt, so the kernel was stopped.")
        self.log.warning("cell %d: %s Later cells are not executed.", index, reason)
        failed_check(cell, reason + " Later cells were not executed.", ename="KernelStopped")
        self._halted = True
        return cell, self.resources


class SandboxedKernelManager(AsyncKernelManager):
    """An AsyncKernelManager whose kernel process runs in the course sandbox."""

    memory_mb = Integer(2048, help="Address space of the kernel process (RLIMIT_AS), MiB.").tag(config=True)
    processes = Integer(64, help="Processes + threads the kernel may have (RLIMIT_NPROC).").tag(config=True)
    cpu_seconds = Integer(600, help="CPU seconds for the whole kernel (the per-cell limit is "
                                    "Execute.timeout).").tag(config=True)
    file_mb = Integer(64, help="Largest file the kernel may write, MiB.").tag(config=True)
    scratch_mb = Integer(256, help="Size of the kernel's writable working folder (tmpfs), MiB.").tag(config=True)

    _sockets = None
    _mode = None
    _uid = None

    async def _async_pre_start_kernel(self, **kw):
        self._mode = sandbox.warn_if_unsandboxed()
        if self._mode.sandboxed and self._sockets is None:
            # Private folder for the connection file and the ipc sockets, shared with the sandbox.
            self._sockets = Path(tempfile.mkdtemp(prefix="autograder-kernel-"))
            if self._mode.switches_uid:
                self._uid = sandbox.new_uid()
                os.chown(self._sockets, self._uid, self._uid)
            self.transport = "ipc"
            self.cache_ports = False
            self.connection_file = str(self._sockets / "kernel.json")
            self.ip = str(self._sockets / "ipc")
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
        mode = self._mode or sandbox.warn_if_unsandboxed()
        limits = sandbox.ProcessLimits(cpu_seconds=self.cpu_seconds, memory_mb=self.memory_mb,
                                       processes=self.processes, file_mb=self.file_mb)
        cwd = Path(kw.get("cwd") or os.getcwd()).resolve()
        if mode.sandboxed:
            outer = kw.get("env") or os.environ
            env = {key: outer[key] for key in KEEP_ENV if key in outer}
            env.update(PATH=os.pathsep.join([str(Path(kernel_cmd[0]).parent), "/usr/bin", "/bin"]),
                       HOME="/tmp", TMPDIR="/tmp", IPYTHONDIR="/tmp/.ipython",
                       MPLCONFIGDIR="/tmp/.matplotlib", JUPYTER_RUNTIME_DIR="/tmp/.jupyter",
                       PYTHONNOUSERSITE="1", JPY_PARENT_PID="1")  # no parent poller: pid 1 is bwrap
            readable = sorted(cwd.iterdir()) if cwd.is_dir() else []
            kernel_cmd = sandbox.command(kernel_cmd, cwd=cwd, limits=limits, readable=readable,
                                         writable=[self._sockets], env=env, scratch_mb=self.scratch_mb,
                                         mode=mode, private=self._sockets, uid=self._uid)
        else:
            kernel_cmd = sandbox.command(kernel_cmd, cwd=cwd, limits=limits, mode=mode)
        self.log.debug("sandboxed kernel: %s", kernel_cmd)
        return await super()._async_launch_kernel(kernel_cmd, **kw)

    async def _async_cleanup_resources(self, restart: bool = False):
        await super()._async_cleanup_resources(restart=restart)
        if self._sockets is not None and not restart:
            shutil.rmtree(self._sockets, ignore_errors=True)
            self._sockets = None

    cleanup_resources = _async_cleanup_resources


class SandboxedExecute(CapOutput, GuardedExecute):
    """GuardedExecute with the kernel in the sandbox and the outputs capped while they arrive."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(*args, **kwargs)
