"""Benchmark: the grading service's throughput on one batch (run as root: it makes unix accounts).

    .venv/bin/python bench/grading_service.py [--students 40] [--json results.json]

Builds the class of tests/grading_service_support.py (a student group, ``--students`` student
accounts, the grader account, the deployed course, the exchange), has every student submit the
reference solution with ``nbgrader submit`` while the service is stopped, then starts the service
(as the grader account) so that they are all taken in and graded in one batch
(``c.GradingService.batch_size`` = the class size) by one ``python -m autograder grade`` run.
From the service's journal it reports: the batch's wall-clock seconds from its start to the last
student's released feedback, submissions graded per second, seconds to the first released
feedback (the run's start-up), and the p50/p95/max of each student's batch start -> feedback
released. Then it removes the accounts and files. Speed is measured here, never in the tests.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from corpus import reproducibility  # noqa: E402
from grading_service_support import ClassOnMachine  # noqa: E402
from support import make_course  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the benchmark makes unix accounts")
    os.environ.setdefault("AUTOGRADER_SANDBOX", "required")
    with tempfile.TemporaryDirectory() as tmp:
        template = make_course(Path(tmp) / "course")
        klass = ClassOnMachine(template, config=f"c.GradingService.batch_size = {args.students}\n"
                                                "c.CourseHub.attempt_interval = 0\n")
        try:
            names = [klass.add_student(f"s{i:03d}") for i in range(args.students)]
            for name in names:
                klass.submit(name, reproducibility.REFERENCE)
            klass.start()
            klass.wait_for(lambda: sum(r["state"] == "released" for r in klass.rows()) == len(names),
                           timeout=3600, what="every submission released")
            rows = klass.rows()
        finally:
            klass.close()
    starts = {r["started"] for r in rows}
    start, end = min(starts), max(r["finished"] for r in rows)
    each = sorted(r["finished"] - r["started"] for r in rows)
    result = {"students": len(rows), "batches": len(starts), "batch_seconds": round(end - start, 1),
              "graded_per_second": round(len(rows) / (end - start), 3),
              "first_feedback_seconds": round(each[0], 1),
              "feedback_p50": round(statistics.median(each), 1),
              "feedback_p95": round(each[int(0.95 * (len(each) - 1))], 1), "feedback_max": round(each[-1], 1),
              "cores": len(os.sched_getaffinity(0)), "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
