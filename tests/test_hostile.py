"""Hostile and broken submissions graded together with honest ones, by the real `nbgrader autograde`.

Every hostile action is bounded in the test code itself (at most 300 processes, 4 GiB of
address space, one 15 s cell), so a limit that fails to hold cannot harm the machine; the
sandbox and the limits are what keep them from doing anything, and the assertions check that
they did nothing: honest scores exact, the course's files untouched, nothing read, each hostile
student told which limit or rule it hit. (The run's time is printed, not asserted: speed lives
in bench/. The whole-sandbox budget, floods, descriptors and the time budget are in
tests/test_budget.py.)
"""
import hashlib
import json
import os
import shutil
import sqlite3
import time
from pathlib import Path

import nbformat
import pytest

from autograder.course import feedback
from autograder.notebook.sandbox import bwrap, modes
from corpus import reproducibility
from support import (ASSIGNMENT, ROOT, fill, nbgrader, release_notebook, run_every_notebook,
                     step_scores, submit)

pytestmark = pytest.mark.bwrap  # asserts what the sandbox keeps out

REFERENCE = reproducibility.REFERENCE
STEPS = ("step1", "step2", "step3", "step4")
# What a hostile write leaves behind, built at run time so that the notebooks never hold it.
MARK = "b'OWNED-' + b'BY-HOSTILE'"
MARK_BYTES = b"OWNED-BY-HOSTILE"
# Text only the instructor side holds: solution/hidden-test markers, expected values, quiz key.
SECRETS = ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", '"outcomes":', '"answer":')


def hostile_cases(course: Path) -> dict:
    """student -> (answers, steps that earn points, words its report must contain)."""
    other = course / "submitted" / "honest_full" / ASSIGNMENT / "reproducibility.ipynb"
    return {
        "writes_gradebook": ({"step1": (
            "accuracy_scores = []\n"
            f"for path in [{str(course / 'gradebook.db')!r}, '../../../gradebook.db', 'left_behind.txt']:\n"
            f"    with open(path, 'wb') as f:\n        f.write({MARK})\n")},
            {2, 3, 4}, ["sandbox"]),
        "rewrites_other_student": ({"step1": (
            "accuracy_scores = []\n"
            f"for path in [{str(other)!r}, '../../honest_full/reproducibility/reproducibility.ipynb']:\n"
            f"    with open(path, 'wb') as f:\n        f.write({MARK})\n")},
            {2, 3, 4}, ["sandbox"]),
        "reads_source": ({
            "step1": ("accuracy_scores = []\n"
                      f"print(open({str(course / 'source' / ASSIGNMENT / 'reproducibility.ipynb')!r}).read())\n"),
            "step2": ("import random\nrandom.seed(42)\n"
                      f"print(open({str(ROOT / 'source' / ASSIGNMENT / 'reproducibility.expected.json')!r}).read())\n"
                      f"print(open({str(ROOT / 'source' / ASSIGNMENT / 'quiz.expected.json')!r}).read())\n")},
            {3, 4}, ["sandbox"]),
        "fork_loop": ({"step1": (  # bounded: 300 children that each sleep and exit
            "accuracy_scores = []\nimport os, time\n"
            "for i in range(300):\n    if os.fork() == 0:\n        time.sleep(20)\n        os._exit(0)\n")},
            {2, 3, 4}, ["process limit"]),
        "allocates_4gib": ({"step1": (  # bounded: 64 blocks of 64 MiB
            "accuracy_scores = []\nblocks = []\n"
            "for i in range(64):\n    blocks.append(bytearray(64 << 20))\n")},
            {2, 3, 4}, ["memory limit"]),
        # Each print flushed: without it the kernel's own buffer (the loop's prints piling up while
        # 100 MB is encoded) may run out of memory before anything is sent, and nothing is capped.
        "prints_forever": ({"step1": (
            "accuracy_scores = []\nprint('y' * 10**8, flush=True)\nwhile True:\n"
            "    print('x' * 10000, flush=True)\n")},
            {2, 3, 4}, ["output limit"]),
        "ignores_sigint": ({"step1": (
            "accuracy_scores = []\nimport signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
            "while True:\n    pass\n")},
            {2, 3, 4}, ["time limit"]),
    }


HONEST = {
    "honest_full": (REFERENCE, {1, 2, 3, 4}),
    "honest_range_6": ({**REFERENCE, "step3": reproducibility.STEP3_RANGE_6},
                       {1, 2, 4}),
}


def tree_digest(root: Path, skip=()) -> dict:
    """{relative path: sha256} of every file under ``root`` except the ``skip`` prefixes."""
    digests = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not any(rel == s or rel.startswith(s + "/") for s in skip):
            digests[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def gradebook_rows(db: Path) -> set:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return set(conn.iterdump())


@pytest.fixture(scope="module")
def hostile_class(course_template, tmp_path_factory):
    mode = modes.detect()
    if not mode.sandboxed:
        pytest.fail("no sandbox on this machine (%s): apt-get install bubblewrap" % mode.reason)
    course = Path(shutil.copytree(course_template, tmp_path_factory.mktemp("hostile") / "course"))
    run_every_notebook(course)
    release = release_notebook(course)
    cases = hostile_cases(course)
    for student, (answers, _) in HONEST.items():
        submit(course, student, fill(release, answers))
    for student, (answers, _, _) in cases.items():
        submit(course, student, fill(release, {**REFERENCE, **answers}))
    before = tree_digest(course, skip=("gradebook.db",))
    rows_before = gradebook_rows(course / "gradebook.db")
    start = time.monotonic()
    run = nbgrader(course, "autograde", ASSIGNMENT, "--force")
    seconds = time.monotonic() - start  # reported, not asserted: speed lives in bench/
    print("\nautograde of %d students took %.1f s" % (len(HONEST) + len(cases), seconds))
    feedback.generate(course, ASSIGNMENT)
    return {"course": course, "cases": cases, "run": run, "seconds": seconds,
            "before": before, "rows_before": rows_before}


def points():
    nb = nbformat.read(ROOT / "release" / ASSIGNMENT / "reproducibility.ipynb", as_version=4)
    return {c.metadata.nbgrader["grade_id"]: c.metadata.nbgrader["points"]
            for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}


def exact(earning):
    return {f"test_step{n}": (points()[f"test_step{n}"] if n in earning else 0) for n in range(1, 5)}


def test_the_run_was_sandboxed(hostile_class):
    assert "UNSANDBOXED" not in hostile_class["run"].stderr


@pytest.mark.parametrize("student", HONEST)
def test_honest_scores_are_exact(hostile_class, student):
    scores = step_scores(hostile_class["course"])[student]
    assert {k: v for k, v in scores.items() if k.startswith("test_step")} == exact(HONEST[student][1])


def test_hostile_students_lose_only_the_step_with_the_attack(hostile_class):
    scores = step_scores(hostile_class["course"])
    for student, (_, earning, _) in hostile_class["cases"].items():
        assert {k: v for k, v in scores[student].items() if k.startswith("test_step")} == exact(earning), student


def test_course_files_are_byte_identical(hostile_class):
    """source/, release/, submitted/ (every student's), the config: unchanged; nothing new
    outside autograded/ and feedback/ but the gradebook and the course's seed key."""
    from autograder.notebook.reexecution_seeds import KEY_FILE
    course = hostile_class["course"]
    after = tree_digest(course, skip=("gradebook.db", KEY_FILE, "autograded", "feedback"))
    assert after == hostile_class["before"]


def test_gradebook_kept_every_row_and_holds_no_hostile_bytes(hostile_class):
    """Grading itself writes grades into gradebook.db, so the file cannot stay byte-identical:
    every row it held before is still there, unchanged, and no hostile write reached it."""
    db = hostile_class["course"] / "gradebook.db"
    assert hostile_class["rows_before"] <= gradebook_rows(db)
    assert MARK_BYTES not in db.read_bytes()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_no_hostile_bytes_anywhere_and_no_file_left_behind(hostile_class):
    course = hostile_class["course"]
    for path in course.rglob("*"):
        if path.is_file():
            assert MARK_BYTES not in path.read_bytes(), path
    assert not list(course.rglob("left_behind.txt"))


def test_the_reader_got_nothing_from_the_instructor_side(hostile_class):
    """Nothing it printed (the outputs of its autograded notebook) or was told (its feedback)
    holds instructor-side text. (The autograded notebook's test cells do hold the hidden-test
    source: nbgrader restores it there from the gradebook, outside the student's reach.)"""
    course = hostile_class["course"]
    nb = nbformat.read(course / "autograded" / "reads_source" / ASSIGNMENT / "reproducibility.ipynb",
                       as_version=4)
    texts = [json.dumps(cell.get("outputs", [])) for cell in nb.cells]
    texts += [p.read_text(encoding="utf-8") for p in (course / "feedback" / "reads_source").rglob("*.html")]
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, secret


def test_each_hostile_report_names_the_limit_or_rule(hostile_class):
    course = hostile_class["course"]
    for student, (_, _, words) in hostile_class["cases"].items():
        page = (course / "feedback" / student / ASSIGNMENT / "reproducibility.html").read_text(encoding="utf-8")
        for word in words:
            assert word in page, (student, word)


def test_output_kept_in_the_notebook_is_capped(hostile_class):
    notebook = hostile_class["course"] / "autograded" / "prints_forever" / ASSIGNMENT / "reproducibility.ipynb"
    assert notebook.stat().st_size < 2_000_000
    nb = nbformat.read(notebook, as_version=4)
    step1 = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "step1")
    assert any(o.get("ename") == "OutputLimitExceeded" for o in step1.outputs)


def test_kernel_ignoring_the_interrupt_is_stopped(hostile_class):
    notebook = hostile_class["course"] / "autograded" / "ignores_sigint" / ASSIGNMENT / "reproducibility.ipynb"
    nb = nbformat.read(notebook, as_version=4)
    step1 = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "step1")
    assert [o.get("ename") for o in step1.outputs if o.output_type == "error"] == ["KernelStopped"]


def test_no_sandbox_process_outlives_grading(hostile_class):
    """Everything the hostile students started (up to 300 sleeping forks each) died with the
    sandbox: no process is left working in the course's folders."""
    course = str(hostile_class["course"])
    left = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and os.readlink(proc / "cwd").startswith(course):
                left.append((proc.name, (proc / "cmdline").read_bytes()[:200]))
        except OSError:
            pass
    assert not left


# ---------------------------------------------------------------- the out-of-kernel runner alone

def test_reexecution_sees_no_course_file_and_runs_unprivileged():
    from autograder.notebook.reexecute import run_cells
    probe = ("import os\naccuracy_scores = []\n"
             "print(os.getuid(), sorted(os.listdir('/')), sorted(os.listdir(%r)))\n"
             % str(ROOT))
    run = run_cells([probe], 42)
    assert run.report and run.report["error"] is None, run.report or run.stderr
    uid, *_ = run.report["stdout"].split(" ", 1)
    if modes.detect().switches_uid:
        assert bwrap.UID_BASE <= int(uid) < bwrap.UID_BASE + bwrap.UID_SPAN
    assert "source" not in run.report["stdout"] and "gradebook.db" not in run.report["stdout"]
    assert "'autograder'" in run.report["stdout"]  # only harness.py is bound in there
    run = run_cells([f"print(open({str(ROOT / 'source' / ASSIGNMENT / 'reproducibility.expected.json')!r}).read())"], 42)
    assert run.report["error"]["type"] == "FileNotFoundError"


def test_reexecution_has_no_network():
    """A server listening on the host's loopback is out of reach (no traffic leaves this machine)."""
    import socket
    from autograder.notebook.reexecute import run_cells
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        run = run_cells([f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=3)"], 42)
    assert run.report["error"]["type"] in ("OSError", "ConnectionRefusedError", "TimeoutError")


def test_python_installed_under_tmp_is_bound_over_the_empty_tmp(monkeypatch):
    """The sandbox's /tmp is an empty tmpfs; a venv below /tmp (a CI clone there) must stay visible."""
    import tempfile
    venv_bin = Path(tempfile.mkdtemp(dir="/tmp")) / "bin"
    venv_bin.mkdir()
    monkeypatch.setattr(bwrap, "_python_paths", lambda: [venv_bin])
    args = bwrap._base_args(modes.Mode("bwrap-root", "")).args
    binds = [args[i + 1] for i, arg in enumerate(args) if arg == "--ro-bind"]
    assert str(venv_bin) in binds
    assert args.index("/tmp") < args.index(str(venv_bin))  # mounted over the tmpfs, not under it
    venv_bin.rmdir()
    venv_bin.parent.rmdir()


@pytest.mark.root
def test_clearing_after_a_run_leaves_what_is_mounted_into_the_folder(tmp_path):
    """The folder a run used is emptied, but not what is mounted into it (a venv under /tmp is
    bound into the sandbox's /tmp): not walked, so nothing there is removed or costs a try."""
    import subprocess
    from autograder.notebook import harness
    folder, elsewhere = tmp_path / "tmp", Path("/dev/shm") / tmp_path.name
    (folder / "deep" / "er").mkdir(parents=True)
    (folder / "deep" / "er" / "left.txt").write_text("x")
    (folder / "bound").mkdir()
    (elsewhere / "lib").mkdir(parents=True)
    (elsewhere / "lib" / "keep.py").write_text("x")
    subprocess.run(["mount", "--bind", str(elsewhere), str(folder / "bound")], check=True)
    try:
        harness._clear(str(folder))
        assert sorted(p.name for p in folder.iterdir()) == ["bound"]
        assert (folder / "bound" / "lib" / "keep.py").read_text() == "x"
    finally:
        subprocess.run(["umount", str(folder / "bound")], check=True)
        shutil.rmtree(elsewhere)


def test_a_grader_installed_where_the_sandbox_looks_is_refused(monkeypatch):
    """A non-editable install puts the grader's data (quiz key, expected values) into the
    site-packages the sandbox shows: no sandbox is built then, so no kernel starts."""
    site = bwrap.GRADER.parent
    monkeypatch.setattr(bwrap, "_python_paths", lambda: [site])
    with pytest.raises(RuntimeError, match="editable"):
        bwrap._base_args(modes.Mode("bwrap-root", ""))
    monkeypatch.setattr(bwrap, "_python_paths", lambda: [site / "tests"])
    assert bwrap._base_args(modes.Mode("bwrap-root", "")).args  # beside it: fine


def test_unsandboxed_grading_still_works_and_says_so_loudly(tmp_path, monkeypatch):
    """Where bubblewrap is missing (forced here), grading runs with the limits only and warns."""
    import subprocess
    import sys
    script = ("from autograder.notebook.reexecute import run_cells\n"
              "r = run_cells(['accuracy_scores = []\\nprint(1)'], 42)\n"
              "print('REPORT', r.report['stdout'].strip())\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "AUTOGRADER_SANDBOX": "off"}, cwd=ROOT)
    assert "REPORT 1" in proc.stdout
    assert "GRADING RUNS UNSANDBOXED" in proc.stderr


# ---------------------------------------------------------------- one submission's runs, one shared process

def _task(cell, group):
    return {"before": {"seed": 42}, "cells": [cell], "report": [], "group": group}


def test_each_run_starts_from_a_fresh_fork_with_nothing_left_by_the_one_before():
    """A run's patched module, files and background process are gone for the next run."""
    from autograder.notebook.reexecute import run_isolated
    leave = ("import os, random, time\nrandom.randint = lambda a, b: 7\n"
             "open('left.txt', 'w').write('x')\nopen('/tmp/left.txt', 'w').write('x')\n"
             "if os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\n")
    look = ("import os, random\nprint(random.randint(1, 1), os.path.exists('left.txt'), "
            "os.path.exists('/tmp/left.txt'), sorted({int(p) for p in os.listdir('/proc') if p.isdigit()} "
            "- {os.getpid(), os.getppid()}))")
    left, looked = run_isolated([_task(leave, "a"), _task(look, "b")])
    assert left.report["error"] is None and looked.report["error"] is None, (left, looked)
    randint, file_here, file_in_tmp, others = looked.report["stdout"].split(" ", 3)
    assert (randint, file_here, file_in_tmp) == ("1", "False", "False")
    if modes.detect().sandboxed:  # the sandbox's own PID namespace: only its init is left
        assert others.strip() == "[1]"


def test_a_run_has_every_rlimit_its_limits_name():
    """CPU time, address space, largest file, processes and no core dump: as the run's own
    process sees them (set by prlimit in the sandbox, by the child before exec without one)."""
    from autograder.notebook.reexecute import Limits, run_isolated
    limits = Limits(seconds=10, cpu_seconds=7, memory_mb=900, output_bytes=123_456, processes=33)
    cell = ("import resource\nprint([resource.getrlimit(getattr(resource, 'RLIMIT_' + name))\n"
            "       for name in ('CPU', 'AS', 'FSIZE', 'NPROC', 'CORE')])")
    (run,) = run_isolated([_task(cell, "a")], limits)
    assert run.report["stdout"] == str([(7, 8), (900 << 20, 900 << 20), (123_456, 123_456), (33, 33), (0, 0)]) + "\n"


def test_a_run_that_kills_or_stops_the_shared_process_costs_only_itself():
    """Each run is then graded alone: the others keep their reports."""
    from autograder.notebook.reexecute import Limits, run_isolated
    ok = "x = 1\nprint('fine')"
    for attack in ("import os\nos.kill(os.getppid(), 9)", "import os, signal\nos.kill(os.getppid(), signal.SIGSTOP)"):
        runs = run_isolated([_task(ok, "a"), _task(attack, "b"), _task(ok, "c")], Limits(seconds=2))
        assert [r.report and r.report["stdout"] for r in runs] == ["fine\n", None, "fine\n"], attack
        assert runs[1].failure


def test_a_run_without_a_report_says_why_and_ends_its_group():
    from autograder.notebook.reexecute import Limits, run_isolated
    cases = {"while True:\n    pass": "time limit", "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)": "killed by signal SIGTERM",
             "import os\nos._exit(3)": "ended before the grader could look"}
    tasks = []
    for n, cell in enumerate(cases):
        tasks += [_task(cell, n), _task("print('never run')", n)]
    runs = run_isolated(tasks + [_task("print('runs')", "last")], Limits(seconds=2))
    for n, words in enumerate(cases.values()):
        assert words in runs[2 * n].failure and runs[2 * n + 1] is None, (words, runs[2 * n])
    assert runs[-1].report["stdout"] == "runs\n"
    cpu = run_isolated([_task("while True:\n    pass", "a")], Limits(seconds=10, cpu_seconds=1))[0]
    assert "CPU-time limit" in cpu.failure
    # a report past the output limit (200 strings of 10 000 characters, 2 MB) is not read on
    big = dict(_task("x = ['y' * 10000] * 200", "a"), report=["x"])
    (run,) = run_isolated([big], Limits(seconds=10))
    assert "output limit" in run.failure and not run.timed_out


# ---------------------------------------------------------------- what a run's process holds

# A run's cell that looks for a 32-hex-digit token by its sha256 (so the cell holds no copy of
# it) in every readable byte of its own memory, and in its parent's: prints what it found. It
# makes itself dumpable first (it inherits "not dumpable", which hides its own /proc/self/mem).
SEARCH_MEMORY = r"""
import ctypes, hashlib, json, os, re
ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)
def _search(pid):
    found = set()
    try:
        maps, mem = open('/proc/%d/maps' % pid).read().splitlines(), open('/proc/%d/mem' % pid, 'rb')
    except OSError as error:
        return type(error).__name__
    for line in maps:
        start, end = (int(part, 16) for part in line.split()[0].split('-'))
        if not line.split()[1].startswith('r'):
            continue
        try:
            mem.seek(start)
            data = mem.read(end - start)
        except (OSError, OverflowError, ValueError):
            continue
        for match in re.finditer(rb'[0-9a-f]{32}', data):
            digest = hashlib.sha256(match.group()).hexdigest()
            if digest in WANTED:
                found.add(WANTED[digest])
    return sorted(found)
print(json.dumps([_search(os.getpid()), _search(os.getppid())]))
"""


def test_a_run_holds_no_other_runs_task_in_its_memory_nor_can_read_its_parents():
    """Each run's process (and the one it was forked from) holds only its own task: a cell that
    searches every readable byte of its own memory and of its parent's finds neither an earlier
    nor a later task's cell or starting state, only its own."""
    import random
    import secrets
    from autograder.notebook.reexecute import run_isolated
    tokens = {name: secrets.token_hex(16) for name in ("earlier", "mine", "later")}
    wanted = "WANTED = %r\n" % {hashlib.sha256(t.encode()).hexdigest(): name for name, t in tokens.items()}

    def task(name, cell):
        return {"before": {"state": {"names": {"held": ["str", "state " + tokens[name]]},
                                     "generator": list(random.Random(1).getstate()[1])}},
                "cells": ["note = 'cell %s'\n" % tokens[name] + cell], "report": [], "group": name}
    runs = run_isolated([task("earlier", ""), task("mine", wanted + SEARCH_MEMORY), task("later", "")])
    assert all(run.report and run.report["error"] is None for run in runs), runs
    own, parent = json.loads(runs[1].report["stdout"])
    assert own == ["mine"]
    assert parent == "PermissionError"


def test_a_process_left_behind_never_reads_the_next_task():
    """Unsandboxed too (where only the run's process group is killed): a run's cell that leaves
    a process of its own session reading standard input gets nothing of the next run's task."""
    import subprocess
    import sys
    script = r'''
import json, os, sys, time
from autograder.notebook.reexecute import run_isolated
out = os.path.join(sys.argv[1], "read.txt")
leave = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n"
         "    data = os.read(0, 1 << 20)\n    open(%r, 'wb').write(data or b'EOF')\n    os._exit(0)\n" % out)
task = lambda cell, group: {"before": {"seed": 1}, "cells": [cell], "report": [], "group": group}
runs = run_isolated([task(leave, "a"), task("x = 'NEXT-TASK-MARK'", "b")])
for _ in range(600):  # the process left behind writes what it read once it ends (EOF at once)
    if os.path.exists(out):
        break
    time.sleep(0.1)
print(json.dumps([r.report["error"] for r in runs]))
'''
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        proc = subprocess.run([sys.executable, "-c", script, folder], capture_output=True, text=True,
                              env={"PATH": "/usr/bin:/bin", "AUTOGRADER_SANDBOX": "off"}, cwd=ROOT)
        assert proc.stdout.strip() == "[null, null]", proc.stdout + proc.stderr
        read = Path(folder, "read.txt")
        assert read.exists() and b"NEXT-TASK-MARK" not in read.read_bytes()
