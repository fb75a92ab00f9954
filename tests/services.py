"""Real services for tests: a PostgreSQL server and a Dask scheduler with workers, on 127.0.0.1.

Each is started by the test session on a free loopback port and stopped by its own process id.
PostgreSQL is Debian's (``apt-get install postgresql``): ``initdb`` in a temp dir owned by the
``postgres`` user (when the tests run as root), then the ``postgres`` server itself.
"""
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from support import BIN, env

STARTUP_SECONDS = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, wait: float = 20) -> None:
    """Stop ``proc`` (and its process group, started as its own session) by its pid."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # anything the group left behind
    except ProcessLookupError:
        pass
    proc.wait()


# -- PostgreSQL ---------------------------------------------------------------------------------

def postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql (.ci/run does)")
    return Path(found[-1]).parent


class Postgres:
    """A throwaway PostgreSQL server; :meth:`database` makes one fresh database per test."""

    def __init__(self):
        bindir = postgres_bin()
        self.user = "postgres" if os.geteuid() == 0 else None  # initdb refuses to run as root
        self.home = Path(tempfile.mkdtemp(prefix="pg-test-"))
        if self.user:
            shutil.chown(self.home, self.user)
        data = self.home / "data"
        subprocess.run([bindir / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
                        "--no-sync"], user=self.user, check=True, capture_output=True)
        self.port = free_port()
        self.log = open(self.home / "server.log", "wb")
        self.proc = subprocess.Popen(
            [bindir / "postgres", "-D", data, "-p", str(self.port), "-c", "listen_addresses=127.0.0.1",
             "-c", f"unix_socket_directories={self.home}", "-c", "fsync=off"],
            user=self.user, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_ready()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres"):
        import psycopg
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=database,
                               autocommit=True, connect_timeout=5)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("postgres exited: " + (self.home / "server.log").read_text()[-2000:])
            try:
                self.connect().close()
                return
            except Exception:  # noqa: BLE001 - not accepting connections yet
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def database(self) -> str:
        """A new empty database; its SQLAlchemy URL."""
        name = "t_" + uuid.uuid4().hex[:12]
        with self.connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def close(self) -> None:
        stop(self.proc, signal.SIGINT)  # PostgreSQL's fast shutdown
        self.log.close()
        shutil.rmtree(self.home, ignore_errors=True)


# -- Dask ---------------------------------------------------------------------------------------

class DaskCluster:
    """The cluster docs/grading.md documents, on 127.0.0.1: certificates from ``python -m autograder
    dask-certs``, ``dask scheduler`` and ``workers`` × ``dask worker`` (``processes`` single-thread
    processes each) with exactly the documented options; ``tls=False``: the documented plain
    loopback trial instead; ``worker_extra``: options added to each worker's command. Each worker
    runs in its own empty folder, every service is its own process group (a worker: a nanny and
    its processes), stopped by its pid."""

    def __init__(self, workers: int = 2, processes: int = 1, tls: bool = True, worker_extra: tuple = ()):
        self.processes, self.tls = processes, tls
        self.home = Path(tempfile.mkdtemp(prefix="dask-test-"))
        self.certs = self.home / "certs"
        if tls:
            subprocess.run([sys.executable, "-m", "autograder", "dask-certs", str(self.certs)], env=env(),
                           check=True, capture_output=True)
        self.port = free_port()
        self.address = f"{'tls' if tls else 'tcp'}://127.0.0.1:{self.port}"
        self.scheduler, self.workers = None, []
        try:
            self.scheduler = self._start("scheduler", [
                "scheduler", "--protocol", "tls" if tls else "tcp", "--host", "127.0.0.1", "--port",
                str(self.port), "--no-dashboard", "--dashboard-address", "127.0.0.1:0",
                *self.tls_options("scheduler")], DASK_DISTRIBUTED__SCHEDULER__HTTP__ROUTES="[]")
            self.workers = [self.start_worker(f"worker{i}", *worker_extra) for i in range(workers)]
            self.wait_for_workers(workers * processes)
        except BaseException:
            self.close()
            raise

    def tls_options(self, role: str, certs: Path = None) -> list:
        certs = certs or self.certs
        return ["--tls-ca-file", str(certs / "ca.pem"), "--tls-cert", str(certs / f"{role}.pem"),
                "--tls-key", str(certs / f"{role}.key")] if self.tls else []

    def _start(self, name: str, args: list, **environ) -> subprocess.Popen:
        folder = self.home / name
        folder.mkdir()
        log = open(self.home / f"{name}.log", "wb")
        try:
            return subprocess.Popen([BIN / "dask", *args],
                                    cwd=folder, env=env(**environ), stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()

    def worker_args(self, name: str, certs: Path = None) -> list:
        """The documented ``dask worker`` command's arguments (``certs``: another certificate folder)."""
        return ["worker", self.address, "--host", "127.0.0.1", "--nworkers", str(self.processes), "--nthreads",
                "1", "--no-dashboard", "--dashboard-address", "127.0.0.1:0", "--local-directory",
                str(self.home / name / "dask"), *self.tls_options("worker", certs)]

    def start_worker(self, name: str, *extra: str, certs: Path = None) -> subprocess.Popen:
        return self._start(name, self.worker_args(name, certs) + list(extra), AUTOGRADER_SANDBOX="required")

    def security(self):
        """The coordinator's: the course's client certificate (None for the plain loopback trial)."""
        from autograder.classrun import dask_security
        return dask_security.client_security(self.address, self.certs, insecure_loopback=not self.tls)

    def client(self):
        from distributed import Client
        return Client(self.address, security=self.security(), timeout=STARTUP_SECONDS)

    def wait_for_workers(self, count: int) -> None:
        with self.client() as client:
            client.wait_for_workers(count, timeout=STARTUP_SECONDS)

    def log(self, name: str) -> str:
        return (self.home / f"{name}.log").read_text(errors="replace")

    def close(self) -> None:
        for proc in self.workers:
            stop(proc)
        if self.scheduler is not None:
            stop(self.scheduler)
        shutil.rmtree(self.home, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres():
    """One PostgreSQL server for the session; tests take fresh databases from it."""
    server = Postgres()
    yield server
    server.close()


@pytest.fixture
def dask_cluster():
    """The documented TLS cluster, a scheduler and two workers on 127.0.0.1, for one test (tests kill them)."""
    cluster = DaskCluster(workers=2)
    yield cluster
    cluster.close()
