"""Benchmark: ours against the graders an instructor would use instead, on the same submissions.

    .venv/bin/python bench/peers.py [--students 40 200] [--rounds 2] [--otter-jobs N]
                                    [--no-secondary] [--json peers-results.json]

For each class size (the example class, examples/reproducibility/class.json, cycled: right,
forgot-seed, wrong seed, hard-coded list, six draws, blank, a comprehension), three graders are
built in a temp dir on the same answers (bench/peers_courses.py):

- ``plain``: a plain nbgrader course as nbgrader's docs teach it (default config: only the course
  id and root; visible asserts plus ``### BEGIN HIDDEN TESTS`` asserts in the kernel; no course
  code), ``nbgrader autograde reproducibility``, sequential;
- ``otter``: otter-grader's ``otter run`` (the version bench/requirements-otter.txt pins,
  installed by the bench into its own venv under ~/.cache, no Docker), one autograder zip per
  notebook from ``otter generate``, one ``otter run`` per notebook and student, ``--otter-jobs``
  at a time (default: one per core) through ``xargs -P``;
- ``ours``: ``python -m autograder grade reproducibility`` in a course like the repository's.

``--rounds`` interleaved rounds (the order rotates each round), each on a fresh copy. Each grading
command runs in a cgroup of its own (bench/peers_cgroup.py), so its CPU counts its whole process
tree: sandboxed, reparented and kernel processes too. Prints seconds and CPU-seconds per
submission (median of the rounds), the ratios to plain nbgrader and issue 22's targets marked met
or not; then the verdicts per variant (points per step and the quiz's, per grader) and each
disagreement explained; then, unless ``--no-secondary``, bench/grade_class.py's same-pipeline
comparison, ``stock``: ``nbgrader autograde`` sequential under this course's own config, a
fourth command in the same rounds (its gradebook must equal ours). Writes it all as JSON
(``--json``). Speed is measured here, never in the tests.
"""
import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import peers_cgroup  # noqa: E402
import peers_courses as courses  # noqa: E402

TOOLS = ("plain", "otter", "ours", "stock")
REQUIREMENTS = HERE / "requirements-otter.txt"
STEPS = ("test_step1", "test_step2", "test_step3", "test_step4")
# Why a grader's verdict on a step differs from the others', for the disagreements these
# variants are known to cause; any other disagreement is printed as UNEXPLAINED.
LATER_STEPS = ("ours judges each step on its own, from the reference's earlier steps, so a mistake "
               "costs only its step; the asserts run in one kernel after the student's own earlier "
               "steps, so a wrong or missing seed (or a sixth draw) fails every later step too")
OTTER_EMOJI = ("otter alone: a passing check's result, displayed in the student's kernel, picks an "
               "emoji with the global random module (_repr_html_ in otter/test_files/abstract_test.py), "
               "so step 2's passing check draws from the seeded generator and step 3's draws shift")
EXPLAINED = {
    ("right", "test_step3"): OTTER_EMOJI, ("right", "test_step4"): OTTER_EMOJI,
    ("right (comprehension)", "test_step3"): OTTER_EMOJI, ("right (comprehension)", "test_step4"): OTTER_EMOJI,
    ("hard-coded list", "test_step3"): "the typed list equals seed 42's draws, so the asserts pass it; "
    "ours re-runs the cell under secret seeds too, where a typed list cannot follow",
    ("hard-coded list", "test_step4"): "it prints a typed string equal to seed 42's list, so the asserts "
    "pass it; ours re-runs it under secret seeds too",
    ("forgot-seed", "test_step3"): LATER_STEPS, ("forgot-seed", "test_step4"): LATER_STEPS,
    ("wrong-seed (7)", "test_step3"): LATER_STEPS, ("wrong-seed (7)", "test_step4"): LATER_STEPS,
    ("six draws", "test_step4"): LATER_STEPS,
}


def otter_venv() -> Path:
    """bin/ of a venv with the pinned otter-grader (and a python3 kernelspec of its own), made
    once per requirements file under the cache dir from /usr/bin/python3."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "reproducible-ml-bench"
    venv = cache / f"otter-{digest}"
    if not (venv / ".installed").exists():
        shutil.rmtree(venv, ignore_errors=True)
        print(f"installing otter-grader into {venv} ...", flush=True)
        python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        subprocess.run([venv / "bin" / "pip", "install", "-q", "-r", str(REQUIREMENTS)], check=True,
                       stderr=subprocess.DEVNULL)
        subprocess.run([venv / "bin" / "python", "-m", "ipykernel", "install", "--sys-prefix"], check=True,
                       capture_output=True)
        (venv / ".installed").write_text(REQUIREMENTS.read_text())
    return venv / "bin"


def otter_env(otter_bin: Path) -> dict:
    # an empty user data dir: the kernelspec found is the otter venv's own
    data = otter_bin.parent / "jupyter-data"
    data.mkdir(exist_ok=True)
    return courses.env(otter_bin, JUPYTER_DATA_DIR=str(data))


def command(tool: str, folder: Path, jobs: int) -> list:
    if tool == "plain":
        return [sys.executable, "-m", "nbgrader", "autograde", courses.ASSIGNMENT]
    if tool == "ours":
        return [sys.executable, "-m", "autograder", "grade", courses.ASSIGNMENT]
    if tool == "stock":  # the same pipeline as ours (this course's config), sequential
        return [sys.executable, "-m", "nbgrader", "autograde", courses.ASSIGNMENT]
    listing = folder / "jobs.txt"
    listing.write_text("".join(f"{a} {s} {o}\n" for a, s, o in courses.otter_jobs(folder)))
    return ["xargs", "-a", listing, "-P", str(jobs), "-n", "3", "sh", "-c",
            'exec otter run --no-logo -a "$0" -o "$2" "$1" > "$2/log" 2>&1']


def verdicts(tool: str, folder: Path) -> dict:
    return courses.otter_scores(folder) if tool == "otter" else courses.gradebook_scores(folder)


def by_variant(scores: dict, worth: dict) -> dict:
    """``{variant: {"steps": {grade_id: points}, "quiz": points, "total": points}}``; a variant
    whose students were scored differently is reported as such."""
    out = {}
    for student, cells in sorted(scores.items()):
        row = {"steps": {gid: cells.get(gid, 0) for gid in STEPS},
               "quiz": sum(cells.get(gid, 0) for gid in worth if gid not in STEPS)}
        row["total"] = sum(row["steps"].values()) + row["quiz"]
        label = courses.variant(student)
        if label in out and out[label] != row:
            out[label] = {**out[label], "inconsistent": True}
        out.setdefault(label, row)
    return out


def disagreements(table: dict, worth: dict) -> list:
    """``[(variant, grade_id, {tool: points}, explanation)]`` where the graders differ on a step."""
    found = []
    for label in table["ours"]:
        for gid in STEPS:
            got = {tool: table[tool].get(label, {}).get("steps", {}).get(gid)
                   for tool in table if tool != "stock"}
            if len(set(got.values())) > 1:
                found.append((label, gid, got, EXPLAINED.get((label, gid), "UNEXPLAINED")))
        quiz = {tool: table[tool].get(label, {}).get("quiz") for tool in table if tool != "stock"}
        if len(set(quiz.values())) > 1:
            found.append((label, "quiz", quiz, "UNEXPLAINED"))
    return found


def bench_class(tmp: Path, count: int, args, otter_bin, where) -> dict:
    students = courses.roster(count)
    facts = courses.derived()
    py_bin = Path(sys.executable).parent
    templates = {"plain": courses.plain_course(tmp / f"plain{count}", students, facts, py_bin),
                 "ours": courses.our_course(tmp / f"ours{count}", students, py_bin)}
    if otter_bin:
        templates["otter"] = courses.otter_course(tmp / f"otter{count}", students, facts, otter_bin,
                                                  templates["plain"] / "release" / courses.ASSIGNMENT)
    if not args.no_secondary:
        templates["stock"] = templates["ours"]
    tools = [t for t in TOOLS if t in templates]
    envs = {t: courses.env(py_bin) for t in tools}
    if otter_bin:
        envs["otter"] = otter_env(otter_bin)
    runs = {t: [] for t in tools}
    table = {}
    for r in range(args.rounds):
        order = tools[r % len(tools):] + tools[:r % len(tools)]
        for tool in order:
            copy = shutil.copytree(templates[tool], tmp / f"{tool}{count}-r{r}")
            load = os.getloadavg()[0]
            measured = peers_cgroup.run(command(tool, copy, args.otter_jobs), copy, envs[tool], where=where)
            if measured.returncode != 0:
                print(f"WARNING: {tool} exited {measured.returncode}: {measured.stderr[-1500:]}", flush=True)
            if measured.lingering:
                print(f"WARNING: {tool} left processes in its cgroup: {measured.lingering}", flush=True)
            scores = verdicts(tool, copy)
            if len(scores) != count:
                raise SystemExit(f"{tool}: {len(scores)} of {count} students scored")
            rows = by_variant(scores, courses.points())
            if table.setdefault(tool, rows) != rows:
                raise SystemExit(f"{tool}: the verdicts differ between rounds")
            runs[tool].append({"seconds": round(measured.seconds, 2), "cpu_seconds": round(measured.cpu_seconds, 2),
                               "returncode": measured.returncode, "lingering": measured.lingering,
                               "load_before": round(load, 2)})
            print(f"{count} submissions, round {r + 1}, {tool:5}: {measured.seconds:7.1f} s, "
                  f"CPU {measured.cpu_seconds:7.1f} s (load {load:.2f})", flush=True)
            shutil.rmtree(copy)
    per = {t: {"s_per_submission": round(statistics.median(x["seconds"] for x in runs[t]) / count, 3),
               "cpu_s_per_submission": round(statistics.median(x["cpu_seconds"] for x in runs[t]) / count, 3)}
           for t in tools}
    for t in tools:
        per[t]["wall_vs_plain"] = round(per["plain"]["s_per_submission"] / per[t]["s_per_submission"], 2)
        per[t]["cpu_vs_plain"] = round(per[t]["cpu_s_per_submission"] / per["plain"]["cpu_s_per_submission"], 2)
    ours, plain = per["ours"], per["plain"]
    targets = {"own CPU per submission <= 1/3 of plain nbgrader's":
               ours["cpu_s_per_submission"] * 3 <= plain["cpu_s_per_submission"],
               "wall >= 3x faster than plain nbgrader": plain["s_per_submission"] >= 3 * ours["s_per_submission"]}
    if "otter" in per:
        targets["otter behind ours (wall and CPU)"] = (
            per["otter"]["s_per_submission"] > ours["s_per_submission"]
            and per["otter"]["cpu_s_per_submission"] > ours["cpu_s_per_submission"])
    worth = courses.points()
    same = table.get("stock") == table["ours"] if "stock" in table else None
    return {"submissions": count, "stock_same_as_ours": same, "rounds": runs, "per_submission": per,
            "targets": targets,
            "verdicts": table, "disagreements": [
                {"variant": v, "cell": g, "points": p, "why": w} for v, g, p, w in disagreements(table, worth)],
            "max_points": {"steps": {g: worth[g] for g in STEPS},
                           "quiz": sum(p for g, p in worth.items() if g not in STEPS)}}


def show(result: dict) -> None:
    n, per = result["submissions"], result["per_submission"]
    print(f"\n{n} submissions, median of {len(result['rounds']['plain'])} rounds")
    print(f"{'tool':8} {'s/submission':>13} {'CPU-s/submission':>17} {'wall: plain/tool':>17} {'CPU: tool/plain':>16}")
    for tool, row in per.items():
        if tool == "stock":
            continue
        print(f"{tool:8} {row['s_per_submission']:13.3f} {row['cpu_s_per_submission']:17.3f} "
              f"{row['wall_vs_plain']:16.2f}x {row['cpu_vs_plain']:15.2f}x")
    for target, met in result["targets"].items():
        print(f"  target: {target}: {'met' if met else 'NOT MET'}")
    steps = result["max_points"]["steps"]
    print(f"\nverdicts (points; steps 1-4 out of {list(steps.values())}, quiz out of "
          f"{result['max_points']['quiz']}):")
    peers = [tool for tool in result["verdicts"] if tool != "stock"]
    print(f"{'variant':24} " + " ".join(f"{tool:>20}" for tool in peers))
    for label in result["verdicts"]["ours"]:
        cells = []
        for tool in peers:
            row = result["verdicts"][tool][label]
            cells.append(f"{'/'.join('%g' % row['steps'][g] for g in STEPS)} q{row['quiz']:g} ={row['total']:g}"
                         + ("!" if row.get("inconsistent") else ""))
        print(f"{label:24} " + " ".join(f"{c:>20}" for c in cells))
    print("disagreements:" if result["disagreements"] else "disagreements: none")
    for d in result["disagreements"]:
        points = ", ".join(f"{t} {p:g}" if p is not None else f"{t} -" for t, p in d["points"].items())
        print(f"  {d['variant']}, {d['cell']} ({points}): {d['why']}")
    if "stock" in per:
        print(f"\nsame pipeline (this course's config; bench/grade_class.py's comparison, CPU by cgroup): "
              f"stock `nbgrader autograde` {per['stock']['s_per_submission']:.3f} s/submission, CPU "
              f"{per['stock']['cpu_s_per_submission']:.3f}; ours {per['ours']['s_per_submission']:.3f} s, CPU "
              f"{per['ours']['cpu_s_per_submission']:.3f}; ours vs stock "
              f"{per['stock']['s_per_submission'] / per['ours']['s_per_submission']:.2f}x wall, "
              f"{per['ours']['cpu_s_per_submission'] / per['stock']['cpu_s_per_submission']:.2f}x CPU; "
              f"identical gradebooks: {result['stock_same_as_ours']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, nargs="+", default=[40])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--otter-jobs", type=int, default=os.cpu_count(), help="`otter run`s at a time")
    parser.add_argument("--no-otter", action="store_true", help="leave otter-grader out")
    parser.add_argument("--no-secondary", action="store_true", help="leave out the same-pipeline "
                        "table (stock `nbgrader autograde` under this course's config)")
    parser.add_argument("--json", type=Path, default=Path("peers-results.json"))
    args = parser.parse_args()

    where = peers_cgroup.place()
    method = peers_cgroup.describe(where[0], where[1])
    if where[0] == 0:
        print(f"WARNING: {method} ({where[2]})", flush=True)
    otter_bin = None if args.no_otter else otter_venv()
    load = os.getloadavg()
    results = {"cores": os.cpu_count(), "cpu_method": method, "load_before": [round(x, 2) for x in load],
               "sandbox": os.environ.get("AUTOGRADER_SANDBOX", "(unset)"), "otter_jobs": args.otter_jobs,
               "otter": (REQUIREMENTS.read_text().split("otter-grader==")[1].split()[0] if otter_bin else None),
               "classes": []}
    print(f"CPU counted by: {method}\nload average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"AUTOGRADER_SANDBOX={results['sandbox']}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
        for count in args.students:
            result = bench_class(Path(tmp), count, args, otter_bin, where)
            results["classes"].append(result)
            show(result)
    results["load_after"] = [round(x, 2) for x in os.getloadavg()]
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nload average after: {results['load_after']}; JSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
