"""``python -m autograder grade ASSIGNMENT``: autograde a whole class in parallel with nbgrader.

Every submission in ``submitted/`` is graded by nbgrader's own ``Autograde`` converter, with the
course's configuration, into the same gradebook and ``autograded/`` folder as ``nbgrader
autograde ASSIGNMENT`` would. The work is spread over worker processes (two per core by default,
:mod:`autograder.grade_worker`); each pays nbgrader's imports once and then takes the next
student from the queue. The parent only hands out students, watches the clock, and writes:

- a progress bar (plain lines when stderr is not a terminal) and a table per student and step;
- ``exports/grades.csv``: ``nbgrader export``'s CSV plus a ``status`` column (no plain 0.0 for a
  submission whose grading failed: its score cells are empty);
- ``exports/grading_report.json``: per student the status, the reason if it failed, the per-cell
  scores and the messages of the failed checks (see :mod:`autograder.report`).

Exit status: 0 when every submission was graded (or skipped as already graded), 1 when any
failed, 2 when nothing could be graded (no assignment in the gradebook, no submissions).
"""
import argparse
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

from . import report
from .progress import Progress

DEFAULT_TIMEOUT = 600.0   # seconds one submission may take before its worker is stopped
PLACEHOLDER = "@@STUDENT@@"


WORKERS_PER_CORE = 2  # a submission waits on kernel start-up and shutdown about half the time


def default_workers() -> int:
    """Two per core: with one per core the cores idle ~60% of the time (see bench/README.md)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores) * WORKERS_PER_CORE


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("assignment", help="assignment id, e.g. reproducibility")
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help="grading processes (default: two per core, here %(default)s)")
    parser.add_argument("--student", action="append", default=[], metavar="ID",
                        help="grade only this student (repeatable); default: every submission")
    parser.add_argument("--force", action="store_true",
                        help="regrade submissions that are already autograded")
    parser.add_argument("--course", type=Path, default=Path.cwd(),
                        help="course root (default: the current directory)")
    parser.add_argument("--csv", type=Path, default=Path("exports/grades.csv"),
                        help="grades CSV, relative to the course root (default: %(default)s)")
    parser.add_argument("--report", type=Path, default=Path("exports/grading_report.json"),
                        help="JSON report, relative to the course root (default: %(default)s)")
    parser.add_argument("--log", type=Path, default=Path("exports/grade.log"),
                        help="the workers' own output (nbgrader, kernels), relative to the course root")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help="seconds one submission may take before its worker is stopped "
                             "(default: %(default)s)")


class WorkerProcess:
    """One ``autograder.grade_worker`` process and its two private pipes."""

    def __init__(self, course: Path, assignment: str, force: bool, log):
        cmd_r, self._cmd_w = os.pipe()
        self.fd, res_w = os.pipe()
        env = dict(os.environ)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # alembic
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "autograder.grade_worker", assignment, str(cmd_r), str(res_w)]
            + (["--force"] if force else []),
            cwd=course, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            pass_fds=(cmd_r, res_w), start_new_session=True)
        os.close(cmd_r)
        os.close(res_w)
        self._buffer = b""
        self.ready = False
        self.task = None        # ("check" | "grade" | "collect", student or None)
        self.deadline = None

    def send(self, message: dict, deadline=None) -> None:
        os.write(self._cmd_w, (json.dumps(message) + "\n").encode())
        self.deadline = deadline

    def read(self):
        """Complete messages now available, or None at end of file (the worker is gone)."""
        chunk = os.read(self.fd, 1 << 16)
        if not chunk:
            return None
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        return [json.loads(line) for line in lines if line.strip()]

    def exit_text(self) -> str:
        code = self.proc.wait()
        if code < 0:
            return "killed by signal %s" % signal.Signals(-code).name
        return "exited with status %d" % code

    def stop(self, kill: bool = False) -> None:
        if kill:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        else:
            try:
                self.send({"do": "quit"})
            except OSError:
                pass
        for fd in (self._cmd_w, self.fd):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


class Fatal(Exception):
    pass


class ClassGrader:
    """Hands the class out to the workers and gathers what comes back."""

    def __init__(self, args, progress_stream=None):
        self.args = args
        self.course = args.course.resolve()
        self.stream = progress_stream or sys.stderr
        self.workers = []
        self.selector = selectors.DefaultSelector()
        self.pending = deque()
        self.results = {}      # student -> worker result (or a synthesized crash)
        self.statuses = {}     # student -> report.classify(...)
        self.check = None      # the worker's answer to "check"
        self.collected = None
        self.restarts = 0
        self.progress = None

    # -- workers ---------------------------------------------------------------------------
    def start_worker(self) -> None:
        worker = WorkerProcess(self.course, self.args.assignment, self.args.force, self.log)
        self.selector.register(worker.fd, selectors.EVENT_READ, worker)
        self.workers.append(worker)

    def retire(self, worker: WorkerProcess, kill: bool) -> None:
        self.selector.unregister(worker.fd)
        self.workers.remove(worker)
        worker.stop(kill=kill)

    # -- the run -----------------------------------------------------------------------------
    def run(self) -> dict:
        log_path = self.course / self.args.log
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log = open(log_path, "w", encoding="utf-8")
        started = time.monotonic()
        clean = False
        try:
            guess = self.args.student or [p.parent.name for p in self.course.glob(f"submitted/*/{self.args.assignment}")]
            for _ in range(max(1, min(self.args.workers, len(guess) or 1))):
                self.start_worker()
            self.loop()
            self.collect()
            clean = True
        finally:
            for worker in list(self.workers):
                self.retire(worker, kill=not clean)
            self.log.close()
        return self.finish(time.monotonic() - started)

    def loop(self) -> None:
        while self.workers:
            if self.check is not None and not self.pending and not any(w.task for w in self.workers):
                return
            self.dispatch()
            now = time.monotonic()
            deadlines = [w.deadline for w in self.workers if w.deadline is not None]
            wait = max(0.0, min(deadlines) - now) if deadlines else None
            for key, _ in self.selector.select(timeout=wait):
                worker = key.data
                messages = worker.read()
                if messages is None:
                    self.lost(worker, "the grading process " + worker.exit_text())
                    continue
                for message in messages:
                    self.receive(worker, message)
            now = time.monotonic()
            for worker in list(self.workers):
                if worker.deadline is not None and now > worker.deadline:
                    self.lost(worker, None)
        if self.check is None:
            raise Fatal("no grading process could start; see %s" % (self.course / self.args.log))

    def dispatch(self) -> None:
        for worker in self.workers:
            if not worker.ready or worker.task is not None:
                continue
            if self.check is None:
                if not any(w.task and w.task[0] == "check" for w in self.workers):
                    worker.task = ("check", None)
                    worker.send({"do": "check"}, deadline=time.monotonic() + 120)
                continue
            if self.pending:
                student = self.pending.popleft()
                worker.task = ("grade", student)
                worker.send({"do": "grade", "student": student}, deadline=time.monotonic() + self.args.timeout)

    def receive(self, worker: WorkerProcess, message: dict) -> None:
        if "fatal" in message:
            raise Fatal(message["fatal"])
        if message.get("ready"):
            worker.ready = True
            return
        kind, student = worker.task
        worker.task, worker.deadline = None, None
        if kind == "check":
            self.check = message
            students = self.args.student or message["students"]
            if not students:
                raise Fatal(f"no submissions of {self.args.assignment!r} in "
                            f"{self.course / 'submitted'}")
            self.pending.extend(dict.fromkeys(students))
            self.progress = Progress(len(self.pending), self.stream)
            self.progress.note(f"Grading {len(self.pending)} submission(s) of {self.args.assignment} "
                               f"with {len(self.workers)} worker(s) ...")
            wanted = min(self.args.workers, len(self.pending))
            while len(self.workers) < wanted:
                self.start_worker()
        elif kind == "grade":
            self.record(student, message)
        elif kind == "collect":
            self.collected = message

    def lost(self, worker: WorkerProcess, why) -> None:
        """A worker died or overran its deadline: fail its submission, replace the worker."""
        task = worker.task
        if why is None:
            limit = self.args.timeout if task and task[0] == "grade" else 120
            crash, detail = "timed out", f"grading took longer than {limit:g} s; the grading process was stopped"
        else:
            crash, detail = "grading process died", why
        self.retire(worker, kill=True)
        if task is not None and task[0] != "grade" or not worker.ready:
            raise Fatal(f"a grading process failed ({detail}); see {self.course / self.args.log}")
        if task is not None:
            student = task[1]
            self.remove_partial(student)
            self.record(student, {"student": student, "crash": crash, "detail": detail, "ok": False, "log": []})
        if self.pending and self.restarts < 2 * max(1, self.args.workers):
            self.restarts += 1
            self.start_worker()
        elif self.pending and not self.workers:
            for other in list(self.pending):
                self.record(other, {"student": other, "crash": "grading process died",
                                    "detail": "no grading process left", "ok": False, "log": []})
            self.pending.clear()

    def remove_partial(self, student: str) -> None:
        """As nbgrader does for a failed submission: drop what was autograded of it."""
        pattern = self.check.get("autograded") if self.check else None
        if pattern:
            shutil.rmtree(pattern.replace(PLACEHOLDER, student), ignore_errors=True)

    def record(self, student: str, result: dict) -> None:
        status = report.classify(result, self.check["notebooks"])
        self.results[student], self.statuses[student] = result, status
        text = status["status"] + (f": {status['reason']}" if status["reason"] else "")
        self.progress.update(student, text, result.get("seconds"))

    def collect(self) -> None:
        """Scores from the gradebook and nbgrader's CSV, read by a worker (nbgrader is loaded there)."""
        if self.progress:
            self.progress.finish()
        worker = next((w for w in self.workers if w.ready), None)
        if worker is None:
            self.start_worker()
            worker = self.workers[-1]
            while not worker.ready:
                self.wait_for(worker)
        self.nbgrader_csv = self.course / self.args.csv.with_name(self.args.csv.name + ".nbgrader")
        self.nbgrader_csv.parent.mkdir(parents=True, exist_ok=True)
        worker.task = ("collect", None)
        worker.send({"do": "collect", "csv": str(self.nbgrader_csv)}, deadline=time.monotonic() + 300)
        while self.collected is None:
            self.wait_for(worker)

    def wait_for(self, worker: WorkerProcess) -> None:
        if not self.selector.select(timeout=max(0.0, (worker.deadline or time.monotonic() + 300) - time.monotonic())):
            raise Fatal("reading the gradebook timed out")
        messages = worker.read()
        if messages is None:
            raise Fatal("the grading process " + worker.exit_text() + " while reading the gradebook")
        for message in messages:
            self.receive(worker, message)

    def finish(self, seconds: float) -> dict:
        scores = self.collected["scores"]
        autograded = self.check.get("autograded", "")
        students = {}
        for student in self.results:
            status = self.statuses[student]
            messages = (report.check_messages(Path(autograded.replace(PLACEHOLDER, student)),
                                              self.check["notebooks"])
                        if status["scores_recorded"] else {})
            students[student] = report.student_entry(status, scores.get(student, {}), messages,
                                                     self.results[student])
        students = dict(sorted(students.items()))
        counts = {s: sum(e["status"] == s for e in students.values())
                  for s in (report.GRADED, report.SKIPPED, report.FAILED)}
        data = {"assignment": self.args.assignment, "course": str(self.course),
                "workers": self.args.workers, "seconds": round(seconds, 2), "summary": counts,
                "students": students}
        report.write_json(self.course / self.args.report, data)
        report.write_csv(self.nbgrader_csv, self.course / self.args.csv, self.args.assignment, students)
        self.nbgrader_csv.unlink(missing_ok=True)
        return data


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder grade", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


def run(args) -> int:
    if args.workers < 1:
        print("--workers must be at least 1", file=sys.stderr)
        return 2
    grader = ClassGrader(args)
    try:
        data = grader.run()
    except Fatal as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; grading stopped", file=sys.stderr)
        return 130
    print(report.format_table(data["students"]))
    counts = data["summary"]
    course = grader.course
    print(f"\n{counts['graded']} graded, {counts['skipped']} skipped, {counts['failed']} failed "
          f"in {data['seconds']:.1f} s with {args.workers} worker(s)")
    print(f"grades CSV: {_shown(course / args.csv)}\nreport: {_shown(course / args.report)}")
    return 1 if counts["failed"] else 0


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
