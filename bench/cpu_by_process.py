"""Where a grade run's CPU goes, by the role of each process in it.

    sudo AUTOGRADER_SANDBOX=required .venv/bin/python bench/cpu_by_process.py --students 40 [--json out.json]

``perf record`` (all CPUs, cpu-clock) around one ``python -m autograder grade`` of a fresh class
(``grade_class.make_class``); every sample of the command's process tree goes to a role, found
from the tree perf recorded (forks and execs):

- ``coordinator``: the command's own process;
- ``workers``: the processes it forks that never exec (``pool.Worker``);
- ``launcher + bwrap``: per sandbox, the launcher (``python -I -S``, which execs bwrap);
- ``sandbox init``: bwrap's child in the new namespaces (mounts, then waits);
- ``harness``: the interpreter that setpriv and prlimit exec into, one per submission, and its
  ``task runs``: the children it forks, one per task;
- ``kept grader-side harness``: a harness that forks no task (``run_grader_tasks``'s batches);
- anything else in the tree under its own name.

Prints each role's CPU per submission, its kernel share and the kernel functions it spends most
in. Needs perf (Debian: ``linux-perf``) and a quiet machine: perf samples every CPU, though only
the command's tree is counted.
"""
import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from grade_class import ASSIGNMENT, env, make_class  # noqa: E402

FREQUENCY = 1999
FORK = re.compile(r"PERF_RECORD_FORK\((\d+):(\d+)\):\((\d+):(\d+)\)")
COMM = re.compile(r"PERF_RECORD_COMM(?: exec)?: (.*):(\d+)/(\d+)")
SAMPLE = re.compile(r"^\s*(.+?)\s+(\d+)/(\d+)\s+(\d+)\s+[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$")


def record(course: Path, data: Path) -> int:
    """Run the grade under perf; the command's pid (perf's child)."""
    perf = subprocess.Popen(["perf", "record", "-q", "-F", str(FREQUENCY), "-a", "-o", str(data), "--",
                             sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--course", str(course)],
                            cwd=course, env=dict(os.environ, **env()), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    _, err = perf.communicate()
    if perf.returncode not in (0, 1):  # 1: a submission of the class failed, as the class means
        sys.exit(f"perf or the grade failed ({perf.returncode}): {err[-2000:]}")
    return perf.pid


def read(data: Path):
    """``(parent of each pid, names each pid had, samples as (pid, nanoseconds, symbol, dso))``."""
    out = subprocess.run(["perf", "script", "-i", str(data), "--show-task-events",
                          "-F", "comm,pid,tid,period,ip,sym,dso"], capture_output=True, text=True,
                         errors="replace", check=True).stdout
    parent, names, samples = {}, collections.defaultdict(list), []
    for line in out.splitlines():
        found = FORK.search(line)
        if found:
            child, child_tid, par, _ = map(int, found.groups())
            if child == child_tid and child != par:
                parent[child] = par
            continue
        found = COMM.search(line)
        if found:
            names[int(found.group(2))].append(found.group(1))
            continue
        found = SAMPLE.match(line)
        if found and "PERF_RECORD" not in line:
            samples.append((int(found.group(2)), int(found.group(4)), found.group(5), found.group(6)))
    return parent, names, samples


def roles(perf_pid: int, parent: dict, names: dict) -> dict:
    """``{pid: role}`` for the grade command's tree."""
    children = collections.defaultdict(list)
    for child, par in parent.items():
        children[par].append(child)
    (command,) = children[perf_pid] or [None]
    found = {}

    def walk(pid, role):
        found[pid] = role
        for child in children[pid]:
            walk(child, child_role(pid, role, child))

    def child_role(pid, role, child):
        last = (names.get(child) or ["?"])[-1]
        if role == "coordinator":
            return "workers" if not names.get(child) else last
        if role == "workers":
            return "launcher + bwrap" if last == "bwrap" else last
        if role == "launcher + bwrap":
            return "sandbox init"
        if role == "sandbox init":
            return "harness" if children[child] else "kept grader-side harness"
        if role == "harness":
            return "task runs"
        return role

    if command is not None:
        walk(command, "coordinator")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cpu-by-process-") as tmp:
        course = make_class(Path(tmp) / "class", args.students)
        data = Path(tmp) / "perf.data"
        perf_pid = record(course, data)
        parent, names, samples = read(data)
    role_of = roles(perf_pid, parent, names)
    cpu, kernel, pids = collections.Counter(), collections.Counter(), collections.defaultdict(set)
    symbols = collections.defaultdict(collections.Counter)
    for pid, period, symbol, dso in samples:
        role = role_of.get(pid)
        if role is None:
            continue
        cpu[role] += period
        pids[role].add(pid)
        if "kernel" in dso:
            kernel[role] += period
            symbols[role][symbol] += period
    n = args.students
    rows = [{"role": role, "processes": len(pids[role]), "ms_per_submission": round(ns / 1e6 / n, 2),
             "kernel_ms_per_submission": round(kernel[role] / 1e6 / n, 2),
             "top_kernel_functions": [name for name, _ in symbols[role].most_common(5)]}
            for role, ns in cpu.most_common()]
    total = sum(cpu.values()) / 1e9
    print(f"{n} submissions, {total:.2f} CPU-s in the grade command's tree ({total / n * 1000:.1f} ms per submission)")
    print(f"{'role':28s} {'processes':>9s} {'ms/submission':>13s} {'of it kernel':>12s}  kernel spends most in")
    for row in rows:
        print(f"{row['role']:28s} {row['processes']:9d} {row['ms_per_submission']:13.2f} "
              f"{row['kernel_ms_per_submission']:12.2f}  {', '.join(row['top_kernel_functions'][:3])}")
    if args.json:
        args.json.write_text(json.dumps({"students": n, "cpu_seconds": round(total, 3), "roles": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
