"""``python -m autograder COMMAND``: one entry point for every instructor command, each with ``--help``.

Real subprocesses, as an instructor types them: the overview lists every command the issue names,
and each command's own ``--help`` exits 0 and names the command in its usage line.
"""
import subprocess
import sys

from support import ROOT, env

# The instructor commands (issue 20: grade, verify, feedback, dashboard, kit, lms, expected, with
# the quiz key derived by `expected`; and the existing demo, release and dask-certs).
COMMANDS = ("demo", "release", "grade", "verify", "feedback", "dashboard", "kit", "lms", "expected", "hub",
            "dask-certs")


def autograder(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "autograder", *args], cwd=ROOT, env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finished(proc: subprocess.Popen) -> tuple:
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def test_the_overview_lists_every_instructor_command():
    code, out, err = finished(autograder("--help"))
    assert code == 0, err
    listed = {line.split()[0] for line in out.splitlines() if line.startswith("    ") and line.split()}
    missing = [name for name in COMMANDS if name not in listed]
    assert not missing, f"`python -m autograder --help` does not list {missing}:\n{out}"


def test_every_command_has_its_own_help():
    running = {name: autograder(name, "--help") for name in COMMANDS}  # in parallel: each imports nbgrader
    for name, proc in running.items():
        code, out, err = finished(proc)
        assert code == 0, f"{name} --help exited {code}: {err}"
        usage = out.split("\n\n", 1)[0]
        assert usage.startswith("usage:") and name in usage, f"{name} --help does not name it:\n{out}"


def test_an_unknown_command_is_refused_with_the_list():
    code, out, err = finished(autograder("grades"))
    assert code == 2 and "invalid choice: 'grades'" in err and "grade" in err
