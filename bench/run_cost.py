"""What one `python -m autograder grade` run costs: fixed per run and per submission.

    sudo .venv/bin/python bench/run_cost.py                 # classes of 1 and 20, 2 rounds
    sudo .venv/bin/python bench/run_cost.py --students 1 40 --rounds 3 --json cost.json
    git archive OLD | tar -x -C /tmp/old       # an earlier commit's code, against this one:
    sudo .venv/bin/python bench/run_cost.py --students 1 40 --rounds 4 --before /tmp/old

Each round grades a fresh class of each size (``grade_class.make_class``: the example class's
answers, cycled) and counts the whole command's CPU by a cgroup of its own
(``peers_cgroup.run``: sandboxed and reparented processes included). The smallest and largest
class give the marginal CPU per submission (the difference over the extra submissions) and the
fixed CPU per run (the smallest class's less its submissions' share). Rounds are interleaved;
the medians are printed. The grade command runs this checkout's code (first on ``PYTHONPATH``).
With ``--before DIR``, every class is graded a second time, in the same round, by the code in
DIR, and that code's figures are printed too: an A/B of two commits on one machine in one run.
Run it on a quiet machine: another job's load inflates both.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from grade_class import ASSIGNMENT, ROOT, env, make_class  # noqa: E402
import peers_cgroup  # noqa: E402


def grade(course: Path, code: Path) -> peers_cgroup.Measured:
    """Grade ``course`` with the autograder package in the folder ``code``, by cgroup."""
    environment = env()
    environment["PYTHONPATH"] = os.pathsep.join([str(code), environment.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    measured = peers_cgroup.run([sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--course", str(course)],
                                course, environment)
    if measured.returncode not in (0, 1):  # 1: some submission failed, as the class means
        sys.exit(f"grade failed ({measured.returncode}): {measured.stderr[-2000:]}")
    return measured


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, nargs="+", default=[1, 20])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--before", type=Path, help="a folder holding an earlier commit's code (git archive), "
                                                      "graded in the same rounds for comparison")
    args = parser.parse_args()
    sizes = sorted(set(args.students))
    if len(sizes) < 2:
        parser.error("give two class sizes or more")
    if args.before and not (args.before / "autograder" / "__main__.py").is_file():
        parser.error(f"{args.before} holds no autograder package")
    where = peers_cgroup.place()
    print(f"CPU counted by: {peers_cgroup.describe(where[0], where[1])}", flush=True)
    codes = {"this": ROOT, **({"before": args.before.resolve()} if args.before else {})}
    runs = {name: {n: [] for n in sizes} for name in codes}
    with tempfile.TemporaryDirectory(prefix="run-cost-") as tmp:
        for round_number in range(args.rounds):
            order = list(codes) if round_number % 2 == 0 else list(reversed(codes))
            for n in sizes:
                for name in order:
                    course = make_class(Path(tmp) / f"r{round_number}-c{n}-{name}", n)
                    measured = grade(course, codes[name])
                    runs[name][n].append({"seconds": round(measured.seconds, 2),
                                          "cpu_seconds": round(measured.cpu_seconds, 2),
                                          "load": round(os.getloadavg()[0], 2)})
                    print(f"round {round_number + 1}, {n:4d} submissions, {name:6s}: {measured.seconds:6.2f} s, "
                          f"CPU {measured.cpu_seconds:6.2f} s (load {os.getloadavg()[0]:.2f})", flush=True)
    result = {"method": peers_cgroup.describe(where[0], where[1])}
    for name in codes:
        cpu = {n: statistics.median(r["cpu_seconds"] for r in runs[name][n]) for n in sizes}
        small, large = sizes[0], sizes[-1]
        marginal = (cpu[large] - cpu[small]) / (large - small)
        fixed = cpu[small] - small * marginal
        figures = {"runs": runs[name], "median_cpu_seconds": cpu,
                   "marginal_cpu_seconds_per_submission": round(marginal, 4), "fixed_cpu_seconds_per_run": round(fixed, 3),
                   "cpu_seconds_per_submission": {n: round(cpu[n] / n, 4) for n in sizes}}
        if name == "this":
            result.update(figures)
        else:
            result[name] = dict(figures, code=str(codes[name]))
        print(f"{name}: per submission (marginal): {marginal:.3f} CPU-s; fixed per run: {fixed:.2f} CPU-s; "
              + ", ".join(f"{n}: {cpu[n] / n:.3f} CPU-s/submission" for n in sizes))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
