"""Benchmark: stock sequential ``nbgrader autograde`` vs the local executor vs Dask, one run.

    .venv/bin/python bench/grade_class.py [--students 40 200] [--runs 1] [--workers N]
                                          [--dask-workers 2] [--dask-processes 1] [--profile]
                                          [--json results.json]

For each class size: builds a throwaway course (this repo's config and source/, the assignment
generated) with ``--students`` submissions cycling through the example class (right and wrong
answers, a blank one; both notebooks); then per run grades a fresh copy of it three ways:

- ``stock``: ``nbgrader autograde reproducibility``, sequential;
- ``local``: ``python -m autograder grade reproducibility`` (the local worker processes);
- ``dask``: the same command with ``--scheduler``, against the cluster docs/grading.md documents
  (mutual TLS, certificates from ``python -m autograder dask-certs``): a ``dask scheduler`` and
  ``--dask-workers`` ``dask worker`` processes started on 127.0.0.1 before the clock starts
  (each with ``--nworkers --dask-processes --nthreads 1``, each in its own empty folder).

All gradebooks must hold identical scores. Prints (and with ``--json`` writes) wall-clock
seconds, seconds per submission, the ratios, and the CPU seconds of each command's whole process
tree (sandboxed and reparented processes included), counted by a cgroup v1 ``cpuacct`` group of
its own (as root; otherwise the whole machine's busy time, anything else running included), with
the share of the cores it kept busy; ``--profile`` adds where one submission's time
goes (``bench/profile_submission.py``). Speed is measured here, never in the tests.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "reproducibility"
MODES = ("stock", "local", "dask")
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from autograder.course.demo import example_class  # noqa: E402
from profile_submission import busy_cpu_seconds, run_counted  # noqa: E402
from autograder.course.submissions import hand_in  # noqa: E402


def env() -> dict:
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
                JUPYTER_CONFIG_DIR=str(ROOT / ".venv" / "jupyter-test-config"))


def run(cmd, cwd, check=True) -> float:
    return run_cpu(cmd, cwd, check)[0]


def run_cpu(cmd, cwd, check=True) -> tuple:
    """``(wall seconds, CPU seconds)`` of ``cmd``: CPU of its whole process tree counted by a
    cgroup (cpuacct) of its own; without one, the whole machine's busy time meanwhile."""
    import subprocess as sp
    busy = busy_cpu_seconds()
    with tempfile.TemporaryFile() as err:
        code, took, cpu = run_counted(cmd, cwd=cwd, env=env(), stdout=sp.DEVNULL, stderr=err)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    if cpu is None:
        cpu = busy_cpu_seconds() - busy
        CPU_METHOD[0] = "the whole machine's busy time (/proc/stat)"
    if check and code != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed ({code}):\n{stderr[-3000:]}")
    return took, cpu


CPU_METHOD = ["a cgroup v1 cpuacct group around each command (its whole process tree)"]


def make_class(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", folder)
    shutil.copytree(ROOT / "source", folder / "source")
    run([sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT, "--force"], folder)
    kinds = example_class(ROOT, ASSIGNMENT)
    names = sorted(kinds)
    for i in range(count):
        kind = names[i % len(names)]
        hand_in(folder, f"s{i:03d}_{kind}", kinds[kind], ASSIGNMENT)
    return folder


def scores(course: Path) -> dict:
    from autograder.classrun.gradebook import cell_scores
    return cell_scores(f"sqlite:///{course / 'gradebook.db'}", ASSIGNMENT)


def commands(mode: str, workers: list, cluster) -> list:
    if mode == "stock":
        return [sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT]
    if mode == "local":
        return [sys.executable, "-m", "autograder", "grade", ASSIGNMENT, *workers]
    return [sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--scheduler", cluster.address,
            "--dask-certs", str(cluster.certs)]


def import_seconds() -> float:
    code = ("import time; t=time.perf_counter(); "
            "from nbgrader.apps.autogradeapp import AutogradeApp; "
            "from nbgrader.converters import Autograde; print(time.perf_counter()-t)")
    values = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", code], env=env(), capture_output=True, text=True, check=True)
        values.append(float(out.stdout))
    return statistics.median(values)


def bench_class(tmp: Path, count: int, args, cluster) -> dict:
    template = make_class(tmp / f"template{count}", count)
    workers = ["--workers", str(args.workers)] if args.workers else []
    times = {mode: [] for mode in args.modes}
    cpu = {mode: [] for mode in args.modes}  # CPU seconds of each command (CPU_METHOD)
    for i in range(args.runs):
        copies = {mode: shutil.copytree(template, tmp / f"{mode}{count}-{i}") for mode in args.modes}
        for mode in args.modes:
            took, used = run_cpu(commands(mode, workers, cluster), copies[mode], check=False)
            times[mode].append(took)
            cpu[mode].append(used)
        gradebooks = {mode: scores(copies[mode]) for mode in args.modes}
        same = all(book == gradebooks[args.modes[0]] for book in gradebooks.values())
        graded = len(gradebooks[args.modes[0]])
        print(f"{count} submissions, run {i + 1}: " + "   ".join(
            f"{mode} {times[mode][-1]:6.1f} s (CPU {cpu[mode][-1]:.1f} s)" for mode in args.modes)
            + f"   identical scores: {same} ({graded} students in each gradebook)", flush=True)
        if not same or graded != count:
            raise SystemExit("gradebooks differ or are incomplete: " + json.dumps(
                {m: len(b) for m, b in gradebooks.items()}))
        for folder in copies.values():
            shutil.rmtree(folder)
    medians = {mode: statistics.median(values) for mode, values in times.items()}
    result = {"submissions": count, "runs": args.runs, "seconds": medians,
              "seconds_per_submission": {m: round(s / count, 3) for m, s in medians.items()},
              "cpu_seconds": {m: round(statistics.median(v), 1) for m, v in cpu.items()},
              "cpu_seconds_per_submission": {m: round(statistics.median(v) / count, 3) for m, v in cpu.items()},
              "cores_busy": {m: round(statistics.median(cpu[m]) / (s * os.cpu_count()), 2)
                             for m, s in medians.items()}}
    if "stock" in medians:
        result["speedup_vs_stock"] = {m: round(medians["stock"] / s, 2) for m, s in medians.items()}
    if "local" in medians and "dask" in medians:
        result["dask_over_local"] = round(medians["dask"] / medians["local"], 3)
    if args.profile and count == args.students[0]:
        out = subprocess.run([sys.executable, str(ROOT / "bench" / "profile_submission.py"), str(template)],
                             env=env(), capture_output=True, text=True)
        lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
        result["profile"] = json.loads(lines[-1]) if lines else out.stderr[-2000:]
    shutil.rmtree(template)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, nargs="+", default=[40])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--workers", type=int, default=None, help="local executor; default: the command's")
    parser.add_argument("--dask-workers", type=int, default=2, help="`dask worker` commands")
    parser.add_argument("--dask-processes", type=int, default=1, help="--nworkers of each `dask worker`")
    parser.add_argument("--profile", action="store_true", help="also show the per-submission breakdown")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args()

    load = os.getloadavg()
    results = {"cores": os.cpu_count(), "load_before": [round(x, 2) for x in load], "classes": []}
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
    cluster = None
    with tempfile.TemporaryDirectory(prefix="bench-grade-") as tmp:
        try:
            if "dask" in args.modes:
                from services import DaskCluster
                cluster = DaskCluster(workers=args.dask_workers, processes=args.dask_processes)
            for count in args.students:
                results["classes"].append(bench_class(Path(tmp), count, args, cluster))
                print(json.dumps(results["classes"][-1]), flush=True)
        finally:
            if cluster:
                cluster.close()
    from autograder.classrun.grade import default_workers
    results["local_workers"] = args.workers or default_workers()
    results["dask"] = f"{args.dask_workers} x `dask worker --nworkers {args.dask_processes} --nthreads 1`"
    results["load_after"] = [round(x, 2) for x in os.getloadavg()]
    results["cpu_method"] = CPU_METHOD[0]
    if args.profile:
        results["nbgrader_imports_per_process"] = round(import_seconds(), 2)
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
