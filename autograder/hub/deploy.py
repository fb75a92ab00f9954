"""``make hub`` (``python -m autograder hub``): deploy the course from this checkout and run the hub.

As root, idempotently (a re-run with nothing changed only checks and copies small files): refuse a
checkout whose secrets students could read (:mod:`.checks`); create the student and instructor
groups and the grader account; copy the course into ``CourseHub.course_root`` (the grader's, 0700)
with the grader's venv; build the students' environment (no course files); release every
assignment into the exchange as the grader; install the pinned proxy; then run JupyterHub in the
foreground with ``hub/jupyterhub_config.py`` and the generated ``coursehub.json`` (docs/hub.md).
"""
import argparse
import grp
import hashlib
import json
import logging
import os
import pwd
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import tomllib
import time
from filecmp import dircmp
from pathlib import Path

from . import checks
from .settings import as_dict, load

log = logging.getLogger("autograder.hub")

SYSTEM_PYTHON = "/usr/bin/python3"   # every venv another uid runs (docs/hub.md)
# Course material, replaced from the checkout on every run; the deployment's own state (gradebook,
# keys, submissions) is copied only when the deployment has none yet.
MATERIAL = ("nbgrader_config.py", "source", "release", "examples", "notebooks", "lms")
STATE = ("gradebook.db", ".secret_seeds.key")
# What the course package is built from (installed NON-editable: no path back into the checkout).
PACKAGE = ("pyproject.toml", "README.md", "autograder")
STAMP = ".coursehub-stamp.json"
SETTINGS_FILE = "coursehub.json"


def run(command: list, **options) -> None:
    log.info("+ %s", " ".join(map(str, command)))
    subprocess.run(list(map(str, command)), check=True, **options)


def digest(*paths: Path) -> str:
    """sha256 over the names and bytes of ``paths`` (folders walked, sorted, caches skipped)."""
    hashed = hashlib.sha256()
    for top in paths:
        files = [top] if top.is_file() else sorted(
            p for p in top.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        for file in files:
            hashed.update(str(file.relative_to(top.parent)).encode() + b"\0" + file.read_bytes())
    return hashed.hexdigest()


# -- accounts ------------------------------------------------------------------------------------

def account_command(command: list) -> None:
    """useradd/groupadd, again while another program holds the lock on /etc/passwd or /etc/group."""
    for attempt in range(60):
        done = subprocess.run(list(map(str, command)), capture_output=True, text=True)
        if done.returncode == 0:
            log.info("+ %s", " ".join(map(str, command)))
            return
        if "lock" not in done.stderr or attempt == 59:
            raise checks.Refused(f"`{' '.join(map(str, command))}` failed: {done.stderr.strip()}")
        time.sleep(1)


def ensure_group(name: str) -> int:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        account_command(["groupadd", name])
        return grp.getgrnam(name).gr_gid


def ensure_grader(name: str, home: Path) -> pwd.struct_passwd:
    """The grader account: a system user with its own group, no login shell, home = course_root."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        account_command(["useradd", "--system", "--user-group", "--home-dir", home, "--no-create-home",
             "--shell", "/usr/sbin/nologin", name])
        return pwd.getpwnam(name)


def chown_tree(top: Path, uid: int, gid: int) -> None:
    for folder, dirs, files in os.walk(top):
        os.lchown(folder, uid, gid)
        for name in dirs + files:
            os.lchown(os.path.join(folder, name), uid, gid)


def private_folder(path: Path, uid: int = 0, gid: int = 0) -> None:
    """``path`` exists, owned by uid:gid, mode 0700, whatever was there before."""
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, uid, gid)
    path.chmod(0o700)


# -- venvs ---------------------------------------------------------------------------------------

def ensure_venv(venv: Path, requirements: list, package_from: Path = None) -> bool:
    """A venv of /usr/bin/python3 with ``requirements`` (pip arguments, pinned) and, with
    ``package_from``, the course package installed from a copy of it (non-editable, into
    ``<venv>/../package``, found through a .pth). Rebuilt only
    when the requirements changed; the package reinstalled only when its files changed. pip's
    cache (root's) makes a rebuild fast. Returns whether anything was installed."""
    stamp_file = venv / STAMP
    try:
        stamp = json.loads(stamp_file.read_text())
    except (OSError, ValueError):
        stamp = {}
    wanted = {"requirements": hashlib.sha256(json.dumps([
        str(a) if not Path(a).is_file() else digest(Path(a)) for a in requirements]).encode()).hexdigest()}
    if package_from is not None:
        wanted["package"] = digest(*(package_from / name for name in PACKAGE))
    if stamp == wanted and (venv / "bin" / "python").exists():
        log.info("%s is up to date", venv)
        return False
    pip = [venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if stamp.get("requirements") != wanted["requirements"] or not (venv / "bin" / "python").exists():
        shutil.rmtree(venv, ignore_errors=True)
        run([SYSTEM_PYTHON, "-m", "venv", venv])
        run(pip + list(requirements))
    if package_from is not None:
        with tempfile.TemporaryDirectory() as tmp:
            for name in PACKAGE:
                source = package_from / name
                (shutil.copytree if source.is_dir() else shutil.copy2)(
                    source, Path(tmp) / name, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                                 if source.is_dir() else {}))
            # beside the venv, not in its site-packages: the grader's sandbox shows the venv's lib/
            # to student code and refuses a course package there (its quiz key, expected values)
            target = venv.parent / "package"
            shutil.rmtree(target, ignore_errors=True)
            name = tomllib.loads((package_from / "pyproject.toml").read_text())["project"]["name"]
            run([venv / "bin" / "python", "-m", "pip", "uninstall", "--quiet", "--yes", name])
            run(pip + ["--no-deps", "--no-compile", "--target", target, tmp])
            site = next((venv / "lib").glob("python3*/site-packages"))
            (site / "course-package.pth").write_text(f"{target}\n")
    stamp_file.write_text(json.dumps(wanted))
    return True


def pinned(lock: Path, name: str) -> str:
    """``name==version`` as ``lock`` pins it."""
    for line in lock.read_text().splitlines():
        if line.split("==")[0].strip().lower() == name:
            return line.split(";")[0].strip()
    raise checks.Refused(f"{lock} pins no {name}: run `make lock` (docs/hub.md)")


# -- the course, the students' environment, the exchange -----------------------------------------

def deploy_course(checkout: Path, course: Path, grader: pwd.struct_passwd) -> None:
    course.mkdir(exist_ok=True)
    for name in MATERIAL:
        source, target = checkout / name, course / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        if source.is_dir():
            shutil.copytree(source, target, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        elif source.is_file():
            shutil.copy2(source, target)
    for name in STATE:
        if (checkout / name).is_file() and not (course / name).exists():
            shutil.copy2(checkout / name, course / name)
    chown_tree(course, grader.pw_uid, grader.pw_gid)


def merge_json(target: Path, source: Path) -> None:
    """``source``'s JSON merged into ``target``'s (nested objects key by key, ``source`` wins)."""
    def merged(old, new):
        if isinstance(old, dict) and isinstance(new, dict):
            return {**old, **{key: merged(old.get(key), value) for key, value in new.items()}}
        return new
    old = json.loads(target.read_text()) if target.exists() else {}
    target.write_text(json.dumps(merged(old, json.loads(source.read_text())), indent=2) + "\n")


def overlay(source: Path, target: Path) -> None:
    """The files of folder ``source`` over ``target``: JSON config merged, everything else copied."""
    for file in sorted(p for p in source.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        destination = target / file.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        if file.suffix == ".json":
            merge_json(destination, file)
        else:
            shutil.copy2(file, destination)


def student_config(checkout: Path, etc: Path, python: Path) -> None:
    """The students' Jupyter config (lab/ then lab/exchange/ then hub/student/ over it) in
    ``etc`` and the helper modules of hub/student/python/ in ``python``; world-readable."""
    for folder in (etc, python):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    for name in ("jupyter_server_config.json", "labconfig"):
        for layer in (checkout / "lab", checkout / "lab" / "exchange"):
            source = layer / name
            if source.is_dir():
                overlay(source, etc / name)
            elif source.is_file():
                merge_json(etc / name, source)
    shutil.copy2(checkout / "lab" / "exchange" / "nbgrader_config.py", etc / "nbgrader_config.py")
    extra = checkout / "hub" / "student"
    if extra.is_dir():
        overlay_files = [p for p in extra.iterdir() if p.name != "python"]
        for item in overlay_files:
            if item.is_dir():
                overlay(item, etc / item.name)
            elif item.suffix == ".json":
                merge_json(etc / item.name, item)
            else:
                shutil.copy2(item, etc / item.name)
        if (extra / "python").is_dir():
            overlay(extra / "python", python)
    else:
        log.info("no %s: the students get the course's lab/ configuration only", extra)
    for folder in (etc, python):
        for path in [folder, *folder.rglob("*")]:
            os.chown(path, 0, 0)
            path.chmod(0o755 if path.is_dir() else 0o644)


def grader_environment(settings: dict) -> dict:
    """The environment of every grader process: the commands make hub runs as the grader and the
    hub's formgrader and grading services (coursehub.json carries it to hub/jupyterhub_config.py)."""
    root = Path(settings["course_root"])
    return {"PATH": f"{root / 'venv' / 'bin'}:/usr/local/bin:/usr/bin:/bin", "HOME": str(root),
            "LANG": "C.UTF-8", "NBGRADER_EXCHANGE": settings["exchange"],
            "TRAITLETS_APPLICATION_RAISE_CONFIG_FILE_ERROR": "1", "AUTOGRADER_SANDBOX": "required",
            "JUPYTER_CONFIG_DIR": str(root / "jupyter"), "JUPYTER_DATA_DIR": str(root / "jupyter" / "data"),
            "JUPYTER_RUNTIME_DIR": str(root / "jupyter" / "runtime"), "IPYTHONDIR": str(root / "ipython")}


def as_grader(grader: pwd.struct_passwd, settings: dict) -> dict:
    """subprocess options running a command as the grader in the deployed course."""
    return {"user": grader.pw_uid, "group": grader.pw_gid, "extra_groups": [],
            "env": grader_environment(settings), "cwd": Path(settings["course_root"]) / "course",
            "umask": 0o077}


def require_sandbox(grader: pwd.struct_passwd, settings: dict) -> None:
    """Grading on submit runs every student's code as the grader: refuse to serve a class where
    the grader account gets no sandbox (its processes run with ``AUTOGRADER_SANDBOX=required``)."""
    found = subprocess.run([str(Path(settings["course_root"]) / "venv" / "bin" / "python"), "-m",
                            "autograder.notebook.sandbox"], capture_output=True, text=True,
                           **as_grader(grader, settings))
    if found.returncode:
        said = (found.stdout + found.stderr).strip().splitlines()
        raise checks.Refused(f"the grader account {grader.pw_name!r} gets no sandbox for student code "
                             f"({said[-1] if said else 'exit %d' % found.returncode}): install bubblewrap "
                             "(apt-get install bubblewrap) and allow unprivileged user namespaces "
                             "(sysctl kernel.unprivileged_userns_clone=1 where it exists), then run make hub again.")


def ensure_exchange(exchange: Path, course_id: str, grader: pwd.struct_passwd) -> None:
    """The exchange root: root's, mode 1777 (students' nbgrader insists on writing there; the
    sticky bit keeps them from renaming what is not theirs), and the course's folder in it the
    grader's, 0755, refused when someone else made it."""
    exchange.mkdir(parents=True, exist_ok=True)
    os.chown(exchange, 0, 0)
    exchange.chmod(0o1777)
    course = exchange / course_id
    try:
        course.mkdir()
        os.chown(course, grader.pw_uid, grader.pw_gid)
        course.chmod(0o755)
    except FileExistsError:
        st = course.lstat()
        if not course.is_dir() or course.is_symlink() or st.st_uid != grader.pw_uid:
            raise checks.Refused(f"{course} is not a folder of the grader account {grader.pw_name} "
                                 f"(owner uid {st.st_uid}): someone else made it. Move it away "
                                 "(it may be a student's forgery) and run make hub again.") from None


def record_assignments(grader: pwd.struct_passwd, settings: dict) -> list:
    """``nbgrader generate_assignment`` as the grader for each assignment of the deployed course's
    source/ missing from its gradebook (a fresh clone has no gradebook.db: grading refuses an
    assignment the gradebook lacks). Returns those generated."""
    course = Path(settings["course_root"]) / "course"
    database = course / "gradebook.db"
    known = set()
    if database.is_file():
        db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            known = {name for (name,) in db.execute("SELECT name FROM assignment")}
        finally:
            db.close()
    missing = sorted(p.name for p in (course / "release").iterdir() if p.is_dir() and p.name not in known)
    for name in missing:
        run([Path(settings["course_root"]) / "venv" / "bin" / "nbgrader", "generate_assignment", name,
             "--force", "--log-level=WARN"], **as_grader(grader, settings))
    return missing


def release_all(grader: pwd.struct_passwd, settings: dict, course_id: str) -> list:
    """Release every assignment of the deployed course's release/ into the exchange as the grader
    (re-released only when its files differ from what the exchange holds). Returns those released."""
    course = Path(settings["course_root"]) / "course"
    outbound = Path(settings["exchange"]) / course_id / "outbound"
    released = []
    for folder in sorted(p for p in (course / "release").iterdir() if p.is_dir()):
        there = outbound / folder.name
        if there.is_dir():
            same = dircmp(folder, there, ignore=["__pycache__", ".ipynb_checkpoints"])
            if not (same.left_only or same.right_only or same.diff_files or same.funny_files
                    or any(sub.diff_files or sub.left_only or sub.right_only for sub in same.subdirs.values())):
                continue
        run([Path(settings["course_root"]) / "venv" / "bin" / "nbgrader", "release_assignment",
             folder.name, "--force", "--log-level=WARN"], **as_grader(grader, settings))
        released.append(folder.name)
    return released


def grader_jupyter_config(root: Path, grader: pwd.struct_passwd) -> None:
    """The formgrader service's Jupyter config: formgrader on, the students' panels off, no terminal."""
    config = root / "jupyter"
    for folder in (config, config / "data", config / "runtime", root / "ipython"):
        folder.mkdir(parents=True, exist_ok=True)
    # A submission's markdown and HTML outputs are the student's: formgrader renders them to the
    # instructor sanitized (nbconvert's default is not), so no script of theirs runs as the grader.
    (config / "jupyter_server_config.json").write_text(json.dumps({"ServerApp": {
        "root_dir": str(root / "course"), "terminals_enabled": False,
        "jpserver_extensions": {"nbgrader.server_extensions.formgrader": True,
                                "nbgrader.server_extensions.assignment_list": False,
                                "nbgrader.server_extensions.course_list": False,
                                "nbgrader.server_extensions.validate_assignment": False}},
        "HTMLExporter": {"sanitize_html": True,
                         "preprocessors": ["nbconvert.preprocessors.sanitize.SanitizeHTML"]}}, indent=2))
    chown_tree(config, grader.pw_uid, grader.pw_gid)
    chown_tree(root / "ipython", grader.pw_uid, grader.pw_gid)


def install_proxy(checkout: Path, target: Path) -> Path:
    """configurable-http-proxy as hub/package-lock.json pins it, in ``target`` (root's, 0700):
    ``npm ci`` only when the lock changed. Returns the proxy's command."""
    wanted = digest(checkout / "hub" / "package-lock.json")
    stamp = target / STAMP
    command = target / "node_modules" / ".bin" / "configurable-http-proxy"
    if command.exists() and stamp.exists() and stamp.read_text() == wanted:
        return command
    target.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy2(checkout / "hub" / name, target / name)
    run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=target)
    stamp.write_text(wanted)
    return command


# -- the whole of it -----------------------------------------------------------------------------

def deploy(checkout: Path) -> dict:
    """Everything ``make hub`` sets up before the hub starts; returns the hub's settings."""
    checks.require_root()
    node = checks.require_node()
    hub, course_id = load(checkout)
    settings = as_dict(hub)
    checks.refuse_readable_checkout(checkout, hub.student_group)
    log.info("Node %s; course %s from %s", node, course_id, checkout)

    ensure_group(hub.student_group)
    ensure_group(hub.instructor_group)
    root, state, env = Path(hub.course_root), Path(hub.hub_state), Path(hub.student_env)
    grader = ensure_grader(hub.grader_user, root)

    private_folder(state)
    private_folder(root, grader.pw_uid, grader.pw_gid)
    lock = checkout / "requirements.lock"
    ensure_venv(state / "venv", ["-c", lock, pinned(lock, "jupyterhub"),
                                 pinned(lock, "jupyterhub-idle-culler")], checkout)
    ensure_venv(root / "venv", ["-r", lock], checkout)
    deploy_course(checkout, root / "course", grader)
    grader_jupyter_config(root, grader)
    require_sandbox(grader, settings)

    env.mkdir(parents=True, exist_ok=True)
    os.chown(env, 0, 0)
    env.chmod(0o755)
    ensure_venv(env / "venv", ["-r", checkout / "kit" / "requirements.txt", "-c", lock,
                               pinned(lock, "jupyterhub")])
    student_config(checkout, env / "etc" / "jupyter", env / "python")

    ensure_exchange(Path(hub.exchange), course_id, grader)
    record_assignments(grader, settings)
    released = release_all(grader, settings, course_id)
    log.info("released into %s: %s", hub.exchange, ", ".join(released) or "nothing new")

    proxy = install_proxy(checkout, state / "proxy")
    token = state / "proxy_auth_token"
    if not token.exists():
        token.write_text(secrets.token_hex(32))
    token.chmod(0o600)
    settings.update(course_id=course_id, proxy_command=str(proxy), grader_env=grader_environment(settings),
                    hub_venv=str(state / "venv"), student_python=str(env / "python"))
    (state / SETTINGS_FILE).write_text(json.dumps(settings, indent=2) + "\n")
    shutil.copy2(checkout / "hub" / "jupyterhub_config.py", state / "jupyterhub_config.py")
    for path in state.iterdir():
        if path.is_file():
            path.chmod(0o600)
    return settings


def serve(settings: dict) -> None:
    """Replace this process with JupyterHub (foreground; Ctrl-C stops it and its servers)."""
    state = Path(settings["hub_state"])
    os.chdir(state)
    os.umask(0o077)
    jupyterhub = Path(settings["hub_venv"]) / "bin" / "jupyterhub"
    env = {"PATH": f"{Path(settings['hub_venv']) / 'bin'}:/usr/local/bin:/usr/bin:/bin",
           "LANG": "C.UTF-8", "HOME": str(state)}
    log.info("JupyterHub on http://%s:%s (state in %s)", settings["ip"], settings["port"], state)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(jupyterhub, [str(jupyterhub), "-f", str(state / "jupyterhub_config.py")], env)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkout", type=Path, default=Path.cwd(),
                        help="the course checkout to deploy (default: the current folder)")
    parser.add_argument("--no-start", action="store_true",
                        help="deploy only; do not start the hub")


def main(args) -> int:
    logging.basicConfig(level=logging.INFO, format="make hub: %(message)s")
    try:
        settings = deploy(args.checkout.resolve())
    except checks.Refused as refused:
        print(f"error: {refused}", file=sys.stderr)
        return 2
    if not args.no_start:
        serve(settings)
    return 0
