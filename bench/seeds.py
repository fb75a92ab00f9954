"""Choosing a submission's secret seeds (autograder/notebook/reexecution_seeds.py), measured.

    .venv/bin/python bench/seeds.py [--draws 200]

Runs ``draw()`` for ``--draws`` submissions (fresh entropy each: the hardest case) and prints
how many secret seeds a grading run got, how many candidate batches (sandboxed processes) the
choice took, and its median wall-clock seconds.
"""
import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autograder.notebook import expected, reexecution_seeds  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--expected", type=Path, default=Path(__file__).resolve().parents[1] / "source"
                        / "reproducibility" / "reproducibility.expected.json",
                        help="a steps notebook's derived data (default: reproducibility.ipynb's)")
    args = parser.parse_args()
    data = expected.load(args.expected)
    batches, seeds, seconds = Counter(), Counter(), []
    original = reexecution_seeds.separating

    def counted(*a, **k):
        batches[len(seconds)] += 1
        return original(*a, **k)
    reexecution_seeds.separating = counted
    for _ in range(args.draws):
        started = time.perf_counter()
        drawn = reexecution_seeds.draw([data])
        seconds.append(time.perf_counter() - started)
        seeds[len(drawn) - 1] += 1
    print(json.dumps({"draws": args.draws, "batch_size": reexecution_seeds.BATCH,
                      "secret_seeds_per_run": dict(sorted(seeds.items())),
                      "candidate_batches_per_run": dict(sorted(Counter(batches.values()).items())),
                      "median_seconds": round(statistics.median(seconds), 3)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
