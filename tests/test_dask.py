"""``python -m autograder grade A --scheduler ADDRESS``: grading on a real Dask cluster.

Each test starts the cluster docs/grading.md documents (certificates from ``python -m autograder
dask-certs``, a ``dask scheduler`` and two ``dask worker`` processes with mutual TLS, on
127.0.0.1, each worker in its own empty folder, no course there) and grades a small class
through it; the gradebook must equal a stock sequential ``nbgrader autograde`` run of a copy of
the class. One worker is killed while it grades (nothing is lost; the semaphores it held do not
outlive it in /dev/shm), and the scheduler is killed mid-run (the run stops with a clear message;
the next run, on a new cluster, grades the rest).

The cluster is the course's only: a client or a worker without the course's certificate cannot
connect, every service listens on the given interface only, ``grade`` refuses a plain ``tcp://``
scheduler (unless loopback and asked for), and a forged or malformed result from a worker fails
its submission alone, with nothing a worker sent unpickled by the coordinator.
"""
import json
import os
import shutil
import shlex
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

import psutil
import pytest
from services import STARTUP_SECONDS, DaskCluster, dask_cluster, stop  # noqa: F401 - pytest fixture
from corpus import reproducibility
from support import ASSIGNMENT, ROOT, env, hand_in, nbgrader, run_every_notebook, step_scores, submit


pytestmark = [pytest.mark.dask, pytest.mark.bwrap]  # its workers grade with AUTOGRADER_SANDBOX=required

CLASS = reproducibility.EXAMPLE_CLASS
WAIT = 300  # seconds a test waits for a run to reach a point before it fails


GRADED = ("ada", "ben_forgot_seed", "cleo_wrong_seed", "dev_hard_coded")


@pytest.fixture(scope="module")
def graded_class(course_template, tmp_path_factory):
    """A small class and the scores a stock sequential ``nbgrader autograde`` gives it."""
    folder = tmp_path_factory.mktemp("dask-class")
    course = shutil.copytree(course_template, folder / "course")
    for student in GRADED:
        hand_in(course, student, CLASS[student])
    submit(course, "nina_not_json", '{"cells": [ this is not JSON')
    stock = shutil.copytree(course, folder / "stock")
    nbgrader(stock, "autograde", ASSIGNMENT, check=False)
    return course, step_scores(stock)


@pytest.fixture
def class_course(graded_class, tmp_path):
    """A fresh copy of the class, nothing graded yet, and the stock scores."""
    return shutil.copytree(graded_class[0], tmp_path / "course"), graded_class[1]


def grade_on(course, cluster, *options):
    """``python -m autograder grade`` against ``cluster`` with its certificates, as documented."""
    return subprocess.Popen([sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--scheduler",
                             cluster.address, "--dask-certs", str(cluster.certs), *options],
                            cwd=course, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc):
    out, err = proc.communicate(timeout=900)
    return proc.returncode, out + err


def statuses(course) -> dict:
    report = json.loads((course / "exports" / ASSIGNMENT / "grading_report.json").read_text())["students"]
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


def semaphores(pid: int) -> set:
    """The named POSIX semaphores (files in /dev/shm) process ``pid`` has open."""
    with open(f"/proc/{pid}/maps", encoding="utf-8") as maps:
        return {line.split(None, 5)[5].strip() for line in maps
                if line.count(" ") >= 5 and "/dev/shm/sem." in line}


def wait_for(what, check, proc=None):
    """Poll ``check`` until it holds; fail if ``proc`` (a run, when given) ends first."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        assert proc is None or proc.poll() is None, f"the run ended before {what}: " + "".join(finish(proc)[1])
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_dask_run_gives_the_stock_gradebook(class_course, dask_cluster):  # noqa: F811
    course, expected = class_course
    code, output = finish(grade_on(course, dask_cluster))
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
    proc = grade_on(course, dask_cluster)
    busy = wait_for("a worker grading", lambda: {addr: pid for addr, (pid, keys) in
                                                 running_grade_tasks(dask_cluster).items() if keys}, proc)
    victim_pid = next(iter(busy.values()))
    victim = next(w for w in dask_cluster.workers if w.pid == os.getpgid(victim_pid))
    held = semaphores(victim.pid) | semaphores(victim_pid)
    assert held  # the nanny and its worker share multiprocessing queues
    # The nanny and its worker, mid-task; not their group, whose multiprocessing resource tracker
    # then unlinks the semaphores they held (killed with it, they stay in /dev/shm for good).
    for pid in (victim.pid, victim_pid):
        os.kill(pid, signal.SIGKILL)
    victim.wait()

    code, output = finish(proc)
    assert code == 1, output
    assert step_scores(course) == expected
    assert {s for s, (status, _) in statuses(course).items() if status == "graded"} == set(GRADED)
    wait_for("the killed worker's semaphores unlinked", lambda: not any(map(os.path.exists, held)))


def test_a_lost_scheduler_stops_the_run_and_the_next_run_grades_the_rest(class_course,
                                                                          dask_cluster):  # noqa: F811
    course, expected = class_course
    proc = grade_on(course, dask_cluster)
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
        code, output = finish(grade_on(course, second))
    finally:
        second.close()
    assert code == 1, output
    assert step_scores(course) == expected
    # only what the first run had not recorded was graded again
    again = {s for s, (status, _) in statuses(course).items() if status == "graded"}
    assert again and not again & graded_first, (again, graded_first)


def test_a_submission_over_the_time_limit_fails_and_its_worker_is_restarted(course, dask_cluster):  # noqa: F811
    run_every_notebook(course)
    hand_in(course, "ada", CLASS["ada"])
    # two cells of 14 s (each under the 15 s cell limit): at least 28 s in the kernel, limit 20 s
    slow = "import time\ntime.sleep(14)\n"
    hand_in(course, "sam_sleeps", dict(CLASS["ada"], step1=slow + CLASS["ada"]["step1"],
                                       step4=slow + CLASS["ada"]["step4"]))

    code, output = finish(grade_on(course, dask_cluster, "--timeout", "20"))
    assert code == 1, output
    assert statuses(course) == {"ada": ("graded", None), "sam_sleeps": ("failed", "timed out")}
    assert not (course / "autograded" / "sam_sleeps").exists()
    # the stuck worker was restarted by its nanny (as the executor asked), and is back
    assert any("client-restart-workers" in dask_cluster.log(w) for w in ("worker0", "worker1"))
    dask_cluster.wait_for_workers(2)


# -- only the course can use the cluster ---------------------------------------------------------

def other_certs(tmp_path):
    """Certificates from another run of the documented command: another course's CA."""
    folder = tmp_path / "other-certs"
    subprocess.run([sys.executable, "-m", "autograder", "dask-certs", str(folder)], env=env(), check=True,
                   capture_output=True)
    return folder


def test_a_client_without_the_course_certificate_cannot_connect(dask_cluster, tmp_path):  # noqa: F811
    from distributed import Client
    from distributed.security import Security
    other = other_certs(tmp_path)
    clients = dask_cluster.log("scheduler").count("Receive client connection")
    plain = f"tcp://127.0.0.1:{dask_cluster.port}"
    foreign = Security(tls_ca_file=str(other / "ca.pem"), tls_client_cert=str(other / "client.pem"),
                       tls_client_key=str(other / "client.key"), require_encryption=True)
    for address, security in ((plain, None), (dask_cluster.address, foreign)):
        with pytest.raises((OSError, TimeoutError)):
            Client(address, security=security, timeout=STARTUP_SECONDS, set_as_default=False)
    # TLS trusting the course's CA, but no client certificate: the scheduler ends the handshake
    context = ssl.create_default_context(cafile=str(dask_cluster.certs / "ca.pem"))
    context.check_hostname = False
    with socket.create_connection(("127.0.0.1", dask_cluster.port), timeout=STARTUP_SECONDS) as raw:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            with context.wrap_socket(raw) as tls:
                tls.sendall(b"\0" * 16)
                assert tls.recv(1) == b""  # (not reached: the alert arrives as an error)
    refused = ("PEER_DID_NOT_RETURN_A_CERTIFICATE", "TLSV1_ALERT_UNKNOWN_CA")
    for _ in range(300):  # the scheduler logs a refused handshake when its event loop gets to it
        log = dask_cluster.log("scheduler")
        if all(word in log for word in refused):
            break
        time.sleep(0.1)
    assert all(word in log for word in refused), log[-3000:]
    assert log.count("Receive client connection") == clients  # none of them became a client
    with dask_cluster.client() as client:  # the course's client certificate does
        assert len(client.scheduler_info()["workers"]) == 2


def test_a_worker_without_the_course_certificate_cannot_join(dask_cluster, tmp_path):  # noqa: F811
    with dask_cluster.client() as client:
        members = set(client.scheduler_info()["workers"])
    registered = dask_cluster.log("scheduler").count("Register worker")
    other = other_certs(tmp_path)
    foreign = dask_cluster.start_worker("rogue_foreign", certs=other)
    plain = dask_cluster._start("rogue_plain", ["worker", f"tcp://127.0.0.1:{dask_cluster.port}", "--host",
                                                "127.0.0.1", "--nthreads", "1", "--no-dashboard"])
    try:
        for name, proc in (("rogue_foreign", foreign), ("rogue_plain", plain)):
            assert proc.wait(timeout=WAIT) != 0, name  # it gives up by itself
            assert "Nanny failed to start" in dask_cluster.log(name), name
        with dask_cluster.client() as client:
            assert set(client.scheduler_info()["workers"]) == members
        assert dask_cluster.log("scheduler").count("Register worker") == registered
    finally:
        stop(foreign)
        stop(plain)


def listening(proc) -> list:
    """(ip, port) of every listening socket of ``proc`` and its descendants."""
    root = psutil.Process(proc.pid)
    return sorted((c.laddr.ip, c.laddr.port) for p in [root, *root.children(recursive=True)]
                  for c in p.net_connections("inet") if c.status == psutil.CONN_LISTEN)


def documented(service: str, cluster, local_directory: str = "") -> tuple:
    """docs/grading.md's ``dask SERVICE`` command for ``cluster`` (SCHEDULER and HOST 127.0.0.1):
    ``({environment variable: value}, [argument, ...])``."""
    section = (ROOT / "docs" / "grading.md").read_text(encoding="utf-8").split("## Grading on a cluster (Dask)")[1]
    line = next(line for line in section.replace("\\\n", " ").splitlines()
                if f".venv/bin/dask {service} " in line and not line.lstrip().startswith("#"))
    words = shlex.split(line)
    start = words.index(".venv/bin/dask")
    places = {"tls://SCHEDULER:8786": cluster.address, "SCHEDULER": "127.0.0.1", "HOST": "127.0.0.1",
              "8786": str(cluster.port), "$(nproc)": str(cluster.processes),
              "~/.cache/autograder-dask": local_directory}
    args = [str(cluster.certs / word[len("CERTS/"):]) if word.startswith("CERTS/") else places.get(word, word)
            for word in words[start + 1:]]
    return dict(word.split("=", 1) for word in words[:start]), args


def test_the_documented_services_listen_on_the_given_interface_only(dask_cluster):  # noqa: F811
    # the helper runs exactly the documented commands
    environ, args = documented("scheduler", dask_cluster)
    process = psutil.Process(dask_cluster.scheduler.pid)
    assert process.cmdline()[2:] == args and environ.items() <= process.environ().items()
    for number, worker in enumerate(dask_cluster.workers):
        environ, args = documented("worker", dask_cluster, str(dask_cluster.home / f"worker{number}" / "dask"))
        process = psutil.Process(worker.pid)
        assert process.cmdline()[2:] == args and environ.items() <= process.environ().items()

    scheduler = listening(dask_cluster.scheduler)
    assert ("127.0.0.1", dask_cluster.port) in scheduler
    for worker in dask_cluster.workers:
        sockets = listening(worker)
        assert len(sockets) >= 3, sockets  # the nanny's, its worker's and the worker's HTTP server
        assert {ip for ip, _ in sockets} == {"127.0.0.1"}, sockets
    assert {ip for ip, _ in scheduler} == {"127.0.0.1"}, scheduler
    with dask_cluster.client() as client:
        info = client.scheduler_info()["workers"]
    assert {w["nanny"].rsplit(":", 1)[0] for w in info.values()} | set(a.rsplit(":", 1)[0] for a in info) \
        == {"tls://127.0.0.1"}
    # the scheduler's HTTP server (Dask always starts one) serves none of its pages
    http = [port for _, port in scheduler if port != dask_cluster.port]
    assert len(http) == 1, scheduler
    for page in ("info/main/logs.html", "info/main/workers.html", "json/identity.json"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{http[0]}/{page}", timeout=STARTUP_SECONDS)
        assert refused.value.code == 404, page


def grade_command(course, *options):
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", ASSIGNMENT, *options], cwd=course,
                          env=env(), capture_output=True, text=True)
    return proc.returncode, proc.stdout + proc.stderr


def test_grade_refuses_a_plain_tcp_scheduler_unless_loopback_and_asked(course, tmp_path):
    hand_in(course, "ada", CLASS["ada"])
    cluster = DaskCluster(workers=1, tls=False)  # the documented trial on one machine
    try:
        code, output = grade_command(course, "--scheduler", cluster.address)
        assert code == 2 and "refusing the plain tcp:// scheduler" in output, output
        for address in ("tcp://192.0.2.1:8786", f"tcp://localhost:{cluster.port}"):
            code, output = grade_command(course, "--scheduler", address, "--insecure-loopback")
            assert code == 2 and "loopback address only" in output, output
        code, output = grade_command(course, "--scheduler", f"tls://127.0.0.1:{cluster.port}",
                                     "--dask-certs", str(tmp_path / "none"))
        assert code == 2 and "no Dask client certificate" in output and "dask-certs" in output, output
        assert not (course / "autograded").exists() and not (course / "exports").exists()
        code, output = grade_command(course, "--scheduler", cluster.address, "--insecure-loopback")
        assert code == 0, output
        assert statuses(course) == {"ada": ("graded", None)}
    finally:
        cluster.close()


FORGE = '''
"""A compromised grading machine (a ``dask worker --preload``): forged results for students forge_*."""
import json
import pickle

from distributed import get_worker

import autograder.classrun.dask_executor as executor

MARKER = {marker!r}
CODE = f"import os; open({{MARKER!r}}, 'a').write('%d\\\\n' % os.getpid())"  # who unpickled it


class Unpickles:
    def __reduce__(self):
        return exec, (CODE,)


genuine = getattr(executor.run_task, "genuine", executor.run_task)  # (a preload may run twice)
sample = []  # one genuine result text, to forge from


def forged_run_task(snapshot, student, files, seeds):
    if not student.startswith("forge_"):
        return genuine(snapshot, student, files, seeds)
    kind = student[len("forge_"):]
    if not sample:
        sample.append(genuine(snapshot, student, files, seeds))
    result = json.loads(sample[0])
    result["student"] = student
    cell = next(iter(result["cells"]))
    if kind == "object":        # a pickle instead of the JSON text
        return Unpickles()
    if kind == "dict":          # plain data, but not the text
        return result
    if kind == "raises":        # an exception carrying a pickle, and a warning that is one
        get_worker().log_event("warn", {{"message": pickle.dumps(Unpickles())}})
        error = RuntimeError("forged")
        error.payload = Unpickles()
        raise error
    if kind == "types":
        result["cells"][cell]["score"] = "full marks"
    elif kind == "extra":
        result["admin"] = True
    elif kind == "huge":
        result["log"] = [{{"level": "INFO", "message": "x"}}] * 200_000
    elif kind == "someone_else":
        result["student"] = "ada"
    elif kind == "escape":
        result["autograded"]["../../../escaped.txt"] = "AAAA"
    elif kind == "nan":
        result["cells"][cell]["score"] = float("nan")
        return json.dumps(result)
    return json.dumps(result)


forged_run_task.genuine = genuine
executor.run_task = forged_run_task
'''
FORGED = ("object", "dict", "raises", "types", "extra", "huge", "someone_else", "escape", "nan")


def test_a_forged_result_fails_its_submission_and_no_other(graded_class, tmp_path):
    course, expected = shutil.copytree(graded_class[0], tmp_path / "course"), graded_class[1]
    for kind in FORGED:
        hand_in(course, f"forge_{kind}", CLASS["ada"])
    marker = tmp_path / "unpickled-by"
    forge = tmp_path / "forge.py"
    forge.write_text(FORGE.format(marker=str(marker)), encoding="utf-8")

    cluster = DaskCluster(workers=2, worker_extra=("--preload", str(forge)))
    try:
        proc = grade_on(course, cluster)
        code, output = finish(proc)
    finally:
        cluster.close()
    assert code == 1, output
    found = statuses(course)
    assert {s: found[s] for s in (*GRADED, "nina_not_json")} == dict(
        {s: ("graded", None) for s in GRADED}, nina_not_json=("failed", "notebook not JSON")), found
    assert {s: v for s, v in step_scores(course).items() if s in GRADED} == \
        {s: v for s, v in expected.items() if s in GRADED}
    assert {s: found[f"forge_{s}"][0] for s in FORGED} == dict.fromkeys(FORGED, "failed"), found
    assert found["forge_raises"] == ("failed", "grading error")
    assert {s: found[f"forge_{s}"][1] for s in FORGED if s != "raises"} == \
        dict.fromkeys(set(FORGED) - {"raises"}, "invalid result"), found
    report = json.loads((course / "exports" / ASSIGNMENT / "grading_report.json").read_text())["students"]
    for kind, words in (("types", "expected a finite number"), ("extra", "unexpected 'admin'"),
                        ("huge", "at most 100000"), ("someone_else", "not the student it was sent for"),
                        ("escape", "relative path"), ("nan", "NaN"), ("dict", "got dict instead of"),
                        ("object", "refused")):
        assert words in report[f"forge_{kind}"]["detail"], (kind, report[f"forge_{kind}"]["detail"])
    for kind in FORGED:  # nothing recorded: no autograded folder, the gradebook marks it failed
        assert not (course / "autograded" / f"forge_{kind}").exists(), kind
        assert report[f"forge_{kind}"]["score"] is None, kind
    assert not any(tmp_path.rglob("escaped.txt"))
    # the workers unpickled their own pickles (Dask checks an exception can be); the coordinator none
    unpickled_by = set(marker.read_text().split()) if marker.exists() else set()
    assert unpickled_by and str(proc.pid) not in unpickled_by, (proc.pid, unpickled_by)


def test_a_killed_worker_is_told_from_an_exception_without_unpickling_either():
    from distributed.protocol import pickle
    from distributed.scheduler import KilledWorker

    from autograder.classrun.dask_executor import _first_global
    assert _first_global(pickle.dumps(KilledWorker("grade-ada", None, 3))) == ("distributed.scheduler",
                                                                                "KilledWorker")
    assert _first_global(pickle.dumps(RuntimeError("forged"))) != ("distributed.scheduler", "KilledWorker")
    assert _first_global(b"not a pickle") == ()


def test_dask_certs_writes_a_ca_and_a_key_per_role_for_the_owner_only(tmp_path):
    from cryptography import x509
    folder = other_certs(tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["ca.pem"] + [f"{role}.{ext}" for role in ("scheduler", "worker", "client") for ext in ("pem", "key")])
    assert folder.stat().st_mode & 0o777 == 0o700
    ca = x509.load_pem_x509_certificate((folder / "ca.pem").read_bytes())
    for role in ("scheduler", "worker", "client"):
        assert (folder / f"{role}.key").stat().st_mode & 0o777 == 0o600, role
        x509.load_pem_x509_certificate((folder / f"{role}.pem").read_bytes()).verify_directly_issued_by(ca)
    assert b"PRIVATE KEY" not in (folder / "ca.pem").read_bytes()  # the CA's key is nowhere
    again = subprocess.run([sys.executable, "-m", "autograder", "dask-certs", str(folder)], env=env(),
                           capture_output=True, text=True)
    assert again.returncode == 2 and "already holds" in again.stderr, again.stderr
