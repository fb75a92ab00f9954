"""``python -m autograder grade A --scheduler ADDRESS``: grading on a real Dask cluster.

Each test starts a ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1 (each
worker in its own empty folder, no course there) and grades a small class through them; the
gradebook must equal a stock sequential ``nbgrader autograde`` run of a copy of the class. One
worker is killed while it grades (nothing is lost), and the scheduler is killed mid-run (the run
stops with a clear message; the next run, on a new cluster, grades the rest).
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from services import DaskCluster, dask_cluster  # noqa: F401 - pytest fixture
from support import ASSIGNMENT, ROOT, env, nbgrader, run_every_notebook, step_scores

from autograder.course.demo import example_answers
from autograder.course.submissions import hand_in, submit

CLASS = {k: v for k, v in json.loads((ROOT / "examples" / "example_class.json").read_text()).items()
         if not k.startswith("_")}
WAIT = 300  # seconds a test waits for a run to reach a point before it fails


GRADED = ("ada", "ben_forgot_seed", "cleo_wrong_seed", "dev_hard_coded")


@pytest.fixture(scope="module")
def graded_class(course_template, tmp_path_factory):
    """A small class and the scores a stock sequential ``nbgrader autograde`` gives it."""
    folder = tmp_path_factory.mktemp("dask-class")
    course = shutil.copytree(course_template, folder / "course")
    for student in GRADED:
        hand_in(course, student, example_answers(CLASS[student]))
    submit(course, "nina_not_json", '{"cells": [ this is not JSON')
    stock = shutil.copytree(course, folder / "stock")
    nbgrader(stock, "autograde", ASSIGNMENT, check=False)
    return course, step_scores(stock)


@pytest.fixture
def class_course(graded_class, tmp_path):
    """A fresh copy of the class, nothing graded yet, and the stock scores."""
    return shutil.copytree(graded_class[0], tmp_path / "course"), graded_class[1]


def grade_on(course, address, **popen):
    return subprocess.Popen([sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--scheduler", address],
                            cwd=course, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **popen)


def finish(proc):
    out, err = proc.communicate(timeout=900)
    return proc.returncode, out + err


def statuses(course) -> dict:
    report = json.loads((course / "exports" / "grading_report.json").read_text())["students"]
    return {student: (entry["status"], entry["reason"]) for student, entry in report.items()}


def executed_on_workers(cluster) -> dict:
    """{worker address: grading tasks it finished} (Dask's own count, per worker process)."""
    with cluster.client() as client:
        return client.run(lambda dask_worker: dask_worker.state.executed_count)


def running_grade_tasks(cluster) -> dict:
    """{worker address: (its pid, the keys of the grading tasks it is executing now)}."""
    with cluster.client() as client:
        return client.run(lambda dask_worker: (os.getpid(), [
            ts.key for ts in dask_worker.state.executing if str(ts.key).startswith("grade-")]))


def wait_for(what, check, proc):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        assert proc.poll() is None, f"the run ended before {what}: " + "".join(finish(proc)[1])
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_dask_run_gives_the_stock_gradebook(class_course, dask_cluster):  # noqa: F811
    course, expected = class_course
    code, output = finish(grade_on(course, dask_cluster.address))
    assert code == 1, output  # nina's notebook is not JSON: failed, the rest graded
    assert step_scores(course) == expected
    assert statuses(course) == dict({s: ("graded", None) for s in GRADED},
                                    nina_not_json=("failed", "notebook not JSON"))
    # The grading ran on the workers (each in an empty folder), not in the coordinator.
    assert sum(executed_on_workers(dask_cluster).values()) >= len(GRADED)
    for worker in ("worker0", "worker1"):
        assert not any((dask_cluster.home / worker).glob("submitted")), worker


def test_a_worker_killed_mid_run_loses_nothing(class_course, dask_cluster):  # noqa: F811
    course, expected = class_course
    proc = grade_on(course, dask_cluster.address)
    busy = wait_for("a worker grading", lambda: {addr: pid for addr, (pid, keys) in
                                                 running_grade_tasks(dask_cluster).items() if keys}, proc)
    victim_pid = next(iter(busy.values()))
    victim = next(w for w in dask_cluster.workers if w.pid == os.getpgid(victim_pid))
    os.killpg(victim.pid, signal.SIGKILL)  # the nanny and its worker, mid-task
    victim.wait()

    code, output = finish(proc)
    assert code == 1, output
    assert step_scores(course) == expected
    assert {s for s, (status, _) in statuses(course).items() if status == "graded"} == set(GRADED)


def test_a_lost_scheduler_stops_the_run_and_the_next_run_grades_the_rest(class_course,
                                                                          dask_cluster):  # noqa: F811
    course, expected = class_course
    proc = grade_on(course, dask_cluster.address)
    wait_for("a first result", lambda: any((course / "autograded").glob(f"*/{ASSIGNMENT}")), proc)
    os.killpg(dask_cluster.scheduler.pid, signal.SIGKILL)
    dask_cluster.scheduler.wait()
    code, output = finish(proc)
    assert code == 2, output
    assert "lost the Dask scheduler" in output
    graded_first = {p.parent.name for p in (course / "autograded").glob(f"*/{ASSIGNMENT}")}
    assert graded_first and graded_first != set(GRADED), graded_first
    # the reports were still written: what was not graded is listed as such
    first = statuses(course)
    assert {s for s, (status, _) in first.items() if status == "not graded"} == set(first) - graded_first - {
        s for s, (status, _) in first.items() if status == "failed"}, first
    assert any(status == "not graded" for status, _ in first.values()), first

    second = DaskCluster(workers=2)
    try:
        code, output = finish(grade_on(course, second.address))
    finally:
        second.close()
    assert code == 1, output
    assert step_scores(course) == expected
    # only what the first run had not recorded was graded again
    again = {s for s, (status, _) in statuses(course).items() if status == "graded"}
    assert again and not again & graded_first, (again, graded_first)


def test_a_submission_over_the_time_limit_fails_and_its_worker_is_restarted(course, dask_cluster):  # noqa: F811
    run_every_notebook(course)
    hand_in(course, "ada", example_answers(CLASS["ada"]))
    # two cells of 14 s (each under the 15 s cell limit): at least 28 s in the kernel, limit 20 s
    slow = "import time\ntime.sleep(14)\n"
    hand_in(course, "sam_sleeps", dict(example_answers(CLASS["ada"]), step1=slow + CLASS["ada"]["step1"],
                                       step4=slow + CLASS["ada"]["step4"]))

    proc = subprocess.Popen([sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--scheduler",
                             dask_cluster.address, "--timeout", "20"], cwd=course, env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    code, output = finish(proc)
    assert code == 1, output
    assert statuses(course) == {"ada": ("graded", None), "sam_sleeps": ("failed", "timed out")}
    assert not (course / "autograded" / "sam_sleeps").exists()
    # the stuck worker was restarted by its nanny (as the executor asked), and is back
    assert any("client-restart-workers" in dask_cluster.log(w) for w in ("worker0", "worker1"))
    dask_cluster.wait_for_workers(2)
