"""One grading worker of ``python -m autograder grade``: nbgrader's own autograde, many students.

Started by :mod:`autograder.grade` as ``python -m autograder.grade_worker ASSIGNMENT CMD_FD
RESULT_FD [--force]`` in the course root. It pays nbgrader's imports once, loads the course's
configuration exactly as ``nbgrader autograde`` does (``AutogradeApp.initialize``), and then grades
one student per request with nbgrader's ``Autograde`` converter, as ``nbgrader autograde ASSIGNMENT
--student ID`` would. Requests and results are JSON lines on two private pipes (not stdin/stdout:
the kernels inherit those), so nothing a student's code prints can reach the parent.
"""
import glob
import json
import logging
import os
import sys
import time
import traceback

# Nothing in grading validates IRIs, but jsonschema (via nbformat) builds a grammar for them at
# import time: about a second per process. Blocked here only, in this process.
sys.modules.setdefault("rfc3987_syntax", None)

from nbgrader.api import Gradebook, MissingEntry  # noqa: E402
from nbgrader.apps.autogradeapp import AutogradeApp  # noqa: E402
from nbgrader.converters import Autograde  # noqa: E402
from nbgrader.plugins import CsvExportPlugin  # noqa: E402
from nbgrader.utils import temp_attrs  # noqa: E402

from autograder.gradebook import cell_scores  # noqa: E402

# Concurrent workers share one SQLite gradebook: wait for a lock instead of failing at once.
SQLITE_BUSY_TIMEOUT = 120
PLACEHOLDER = "@@STUDENT@@"  # stands for a student id in a path pattern sent to the parent


class Records(logging.Handler):
    """Collects what nbgrader and our preprocessors log while one student is graded."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.records = []

    def emit(self, record):
        try:
            self.records.append({"level": record.levelname, "message": record.getMessage()})
        except Exception:  # noqa: BLE001 - a bad log record must not stop grading
            pass


class Worker:
    def __init__(self, assignment: str, force: bool):
        self.app = AutogradeApp()
        # Exactly the configuration `nbgrader autograde ASSIGNMENT [--force]` runs with.
        self.app.initialize([assignment] + (["--force"] if force else []))
        self.app.coursedir.assignment_id = assignment
        self.assignment = assignment
        url = self.app.coursedir.db_url
        if url.startswith("sqlite:") and "timeout=" not in url:
            self.app.coursedir.db_url = url + ("&" if "?" in url else "?") + f"timeout={SQLITE_BUSY_TIMEOUT}"
        # INFO reaches our handler (to see "Skipping existing assignment"); the process's own
        # stderr log (grade.log) keeps nbgrader's usual WARNING level.
        self.app.log.setLevel(logging.INFO)
        for handler in self.app.log.handlers:
            handler.setLevel(logging.WARNING)

    def path(self, step: str, student: str) -> str:
        coursedir = self.app.coursedir
        return coursedir.format_path(getattr(coursedir, f"{step}_directory"), student, self.assignment)

    def check(self) -> dict:
        """The assignment's notebooks from the gradebook and the students who submitted."""
        coursedir = self.app.coursedir
        with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
            try:
                assignment = gb.find_assignment(self.assignment)
            except MissingEntry:
                return {"fatal": f"No assignment {self.assignment!r} in the gradebook "
                                 f"({coursedir.db_url}); run `nbgrader generate_assignment "
                                 f"{self.assignment}` first."}
            notebooks = sorted(nb.name for nb in assignment.notebooks)
        # The submissions nbgrader autograde would visit (BaseConverter.init_notebooks).
        pattern = self.path("submitted", "*")
        prefix, suffix = pattern.split("*", 1)
        excluded = set(filter(None, coursedir.student_id_exclude.split(",")))
        students = sorted(s for s in (p[len(prefix):len(p) - len(suffix)] for p in glob.glob(pattern))
                          if s not in excluded)
        return {"notebooks": notebooks, "students": students,
                "autograded": self.path("autograded", PLACEHOLDER)}

    def grade(self, student: str) -> dict:
        """Autograde one student's submission, as ``nbgrader autograde A --student ID`` would."""
        records = Records()
        self.app.log.addHandler(records)
        started = time.perf_counter()
        error = None
        try:
            with temp_attrs(self.app.coursedir, student_id=student):
                Autograde(coursedir=self.app.coursedir, parent=self.app).start()
        except Exception as exc:  # noqa: BLE001 - NbGraderException and anything else
            error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        finally:
            self.app.log.removeHandler(records)
        return {"student": student, "ok": error is None, "error": error,
                "seconds": round(time.perf_counter() - started, 3), "log": records.records,
                "submitted": self.path("submitted", student),
                "autograded": self.path("autograded", student)}

    def collect(self, csv_path: str) -> dict:
        """Scores per student and cell from the gradebook; the grades CSV as `nbgrader export`."""
        coursedir = self.app.coursedir
        with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
            plugin = CsvExportPlugin(parent=self.app)
            plugin.to = csv_path
            plugin.export(gb)
        return {"scores": cell_scores(coursedir.db_url, self.assignment)}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    assignment, cmd_fd, result_fd = argv[0], int(argv[1]), int(argv[2])
    force = "--force" in argv[3:]
    os.set_inheritable(cmd_fd, False)
    os.set_inheritable(result_fd, False)
    requests = os.fdopen(cmd_fd, "r", encoding="utf-8")
    results = os.fdopen(result_fd, "w", encoding="utf-8")

    def send(message: dict) -> None:
        results.write(json.dumps(message) + "\n")
        results.flush()

    started = time.perf_counter()
    try:
        worker = Worker(assignment, force)
    except BaseException as exc:  # noqa: B902 - the parent must hear why, even on SystemExit
        send({"fatal": "nbgrader could not start: %s" % "".join(
            traceback.format_exception_only(type(exc), exc)).strip()})
        return 1
    send({"ready": True, "startup_seconds": round(time.perf_counter() - started, 3)})
    for line in requests:
        request = json.loads(line)
        try:
            if request["do"] == "check":
                send(worker.check())
            elif request["do"] == "grade":
                send(worker.grade(request["student"]))
            elif request["do"] == "collect":
                send(worker.collect(request["csv"]))
            elif request["do"] == "quit":
                break
        except Exception as exc:  # noqa: BLE001 - report, keep serving
            send({"fatal": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))})
    return 0


if __name__ == "__main__":
    sys.exit(main())
