"""Benchmark: the deadline rush on a deployed hub (issue 21 item 3; run as root, Node >= 20).

    .venv/bin/python bench/rush.py [--students 200] [--window 120] [--json results.json]

Deploys the course with ``make hub`` from a fresh clone into temp paths, loopback only
(tests/e2e_support.py; the course's own CourseHub and GradingService defaults), makes
``--students`` unix users in its student group, and has each one, as that account, copy the
released notebook into its home (``--fetch nbgrader`` runs ``nbgrader fetch_assignment`` instead)
and write one answer variant (a mix of right and mistaken, the variant of each user recorded).
Then each runs ``nbgrader submit`` from the students' environment as its own account at a random
moment within ``--window`` seconds (one thread per student, each starting its runuser call at
that moment, however many others are still running, in a session of its own as from the
student's own terminal: with the kernel's autogroup scheduling, on by default, CPU is shared
fairly between sessions, not processes), while the hub's login page is fetched every
0.5 s and its latency recorded. It waits (bounded by ``--timeout``)
for every submission's feedback release (the grading journal, course_root/grading/queue.db, and
the pages in the exchange), then checks:

- exactly once: one journal row per student, released, graded in one attempt (one ``grading``
  event), one gradebook submission per student;
- none lost or misattributed: every student's gradebook score is the score of their variant,
  derived beforehand by grading one notebook of each variant with the course's grader (``python -m
  autograder grade`` in a temp course);
- consistent: exports/reproducibility/grades.csv gives every student the gradebook's score.

Prints p50/p95/max submit -> feedback released (from the moment ``nbgrader submit`` started to the
journal's release time), the login page's p50/p95/max during the rush and after it, the load
average, the verdicts, and where the CPU went from the rush's start to the last release: the
submit commands (this process's reaped children, ``getrusage``) and the hub's process tree
(``make hub``: the hub, its proxy, the grading service and its grade runs; psutil, reaped
descendants included), each in CPU-seconds and per submission; writes them as JSON. The users are removed at the end, the hub (and
its services) stopped by its own pid.
"""
import argparse
import concurrent.futures
import csv
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import peers_cgroup  # noqa: E402
from corpus import reproducibility  # noqa: E402
import e2e_support  # noqa: E402
from e2e_support import ASSIGNMENT, DeployedClass, skip_reason  # noqa: E402
from support import hand_in, make_course  # noqa: E402

VARIANTS = {"right": reproducibility.REFERENCE,
            "no_seed": {**reproducibility.REFERENCE, "step2": reproducibility.STEP2_NO_SEED},
            "seed_7": {**reproducibility.REFERENCE, "step2": reproducibility.STEP2_SEED_7},
            "range_6": {**reproducibility.REFERENCE, "step3": reproducibility.STEP3_RANGE_6}}
WEIGHTS = {"right": 2, "no_seed": 1, "seed_7": 1, "range_6": 1}


def expected_scores() -> dict:
    """{variant: total score} from grading one notebook of each with the course's grader."""
    from nbgrader.api import Gradebook
    with tempfile.TemporaryDirectory() as tmp:
        course = make_course(Path(tmp) / "course")
        for variant, answers in VARIANTS.items():
            hand_in(course, f"v_{variant}", answers)
        subprocess.run([sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--course", str(course)],
                       cwd=course, check=True, capture_output=True)
        with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as book:
            return {s.student.id[2:]: s.score for s in book.assignment_submissions(ASSIGNMENT)}


def percentile(values: list, q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))], 2) if ordered else None


def spread(values: list) -> dict:
    return {"n": len(values), "p50": percentile(values, 0.5), "p95": percentile(values, 0.95),
            "max": round(max(values), 2) if values else None}


class LoginProbe(threading.Thread):
    """GET the hub's login page every ``every`` seconds: [(wall time, seconds or None)]."""

    def __init__(self, url: str, every: float = 0.5):
        super().__init__(daemon=True)
        self.url, self.every, self.samples, self.done = url, every, [], threading.Event()

    def run(self):
        while not self.done.is_set():
            started = time.time()
            try:
                ok = requests.get(self.url, timeout=30).status_code == 200
            except requests.RequestException:
                ok = False
            self.samples.append((started, time.time() - started if ok else None))
            self.done.wait(max(0.0, self.every - (time.time() - started)))


class SubmitsDone(Exception):
    """--submits-only: the submits are measured; nothing is graded."""


def tree_cpu(pid: int) -> dict:
    """{process name: CPU seconds} of ``pid`` and its live descendants, each with what it reaped."""
    found = {}
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return found
    for proc in processes:
        try:
            times = proc.cpu_times()
            cmd = " ".join(proc.cmdline()[:4])
        except psutil.NoSuchProcess:
            continue
        name = ("grading service (+ its grade runs)" if "grading_service" in cmd else
                "proxy" if "configurable-http-proxy" in cmd else
                "hub" if "jupyterhub" in cmd and not any(w in cmd for w in ("idle", "singleuser", "labhub")) else "other (make, deploy, culler, formgrader)")
        found[name] = found.get(name, 0.0) + times.user + times.system + times.children_user + times.children_system
    return found


def machine_cpu() -> dict:
    """The whole machine's CPU seconds so far (/proc/stat): busy (user, nice, system, irq,
    softirq, steal), iowait, idle."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    tick = os.sysconf("SC_CLK_TCK")
    return {"busy": (user + nice + system + irq + softirq + steal) / tick, "iowait": iowait / tick, "idle": idle / tick}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def prepare(klass: DeployedClass, name: str, answers: dict, fetch: str) -> None:
    """The release notebook into ``name``'s home (as them), answered."""
    if fetch == "nbgrader":
        klass.nbgrader(name, "fetch_assignment", ASSIGNMENT)
    else:
        klass.run_as(name, ["mkdir", "-p", klass.home(name) / ASSIGNMENT])
    klass.write_answer(name, answers)


class Counted:
    """Two cgroups (peers_cgroup's kind): the submit commands', and the hub's tree (moved in at the
    rush's start; what it starts after stays in it). Whatever else the machine did is the rest."""

    def __init__(self):
        self.version, parent, reason = peers_cgroup.place()
        if not self.version:
            sys.exit(f"no cgroup for the CPU count: {reason}")
        self.folders = {k: parent / f"{peers_cgroup.PREFIX}rush-{k}-{os.getpid()}" for k in ("submits", "hub")}
        for folder in self.folders.values():
            folder.mkdir()

    def adopt(self, pid: int) -> None:
        """``pid`` and its descendants into the hub's cgroup."""
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            try:
                (self.folders["hub"] / "cgroup.procs").write_text(str(proc.pid))
            except OSError:
                pass  # gone meanwhile

    def wrap(self, argv: list) -> list:
        """``argv`` started inside the submits' cgroup."""
        return ["/bin/sh", "-c", peers_cgroup.WRAPPER, str(self.folders["submits"] / "cgroup.procs"), *map(str, argv)]

    def usage(self) -> dict:
        return {k: peers_cgroup._usage(self.version, f) for k, f in self.folders.items()}

    def close(self) -> None:
        for folder in self.folders.values():
            peers_cgroup._remove(folder)


def submit(klass: DeployedClass, name: str, at: float, counted: Counted) -> dict:
    time.sleep(max(0.0, at - time.time()))
    started = time.time()
    python = Path(klass.settings["student_env"]) / "venv" / "bin" / "python"
    proc = subprocess.run(counted.wrap([e2e_support.RUNUSER, "-u", name, "--", python, "-m", "nbgrader", "submit",
                                        ASSIGNMENT]), cwd=klass.home(name), env=klass.env(name),
                          capture_output=True, text=True, timeout=600,
                          start_new_session=True)  # as from the student's own terminal or login
    return {"student": name, "started": started, "seconds": time.time() - started, "rc": proc.returncode,
            "error": proc.stderr[-500:] if proc.returncode else ""}


def journal_events(klass: DeployedClass) -> list:
    db = sqlite3.connect(f"file:{Path(klass.settings['course_root']) / 'grading' / 'queue.db'}?mode=ro", uri=True)
    try:
        return db.execute("SELECT submission, event FROM events").fetchall()
    finally:
        db.close()


def grades_csv(klass: DeployedClass) -> dict:
    path = klass.course / "exports" / ASSIGNMENT / "grades.csv"
    if not path.is_file():
        return {}
    with open(path, newline="") as f:
        return {row["student_id"]: float(row["score"]) if row["score"] else None for row in csv.DictReader(f)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--window", type=float, default=120.0, help="seconds over which the submits are spread")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait for every release")
    parser.add_argument("--fetch", choices=("copy", "nbgrader"), default="copy")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--submits-only", action="store_true",
                        help="the same submits with the grading service idle (it polls once a fortnight): "
                             "what the submit commands alone cost and take, the floor of the latency")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    reason = skip_reason()
    if reason:
        sys.exit(reason)
    os.environ.setdefault("AUTOGRADER_SANDBOX", "required")
    pick = random.Random(args.seed)
    print("grading one notebook of each variant with the course ...", flush=True)
    expected = expected_scores()
    print(f"expected scores: {expected}", flush=True)
    result = {"students": args.students, "window_s": args.window, "fetch": args.fetch,
              "cores": len(os.sched_getaffinity(0)), "expected_by_variant": expected,
              "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load_before": os.getloadavg()}
    started = time.monotonic()
    klass = DeployedClass("c.GradingService.poll_seconds = 1.2e6\n" if args.submits_only else "")
    result["submits_only"] = args.submits_only
    probe = counted = None
    try:
        result["deploy_s"] = round(time.monotonic() - started, 1)
        names = [klass.add_user(f"s{i:03d}", "student") for i in range(args.students)]
        variant = {name: pick.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0] for name in names}
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda n: prepare(klass, n, VARIANTS[variant[n]], args.fetch), names))
        print(f"{len(names)} users made and answered ({time.monotonic() - started:.0f} s since the start)", flush=True)

        probe = LoginProbe(f"{klass.base}/hub/login")
        probe.start()
        time.sleep(5)                                       # a few quiet samples first
        counted = Counted()
        counted.adopt(klass.hub.proc.pid)
        hub_cpu_before, submits_cpu_before = tree_cpu(klass.hub.proc.pid), children_cpu()
        machine_before, counted_before = machine_cpu(), counted.usage()
        rush_start = time.time()
        moments = {n: rush_start + pick.uniform(0, args.window) for n in names}
        with concurrent.futures.ThreadPoolExecutor(len(names)) as pool:
            submits = list(pool.map(lambda n: submit(klass, n, moments[n], counted), names))
        submits_cpu = children_cpu() - submits_cpu_before
        rush_end = time.time()
        load_rush = os.getloadavg()
        failed = [s for s in submits if s["rc"]]
        print(f"submits done in {rush_end - rush_start:.0f} s, {len(failed)} failed; load {load_rush}", flush=True)
        if args.submits_only:
            probe.done.set()
            inbound = klass.exchange / "inbound"
            result.update({
                "submit_failed": len(failed), "submit_errors": [f["error"] for f in failed[:5]],
                "submit_command_s": spread([s["seconds"] for s in submits]),
                "rush_s": round(rush_end - rush_start, 1),
                "in_inbound": sum(1 for e in os.scandir(inbound) if e.name.split("+")[0] in variant),
                "login_during_rush_s": spread([s for t, s in probe.samples if rush_start <= t <= rush_end and s]),
                "load_rush": load_rush,
                "machine_cpu_s": {k: round(v - machine_before[k], 1) for k, v in machine_cpu().items()},
                "cpu_s_by_cgroup": {k: round(v - counted_before[k], 1) for k, v in counted.usage().items()},
                "cpu_s": {"submit commands": round(submits_cpu, 1),
                          "capacity (cores x seconds of the rush)": round(result["cores"] * (rush_end - rush_start), 1)},
                "cpu_s_per_submission": {"submit command": round(submits_cpu / len(names), 3)}})
            raise SubmitsDone

        deadline = time.monotonic() + args.timeout
        while True:
            rows = [r for r in klass.rows() if r["student"] in variant]
            pending = [r for r in rows if r["state"] in ("received", "grading", "graded")]
            if not pending and len({r["student"] for r in rows}) >= len(names) - len(failed):
                break
            if time.monotonic() > deadline:
                print(f"timed out: {len(pending)} submissions not released", flush=True)
                break
            time.sleep(2)
        all_done = time.time()
        machine = {k: round(v - machine_before[k], 1) for k, v in machine_cpu().items()}
        by_cgroup = {k: round(v - counted_before[k], 1) for k, v in counted.usage().items()}
        by_cgroup["the rest of the machine"] = round(machine["busy"] - sum(by_cgroup.values()), 1)
        hub_cpu = tree_cpu(klass.hub.proc.pid)
        hub_cpu = {k: round(v - hub_cpu_before.get(k, 0.0), 1) for k, v in hub_cpu.items()}
        time.sleep(3)
        probe.done.set()
        probe.join()

        rows = [r for r in klass.rows() if r["student"] in variant]
        by_student = {}
        for r in rows:
            by_student.setdefault(r["student"], []).append(r)
        events = journal_events(klass)
        grading_events = {}
        for submission, event in events:
            if event == "grading":
                grading_events[submission] = grading_events.get(submission, 0) + 1
        scores, exported = klass.scores(), grades_csv(klass)
        began = {s["student"]: s["started"] for s in submits}
        latency = [r["finished"] - began[r["student"]] for r in rows if r["state"] == "released"]
        # from nbgrader's own timestamp (taken once its imports are done, as it starts copying)
        stamped = [r["finished"] - datetime.fromisoformat(r["timestamp"]).timestamp()
                   for r in rows if r["state"] == "released"]
        exactly_once = (sorted(by_student) == sorted(names) and all(len(v) == 1 for v in by_student.values())
                        and all(v[0]["state"] == "released" for v in by_student.values())
                        and all(grading_events.get(v[0]["id"]) == 1 for v in by_student.values())
                        and sorted(s for s in scores if s in variant) == sorted(names))
        wrong = {n: (variant[n], scores.get(n), expected[variant[n]]) for n in names
                 if scores.get(n) != expected[variant[n]]}
        inconsistent = {n: (scores.get(n), exported.get(n)) for n in names if exported.get(n) != scores.get(n)}
        pages = len(klass.feedback_files())
        during = [s for t, s in probe.samples if rush_start <= t <= rush_end and s is not None]
        after = [s for t, s in probe.samples if rush_end < t <= all_done and s is not None]
        result.update({
            "submit_failed": len(failed), "submit_errors": [f["error"] for f in failed[:5]],
            "submit_command_s": spread([s["seconds"] for s in submits]),
            "rush_s": round(rush_end - rush_start, 1), "all_released_after_rush_start_s": round(all_done - rush_start, 1),
            "feedback_latency_s": spread(latency), "stamp_to_feedback_s": spread(stamped),
            "login_during_rush_s": spread(during), "login_after_rush_s": spread(after),
            "login_failed": sum(1 for _, s in probe.samples if s is None),
            "journal_states": {st: sum(1 for r in rows if r["state"] == st) for st in {r["state"] for r in rows}},
            "grade_runs": len({r["started"] for r in rows if r["started"]}),
            "feedback_pages_in_exchange": pages,
            "variants": {v: sum(1 for n in names if variant[n] == v) for v in VARIANTS},
            "exactly_once": exactly_once, "points_match_variant": not wrong, "misattributed": dict(list(wrong.items())[:10]),
            "gradebook_equals_grades_csv": not inconsistent, "inconsistent": dict(list(inconsistent.items())[:10]),
            "load_rush": load_rush, "load_after": os.getloadavg(),
            "machine_cpu_s": machine, "cpu_s_by_cgroup": by_cgroup,
            "cpu_s_by_process": {"submit commands": round(submits_cpu, 1), **hub_cpu,
                      "capacity (cores x seconds from the rush's start to the last release)":
                          round(result["cores"] * (all_done - rush_start), 1)},
            "cpu_s_per_submission": {"submit command": round(by_cgroup["submits"] / len(names), 3),
                                     "hub's tree": round(by_cgroup["hub"] / len(names), 3)}})
        result["variant_of"] = variant
    except SubmitsDone:
        pass
    finally:
        if probe is not None:
            probe.done.set()
        if counted is not None:
            counted.close()
        removed = klass.close()
        result["accounts_removed"] = len(removed)
        result["accounts_left"] = klass.leftover_accounts()
    summary = {k: v for k, v in result.items() if k != "variant_of"}
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    if args.submits_only:
        return 0 if result.get("submit_failed") == 0 and result.get("in_inbound") == args.students else 1
    ok = result.get("exactly_once") and result.get("points_match_variant") and result.get("gradebook_equals_grades_csv")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
