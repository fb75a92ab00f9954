"""The local worker pool: grading processes, their deadlines, restarts and clean-up.

Each worker is forked from the coordinator (:func:`autograder.classrun.grade_worker.serve`), in a new
session, with its own scratch folder as working folder and ``TMPDIR`` (the temporary courses of
its tasks live there): it starts with nbgrader already imported and the assignment snapshot in
memory, so a run pays nbgrader's imports once, not once per worker. It receives one task at a
time and answers on a private pipe (never stdin, stdout or stderr: the kernels inherit those).
Its stderr goes to a file in its scratch folder (kept only as "raw" output, since a kernel may
write there too), never to a shared log.

A task that runs past ``task_timeout`` is stopped with its worker; a worker that dies costs only
its task. Either way every process the worker started is killed, its scratch folder removed, and
a new worker takes its place. Workers that cannot start at all (``startup_failures`` in a row)
make the pool :class:`Broken`.
"""
import base64
import gc
import json
import os
import select
import selectors
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

from ..notebook import processes
from .status import PROCESS_DIED, TIMED_OUT

STARTUP_TIMEOUT = 120.0        # seconds a worker may take to import nbgrader and say it is ready
STARTUP_FAILURES = 3           # workers failing to start in a row before the pool gives up
MAX_MESSAGE_BYTES = 1 << 28    # a larger answer from a worker is treated as a broken worker
RAW_STDERR_BYTES = 4096        # tail of a dead worker's own stderr kept for the log
_HEADER = struct.Struct("!Q")
MEMORY_SCRATCH = "/dev/shm"     # preferred place for pool folders (see scratch_places)
MEMORY_SCRATCH_FREE = 1 << 30  # bytes it must have free to be used
_ENDS = set()  # the coordinator's ends of its live workers' pipes: no other worker keeps them open


class Broken(Exception):
    """No worker can run: the message says why."""


# -- messages: length-prefixed JSON, bytes as {"$b64": ...} (no pickle from workers) ------------
def encode(message) -> bytes:
    def default(value):
        if isinstance(value, (bytes, bytearray)):
            return {"$b64": base64.b64encode(value).decode("ascii")}
        if isinstance(value, (set, tuple)):
            return list(value)
        raise TypeError(f"cannot send {type(value).__name__}")
    body = json.dumps(message, default=default, ensure_ascii=True).encode("ascii")
    return _HEADER.pack(len(body)) + body


def _hook(obj):
    if len(obj) == 1 and "$b64" in obj:
        return base64.b64decode(obj["$b64"])
    return obj


def decode(body: bytes):
    return json.loads(body, object_hook=_hook)


def write_message(fd: int, message) -> None:
    data = memoryview(encode(message))
    while data:
        data = data[os.write(fd, data):]


def read_message(fd: int):
    """Blocking read of one message (the worker's side); None at end of file."""
    header = _read_exact(fd, _HEADER.size)
    if header is None:
        return None
    body = _read_exact(fd, _HEADER.unpack(header)[0])
    return None if body is None else decode(body)


def _read_exact(fd: int, size: int):
    parts, left = [], size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


class Worker:
    """One grading process, its pipes and scratch folder, and the task it is running."""

    def __init__(self, number: int, scratch_root: Path, snapshot: dict):
        self.number = number
        self.scratch = scratch_root / f"w{number}"  # short: kernels' IPC socket paths live below it
        self.scratch.mkdir()
        self.stderr_path = self.scratch / "stderr"
        cmd_r, self.cmd_w = os.pipe()
        self.fd, res_w = os.pipe()
        for stream in (sys.stdout, sys.stderr):  # nothing buffered here is written twice
            stream.flush()
        gc.freeze()  # the collector leaves what exists now alone, so the child shares its pages
        coordinator = os.getpid()
        pid = os.fork()
        if pid == 0:
            _worker(self.scratch, snapshot, coordinator, (cmd_r, self.cmd_w, self.fd, res_w))
        self.proc = _Forked(pid)
        os.close(cmd_r)
        os.close(res_w)
        _ENDS.update((self.cmd_w, self.fd))
        os.set_blocking(self.fd, False)
        self._buffer = bytearray()
        self.ready = False
        self.task = None
        self.deadline = time.monotonic() + STARTUP_TIMEOUT

    def send(self, message, deadline: float) -> None:
        write_message(self.cmd_w, message)
        self.deadline = deadline

    def read(self):
        """Complete messages now available; None when the worker is gone or talks nonsense."""
        try:
            while True:
                chunk = os.read(self.fd, 1 << 20)
                if not chunk:
                    return None
                self._buffer += chunk
                if len(chunk) < (1 << 20):
                    break
        except BlockingIOError:
            pass
        messages = []
        while len(self._buffer) >= _HEADER.size:
            size = _HEADER.unpack_from(self._buffer)[0]
            if size > MAX_MESSAGE_BYTES:
                return None
            if len(self._buffer) < _HEADER.size + size:
                break
            body = bytes(self._buffer[_HEADER.size:_HEADER.size + size])
            del self._buffer[:_HEADER.size + size]
            try:
                messages.append(decode(body))
            except ValueError:
                return None
        return messages

    def exit_text(self) -> str:
        code = processes.exit_status(self.proc)  # not reaped: stop() still finds what it started
        if code is None:
            return "stopped responding"
        if code < 0:
            return "was killed by signal %s" % signal.Signals(-code).name
        return "exited with status %d" % code

    def raw_stderr(self) -> str:
        try:
            with open(self.stderr_path, "rb") as fh:
                fh.seek(max(0, os.fstat(fh.fileno()).st_size - RAW_STDERR_BYTES))
                return fh.read(RAW_STDERR_BYTES).decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, kill: bool) -> None:
        """End the worker; with ``kill``, every process it started too. Removes its scratch."""
        if kill:
            processes.kill_tree(self.proc)
        else:
            try:
                write_message(self.cmd_w, {"do": "quit"})
            except OSError:
                processes.kill_tree(self.proc)
        for fd in (self.cmd_w, self.fd):
            _ENDS.discard(fd)
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            processes.kill_tree(self.proc)
        shutil.rmtree(self.scratch, ignore_errors=True)


def _worker(scratch: Path, snapshot: dict, coordinator: int, fds: tuple) -> None:
    """The forked child: becomes the worker (its own session, folder, standard streams and
    environment; only its own ends of the pipes) and never returns."""
    cmd_r, cmd_w, res_r, res_w = fds
    code = 1
    try:
        os.setsid()
        os.close(cmd_w)
        os.close(res_r)
        os.chdir(scratch)
        null = os.open(os.devnull, os.O_RDWR)
        stderr = os.open(scratch / "stderr", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        for fd, target in ((null, 0), (null, 1), (stderr, 2)):
            os.dup2(fd, target)
        os.close(null)
        os.close(stderr)
        keep = {0, 1, 2, cmd_r, res_w}
        for name in os.listdir("/proc/self/fd"):  # e.g. a lock the coordinator was handed
            fd = int(name)
            if fd not in keep and (fd in _ENDS or _inheritable(fd)):
                os.close(fd)
        os.environ.pop("COURSE_DB_URL", None)
        os.environ.update(TMPDIR=str(scratch), AUTOGRADER_COORDINATOR=str(coordinator),
                          PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
        tempfile.tempdir = None  # found again from TMPDIR
        from . import grade_worker
        code = grade_worker.main(snapshot, cmd_r, res_w)
    except BaseException:  # noqa: B902 - nothing may unwind into the coordinator's code
        try:
            import traceback
            os.write(2, traceback.format_exc().encode("utf-8", "replace"))
        except BaseException:  # noqa: B902
            pass
    finally:
        try:
            sys.stderr.flush()  # what a warning printed reaches the worker's stderr file
        finally:
            os._exit(code)


def _inheritable(fd: int) -> bool:
    try:
        return os.get_inheritable(fd)
    except OSError:  # closed meanwhile (the descriptor listing /proc/self/fd)
        return False


class _Forked:
    """A forked worker as :mod:`autograder.notebook.processes` sees a child: ``pid``,
    ``returncode``, ``poll()`` and ``wait(timeout)`` (as :class:`subprocess.Popen`'s)."""

    def __init__(self, pid: int):
        self.pid, self.returncode = pid, None

    def poll(self):
        if self.returncode is None:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout=None):
        if self.returncode is None and timeout is not None:
            pidfd = os.pidfd_open(self.pid)  # unreaped: the number is still this child's
            try:
                if not select.select([pidfd], [], [], timeout)[0]:
                    raise subprocess.TimeoutExpired(f"grading worker {self.pid}", timeout)
            finally:
                os.close(pidfd)
        if self.returncode is None:
            self.returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        return self.returncode


def scratch_places() -> list:
    """Where pool folders are made, the first that serves: ``/dev/shm`` when it is a memory file
    system with ``MEMORY_SCRATCH_FREE`` bytes free (each submission's temporary course and its
    sandboxes' scratch files are made and removed there: on a disk file system, allocating
    those inodes costs ~15 ms of CPU per submission), else TMPDIR."""
    places = [Path(tempfile.gettempdir())]
    try:
        shm = os.statvfs(MEMORY_SCRATCH)
        if os.access(MEMORY_SCRATCH, os.W_OK | os.X_OK) and shm.f_bavail * shm.f_frsize >= MEMORY_SCRATCH_FREE \
                and _is_tmpfs(MEMORY_SCRATCH):
            places.insert(0, Path(MEMORY_SCRATCH))
    except OSError:
        pass
    return places


def _is_tmpfs(path: str) -> bool:
    """Whether what is mounted at ``path`` (the last mount there: the one seen) is a tmpfs."""
    path, found = os.path.realpath(path), None
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) > 2 and fields[1] == path:
            found = fields[2]
    return found == "tmpfs"


def sweep() -> None:
    """Remove pool folders (``ag-PID-*``) whose coordinator process is gone."""
    import psutil
    for place in {Path(MEMORY_SCRATCH), Path(tempfile.gettempdir())}:
        for folder in place.glob("ag-*-*"):
            pid = folder.name.split("-")[1]
            if pid.isdigit() and not psutil.pid_exists(int(pid)) and _own_folder(folder):
                shutil.rmtree(folder, ignore_errors=True)


def _own_folder(path: Path) -> bool:
    """A folder (not a link) of this uid's: /dev/shm is everybody's to write in."""
    try:
        found = path.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(found.st_mode) and found.st_uid == os.geteuid()


class Pool:
    """``size`` workers taking tasks from one queue; see the module docstring."""

    def __init__(self, size: int, task_timeout: float, startup_timeout: float = STARTUP_TIMEOUT,
                 startup_failures: int = STARTUP_FAILURES, log=None):
        self.size, self.task_timeout, self.startup_timeout = size, task_timeout, startup_timeout
        self.startup_failures, self._failures_in_a_row = startup_failures, 0
        self.log = log or (lambda text: None)
        self.selector = selectors.DefaultSelector()
        self.workers = []
        self.queue = deque()
        self.done = []
        self._numbers = 0
        self._snapshot = None
        self._scratch = None

    def start(self, snapshot: dict) -> None:
        sweep()
        self._scratch = Path(tempfile.mkdtemp(prefix=f"ag-{os.getpid()}-", dir=scratch_places()[0]))
        self._snapshot = snapshot  # each forked worker has its own copy

    def submit(self, task) -> None:
        self.queue.append(task)
        self._fill()

    def in_flight(self) -> int:
        return len(self.queue) + sum(w.task is not None for w in self.workers)

    def _fill(self) -> None:
        wanted = min(self.size, self.in_flight())
        while len(self.workers) < wanted:
            self._numbers += 1
            worker = Worker(self._numbers, self._scratch, self._snapshot)
            worker.deadline = time.monotonic() + self.startup_timeout
            self.selector.register(worker.fd, selectors.EVENT_READ, worker)
            self.workers.append(worker)
        for worker in self.workers:
            if worker.ready and worker.task is None and self.queue:
                task = self.queue.popleft()
                worker.task = task
                worker.send({"task": {"student": task.student, "files": task.files, "seeds": task.seeds}},
                            time.monotonic() + self.task_timeout)

    def finished(self, timeout=None) -> list:
        """``[(task, result or None, reason, detail)]``: results, or why a task was lost."""
        end = None if timeout is None else time.monotonic() + timeout
        while not self.done and self.in_flight():
            self._fill()
            deadlines = [w.deadline for w in self.workers if w.deadline is not None]
            limits = deadlines + ([end] if end is not None else [])
            wait = max(0.0, min(limits) - time.monotonic()) if limits else None
            for key, _ in self.selector.select(timeout=wait):
                worker = key.data
                if worker not in self.workers:
                    continue
                messages = worker.read()
                if messages is None:
                    self._lost(worker, PROCESS_DIED, f"the grading process {worker.exit_text()}")
                    continue
                for message in messages:
                    self._receive(worker, message)
            now = time.monotonic()
            for worker in list(self.workers):
                if worker.deadline is not None and now > worker.deadline:
                    if worker.task is None:
                        self._lost(worker, PROCESS_DIED,
                                   f"the grading process did not start within {self.startup_timeout:g} s")
                    else:
                        self._lost(worker, TIMED_OUT, f"grading took longer than {self.task_timeout:g} s "
                                   "(the task limit); the grading process was stopped")
            if end is not None and time.monotonic() >= end:
                break
        done, self.done = self.done, []
        return done

    def _receive(self, worker: Worker, message: dict) -> None:
        if "ready" in message:
            worker.ready, worker.deadline = True, None
            self._failures_in_a_row = 0
        elif "fatal" in message:
            self.log(f"worker {worker.number} could not start: {message['fatal']}")
            self._lost(worker, PROCESS_DIED, message["fatal"])
        elif "result" in message and worker.task is not None:
            self.done.append((worker.task, message["result"], None, None))
            worker.task, worker.deadline = None, None

    def _lost(self, worker: Worker, reason: str, detail: str) -> None:
        task = worker.task
        self._retire(worker, kill=True)
        raw = worker.raw_stderr().strip()
        if raw:
            self.log(f"raw stderr of worker {worker.number} (it {worker.exit_text()}; may hold anything "
                     f"a kernel wrote):\n{raw}")
        if task is not None:
            self.done.append((task, None, reason, detail))
            return
        self._failures_in_a_row += 1
        if self._failures_in_a_row >= self.startup_failures and not any(w.ready for w in self.workers):
            raise Broken(f"no grading process could start ({detail})")

    def _retire(self, worker: Worker, kill: bool) -> None:
        try:
            self.selector.unregister(worker.fd)
        except (KeyError, ValueError):
            pass
        self.workers.remove(worker)
        worker.stop(kill=kill)

    def close(self) -> None:
        """Stop every worker (killing what they run) and drop queued tasks."""
        self.queue.clear()
        for worker in list(self.workers):
            self._retire(worker, kill=worker.task is not None or not worker.ready)
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
