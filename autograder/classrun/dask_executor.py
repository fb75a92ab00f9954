"""Grading tasks on a Dask distributed cluster: ``python -m autograder grade A --scheduler ADDRESS``.

Workers are plain ``dask worker ADDRESS`` processes started from the course environment (the
venv built from ``requirements.lock``, bubblewrap installed); they need no course folder and no
database: each task carries one student's files, the assignment snapshot is sent to each worker
once, and the result comes back to the coordinator, the only writer of the course.

- A worker that dies mid-task loses nothing: the scheduler runs its tasks on another worker. A
  submission that kills ``distributed.scheduler.allowed-failures`` workers (3) is reported as
  failed (``grading process died``), not retried forever.
- A task running longer than ``task_timeout`` is cancelled, its worker restarted by its nanny,
  and the submission reported as failed (``timed out``).
- A lost scheduler stops the run: :meth:`DaskExecutor.results` raises :class:`SchedulerLost`;
  everything already returned stays recorded, so the next run grades only what is missing.

Only members of the cluster take part: the scheduler is reached over mutual TLS with the course's
certificates (:mod:`autograder.classrun.dask_security`). What a worker sends back is data, never
code: the task returns JSON text (:mod:`autograder.classrun.task_result`), which the coordinator's
client accepts only msgpack-encoded (``deserializers=["msgpack"]``, Dask's switch: a pickled
result is refused), and checks against the result's schema before anything is recorded; a result
that is not a valid one fails its submission as ``invalid result``. The client neither unpickles
the type Dask reports for a result nor a task's exception, nor takes warnings from workers.
"""
import logging
import pickletools
import queue
import threading
import time
import uuid
from pathlib import Path
from typing import Optional

from distributed import Client

from . import dask_security, status, task_result
from .executor_api import TASK_TIMEOUT, Executor, Task, lost

CONNECT_TIMEOUT = 30.0     # seconds to reach the scheduler at start
DEADLINE_POLL = 2.0        # seconds between looks at which tasks are running (for task_timeout)
INVALID = status.INVALID_RESULT

_one_at_a_time = threading.Lock()


def run_task(snapshot: dict, student: str, files: dict, seeds: Optional[list]) -> str:
    """What a Dask worker runs: :func:`autograder.classrun.task.grade`, one task per worker process at a
    time whatever ``--nthreads`` says (grading starts kernels and sandboxes; one at a time per
    process is what the local executor does too); its result as JSON text."""
    with _one_at_a_time:
        from . import task
        result = task.grade(snapshot, student, files, seeds)
        try:
            return task_result.dumps(result)
        except (TypeError, ValueError) as exc:  # e.g. a NaN score: still an answer, not an exception
            return task_result.dumps({
                **status.Status.failed(status.GRADING_ERROR, f"the result is not JSON: {exc}"[:2000]).to_json(),
                "log": [], "traceback": "", "student": student, "seconds": result.get("seconds") or 0.0})


class WorkerDied(Exception):
    """The task's workers died (Dask's ``KilledWorker``, recognised without unpickling it)."""


class TaskRaised(Exception):
    """The task raised on its worker (the exception is not unpickled: see the worker's log)."""


class PlainDataClient(Client):
    """Dask's client, minus what would unpickle bytes a worker chose: the type Dask reports with a
    result, a task's exception (read with :mod:`pickletools`, which loads nothing) and the
    events workers log ("warn" ones are unpickled)."""

    async def _handle_event(self, topic, event):
        pass

    def _handle_key_in_memory(self, key=None, type=None, workers=None):
        super()._handle_key_in_memory(key=key, type=None, workers=workers)

    def _handle_task_erred(self, key=None, exception=None, traceback=None):
        died = isinstance(exception, (bytes, bytearray)) and \
            _first_global(exception) == ("distributed.scheduler", "KilledWorker")
        super()._handle_task_erred(key=key, exception=WorkerDied() if died else TaskRaised(), traceback=None)


def _first_global(data: bytes) -> tuple:
    """The first ``(module, name)`` the pickle ``data`` would import (the class of a pickled
    exception); nothing is loaded."""
    strings = []
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name == "GLOBAL":
                return tuple(arg.split(" ", 1))
            if op.name == "STACK_GLOBAL":
                return tuple(strings[-2:])
            if isinstance(arg, str):
                strings.append(arg)
    except Exception:  # noqa: BLE001 - not a pickle: no class
        pass
    return ()


def _executing(dask_worker) -> list:
    """Run on each worker by the coordinator: the keys of the tasks it is executing now."""
    return [state.key for state in dask_worker.state.executing]


def _keep(snapshot: dict) -> dict:
    return snapshot


class SchedulerLost(RuntimeError):
    """The connection to the Dask scheduler is gone; the run cannot go on (the ``grade`` command
    still writes every report, listing the submissions it did not grade, and exits with status 2)."""


class DaskExecutor(Executor):
    """Tasks on the Dask cluster whose scheduler is at ``address`` (``tls://HOST:8786``), reached with
    the certificates in ``certs``; :class:`dask_security.Refused` for an address it must not use."""

    def __init__(self, address: str, task_timeout: float = TASK_TIMEOUT,
                 connect_timeout: float = CONNECT_TIMEOUT, certs: Path = dask_security.DEFAULT_DIR,
                 insecure_loopback: bool = False):
        security = dask_security.client_security(address, certs, insecure_loopback)
        self.address = address
        self.task_timeout = task_timeout
        try:
            self._client = PlainDataClient(address, security=security, timeout=connect_timeout,
                                           set_as_default=False, deserializers=["msgpack"])
        except (OSError, TimeoutError) as exc:
            raise SchedulerLost(f"cannot reach the Dask scheduler at {address}: {exc}") from exc
        workers = len(self._client.scheduler_info().get("workers", {}))
        self.description = f"Dask scheduler {address} ({workers} worker process(es) now)"
        self._snapshot = None
        self._running = {}        # future key -> (task, future, started or None)
        self._done = queue.Queue()
        self._cancelled = set()   # keys this executor gave up on (deadline, close)
        self._next_poll = 0.0
        self._lost = None         # why the run cannot go on (the scheduler is gone)

    def start(self, snapshot: dict) -> None:
        # A task, not a scatter: if every worker holding it dies, the scheduler rebuilds it.
        self._snapshot = self._client.submit(_keep, snapshot, key=f"snapshot-{uuid.uuid4().hex}")

    def submit(self, task: Task) -> None:
        future = self._client.submit(run_task, self._snapshot, task.student, task.files, task.seeds,
                                     key=f"grade-{task.student}-{uuid.uuid4().hex[:12]}", pure=False)
        self._running[future.key] = (task, future, None)
        future.add_done_callback(self._done.put)

    def results(self, timeout: Optional[float] = None) -> list:
        if self._lost:
            raise SchedulerLost(self._lost)
        finished = []
        wait_until = None if timeout is None else time.monotonic() + timeout
        while True:
            self._enforce_deadlines()
            step = DEADLINE_POLL if self.task_timeout else None
            if wait_until is not None:
                step = max(0.0, wait_until - time.monotonic() if step is None
                           else min(step, wait_until - time.monotonic()))
            try:
                futures = [self._done.get(timeout=step)]
                while not self._done.empty():
                    futures.append(self._done.get_nowait())
            except queue.Empty:
                futures = []
            for future in futures:
                entry = self._running.pop(future.key, None)
                if entry is not None:
                    result = self._result(entry[0], future)
                    if result is not None:
                        finished.append((entry[0], result))
            if self._lost and not finished:
                raise SchedulerLost(self._lost)
            if finished or (wait_until is not None and time.monotonic() >= wait_until):
                return finished

    def _result(self, task: Task, future) -> Optional[dict]:
        """The task's result, checked; None (and the run stopped) when the scheduler was lost."""
        if future.status == "finished":
            try:
                return task_result.loads(future.result(), task.student)
            except (OSError, TimeoutError):  # the scheduler went away before the result came back
                return self._scheduler_lost()
            except task_result.Invalid as exc:
                return lost(task, INVALID, f"the Dask worker's result was refused: {exc}")
            except (TypeError, ValueError) as exc:  # not msgpack data (a pickle): refused unread
                return lost(task, INVALID, f"the Dask worker's result was refused: {type(exc).__name__}: "
                                           f"{str(exc)[:300]}")
        if future.key in self._cancelled:
            return lost(task, status.TIMED_OUT, f"grading took longer than {self.task_timeout:g} s; "
                                           "its Dask worker was restarted")
        if future.cancelled():  # not by us: the client lost its scheduler
            return self._scheduler_lost()
        if isinstance(future.exception(), WorkerDied):
            return lost(task, status.PROCESS_DIED, "grading this submission killed Dask workers "
                                                      "(distributed.scheduler.allowed-failures + 1)")
        return lost(task, status.GRADING_ERROR, "the grading task raised on its Dask worker (see that worker's log)")

    def _scheduler_lost(self) -> None:
        """Stop the run: the scheduler is gone (:class:`SchedulerLost` says so)."""
        self._lost = (f"lost the Dask scheduler at {self.address}; the submissions graded so far "
                      "are recorded: run the same command again, with the scheduler and workers "
                      "running, to grade the rest")

    def _enforce_deadlines(self) -> None:
        """Tasks running past ``task_timeout``: cancelled and their workers restarted (the
        clock starts when a worker is first seen executing the task)."""
        now = time.monotonic()
        if not self.task_timeout or now < self._next_poll or not self._running or self._lost:
            return
        self._next_poll = now + DEADLINE_POLL
        try:
            executing = self._client.run(_executing, on_error="ignore")
        except Exception:  # noqa: BLE001 - scheduler unreachable: the futures will say so
            return
        overdue, stuck_workers = [], set()
        for worker, keys in executing.items():
            for key in keys:
                if key not in self._running:
                    continue
                task, future, started = self._running[key]
                if started is None:
                    self._running[key] = (task, future, now)
                elif now - started > self.task_timeout:
                    overdue.append(future)
                    stuck_workers.add(worker)
        for future in overdue:
            self._cancelled.add(future.key)
            future.cancel()
        if stuck_workers:
            self._client.restart_workers(sorted(stuck_workers), raise_for_error=False)

    def in_flight(self) -> int:
        return len(self._running)

    def close(self) -> None:
        client, self._client = getattr(self, "_client", None), None
        if client is None:
            return
        if self._lost:  # its attempts to reconnect end in tracebacks that say nothing more
            logging.getLogger("distributed.client").setLevel(logging.CRITICAL)
        try:
            if client.status == "running":
                client.cancel([future for _, future, _ in self._running.values()], force=True)
        finally:
            self._running.clear()
            client.close(timeout=10)
