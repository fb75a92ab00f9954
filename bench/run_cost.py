"""What one `python -m autograder grade` run costs: fixed per run and per submission.

    sudo .venv/bin/python bench/run_cost.py                 # classes of 1 and 20, 2 rounds
    sudo .venv/bin/python bench/run_cost.py --students 1 40 --rounds 3 --json cost.json

Each round grades a fresh class of each size (``grade_class.make_class``: the example class's
answers, cycled) and counts the whole command's CPU by a cgroup of its own
(``peers_cgroup.run``: sandboxed and reparented processes included). The smallest and largest
class give the marginal CPU per submission (the difference over the extra submissions) and the
fixed CPU per run (the smallest class's less its submissions' share). Rounds are interleaved;
the medians are printed. Run it on a quiet machine: another job's load inflates both.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from grade_class import ASSIGNMENT, env, make_class  # noqa: E402
import peers_cgroup  # noqa: E402


def grade(course: Path) -> peers_cgroup.Measured:
    measured = peers_cgroup.run([sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--course", str(course)],
                                course, env())
    if measured.returncode not in (0, 1):  # 1: some submission failed, as the class means
        sys.exit(f"grade failed ({measured.returncode}): {measured.stderr[-2000:]}")
    return measured


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, nargs="+", default=[1, 20])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sizes = sorted(set(args.students))
    if len(sizes) < 2:
        parser.error("give two class sizes or more")
    where = peers_cgroup.place()
    print(f"CPU counted by: {peers_cgroup.describe(where[0], where[1])}", flush=True)
    runs = {n: [] for n in sizes}
    with tempfile.TemporaryDirectory(prefix="run-cost-") as tmp:
        for round_number in range(args.rounds):
            for n in sizes:
                course = make_class(Path(tmp) / f"r{round_number}-c{n}", n)
                measured = grade(course)
                runs[n].append({"seconds": round(measured.seconds, 2), "cpu_seconds": round(measured.cpu_seconds, 2),
                                "load": round(os.getloadavg()[0], 2)})
                print(f"round {round_number + 1}, {n:4d} submissions: {measured.seconds:6.2f} s, "
                      f"CPU {measured.cpu_seconds:6.2f} s (load {os.getloadavg()[0]:.2f})", flush=True)
    cpu = {n: statistics.median(r["cpu_seconds"] for r in runs[n]) for n in sizes}
    small, large = sizes[0], sizes[-1]
    marginal = (cpu[large] - cpu[small]) / (large - small)
    fixed = cpu[small] - small * marginal
    result = {"method": peers_cgroup.describe(where[0], where[1]), "runs": runs, "median_cpu_seconds": cpu,
              "marginal_cpu_seconds_per_submission": round(marginal, 4), "fixed_cpu_seconds_per_run": round(fixed, 3),
              "cpu_seconds_per_submission": {n: round(cpu[n] / n, 4) for n in sizes}}
    print(f"per submission (marginal): {marginal:.3f} CPU-s; fixed per run: {fixed:.2f} CPU-s; "
          + ", ".join(f"{n}: {cpu[n] / n:.3f} CPU-s/submission" for n in sizes))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
