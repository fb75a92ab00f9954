"""How fast the coordinator records finished results: submissions recorded per second.

    .venv/bin/python bench/coordinator.py [--submissions 400] [--kinds 6]

Builds a throwaway course (as ``grade_class.py`` does), grades ``--kinds`` submissions of the
example class for real (:func:`autograder.classrun.task.grade`, in this process), then feeds
``--submissions`` copies of those results, each under a student id of its own, through the
coordinator's recording path (:meth:`autograder.classrun.grade.ClassRun.record` and the reports
at the end, as ``python -m autograder grade`` does after its workers return them): the gradebook
replay, the autograded folder with its receipt, the progress line. Prints the wall-clock and CPU
seconds of the recording (this process only: recording starts no other; user and system apart:
the system part, the kernel writing the folders, varies with the disk's other traffic),
submissions per second and the statuses recorded, as JSON. Speed is measured here, never in
the tests.
"""
import argparse
import collections
import io
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from grade_class import ASSIGNMENT, env, make_class  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=400)
    parser.add_argument("--kinds", type=int, default=6, help="real results graded first, then cycled")
    args = parser.parse_args()
    os.environ.update(env())
    from autograder.classrun import grade, intake, task

    with tempfile.TemporaryDirectory(prefix="bench-coordinator-") as tmp:
        course = make_class(Path(tmp) / "course", args.kinds)
        snapshot = task.snapshot(course, ASSIGNMENT)
        results = []
        for raw, shown in intake.list_submissions(course / "submitted", ASSIGNMENT)[:args.kinds]:
            files = intake.read(course / "submitted", raw, ASSIGNMENT).files
            results.append((task.grade(snapshot, shown, files), task.files_hash(files)))
        shutil.rmtree(course / "submitted")
        parser = argparse.ArgumentParser()
        grade.add_arguments(parser)
        run_args = parser.parse_args([ASSIGNMENT, "--course", str(course), "--workers", "1"])
        for option, name in (("csv", "grades.csv"), ("report", "grading_report.json"), ("log", "grade.log")):
            setattr(run_args, option, Path("exports", ASSIGNMENT, name))
        run = grade.ClassRun(run_args, progress_stream=io.StringIO())
        run.prepare()
        from autograder.classrun.progress import Progress
        run.progress = Progress(args.submissions, io.StringIO())
        students = [f"b{i:05d}" for i in range(args.submissions)]
        wall, cpu, times = time.perf_counter(), time.process_time(), os.times()
        batch = []
        for n, student in enumerate(students):
            result, files_hash = results[n % len(results)]
            key = {"student": student, "submission": files_hash, "grader": snapshot["grader"]}
            batch.append((student, dict(result, student=student), key))
        run.order = list(students)
        run.record_all(batch)
        recorded_wall, recorded_cpu = time.perf_counter() - wall, time.process_time() - cpu
        user, system = os.times().user - times.user, os.times().system - times.system
        run.write_reports(recorded_wall)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        statuses = collections.Counter(entry["status"] for entry in run.entries.values())
        if len(run.entries) != args.submissions or set(statuses) - {"graded", "failed"}:
            raise SystemExit(f"not every result was recorded: {len(run.entries)} entries, statuses {statuses}")
        from autograder.classrun.gradebook import cell_scores
        if len(cell_scores(run.db_url, ASSIGNMENT)) != args.submissions:
            raise SystemExit("the gradebook does not hold every submission")
    print(json.dumps({"submissions": args.submissions, "kinds": args.kinds, "statuses": dict(sorted(statuses.items())),
                      "recording": {"seconds": round(recorded_wall, 2), "cpu_seconds": round(recorded_cpu, 2),
                                    "user_seconds": round(user, 2), "system_seconds": round(system, 2),
                                    "per_second": round(args.submissions / recorded_wall, 1)},
                      "with_reports": {"seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
                                       "per_second": round(args.submissions / wall, 1)}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
