"""``python -m autograder grade ASSIGNMENT``: autograde a whole class with nbgrader, in parallel.

The coordinator (this module) is the only writer of the gradebook, ``autograded/`` and
``exports/``. For each folder in ``submitted/`` it:

1. runs intake (:mod:`autograder.classrun.intake`): a submission breaking a rule fails with
   ``intake: <rule>`` and nothing of it is copied;
2. skips it when ``autograded/<student>/<assignment>/`` already holds the result for the same
   submission and grader (hashes in :data:`STATE`), unless ``--force``;
3. sends the rest as grading tasks (:mod:`autograder.classrun.task`: nbgrader's own ``Autograde`` in a
   temporary course) to an executor (:mod:`autograder.classrun.executors`: local worker processes, or Dask
   with ``--scheduler``);
4. replays each result into the gradebook with nbgrader's API, marks a failed submission there
   (:mod:`autograder.classrun.gradebook`), and installs its autograded folder (with the receipt) by one
   rename, so a run killed at any moment leaves no half-graded folder and the next run regrades
   exactly what is missing.

It always ends with a table, ``exports/grades.csv`` (``nbgrader export``'s CSV plus a ``status``
column), ``exports/grading_report.json`` (:mod:`autograder.classrun.report`) and ``exports/grade.log``
(what the grading of each student logged, one escaped line per record): after an error in any
one submission, and after Ctrl-C (students not reached are ``not graded: interrupted``).

Exit status: 0 every submission graded or skipped, 1 some failed, 2 nothing could be graded (no
assignment in the gradebook, no submissions), 130 interrupted.
"""
import argparse
import contextlib
import dataclasses
import gc
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

from ..notebook import assignments
from . import dask_security, executors, intake, report
from . import status as statuses
from .progress import Progress
from .status import Status

STATE = ".grading-key.json"     # in an autograded folder: the student, submission and grader hashes
WORKERS_PER_CORE = 1            # grading is CPU-bound (no kernel to wait on): more only compete


def default_workers() -> int:
    """One per core: with no kernel to wait on, more workers only compete (bench/README.md)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores) * WORKERS_PER_CORE


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("assignment", help="the assignment: a folder of source/ with a *.grading.json")
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help="local grading processes (default: one per core, here %(default)s)")
    parser.add_argument("--scheduler", metavar="tls://HOST:PORT",
                        help="grade on a Dask distributed scheduler's workers instead (mutual TLS: "
                             "docs/grading.md)")
    parser.add_argument("--dask-certs", type=Path, default=dask_security.DEFAULT_DIR, metavar="DIR",
                        help="with --scheduler: the folder `python -m autograder dask-certs` wrote "
                             "(default: %(default)s)")
    parser.add_argument("--insecure-loopback", action="store_true",
                        help="with --scheduler: accept a plain tcp:// scheduler on a loopback address "
                             "(a trial on one machine; every local user can use such a cluster)")
    parser.add_argument("--student", action="append", default=[], metavar="ID",
                        help="grade only this student (repeatable); default: every submission")
    parser.add_argument("--force", action="store_true",
                        help="regrade submissions that are already autograded")
    parser.add_argument("--course", type=Path, default=Path.cwd(),
                        help="course root (default: the current directory)")
    parser.add_argument("--csv", type=Path, default=None,
                        help="grades CSV, relative to the course root (default: exports/ASSIGNMENT/grades.csv)")
    parser.add_argument("--report", type=Path, default=None,
                        help="JSON report, relative to the course root (default: "
                             "exports/ASSIGNMENT/grading_report.json)")
    parser.add_argument("--log", type=Path, default=None,
                        help="what the grading of each student logged, relative to the course root "
                             "(default: exports/ASSIGNMENT/grade.log)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds one submission may take before its grading is stopped "
                             "(default: the course's c.GradingLimits.submission_seconds, by default "
                             f"{executors.TASK_TIMEOUT:g})")
    parser.add_argument("--intake", action="append", default=[], metavar="NAME=VALUE",
                        help="an intake limit for this run (repeatable; the course's are "
                             "c.GradingLimits.intake_NAME): " + ", ".join(
                            f"{k}={v}" for k, v in intake.Limits().__dict__.items()))


class Fatal(Exception):
    pass


class ClassRun:
    """One grading run of a class: intake, tasks, recording, reports."""

    def __init__(self, args, progress_stream=None):
        self.args = args
        self.course = args.course.resolve()
        self.assignment = args.assignment
        self.stream = progress_stream or sys.stderr
        self.limits = intake.Limits.parse(args.intake)
        self.entries = {}          # shown student id -> report entry
        self.order = []            # every student of this run, shown ids
        self.logs = []             # lines for grade.log
        self.progress = None
        self.executor_text = ""
        self.unsandboxed = []      # students whose grading ran without the sandbox (their receipts)
        self._gradebook = None     # the course gradebook, open while results are recorded

    # -- setting up ------------------------------------------------------------------------
    def prepare(self) -> None:
        from nbgrader.api import MissingEntry

        from . import database, task
        try:
            self.app = task.course_app(self.course, self.assignment)
        except Exception as exc:  # noqa: BLE001 - whatever the course's nbgrader_config.py raised
            raise Fatal(f"the course's {task.CONFIG} cannot be loaded, nothing was graded: "
                        f"{type(exc).__name__}: {exc}") from None
        coursedir = self.app.coursedir
        if coursedir.directory_structure != "{nbgrader_step}/{student_id}/{assignment_id}":
            raise Fatal(f"unsupported CourseDirectory.directory_structure {coursedir.directory_structure!r}")
        self.db_url, self.course_id = coursedir.db_url, coursedir.course_id
        checked(Path(coursedir.root, coursedir.source_directory), self.assignment)
        from ..notebook.limits import GradingLimits, RenamedLimit
        try:
            self.grading = GradingLimits(config=self.app.config)
        except RenamedLimit as exc:
            raise Fatal(str(exc)) from None
        self.limits = intake.Limits.parse(self.args.intake, base=intake.Limits(**self.grading.intake()))
        if self.args.timeout is None:
            self.args.timeout = self.grading.submission_seconds
        # This run's --timeout and --intake values go to the workers as the limits in force, so
        # that every receipt records what was applied.
        overrides = {f"intake_{name}": value for name, value in dataclasses.asdict(self.limits).items()
                     if value != getattr(self.grading, f"intake_{name}")}
        if self.args.timeout != self.grading.submission_seconds:
            overrides["submission_seconds"] = float(self.args.timeout)
        database.prepare(self.db_url, self.course_id)
        try:
            self.snapshot = task.snapshot(self.course, self.assignment, self.app, overrides)
        except MissingEntry:
            raise Fatal(self.unknown_assignment(database.shown(self.db_url))) from None
        self.submitted = Path(coursedir.root, coursedir.submitted_directory)
        self.autograded = Path(coursedir.root, coursedir.autograded_directory)
        self.excluded = set(filter(None, coursedir.student_id_exclude.split(",")))

    def unknown_assignment(self, db: str) -> str:
        """What to do about an assignment the gradebook ``db`` does not hold: release it, if
        ``source/`` has it; else the closest name the gradebook or ``source/`` knows."""
        import difflib

        from nbgrader.api import Gradebook
        coursedir = self.app.coursedir
        if Path(coursedir.root, coursedir.source_directory, self.assignment).is_dir():
            return (f"No assignment {self.assignment!r} in the gradebook ({db}); release it first: "
                    f"`nbgrader generate_assignment {self.assignment}`.")
        with Gradebook(self.db_url, self.course_id) as gb:
            known = {a.name for a in gb.assignments}
        source = Path(coursedir.root, coursedir.source_directory)
        known |= {p.name for p in source.iterdir() if p.is_dir()} if source.is_dir() else set()
        close = difflib.get_close_matches(self.assignment, sorted(known), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return (f"No assignment {self.assignment!r} in the gradebook ({db}) or in {coursedir.source_directory}/: "
                f"{hint}(known: {', '.join(sorted(known)) or 'none'})")

    def folder(self, student: str) -> Path:
        return self.autograded / student / self.assignment

    def take_in(self) -> list:
        """Intake of every submission (or of ``--student``'s): the tasks to run."""
        from . import task
        found = [(raw, shown) for raw, shown in intake.list_submissions(self.submitted, self.assignment)
                 if shown not in self.excluded]
        if self.args.student:
            wanted = list(dict.fromkeys(self.args.student))
            present = {shown for _, shown in found}
            found = [item for item in found if item[1] in wanted]
            for student in wanted:
                if student not in present:
                    self.order.append(student)
                    self.entries[student] = self.entry(student, Status.failed(
                        statuses.NOTEBOOK_MISSING, "no submission folder"), {})
        if not found and not self.entries:
            raise Fatal(f"no submissions of {self.assignment!r} in {self.submitted}")
        tasks = []
        for raw, shown in found:
            self.order.append(shown)
            submission = intake.read(self.submitted, raw, self.assignment, self.limits)
            if not submission.ok:
                self.record(shown, dict(Status.failed(statuses.intake(submission.rule), submission.detail).to_json(),
                                        lost=True, log=[]), valid_id=submission.rule != "student id")
                continue
            key = {"student": shown, "submission": task.files_hash(submission.files),
                   "grader": self.snapshot["grader"]}
            if not self.args.force and self.already_graded(shown, key):
                continue
            tasks.append((executors.Task(shown, submission.files), key))
        return tasks

    def already_graded(self, student: str, key: dict) -> bool:
        """True (and a ``skipped`` entry) when the installed result matches ``key``."""
        from nbgrader.api import Gradebook

        from .gradebook import student_scores
        try:
            state = json.loads((self.folder(student) / STATE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        if state.get("key") != key:
            return False
        with Gradebook(self.db_url, self.course_id) as gb:
            scores = student_scores(gb, self.assignment, student)
        if scores is None:
            return False
        try:
            status = Status.from_json(state["status"])
        except (KeyError, TypeError, ValueError):  # no status recorded: grade it again
            return False
        if status.state is statuses.GRADED:
            status = Status.skipped()
        messages = report.check_messages(self.folder(student), self.snapshot["notebooks"])
        self.entries[student] = report.student_entry(status, scores, messages, {"log": []})
        return True

    # -- the run -----------------------------------------------------------------------------
    def run(self) -> dict:
        started = time.monotonic()
        interrupted, error = False, None
        try:
            self.prepare()
            sweep(self.autograded, self.assignment)
            tasks = self.take_in()
            self.progress = Progress(len(self.order), self.stream)
            for student in self.order:
                if student in self.entries:
                    self.show(student)
            if tasks:
                self.execute(tasks)
        except KeyboardInterrupt:
            interrupted = True
        except Fatal:
            raise
        except Exception as exc:  # noqa: BLE001 - still write every report, then say why
            error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            self.logs.append(f"ERROR the run stopped: {_escape(traceback.format_exc())}")
        finally:
            self.close_gradebook()
            if self.progress:
                self.progress.finish()
        for student in self.order:
            if student not in self.entries:
                self.entries[student] = self.entry(student, Status.not_graded(
                    statuses.INTERRUPTED if interrupted else statuses.RUN_STOPPED,
                    "the run stopped before this submission was graded" + (f": {error}" if error else "")), {})
        data = self.write_reports(time.monotonic() - started)
        data["interrupted"], data["error"] = interrupted, error
        return data

    def execute(self, tasks: list) -> None:
        keys = {t.student: key for t, key in tasks}
        if not self.args.scheduler:  # local workers: this machine's sandbox, said before they start
            from ..notebook.sandbox import modes
            modes.warn_if_unsandboxed()
        with executors.make(self.args, log=self.logs.append) as executor:
            self.executor_text = executor.description
            self.progress.note(f"Grading {len(tasks)} submission(s) of {self.assignment} with "
                               f"{executor.description} ...")
            executor.start(self.snapshot)
            for t, _ in tasks:
                executor.submit(t)
            while executor.in_flight():
                self.record_all([(t.student, result, keys[t.student]) for t, result in executor.results()])

    def record_all(self, done: list) -> None:
        """Record ``done``, finished ``(student, result, key)`` triples, with one gradebook
        commit for them all, then install their folders (so a run killed at any moment leaves
        at most folders the next run regrades). If writing them together fails, each is
        recorded again on its own, so that an error costs only its submission."""
        if len(done) < 2:
            for student, result, key in done:
                self.record(student, result, key)
            return
        try:
            with gc_paused():  # the batch's objects, cycles all, are let go before it resumes
                scores = self.write_batch(done)
        except Exception:  # noqa: BLE001 - recorded one by one below, each error its own
            for student, result, key in done:
                self.record(student, result, key)
            return
        for (student, result, key), found in zip(done, scores):
            self.note(student, result)
            try:
                entry = self.install_folder(student, result, key, found)
            except Exception as exc:  # noqa: BLE001 - one submission, never the run
                entry = self.recording_error(student, result, exc)
            self.entries[student] = entry
            self.show(student)

    def write_batch(self, done: list) -> list:
        """Write the rows of ``done`` in one transaction; the scores of each, in order."""
        from .gradebook import one_transaction, scores_of
        students = [student for student, _, _ in done]
        with one_transaction(self.gradebook(), self.assignment, students) as gb:
            for student, result, _ in done:
                self.write_rows(gb, student, result)
            found = scores_of(gb, self.assignment, students)
        return [found.get(student, {}) for student in students]

    def record(self, student: str, result: dict, key: dict = None, valid_id: bool = True) -> None:
        """Write one result into the course; any error here fails this submission only."""
        try:
            entry = self.install(student, result, key, valid_id)
        except Exception as exc:  # noqa: BLE001 - one submission, never the run
            entry = self.recording_error(student, result, exc)
        self.entries[student] = entry
        self.show(student)

    def recording_error(self, student: str, result: dict, exc: Exception) -> dict:
        self.logs.append(f"{_escape(student)}: ERROR recording the result: {traceback.format_exc()}")
        return self.entry(student, Status.failed(statuses.RECORDING_ERROR,
                                                 "".join(traceback.format_exception_only(type(exc), exc)).strip()),
                          result)

    def gradebook(self):
        """The course gradebook, opened once for the run's recording (:meth:`close_gradebook`)."""
        if self._gradebook is None:
            from nbgrader.api import Gradebook
            self._gradebook = Gradebook(self.db_url, self.course_id)
        return self._gradebook

    def close_gradebook(self) -> None:
        if self._gradebook is not None:
            self._gradebook.close()
            self._gradebook = None

    def install(self, student: str, result: dict, key, valid_id: bool) -> dict:
        self.note(student, result)
        if not valid_id:
            return self.entry(student, Status.from_json(result), result)
        from . import gradebook
        from .gradebook import one_transaction
        with one_transaction(self.gradebook(), self.assignment, [student]) as gb:
            self.write_rows(gb, student, result)
            scores = gradebook.student_scores(gb, self.assignment, student) or {}
        return self.install_folder(student, result, key, scores)

    def note(self, student: str, result: dict) -> None:
        """What the grading of ``student`` logged, and whether it ran unsandboxed, into the run's log."""
        for record in result.get("log", []):
            self.logs.append(f"{_escape(student)}: {record.get('level')} {_escape(str(record.get('message')))}")
        if (result.get("receipt") or {}).get("limits", {}).get("sandbox") == "none":
            self.unsandboxed.append(student)
            self.logs.append(f"WARNING {_escape(student)}: graded UNSANDBOXED (the receipt's sandbox is none)")

    def write_rows(self, gb, student: str, result: dict) -> None:
        """Write one result's rows into the gradebook's session (the caller commits)."""
        from . import gradebook
        status = Status.from_json(result)
        if not result.get("lost"):
            gradebook.replay(gb, self.assignment, student, result.get("gradebook"))
        if status.failing:
            gradebook.mark_failed(gb, self.assignment, student, status.reason, status.detail,
                                  recorded=status.scores_recorded)

    def install_folder(self, student: str, result: dict, key, scores: dict) -> dict:
        """Install (or remove) ``student``'s autograded folder, once its rows are committed; the entry."""
        status = Status.from_json(result)
        folder = self.folder(student)
        if status.scores_recorded and result.get("autograded"):
            install_folder(folder, result["autograded"], {"key": key, "status": status.to_json()},
                           result.get("receipt"))
        else:
            remove_folder(folder)
        messages = {name: cell.get("messages", []) for name, cell in (result.get("cells") or {}).items()}
        return report.student_entry(status, scores, messages, result)

    def entry(self, student, status, result) -> dict:
        return report.student_entry(status, {}, {}, result)

    def show(self, student: str) -> None:
        if self.progress is None:  # intake, before the progress bar: shown when it starts
            return
        entry = self.entries[student]
        text = entry["status"] + (f": {entry['reason']}" if entry["reason"] else "")
        self.progress.update(student, text, entry.get("seconds"))

    # -- reports -----------------------------------------------------------------------------
    def write_reports(self, seconds: float) -> dict:
        """The JSON report, the grades CSV and the log: every student of the assignment, this
        run's entries and, for the others, what earlier runs recorded (:meth:`earlier`)."""
        students = dict(sorted({**self.earlier(), **self.entries}.items()))
        counts = {s.value: sum(e["status"] == s.value for e in self.entries.values())
                  for s in statuses.State}
        data = {"assignment": self.assignment,
                "workers": self.args.workers, "executor": self.executor_text,
                "seconds": round(seconds, 2), "summary": counts, "unsandboxed": sorted(self.unsandboxed),
                "intake_limits": self.limits.__dict__, "students": students}
        report.write_json(self.course / self.args.report, data)
        self.write_csv(students)
        log = self.course / self.args.log
        log.parent.mkdir(parents=True, exist_ok=True)
        tmp = log.with_name(log.name + ".tmp")
        tmp.write_text("".join(line.rstrip("\n") + "\n" for line in self.logs), encoding="utf-8")
        os.replace(tmp, log)
        return data

    def earlier(self) -> dict:
        """The entry of each student in the gradebook whom this run did not take up, as earlier
        runs recorded it (marked ``earlier``): the status the autograded folder's state holds;
        without one, failed if the gradebook marks the submission failed, else graded (stock
        ``nbgrader autograde``). So a partial or resumed run's reports and exports tell the
        same story as the full run's."""
        from nbgrader.api import Gradebook

        from . import gradebook
        found = {}
        with Gradebook(self.db_url, self.course_id) as gb:
            for submission in gb.assignment_submissions(self.assignment):
                student = submission.student.id
                if student in self.entries:
                    continue
                try:
                    state = json.loads((self.folder(student) / STATE).read_text(encoding="utf-8"))["status"]
                    status = Status.from_json(state)
                except (OSError, ValueError, KeyError, TypeError):
                    reason = gradebook.failed_reason(submission)
                    status = (Status.failed(reason, "recorded by an earlier run") if reason
                              else Status.graded())
                scores = gradebook.student_scores(gb, self.assignment, student) or {}
                messages = report.check_messages(self.folder(student), self.snapshot["notebooks"]) \
                    if status.scores_recorded else {}
                found[student] = dict(report.student_entry(status, scores, messages, {"log": []}), earlier=True)
        return found

    def write_csv(self, students: dict) -> None:
        path = self.course / self.args.csv
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="autograder-export-") as tmp:
            exported = Path(tmp) / "nbgrader.csv"
            try:
                from nbgrader.api import Gradebook
                from nbgrader.plugins import CsvExportPlugin
                with Gradebook(self.db_url, self.course_id) as gb:
                    plugin = CsvExportPlugin(parent=self.app)
                    plugin.to = str(exported)
                    plugin.export(gb)
            except Exception:  # noqa: BLE001 - the CSV still lists every student with a status
                self.logs.append(f"ERROR exporting the gradebook: {traceback.format_exc()}")
                exported.write_text("assignment,student_id,raw_score,late_submission_penalty,score,max_score\n")
            report.write_csv(exported, path, self.assignment, students)


@contextlib.contextmanager
def gc_paused():
    """Python's cyclic garbage collector paused in this block (as it was after): a batch's
    thousands of new ORM objects would have it walk the growing heap again and again (a fifth
    of recording's CPU, bench/coordinator.py)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _escape(text: str) -> str:
    """One log line: newlines and other control characters escaped."""
    if text.isprintable():  # the common case: nothing to escape (a space is printable)
        return text
    return "".join(ch if ch.isprintable() or ch == " " else repr(ch)[1:-1] for ch in text)


def install_folder(folder: Path, files: dict, state: dict, receipt) -> None:
    """Put ``files`` in ``folder`` all at once: written beside it, then renamed into place."""
    from .task_result import relative_path
    for name in files:  # no "..": inside the fresh folder, which holds no symlink
        relative_path(name, "autograded file")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    for name, data in files.items():
        target = tmp / name
        if "/" in name:
            target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    if receipt is not None:
        from . import receipt as receipts
        receipts.write(tmp, receipt)
    (tmp / STATE).write_text(json.dumps(state, indent=1) + "\n", encoding="utf-8")
    os.chmod(tmp, 0o755)
    old = None
    if folder.exists() or folder.is_symlink():
        old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
        os.rename(folder, old)
    os.rename(tmp, folder)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def remove_folder(folder: Path) -> None:
    """As nbgrader does for a failed submission: no autograded folder."""
    if folder.is_symlink() or folder.is_file():
        folder.unlink()
    elif folder.exists():
        old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
        os.rename(folder, old)
        shutil.rmtree(old, ignore_errors=True)


def sweep(autograded: Path, assignment: str) -> None:
    """Remove what a killed run left half-written (``.ASSIGNMENT.tmp-*``, ``.ASSIGNMENT.old-*``)."""
    try:
        students = list(os.scandir(autograded))
    except OSError:
        return
    for student in students:
        if not student.is_dir(follow_symlinks=False):
            continue
        for leftover in Path(student.path).glob(f".{assignment}.*-*"):
            if leftover.name.startswith((f".{assignment}.tmp-", f".{assignment}.old-")):
                shutil.rmtree(leftover, ignore_errors=True)


def checked(source: Path, assignment: str) -> None:
    """Refuse (:class:`Fatal`) to grade ``assignment`` when a declaration of it is malformed,
    names a cell its notebook lacks, or its derived data is missing or stale: before anything
    is written."""
    from ..notebook import expected
    try:
        for graded in assignments.declared(source, assignment):
            expected.checked(graded)
    except assignments.DeclarationError as error:
        raise Fatal(f"nothing was graded: {error}") from None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder grade", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


def _terminate(signum, frame):
    raise KeyboardInterrupt


def run(args) -> int:
    for option, name in (("csv", "grades.csv"), ("report", "grading_report.json"), ("log", "grade.log")):
        if getattr(args, option) is None:
            setattr(args, option, report.export_path(args.assignment, name))
    if args.workers < 1:
        print("--workers must be at least 1", file=sys.stderr)
        return 2
    try:
        if args.scheduler:  # refused before any submission is read
            dask_security.client_security(args.scheduler, args.dask_certs, args.insecure_loopback)
        grader = ClassRun(args)
    except ValueError as exc:  # dask_security.Refused too
        print(f"error: {exc}", file=sys.stderr)
        return 2
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        data = grader.run()
    except Fatal as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(report.format_table({s: e for s, e in data["students"].items() if not e.get("earlier")},
                              assignments.columns(Path(grader.app.coursedir.root, grader.app.coursedir.source_directory),
                                                  args.assignment)))
    counts = data["summary"]
    course = grader.course
    print(f"\n{counts['graded']} graded, {counts['skipped']} skipped, {counts['failed']} failed"
          + (f", {counts['not graded']} not graded" if counts["not graded"] else "")
          + f" in {data['seconds']:.1f} s with {grader.executor_text or 'no worker'}")
    print(f"grades CSV: {_shown(course / args.csv)}\nreport: {_shown(course / args.report)}")
    if data["unsandboxed"]:
        from ..notebook.sandbox import modes
        modes.warn_loudly(f"{len(data['unsandboxed'])} submission(s) of this run were graded "
                          f"UNSANDBOXED: {', '.join(data['unsandboxed'][:10])}. " + modes.UNSANDBOXED
                          % "their receipts say sandbox: none")
    if data["interrupted"]:
        print("interrupted; the reports list the students not graded", file=sys.stderr)
        return 130
    if data["error"]:
        print(f"error: the run stopped: {data['error']} (see {_shown(course / args.log)})", file=sys.stderr)
        return 2
    return 1 if counts["failed"] else 0


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
