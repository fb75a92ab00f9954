"""Grading on submit: the hub-managed service that grades each submission as it arrives and hands
the feedback back through nbgrader's exchange (docs/hub.md, "Grading on submit").

``python -m autograder.hub.grading_service [--course DIR]`` runs it in the foreground, as the
grader account, in the deployed course (default: the current directory). Every ``poll_seconds``:

1. take in (:mod:`autograder.hub.inbound`): each entry of ``<exchange>/<course>/inbound`` is
   vetted (name, owner, group), renamed into the grader-only staging, its content checked by the
   course's intake and copied; the rest is quarantined; each is journaled
   (:mod:`autograder.hub.attempts`, ``<course_root>/grading/queue.db``);
2. when no grade run is going (or the ones going are down to stragglers: ``straggler_seconds``),
   pick the next batch (the attempt rules of :mod:`~autograder.hub.attempts`), collect each into
   ``submitted/<student>/<assignment>/`` and start ONE ``python -m autograder grade ASSIGNMENT
   --student S ... --force`` for all of them;
3. while it runs, release each student's feedback as soon as their result is installed (the
   course's safe pages, the quiz's withheld until released; ``nbgrader release_feedback``'s own
   exchange code), so a slow batch-mate delays nobody; a student whose grading recorded nothing gets
   a page saying why when the run ends.

A restart (after SIGKILL too) waits for a grade run the old process left (it holds the service's
lock; it is sent SIGTERM when its parent dies), grades again what was ``grading``, releases what
was ``graded``, and admits what was taken but not yet journaled: each submission is graded once.

``python -m autograder.hub.grading_service release-quiz ASSIGNMENT`` (as the grader account)
releases the quiz scores of ASSIGNMENT: the running service re-releases every student's pages with
them within a second. ``c.CourseHub.quiz_release = {ASSIGNMENT: "ISO 8601 time"}`` does the same
at that time.
"""
import argparse
import ctypes
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

from traitlets import Float, Integer
from traitlets.config import Configurable

from ..classrun import intake
from ..classrun.grade import STATE
from ..classrun.report import export_path
from ..course import dashboard, feedback
from ..notebook import assignments
from . import attempts
from .inbound import Door
from .settings import CourseHub, course_config

PR_SET_PDEATHSIG = 1


class GradingService(Configurable):
    """``c.GradingService.<trait>`` in the course's nbgrader_config.py."""

    poll_seconds = Float(1.0, help="Seconds between two looks at the exchange's inbound folder.").tag(config=True)
    batch_size = Integer(40, help="Submissions graded by one `python -m autograder grade` run.").tag(config=True)
    submission_seconds = Float(120.0, help="Seconds one submission may take in a grade run on submit "
                                           "(`grade --timeout`); an endless one fails after it.").tag(config=True)
    straggler_seconds = Float(20.0, help="A grade run going this long with at most `stragglers` "
                                         "submissions left no longer holds the next batch back: "
                                         "that one starts beside it.").tag(config=True)
    stragglers = Integer(2, help="See straggler_seconds.").tag(config=True)
    entries_per_account = Integer(5, help="Inbound entries of one unix account looked at per round; the "
                                          "rest wait for the next round, so one account's flood of "
                                          "submissions delays nobody else.").tag(config=True)
    quarantined_per_account = Integer(10, help="Quarantined entries kept per unix account (the newest; "
                                              "quarantine.log keeps a line for every one).").tag(config=True)
    reclaim_seconds = Float(30.0, help="Seconds between two clean-ups of the grader's copies that no "
                                       "grading will read again.").tag(config=True)
    report_seconds = Float(60.0, help="While submissions keep coming, the class report and dashboard are "
                                      "rewritten at most this often; at once when grading is idle.").tag(config=True)
    max_runs = Integer(4, help="Grade runs at the same time at most: the live one, plus runs left to "
                               "stragglers (one student holds at most one run, so endless submissions "
                               "of max_runs - 1 students still hold nobody back).").tag(config=True)


def log(message: str) -> None:
    print(f"{datetime.now(timezone.utc).isoformat(timespec='seconds')} grading: {message}", flush=True)


def load_config(course: Path):
    """The course's nbgrader_config.py, with the course as nbgrader's root."""
    config = course_config(course)
    config.CourseDirectory.root = str(course)
    return config


def _die_with_parent() -> None:
    """In the grade run: SIGTERM when the service dies (grade stops its workers on SIGTERM)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class Service:
    def __init__(self, course: Path):
        from nbgrader.coursedir import CourseDirectory

        from ..notebook.limits import GradingLimits
        self.course = Path(course).resolve()
        self.config = load_config(self.course)
        self.hub = CourseHub(config=self.config)
        self.settings = GradingService(config=self.config)
        self.coursedir = CourseDirectory(config=self.config)
        self.course_id = self.coursedir.course_id
        self.exchange = Path(self.hub.exchange)
        self.config.Exchange.root = str(self.exchange)
        self.grading = Path(self.hub.course_root) / "grading"
        self.grading.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.source = Path(self.coursedir.root, self.coursedir.source_directory)
        self.limits = intake.Limits(**GradingLimits(config=self.config).intake())
        self.door = Door(self.exchange / self.course_id / "inbound", self.grading, self.released(),
                         self.hub.student_group, self.limits, log)
        self.journal = attempts.Journal(self.grading / "queue.db")
        self.runs = []         # the grade runs going: {"proc", "assignment", "rows", "started", "report"}
        self.stopping = False
        self.reclaimed = 0.0   # when the last clean-up of vetted/ and quarantine/ ran
        self.views = {}        # assignment: the report of its newest ended run, not yet the class view
        self.viewed = 0.0      # when the class view was last written

    # -- start and stop ------------------------------------------------------------------------
    def lock(self) -> None:
        """Hold the service's lock; a grade run a killed service left holds it too (its fd is
        inherited), so this waits until that run is over."""
        self.lock_fd = os.open(self.grading / "service.lock", os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log("waiting for the grade run (or service) that holds grading/service.lock")
            fcntl.flock(self.lock_fd, fcntl.LOCK_EX)

    def recover(self) -> None:
        """After a restart: grade again what was being graded, release what was graded, admit
        what was taken in but not journaled."""
        interrupted = [r.id for r in self.journal.in_state("grading")]
        if interrupted:
            log(f"{len(interrupted)} submission(s) were being graded when the service stopped: graded again")
            self.journal.requeue(interrupted, broke=False)
        graded = self.journal.in_state("graded")
        for assignment in sorted({r.assignment for r in graded}):
            self.release(assignment, [r for r in graded if r.assignment == assignment])
        for entry in self.door.staged():
            self.admit(entry)

    def stop(self, *_):
        self.stopping = True

    def serve(self) -> int:
        self.lock()
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        log(f"course {self.course}, exchange {self.exchange}, state {self.grading}")
        self.recover()
        while not self.stopping:
            try:
                self.step()
            except Exception:  # noqa: BLE001 - one bad round must not end grading for the class
                log("ERROR " + traceback.format_exc().replace("\n", "\\n"))
            time.sleep(self.settings.poll_seconds)
        for run in self.runs:  # stopped, not broken: its submissions wait for the next start, no try counted
            run["proc"].terminate()
            run["proc"].wait()
            self.journal.set_state([r.id for r in run["rows"].values()], "received",
                                   "the service stopped during its grading", started=None)
        log("stopped")
        return 0

    # -- one round -----------------------------------------------------------------------------
    def step(self) -> None:
        self.take_in()
        self.publish_quizzes()
        for run in list(self.runs):
            self.watch(run)
        if all(self.straggling(run) for run in self.runs) and len(self.runs) < self.settings.max_runs:
            self.start_batch()
        if self.views and (time.time() >= self.viewed + self.settings.report_seconds
                           or not self.runs and not self.journal.in_state("received")):  # idle: at once
            self.viewed = time.time()
            for assignment in sorted(self.views):
                self.class_view(assignment, self.views.pop(assignment))
        if time.time() >= self.reclaimed + self.settings.reclaim_seconds:
            self.reclaimed = time.time()
            removed = self.door.reclaim(self.journal.tokens_to_keep(), self.settings.quarantined_per_account)
            if removed:
                log(f"removed {removed} copies no grading will read again (vetted/, quarantine/)")

    def straggling(self, run) -> bool:
        """True when ``run`` has gone on for straggler_seconds with at most ``stragglers``
        submissions left: they are slow or endless, and the next batch need not wait for them."""
        return (len(run["rows"]) <= self.settings.stragglers
                and time.time() - run["started"] >= self.settings.straggler_seconds)

    def released(self) -> set:
        """Assignments of the course that are released in the exchange."""
        outbound = self.exchange / self.course_id / "outbound"
        return {a for a in assignments.names(self.source) if (outbound / a).is_dir()}

    def take_in(self) -> None:
        if not self.door.protected:
            said = self.door.protect_inbound()
            if said:
                log(said)
        names = self.door.entries(self.settings.entries_per_account)
        if names:
            self.door.assignments = self.released()
        for name in names:
            entry = self.door.take(name)
            self.journal_refused()
            if entry:
                self.admit(entry)

    def admit(self, entry) -> None:
        if not self.journal.known(entry.token):
            folder = self.door.admit(entry)
            if folder is None:
                self.journal_refused(entry)
                return
            self.journal.add(entry.token, entry.name, entry.student, entry.assignment, entry.timestamp, "received")
            log(f"received {entry.student} {entry.assignment} ({entry.timestamp})")
        self.door.discard(entry)

    def journal_refused(self, entry=None) -> None:
        for record in self.door.refused:
            self.journal.add(record["token"], record["name"], entry and entry.student, entry and entry.assignment,
                             entry and entry.timestamp, "quarantined", record["reason"])
        self.door.refused.clear()

    # -- grading -------------------------------------------------------------------------------
    def duedates(self) -> dict:
        from nbgrader.api import Gradebook, MissingEntry
        found = {}
        with Gradebook(self.coursedir.db_url, self.course_id) as gb:
            for name in self.door.assignments:
                try:
                    due = gb.find_assignment(name).duedate
                except MissingEntry:
                    due = None
                found[name] = attempts.utc(due) if due else None
        return found

    def start_batch(self) -> None:
        if not self.journal.in_state("received"):
            return
        now = time.time()
        assignment, rows = self.journal.pick(now, self.hub.attempt_interval, self.hub.max_attempts,
                                             self.duedates(), self.settings.batch_size)
        if not rows:
            return
        self.journal.set_state([r.id for r in rows], "grading", started=now)
        for row in rows:
            self.collect(row)
        logs = self.grading / "logs"
        logs.mkdir(mode=0o700, exist_ok=True)
        name = f"grade-{int(now * 1000)}"
        report = logs / f"{name}.json"  # this run's own report (runs may overlap); the grades CSV is the course's
        out = open(logs / f"{name}.out", "wb")
        command = [sys.executable, "-m", "autograder", "grade", assignment, "--force", "--course", str(self.course),
                   "--timeout", str(self.settings.submission_seconds), "--report", str(report),
                   "--log", str(logs / f"{name}.log")]
        for row in rows:
            command += ["--student", row.student]
        env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
                   TRAITLETS_APPLICATION_RAISE_CONFIG_FILE_ERROR="1")
        jupyter = self.grading / "jupyter"  # the grader account may have no home: Jupyter's files here
        for name, folder in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                             ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython")):
            env.setdefault(name, str(jupyter / folder))
        proc = subprocess.Popen(command, cwd=self.course, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, pass_fds=[self.lock_fd], preexec_fn=_die_with_parent)
        out.close()
        self.runs.append({"proc": proc, "assignment": assignment, "rows": {r.student: r for r in rows},
                          "started": now, "report": report})
        log(f"grading {assignment}: {', '.join(sorted(r.student for r in rows))} (pid {proc.pid})")

    def collect(self, row) -> None:
        """``submitted/<student>/<assignment>/`` := the vetted copy, with the timestamp graded by."""
        import shutil
        target = Path(self.coursedir.format_path(self.coursedir.submitted_directory, row.student, row.assignment))
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.collect-tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(self.door.vetted / row.token, tmp)
        stamp = datetime.fromisoformat(row.timestamp).astimezone(timezone.utc)
        (tmp / "timestamp.txt").write_text(stamp.strftime("%Y-%m-%d %H:%M:%S.%f UTC"), encoding="utf-8")
        old = target.with_name(f".{target.name}.collect-old")
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            os.rename(target, old)
        os.rename(tmp, target)
        shutil.rmtree(old, ignore_errors=True)

    def installed(self, assignment: str, student: str, since: float):
        """The status the grade run installed for ``student`` after ``since`` (None: not yet)."""
        state = Path(self.coursedir.format_path(self.coursedir.autograded_directory, student, assignment)) / STATE
        try:
            if state.stat().st_mtime < since:
                return None
            return json.loads(state.read_text(encoding="utf-8"))["status"]
        except (OSError, ValueError, KeyError):
            return None

    def watch(self, run) -> None:
        """Release whoever ``run`` has graded; at its end, settle the rest from its report."""
        done = run["proc"].poll() is not None
        finished = []
        for student, row in list(run["rows"].items()):
            status = self.installed(run["assignment"], student, run["started"])
            if status is not None:
                finished.append((row, status))
                del run["rows"][student]
        if done and run["rows"]:
            entries = {}
            try:
                entries = json.loads(run["report"].read_text(encoding="utf-8"))["students"]
            except (OSError, ValueError, KeyError):
                pass
            broken = []
            for student, row in run["rows"].items():
                entry = entries.get(student)
                if entry and not entry.get("earlier") and entry.get("status") in ("graded", "failed"):
                    finished.append((row, {"status": entry["status"], "reason": entry.get("reason")}))
                else:
                    broken.append(row.id)
            if broken:
                log(f"grade run of {run['assignment']} ended ({run['proc'].returncode}) without a result "
                    f"for {len(broken)} submission(s): queued again")
                for failed in self.journal.requeue(broken):
                    log(f"submission #{failed} failed: the grade run broke on it {attempts.MAX_TRIES} times")
            run["rows"] = {}
        for row, status in finished:
            text = status["status"] + (f": {status['reason']}" if status.get("reason") else "")
            self.journal.set_state([row.id], "graded", status=text)
        if finished:
            self.release(run["assignment"], [self.journal.get(row.id) for row, _ in finished])
        if done:
            log(f"grade run of {run['assignment']} ended ({run['proc'].returncode})")
            self.runs.remove(run)
            self.views[run["assignment"]] = run["report"]

    def class_view(self, assignment: str, report: Path) -> None:
        """The instructor's view after runs ended: the newest run's report (every student of the
        assignment, its and earlier runs' results) becomes the course's report, and the dashboard
        is written from it (exports/<assignment>/); a failure is logged, never the service's end."""
        target = self.course / export_path(assignment, "grading_report.json")
        try:
            tmp = target.with_name(target.name + ".tmp")
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(report.read_bytes())
            os.replace(tmp, target)
            dashboard.write(self.course, assignment)
        except (OSError, ValueError, KeyError, SystemExit, dashboard.NotGraded) as exc:
            log(f"dashboard of {assignment} not written: {exc}")

    # -- feedback ------------------------------------------------------------------------------
    def withheld(self, assignment: str) -> dict:
        """{quiz notebook: when its scores are released} while they are not, else {}."""
        return attempts.withheld(self.journal, assignment, self.hub.quiz_release.get(assignment), self.source, log)

    def quiz_visible(self, assignment: str) -> bool:
        return attempts.quiz_visible(self.journal, assignment, self.hub.quiz_release.get(assignment), log)

    def publish_quizzes(self) -> None:
        """Once an assignment's quiz scores are released, re-release every student's pages."""
        for assignment in sorted(self.door.assignments):
            if self.quiz_state_published(assignment) or not self.quiz_visible(assignment):
                continue
            rows = self.journal.in_state("released")
            newest = {}
            for row in rows:
                if row.assignment == assignment:
                    newest[row.student] = row
            if newest:
                log(f"quiz scores of {assignment} released: re-releasing {len(newest)} student(s)' feedback")
                self.release(assignment, list(newest.values()), mark=False)
            self.journal.quiz_published(assignment)

    def quiz_state_published(self, assignment: str) -> bool:
        return self.journal.quiz_state(assignment)[1] is not None

    def release(self, assignment: str, rows: list, mark: bool = True) -> None:
        """Write the students' pages and release them into the exchange; ``rows`` become ``released``."""
        students = sorted({r.student for r in rows})
        notes = {}
        try:
            feedback.generate(self.course, assignment, students, withheld=self.withheld(assignment), notes=notes)
        except feedback.NotGraded as exc:
            notes = {"ungraded": students}
            log(f"no feedback pages for {assignment}: {exc}")
        reasons = {r.student: (r.status or "failed").partition(": ")[2] or "grading failed" for r in rows}
        for student in notes.get("ungraded", []):
            self.failure_pages(assignment, student, reasons.get(student, "grading failed"))
        for student in students:
            try:
                self.release_feedback(assignment, student)
            except Exception:  # noqa: BLE001 - one student's release, never the others'
                log(f"ERROR releasing {student}'s feedback of {assignment}: "
                    + traceback.format_exc().replace("\n", "\\n"))
        if mark:
            self.journal.set_state([r.id for r in rows], "released", finished=time.time())
            for r in rows:
                log(f"released {r.student} {assignment}: {r.status}")

    def failure_pages(self, assignment: str, student: str, reason: str) -> None:
        folder = self.course / "feedback" / student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        submitted = Path(self.coursedir.format_path(self.coursedir.submitted_directory, student, assignment))
        feedback.exchange_files(submitted, folder, None)
        for graded in assignments.declared(self.source, assignment):
            (folder / f"{graded.notebook}.html").write_text(
                feedback.render_failed(student, assignment, graded.notebook, reason), encoding="utf-8")

    def release_feedback(self, assignment: str, student: str) -> None:
        """``nbgrader release_feedback ASSIGNMENT --student STUDENT``, by nbgrader's exchange code."""
        from nbgrader.auth import Authenticator
        from nbgrader.coursedir import CourseDirectory
        from nbgrader.exchange.default import ExchangeReleaseFeedback
        folder = self.course / "feedback" / student / assignment
        for page in folder.glob("*.html"):
            os.chmod(page, 0o644)  # copied with its mode: the student reads it from the exchange
        coursedir = CourseDirectory(config=self.config)
        coursedir.assignment_id, coursedir.student_id = assignment, student
        ExchangeReleaseFeedback(coursedir=coursedir, authenticator=Authenticator(config=self.config),
                                config=self.config).start()


def release_quiz(course: Path, assignment: str) -> int:
    grading = Path(CourseHub(config=load_config(Path(course).resolve())).course_root) / "grading"
    owner = grading.stat().st_uid if grading.is_dir() else os.geteuid()
    if owner != os.geteuid():  # the journal must stay the grader's alone
        import pwd
        print(f"error: run this as the grader account: sudo -u {pwd.getpwuid(owner).pw_name} "
              f"{sys.executable} -m autograder.hub.grading_service release-quiz {assignment}", file=sys.stderr)
        return 2
    service = Service(course)
    if assignment not in assignments.names(service.source):
        print(f"error: no assignment {assignment!r} in {service.source}", file=sys.stderr)
        return 2
    service.journal.release_quiz(assignment)
    print(f"quiz scores of {assignment} released: the grading service re-releases every student's "
          "feedback with them")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.hub.grading_service",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "release-quiz"])
    parser.add_argument("assignment", nargs="?", help="with release-quiz: the assignment")
    parser.add_argument("--course", type=Path, default=Path.cwd(), help="the deployed course (default: .)")
    args = parser.parse_args(argv)
    if args.command == "release-quiz":
        if not args.assignment:
            parser.error("release-quiz needs the ASSIGNMENT")
        return release_quiz(args.course, args.assignment)
    os.umask(0o077)
    return Service(args.course).serve()


if __name__ == "__main__":
    sys.exit(main())
