"""Benchmark: stock sequential ``nbgrader autograde`` against ``python -m autograder grade``.

    .venv/bin/python bench/grade_class.py [--students 40] [--runs 3] [--workers N] [--profile]

Builds a throwaway course (this repo's config and source/, the assignment generated) with a
class of ``--students`` submissions cycling through the example class (right and wrong answers,
a blank one; both notebooks), then per run grades a fresh copy with each command, checks that both gradebooks
hold identical scores, and prints the wall-clock times, their medians and the ratio.
``--profile`` also shows where one submission's time goes inside a grading process.
Speed is measured here, never in the tests.
"""
import argparse
import cProfile
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "reproducibility"
sys.path.insert(0, str(ROOT))

from autograder.demo import example_answers  # noqa: E402
from autograder.submissions import hand_in  # noqa: E402


def env() -> dict:
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
                JUPYTER_CONFIG_DIR=str(ROOT / ".venv" / "jupyter-test-config"))


def run(cmd, cwd, check=True) -> float:
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    took = time.perf_counter() - started
    if check and proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return took


def make_class(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", folder)
    shutil.copytree(ROOT / "source", folder / "source")
    run([sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT, "--force"], folder)
    kinds = {k: v for k, v in json.loads((ROOT / "examples" / "example_class.json").read_text()).items()
             if not k.startswith("_")}
    names = sorted(kinds)
    for i in range(count):
        kind = names[i % len(names)]
        hand_in(folder, f"s{i:02d}_{kind}", example_answers(kinds[kind]), ASSIGNMENT)
    return folder


def scores(course: Path) -> dict:
    from autograder.gradebook import cell_scores
    return cell_scores(f"sqlite:///{course / 'gradebook.db'}", ASSIGNMENT)


def profile_one_process(course: Path, students: int) -> None:
    """Grade ``students`` submissions in this process as a worker does; print the breakdown."""
    os.chdir(course)
    started = time.perf_counter()
    sys.modules.setdefault("rfc3987_syntax", None)  # as autograder.grade_worker does
    from nbgrader.apps.autogradeapp import AutogradeApp
    from nbgrader.converters import Autograde
    from nbgrader.utils import temp_attrs
    imported = time.perf_counter() - started
    app = AutogradeApp()
    app.initialize([ASSIGNMENT, "--force", "--log-level=ERROR"])
    app.coursedir.assignment_id = ASSIGNMENT
    who = sorted(os.listdir(course / "submitted"))[:students]
    with temp_attrs(app.coursedir, student_id=who[0]):  # warm-up, not counted
        Autograde(coursedir=app.coursedir, parent=app).start()
    profiler = cProfile.Profile()
    wall = time.perf_counter()
    for student in who[1:]:
        with temp_attrs(app.coursedir, student_id=student):
            profiler.enable()
            Autograde(coursedir=app.coursedir, parent=app).start()
            profiler.disable()
    wall = (time.perf_counter() - wall) / (len(who) - 1)
    stats = pstats.Stats(profiler).stats

    def cum(path_end, name):
        return sum(v[3] for (file, _, func), v in stats.items() if file.endswith(path_end) and func == name)

    n = len(who) - 1
    kernel = cum("nbclient/client.py", "setup_kernel") / n
    cells = cum("nbconvert/preprocessors/execute.py", "preprocess_cell") / n
    reexec = cum("autograder/reexecute.py", "run_cells") / n
    print(json.dumps({"import_seconds": round(imported, 2), "per_submission": {
        "total": round(wall, 3), "kernel_start_stop": round(kernel, 3), "cells_in_kernel": round(cells, 3),
        "reexecution_processes": round(reexec, 3),
        "rest_nbgrader_db_files": round(wall - kernel - cells - reexec, 3)}}))


def import_seconds(block: bool) -> float:
    code = ("import sys,time; t=time.perf_counter(); "
            + ("sys.modules.setdefault('rfc3987_syntax', None); " if block else "")
            + "from nbgrader.apps.autogradeapp import AutogradeApp; "
              "from nbgrader.converters import Autograde; print(time.perf_counter()-t)")
    values = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", code], env=env(), capture_output=True, text=True, check=True)
        values.append(float(out.stdout))
    return statistics.median(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None, help="default: the command's default")
    parser.add_argument("--profile", action="store_true", help="also show the per-submission breakdown")
    parser.add_argument("--profile-worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.profile_worker:
        profile_one_process(args.profile_worker, 8)
        return 0

    with tempfile.TemporaryDirectory(prefix="bench-grade-") as tmp:
        template = make_class(Path(tmp) / "template", args.students)
        stock_times, ours_times = [], []
        workers = ["--workers", str(args.workers)] if args.workers else []
        for i in range(args.runs):
            stock = shutil.copytree(template, Path(tmp) / f"stock{i}")
            ours = shutil.copytree(template, Path(tmp) / f"ours{i}")
            stock_times.append(run([sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT], stock))
            ours_times.append(run([sys.executable, "-m", "autograder", "grade", ASSIGNMENT, *workers], ours,
                                  check=False))
            same = scores(stock) == scores(ours)
            print(f"run {i + 1}: stock sequential {stock_times[-1]:6.1f} s   grade command "
                  f"{ours_times[-1]:6.1f} s   ratio {stock_times[-1] / ours_times[-1]:.2f}   "
                  f"identical scores: {same}", flush=True)
            if not same:
                print("gradebooks differ", file=sys.stderr)
                return 1
            shutil.rmtree(stock)
            shutil.rmtree(ours)
        s, o = statistics.median(stock_times), statistics.median(ours_times)
        from autograder.grade import default_workers
        print(f"\n{args.students} submissions, {args.workers or default_workers()} worker(s), "
              f"{os.cpu_count()} core(s), median of {args.runs}: stock sequential {s:.1f} s "
              f"({s / args.students:.2f} s/submission), grade command {o:.1f} s: {s / o:.2f}x faster")
        if args.profile:
            print(f"\nimports per process: nbgrader autograde {import_seconds(False):.2f} s, "
                  f"grade worker {import_seconds(True):.2f} s (rfc3987_syntax blocked)")
            out = subprocess.run([sys.executable, __file__, "--profile-worker", str(template)], env=env(),
                                 capture_output=True, text=True)
            lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
            print("one grading process, per submission (s):", lines[-1] if lines else out.stderr[-2000:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
