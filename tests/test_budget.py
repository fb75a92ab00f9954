"""One budget per submission for the whole sandbox, measured with real processes.

Every row of the bounds table in docs/sandbox.md that is not a per-process rlimit is proved
here: the memory and process budget of all a submission's sandboxes together (memfd included),
no new user namespaces (so no tmpfs of one's own), no descriptor of the grader reachable, the
kernel's connection folder capped and gone with the sandbox, comm and display-update floods
capped, the notebook's time budget, and fail-closed grading after the kernel stopped.

Each attack is bounded in the test code itself (at most 3 GiB in 64 MiB chunks, 100 forks, a
few thousand messages), so a limit that fails to hold cannot harm the machine; the end-to-end
class is graded on a tmpfs this module mounts, so a regression fills that, not the disk.
"""
import errno
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from autograder.notebook.limits import GradingLimits
from autograder.notebook import kernel
from autograder.notebook.sandbox import bwrap, cgroup, modes
from autograder.notebook.kernel import SandboxedExecute
from corpus import reproducibility
from corpus.attacks import (ATTACKS, CELL_LIMIT, COMM_FLOOD, DISPLAY_FLOOD, MARK_BYTES, MEMFD_ATTACK,
                            SLEEPING_CELLS, STEP1_EARNED, USERNS_ATTACK)
from support import ASSIGNMENT, env, fill, release_notebook, run_every_notebook, step_scores, submit
from support import execute_cells as _execute

pytestmark = [pytest.mark.root, pytest.mark.bwrap,
              pytest.mark.skipif(not modes.detect().sandboxed, reason="no sandbox on this machine")]

REFERENCE = reproducibility.REFERENCE


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, **kw)


def python(code: str, tmp_path: Path, **limits) -> list:
    return bwrap.command([sys.executable, "-I", "-c", code], cwd=tmp_path,
                         limits=bwrap.ProcessLimits(**limits))


# ---------------------------------------------------------------- the budget itself

def test_memfd_past_the_memory_budget_is_stopped(tmp_path):
    """A memfd holds no address space (RLIMIT_AS cannot see it): the cgroup charges its pages."""
    with cgroup.budget("memfd", memory_mb=512) as budget:
        assert budget.enforced == ["memory", "pids"], budget.missing
        proc = run(python(MEMFD_ATTACK, tmp_path, file_bytes=64 << 20), cwd=tmp_path)
        peak, kills = budget.peak_memory_mb(), budget.oom_kills()
    print("memfd attack: exit %s, peak %.0f MiB of a 512 MiB budget, %d OOM kill(s)"
          % (proc.returncode, peak, kills))
    assert "held" not in proc.stdout
    assert kills >= 1 and peak <= 512


def test_the_budget_is_shared_by_all_sandboxes_of_a_submission(tmp_path):
    """Two sandboxes each holding 300 MiB of memfd fit no 512 MiB budget together."""
    hold = ("import os, sys, time\nfd = os.memfd_create('m')\n"
            "for i in range(30):\n    os.write(fd, b'x' * (10 << 20))\n"
            "print('holding', flush=True)\ntime.sleep(60)\n")
    with cgroup.budget("shared", memory_mb=512) as budget:
        first = subprocess.Popen(python(hold, tmp_path, file_bytes=512 << 20), stdout=subprocess.PIPE, text=True,
                                 stdin=subprocess.DEVNULL)
        assert first.stdout.readline() == "holding\n"
        second = subprocess.Popen(python(hold, tmp_path, file_bytes=512 << 20), stdout=subprocess.PIPE, text=True,
                                  stdin=subprocess.DEVNULL)
        second_line = second.stdout.readline()
        kills, peak = budget.oom_kills(), budget.peak_memory_mb()
    first.wait(), second.wait()
    print("two 300 MiB holders in a 512 MiB budget: %d OOM kill(s), peak %.0f MiB" % (kills, peak))
    assert second_line != "holding\n" or first.returncode != 0
    assert kills >= 1 and peak <= 512


def test_processes_of_the_budget_are_capped_together(tmp_path):
    fork = ("import os, time\nmade = 0\nfor i in range(100):\n    try:\n        pid = os.fork()\n"
            "    except OSError:\n        break\n    if pid == 0:\n        time.sleep(30)\n        os._exit(0)\n"
            "    made += 1\nprint(made, flush=True)\n")
    with cgroup.budget("forks", processes=32) as budget:
        proc = run(python(fork, tmp_path), cwd=tmp_path)  # no RLIMIT_NPROC: only the budget
        refused = budget.pids_refused()
    print("fork loop under a 32-process budget: made %s, refused %d" % (proc.stdout.strip(), refused))
    assert int(proc.stdout) < 32 and refused >= 1


def test_leaving_the_budget_kills_everything_and_removes_the_cgroups(tmp_path):
    with cgroup.budget("left") as budget:
        proc = subprocess.Popen(python("import os, time\nif os.fork() == 0:\n    os.setsid()\n"
                                       "time.sleep(60)\n", tmp_path), stdin=subprocess.DEVNULL)
        while len(budget.pids()) < 4:  # bwrap, its pid 1, the python and its child
            time.sleep(0.05)
        pids, folders = budget.pids(), list(budget.folders.values())
    proc.wait()
    for _ in range(100):  # killed processes leave the cgroup before they finish exiting
        alive = [(pid, _state(pid)) for pid in pids if _state(pid) not in ("", "Z", "X")]
        if not alive:
            break
        time.sleep(0.05)
    assert not alive
    assert folders and not any(folder.exists() for folder in folders)


def _state(pid: int) -> str:
    try:
        return Path("/proc/%d/stat" % pid).read_text().rpartition(")")[2].split()[0]
    except OSError:
        return ""


def test_a_killed_worker_leaves_nothing_behind_for_good(tmp_path):
    """SIGKILL the grader mid-submission: bwrap dies with it; the next budget sweeps the cgroup
    and the next kernel the private folder."""
    worker = ("import subprocess, sys, time\nfrom autograder.notebook import kernel\nfrom autograder.notebook.sandbox import bwrap, cgroup\n"
              "folder = kernel.private_folder()\n"
              "with cgroup.budget('killed') as b:\n"
              "    subprocess.Popen(bwrap.command([sys.executable, '-c', 'import time; time.sleep(60)'],"
              " cwd=%r))\n"
              "    while len(b.pids()) < 3:\n        time.sleep(0.05)\n"
              "    print(json.dumps([str(p) for p in b.folders.values()] + [str(folder)]), flush=True)\n"
              "    time.sleep(60)\n" % str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", "import json\n" + worker], stdout=subprocess.PIPE,
                            text=True, cwd=Path(__file__).parents[1])
    left = [Path(p) for p in json.loads(proc.stdout.readline())]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert all(path.exists() for path in left)
    with cgroup.budget("next"):
        pass
    kernel.private_folder().rmdir()
    assert not any(path.exists() for path in left)


def test_stock_autograde_gets_one_budget_per_notebook_and_a_callers_budget_wins():
    first = cgroup.auto_budget("notebook-1")
    assert cgroup.active() is first and first.folders
    second = cgroup.auto_budget("notebook-2")
    assert cgroup.active() is second and not first.folders  # the first one was closed
    with cgroup.budget("submission") as submission:
        assert not second.folders
        assert cgroup.auto_budget("notebook-3") is submission
    assert cgroup.active() is None and not submission.folders
    cgroup.auto_budget_close()


def test_a_budget_that_cannot_be_enforced_says_so_loudly(monkeypatch, capsys):
    monkeypatch.setattr(cgroup, "_cgroup_places", lambda: (0, {}, "no cgroup here (test)"))
    with cgroup.budget("nowhere") as budget:
        assert budget.enforced == []
    assert "SUBMISSION BUDGET ONLY PARTLY ENFORCED (enforced: nothing; no cgroup here (test))" \
        in capsys.readouterr().err


# ---------------------------------------------------------------- per-process limits and tmpfs sizes

def test_per_process_file_size_cpu_and_tmpfs_sizes_hold(tmp_path):
    """RLIMIT_FSIZE stops a file at its limit (Python ignores SIGXFSZ: the write fails), the
    sandbox's /tmp and working folder are tmpfs of their size, RLIMIT_CPU stops a busy loop."""
    fill = ("import os\ndef fill(path, mib):\n    n = 0\n    try:\n        with open(path, 'wb') as f:\n"
            "            for i in range(mib):\n                f.write(b'x' * (1 << 20))\n                f.flush()\n"
            "                n += 1\n    except OSError as exc:\n        return n, exc.errno\n    return n, 0\n")
    probe = fill + ("import json\n"
                    "print(json.dumps([fill('big', 50), fill('/tmp/a', 50), fill('/tmp/b', 50), fill('w1', 50)]))\n")
    argv = bwrap.command([sys.executable, "-I", "-c", probe], cwd=tmp_path / "work", scratch_mb=48,
                         limits=bwrap.ProcessLimits(file_bytes=40 << 20))
    (tmp_path / "work").mkdir()
    out = run(argv, cwd=tmp_path / "work").stdout.strip()
    print("file limit 40 MiB, /tmp 64 MiB, working folder 48 MiB:", out)
    # a file stops at 40 MiB (EFBIG); /tmp holds 64 MiB in all, the working folder 48 (ENOSPC)
    big, a, b, w1 = [tuple(pair) for pair in json.loads(out)]
    assert big == (40, errno.EFBIG) and a == (40, errno.EFBIG)
    assert b[1] == errno.ENOSPC and 62 <= a[0] + b[0] <= 64
    assert w1[1] == errno.ENOSPC and 46 <= big[0] + w1[0] <= 48
    busy = run(python("while True:\n    pass\n", tmp_path, cpu_seconds=1), cwd=tmp_path)
    print("busy loop under a 1 s CPU limit: exit", busy.returncode)
    assert busy.returncode in (128 + signal.SIGXCPU, 128 + signal.SIGKILL)


# ---------------------------------------------------------------- namespaces and descriptors

def test_no_new_user_namespace_so_no_tmpfs_of_ones_own(tmp_path):
    proc = run(python(USERNS_ATTACK + "import threading\nt = threading.Thread(target=print, args=('thread ok',))\n"
                      "t.start(); t.join()\n", tmp_path), cwd=tmp_path)
    assert "mounted" not in proc.stdout and "NEW USERNS" not in proc.stdout
    assert "unshare failed: Operation not permitted" in proc.stdout
    assert "unshare(CLONE_NEWUSER): Operation not permitted" in proc.stdout
    assert "thread ok" in proc.stdout  # clone3 refused with ENOSYS: glibc falls back to clone


def test_no_new_user_namespace_in_a_reexecution():
    from autograder.notebook.reexecute import run_cells
    result = run_cells([USERNS_ATTACK], 42)
    assert result.report is not None, result.stderr
    out = result.report["stdout"]
    assert "unshare failed: Operation not permitted" in out and "mounted" not in out
    assert "unshare(CLONE_NEWUSER): Operation not permitted" in out


def test_no_descriptor_of_the_grader_reaches_the_sandbox(tmp_path):
    """An inherited descriptor (here fd 9, passed on purpose) is closed by the launcher; bwrap's
    own options are passed through a descriptor, not on the command line /proc shows."""
    secret = tmp_path / "grader.log"
    with open(secret, "wb") as log:
        os.dup2(log.fileno(), 9)
        try:
            proc = run(python("import os\nprint(sorted(os.listdir('/proc/self/fd')))\n"
                              "print(open('/proc/1/cmdline').read())", tmp_path), pass_fds=(9,))
        finally:
            os.close(9)
    fds, cmdline = proc.stdout.splitlines()[0], proc.stdout.split("\n", 1)[1]
    assert fds == "['0', '1', '2', '3']"  # 3: listdir's own
    assert "--ro-bind" not in cmdline and "--args" in cmdline


def test_the_kernel_connection_folder_is_a_small_tmpfs_of_the_sandbox(tmp_path):
    """The kernel's ipc sockets live in a 1 MiB tmpfs only the sandbox has; the folder holding
    the connection file is read-only to the kernel; nothing is written on the host."""
    code = ("from ipykernel.connect import get_connection_file\nimport json, os\n"
            "cf = get_connection_file()\nwritten = {}\n"
            "for folder in [os.path.dirname(cf), os.path.dirname(json.load(open(cf))['ip'])]:\n"
            "    n = 0\n    try:\n"
            "        for i in range(2048):\n"
            "            with open(os.path.join(folder, 'fill%d' % i), 'wb') as f:\n"
            "                f.write(b'x' * (1 << 20))\n            n += 1\n"
            "    except OSError as exc:\n        written[folder] = (n, exc.errno)\n"
            "print(sorted(written.values()))\n")
    nb = _execute([code, "print('still connected')"], tmp_path)
    out = nb.cells[0].outputs[0]["text"]
    print("connection-folder fill:", out)
    # EACCES on the folder, ENOSPC in the sockets' tmpfs once its size (1 MiB) is used
    capacity = GradingLimits.default("kernel_sockets_kb") >> 10
    assert out.strip() == "[(0, 13), (%d, 28)]" % capacity
    assert nb.cells[1].outputs[0]["text"] == "still connected\n"
    assert leftovers(os.getpid()) == set()


def test_a_kernel_that_writes_into_every_descriptor_cannot_hang_the_grader(tmp_path):
    """Garbage written into the kernel's own ZeroMQ sockets breaks its channel; the grader's
    interrupt and shutdown requests give up instead of blocking forever, the kernel is killed.
    Run in a child process with a time limit, so that a regression fails instead of hanging."""
    script = ("import json, sys\nsys.path.insert(0, %r)\nfrom support import execute_cells as _execute\n"
              "from corpus.attacks import ATTACKS\n"
              "from pathlib import Path\n"
              "nb = _execute([ATTACKS['log_forger'], 'print(1)'], Path(%r))\n"
              "print(json.dumps([[o.get('ename') for o in c.outputs] for c in nb.cells]))\n"
              % (str(Path(__file__).parent), str(tmp_path)))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).parents[1], env=env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    outputs = json.loads(proc.stdout.splitlines()[-1])
    print("log forger, kernel-level:", outputs)
    assert outputs[0][-1] in ("KernelStopped", "RuntimeError")
    assert outputs[1] == ([] if outputs[0][-1] == "KernelStopped" else [None])


# ---------------------------------------------------------------- time budget, fail closed

def test_twenty_sleeping_cells_cost_the_time_budget_and_later_graded_cells_fail(tmp_path):
    """Twenty cells each sleeping past the cell limit, then two graded test cells: the cells
    run until the notebook's time budget is spent, the rest never run, and the graded cells
    get an error naming the budget (nbgrader would give an unexecuted test cell full marks)."""
    nb = nbformat.v4.new_notebook(cells=[new_code_cell("import time\ntime.sleep(30)") for _ in range(20)])
    for name in ("test_a", "test_b"):
        cell = new_code_cell("print('passes when executed')")
        cell.metadata.nbgrader = {"grade": True, "solution": False, "grade_id": name, "points": 1}
        nb.cells.append(cell)
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    preprocessor = SandboxedExecute(timeout=4, notebook_timeout=14)
    try:
        nb, _ = preprocessor.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    finally:
        cgroup.auto_budget_close()
    executed = [c for c in nb.cells[:20] if c.outputs]
    print("sleeping cells executed within a 14 s budget at 4 s per cell: %d of 20" % len(executed))
    assert 1 <= len(executed) <= 14 // 4 + 1
    assert executed[-1].outputs[-1]["ename"] == "TimeBudgetExceeded"
    for cell in nb.cells[20:]:
        assert [o["ename"] for o in cell.outputs] == ["NotExecuted"]
        assert "time budget of 14 s ran out before this cell" in cell.outputs[0]["evalue"]


def test_after_the_kernel_died_later_graded_cells_fail(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[new_code_cell("import os\nos._exit(1)")])
    test = new_code_cell("print('passes when executed')")
    test.metadata.nbgrader = {"grade": True, "solution": False, "grade_id": "test_a", "points": 1}
    nb.cells.append(test)
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    try:
        nb, _ = SandboxedExecute(timeout=15).preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    finally:
        cgroup.auto_budget_close()
    assert [o["ename"] for o in nb.cells[0].outputs] == ["KernelStopped"]
    assert [o["ename"] for o in nb.cells[1].outputs] == ["NotExecuted"]
    assert "kernel was stopped at an earlier cell" in nb.cells[1].outputs[0]["evalue"]


# ---------------------------------------------------------------- floods

@pytest.mark.parametrize("flood", [COMM_FLOOD, DISPLAY_FLOOD], ids=["comm", "update_display_data"])
def test_a_flood_of_messages_is_capped(tmp_path, flood):
    """100 MB (comm) / 40 MB times 3 000 outputs (display updates): the notebook keeps at
    most the notebook cap, and the cell says it hit the output limit."""
    nb = _execute([flood, "print('after')"], tmp_path, max_cell_chars=100_000, max_notebook_chars=1_000_000)
    size = len(nbformat.writes(nb))
    enames = [o["ename"] for o in nb.cells[0].outputs if o.output_type == "error"]
    print("flood: notebook %d characters, cell errors %s" % (size, enames))
    assert size < 1_100_000
    # Over the cap the rest is dropped (OutputLimitExceeded); a flood so fast that the kernel's
    # own end-of-cell message is lost stops the kernel, with a reason naming the same limit.
    assert enames in (["OutputLimitExceeded"], ["KernelStopped"])
    assert "output limit" in nb.cells[0].outputs[-1]["evalue"]


# ---------------------------------------------------------------- the real nbgrader autograde

NOTEBOOK_BUDGET = 45
sleeper = reproducibility.sleeper


@pytest.fixture(scope="module")
def graded(course_template, small_disk):
    course = Path(shutil.copytree(course_template, small_disk / "course"))
    run_every_notebook(course)
    with open(course / "nbgrader_config.py", "a", encoding="utf-8") as config:
        config.write("\nc.GradingLimits.kernel_notebook_seconds = %d\n" % NOTEBOOK_BUDGET)
    release = release_notebook(course)
    submit(course, "honest_full", fill(release, REFERENCE))
    for student, attack in ATTACKS.items():
        submit(course, student, fill(release, reproducibility.attacked(attack)))
    submit(course, "sleeps_20_cells", sleeper(release))
    log = small_disk / "grade.log"
    used_before = shutil.disk_usage(small_disk).used
    started = time.monotonic()
    with open(log, "wb") as err:  # the grader's log, as `python -m autograder grade` keeps it
        err.write(b"first line of the grader's log\n")
        err.flush()
        proc = subprocess.Popen([sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT, "--force"],
                                cwd=course, env=env(), stdout=subprocess.DEVNULL, stderr=err,
                                stdin=subprocess.DEVNULL)
        try:
            proc.wait(timeout=1800)
        finally:
            proc.kill()
            proc.wait()
    seconds = time.monotonic() - started
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    written = (shutil.disk_usage(small_disk).used - used_before) / (1 << 20)
    print("hostile autograde: %.0f s, grader peak RSS %.0f MiB, %.1f MiB written"
          % (seconds, peak_mib, written))
    return {"course": course, "log": log.read_bytes(), "returncode": proc.returncode,
            "peak_mib": peak_mib, "written_mib": written, "left": leftovers(proc.pid)}


def leftovers(pid: int) -> set:
    """Private kernel folders and budget cgroups of grader process ``pid`` that still exist."""
    found = set(Path(tempfile.gettempdir()).glob("%s%d-*" % (kernel.PRIVATE_PREFIX, pid)))
    for parent in cgroup._cgroup_places()[1].values():
        found |= set(parent.glob("%s%d-*" % (cgroup.CGROUP_PREFIX, pid)))
    return found


def autograded(course: Path, student: str):
    return nbformat.read(course / "autograded" / student / ASSIGNMENT / "reproducibility.ipynb", 4)


def cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def test_autograde_finished_and_honest_grades_are_exact(graded):
    assert graded["returncode"] == 0, graded["log"][-3000:]
    scores = step_scores(graded["course"])["honest_full"]
    assert {k: v for k, v in scores.items() if k.startswith("test_step")} == \
        {"test_step1": 1, "test_step2": 2, "test_step3": 3, "test_step4": 2}


@pytest.mark.parametrize("student", ATTACKS)
def test_each_attacker_loses_at_most_the_attacked_step(graded, student):
    scores = step_scores(graded["course"])[student]
    assert {k: v for k, v in scores.items() if k.startswith("test_step")} == \
        {"test_step1": 1 if student in STEP1_EARNED else 0, "test_step2": 2, "test_step3": 3, "test_step4": 2}


def test_memfd_attacker_is_told_the_memory_budget(graded):
    step1 = cell(autograded(graded["course"], "memfd_3gib"), "step1")
    assert "memory budget (2048 MiB, the memory limit)" in json.dumps(step1.outputs)


def test_userns_attacker_could_not_mount(graded):
    text = json.dumps(cell(autograded(graded["course"], "userns_tmpfs"), "step1").outputs)
    assert "unshare failed: Operation not permitted" in text and "mounted" not in text


@pytest.mark.parametrize("student", ["comm_flood", "display_flood"])
def test_floods_stay_under_the_output_cap(graded, student):
    path = graded["course"] / "autograded" / student / ASSIGNMENT / "reproducibility.ipynb"
    assert path.stat().st_size < 1_500_000
    assert "output limit" in json.dumps(cell(autograded(graded["course"], student), "step1").outputs)


def test_the_log_forger_reached_no_descriptor_of_the_grader(graded):
    assert graded["log"].startswith(b"first line of the grader's log\n")
    assert MARK_BYTES not in graded["log"]
    for path in graded["course"].rglob("*"):
        if path.is_file():
            assert MARK_BYTES not in path.read_bytes(), path


def test_twenty_sleeping_cells_cost_the_notebook_budget_not_twenty_cell_limits(graded):
    nb = autograded(graded["course"], "sleeps_20_cells")
    sleeping = nb.cells[1:1 + SLEEPING_CELLS]
    executed = [c for c in sleeping if c.outputs]
    print("sleeping cells executed: %d of %d (budget %d s, cell limit %d s)"
          % (len(executed), SLEEPING_CELLS, NOTEBOOK_BUDGET, CELL_LIMIT))
    assert 1 <= len(executed) <= NOTEBOOK_BUDGET // CELL_LIMIT + 1
    assert b"time budget of %d s ran out" % NOTEBOOK_BUDGET in graded["log"]
    # what was graded stands: the steps are re-executed out of the kernel and pass
    scores = step_scores(graded["course"])["sleeps_20_cells"]
    assert {k: v for k, v in scores.items() if k.startswith("test_step")} == \
        {"test_step1": 1, "test_step2": 2, "test_step3": 3, "test_step4": 2}


def test_the_class_stayed_within_the_documented_bounds(graded):
    """Bounds, not speed: the grader's memory (comm and display floods of 100+ MB) and what
    grading wrote (outputs capped) stay small; no budget or private folder is left over."""
    assert graded["peak_mib"] < 1024
    assert graded["written_mib"] < 64
    assert graded["left"] == set()
