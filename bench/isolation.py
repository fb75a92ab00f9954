"""One task per process, two ways: forked children of one harness that never reads a task (what
grading uses) against one fresh sandboxed interpreter per task.

    .venv/bin/python bench/isolation.py [--rounds 10]

Each round runs one submission's re-execution tasks (every step of the assignment under the task
seed and two secret seeds, the reference answers as the student's cells) both ways, interleaved.
Printed per way: wall seconds and CPU seconds (this process's children, which wait for every
sandboxed process) per submission, as the median of the rounds, and the ratio.
"""
import argparse
import json
import resource
import secrets
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autograder.notebook import expected, reexecute, steps  # noqa: E402


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measured(run) -> tuple:
    wall, cpu = time.perf_counter(), children_cpu()
    run()
    return time.perf_counter() - wall, children_cpu() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--expected", type=Path, default=Path(__file__).resolve().parents[1] / "source"
                        / "reproducibility" / "reproducibility.expected.json",
                        help="a steps notebook's derived data (default: reproducibility.ipynb's)")
    args = parser.parse_args()
    data = expected.load(args.expected)
    decl = steps.declaration(data["declaration"])
    seeds = [decl.task_seed, secrets.randbits(63), secrets.randbits(63)]
    references = expected.references(data, seeds)
    tasks = [steps.student_task(step, data["reference"][step.id], references[seed][step.id]["before"])
             for step in decl.steps for seed in seeds]
    ways = {"forked children of one harness": lambda: reexecute.run_isolated(tasks),
            "a fresh interpreter per task": lambda: [reexecute.run_isolated([task]) for task in tasks]}
    found = {way: [] for way in ways}
    for _ in range(args.rounds):
        for way, run in ways.items():
            found[way].append(measured(run))
    result = {way: {"tasks": len(tasks), "wall_seconds": round(statistics.median(w for w, _ in runs), 3),
                    "cpu_seconds": round(statistics.median(c for _, c in runs), 3)}
              for way, runs in found.items()}
    forked, fresh = result.values()
    result["fresh / forked"] = {"wall": round(fresh["wall_seconds"] / forked["wall_seconds"], 2),
                                "cpu": round(fresh["cpu_seconds"] / forked["cpu_seconds"], 2)}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
