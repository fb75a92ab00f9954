"""The students' servers: JupyterHub's LocalProcessSpawner with a private home and a cgroup per user.

Before a server starts its user's home is made mode 0700 (Debian's ``useradd -m`` makes 0755), and
a cgroup of its own (v2, or v1's memory and pids hierarchies, found as the grading sandbox finds
them: :func:`autograder.notebook.sandbox.cgroup._cgroup_places`) bounds the memory and processes
of the server and every kernel it starts together. The server runs from the students' environment
(``CourseHub.student_env``), which holds no course files. When it stops, what its processes left in
memory that outlives them (files in /dev/shm, System V shared memory, semaphores and message
queues: the cgroup bounds them only while it lives) is removed with them
(:func:`release_shared_memory`).
"""
import asyncio
import os
import pwd
import stat
import subprocess
from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner, set_user_setuid
from traitlets import Integer, Unicode

from ..notebook.processes import kill_members
from ..notebook.sandbox.cgroup import _cgroup_places

CGROUP_PREFIX = "coursehub-"
SHARED_MEMORY = Path("/dev/shm")
SYSV_IPC = {"shm": "-m", "sem": "-s", "msg": "-q"}  # /proc/sysvipc/<table>: ipcrm's option


def release_shared_memory(uid: int, shared: Path = SHARED_MEMORY) -> list:
    """Remove what ``uid`` owns in ``shared`` (files, folders of any depth: never followed through
    a link) and its System V IPC objects; returns what was removed (``ipcrm`` arguments for those)."""
    removed = []
    for entry in os.scandir(shared):
        try:
            info = entry.stat(follow_symlinks=False)
            if info.st_uid != uid:
                continue
            if stat.S_ISDIR(info.st_mode):  # rm, not shutil.rmtree: a folder thousands deep breaks recursion
                if subprocess.run(["rm", "-rf", "--one-file-system", "--", entry.path], capture_output=True).returncode:
                    continue
            else:
                os.unlink(entry.path)
            removed.append(entry.path)
        except FileNotFoundError:
            pass
    for table, option in SYSV_IPC.items():
        try:
            header, *rows = Path("/proc/sysvipc", table).read_text().splitlines()
        except OSError:
            continue
        names = header.split()
        for row in rows:
            found = dict(zip(names, row.split()))
            if uid in (int(found["uid"]), int(found["cuid"])):
                argv = ["ipcrm", option, found[names[1]]]  # its id: shmid, semid or msqid
                if subprocess.run(argv, capture_output=True).returncode == 0:
                    removed.append(" ".join(argv))
    return removed


class CourseSpawner(LocalProcessSpawner):
    """A student's (or instructor's) server: private home, own cgroup, the students' environment."""

    memory_mb = Integer(1024, help="Memory of the server and its kernels together, MiB.").tag(config=True)
    processes = Integer(256, help="Processes + threads of the server and its kernels.").tag(config=True)
    student_env = Unicode(help="CourseHub.student_env: venv/ and etc/jupyter/.").tag(config=True)
    student_python = Unicode(help="A folder put on the servers' PYTHONPATH.").tag(config=True)
    exchange = Unicode(help="nbgrader's exchange folder (NBGRADER_EXCHANGE).").tag(config=True)

    def cgroup_folders(self) -> dict:
        """{controller: this user's cgroup folder} (created on :meth:`start`)."""
        _, parents, _ = _cgroup_places()
        return {key: parent / (CGROUP_PREFIX + self.user.name) for key, parent in parents.items()}

    def make_cgroup(self) -> list:
        """Create (or reuse) the user's cgroups with their limits; returns the cgroup.procs files."""
        limits = {"memory": [("memory.limit_in_bytes", self.memory_mb << 20),
                             ("memory.memsw.limit_in_bytes", self.memory_mb << 20)],
                  "pids": [("pids.max", self.processes)],
                  "cgroup2": [("memory.max", self.memory_mb << 20), ("memory.swap.max", 0),
                              ("pids.max", self.processes)]}
        folders = self.cgroup_folders()
        if not folders:
            self.log.warning("no cgroup can be made here: %s's server runs without a memory "
                             "and process bound", self.user.name)
        for key, folder in folders.items():
            folder.mkdir(exist_ok=True)
            for file, value in limits[key]:
                if (folder / file).exists():
                    (folder / file).write_text(str(value))
        return [str(folder / "cgroup.procs") for folder in folders.values()]

    def private_home(self) -> str:
        """The user's home, created if missing, owned by them, mode 0700."""
        user = pwd.getpwnam(self.user.name)
        home = Path(user.pw_dir)
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chown(home, user.pw_uid, user.pw_gid)
        home.chmod(0o700)
        return str(home)

    def make_preexec_fn(self, name):
        join, setuid = self._join_files, set_user_setuid(name)

        def preexec():
            pid = str(os.getpid()).encode()
            for procs in join:      # still root: enter the cgroup, then become the user
                fd = os.open(procs, os.O_WRONLY)
                try:
                    os.write(fd, pid)
                finally:
                    os.close(fd)
            setuid()
        return preexec

    def get_env(self):
        env = super().get_env()
        env.update(JUPYTER_CONFIG_PATH=str(Path(self.student_env) / "etc" / "jupyter"),
                   NBGRADER_EXCHANGE=self.exchange,
                   PATH=f"{Path(self.student_env) / 'venv' / 'bin'}:/usr/local/bin:/usr/bin:/bin")
        if self.student_python:
            env["PYTHONPATH"] = self.student_python
        return env

    async def start(self):
        self.private_home()
        self._join_files = self.make_cgroup()
        return await super().start()

    async def stop(self, now=False):
        await super().stop(now=now)
        for folder in self.cgroup_folders().values():     # kernels left behind, then the cgroup
            for attempt in range(50):
                if not folder.is_dir():
                    break
                kill_members(folder / "cgroup.procs")
                try:
                    folder.rmdir()
                except OSError as exc:          # killed members take a moment to leave
                    if attempt == 49:
                        self.log.warning("cgroup %s not removed: %s", folder, exc)
                    await asyncio.sleep(0.1)
        try:
            left = release_shared_memory(pwd.getpwnam(self.user.name).pw_uid)
        except OSError as exc:
            self.log.warning("%s's shared memory not released: %s", self.user.name, exc)
        else:
            if left:
                self.log.info("released what %s's server left in shared memory: %s", self.user.name,
                              ", ".join(left[:10]))
