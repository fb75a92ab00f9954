"""``python -m autograder COMMAND``: every instructor command, each with ``--help``.

demo, release, grade, verify, feedback, dashboard, lms, kit, expected, dask-certs, hub.
Only the module of the command given is imported (the others pull in nbgrader's whole app and
nbconvert, about a CPU-second that a grade run would pay for nothing).
"""
import argparse
import importlib
import sys

# name: (module, its entry point, help); the module's ``add_arguments(parser)``, when it has one,
# declares the command's options, and the entry point takes the parsed arguments.
COMMANDS = {
    "demo": ("course.demo", "cli", "in demo-course/: release, autograde the example class, print the grades"),
    "release": ("course.demo", "cli_release", "regenerate release/ from source/ with nbgrader: every assignment"),
    "grade": ("classrun.grade", "run", "autograde every submission in parallel; grades CSV + JSON report"),
    "verify": ("classrun.verify", "run", "regrade from the grading receipts; exit 0 when every point matches"),
    "feedback": ("course.feedback", "run", "per-student feedback HTML: points and failed-check messages, "
                                          "no hidden tests"),
    "dashboard": ("course.dashboard", "run", "the class dashboard, exports/dashboard.html, from the grading report"),
    "lms": ("course.lms", "run", "the LMS gradebook-import CSV (Canvas)"),
    "kit": ("course.kit", "run", "the student kit: dist/<course>-student-<version>.zip (no answers)"),
    "expected": ("notebook.expected", "run", "derive each graded notebook's expected values or quiz key from "
                                             "its declaration and the source notebook "
                                             "(source/<assignment>/*.expected.json)"),
    "dask-certs": ("classrun.dask_security", "run", "the Dask cluster's TLS certificates: a CA, the scheduler's, "
                                                    "the workers', the coordinator's"),
    "hub": ("hub.deploy", "main", "as root: deploy the course for a class and run its JupyterHub in the "
                                  "foreground (docs/hub.md)"),
}


def load(name: str):
    """The module of command ``name``; a clear exit when the course's packages are missing."""
    try:
        return importlib.import_module(f"{__package__}.{COMMANDS[name][0]}")
    except ModuleNotFoundError as missing:  # a Python without the course's packages
        sys.exit(f"error: the package {missing.name!r} is not installed in this Python ({sys.executable}).\n"
                 "The course's packages live in .venv/: run `make venv` at the course root, then "
                 "`source .venv/bin/activate` (or run `.venv/bin/python -m autograder ...`).")


def parser(chosen: str = None) -> argparse.ArgumentParser:
    """The command line; the options of ``chosen`` only (the overview needs no module)."""
    top = argparse.ArgumentParser(prog="python -m autograder",
                                  description="The course's instructor commands; `COMMAND --help` for each.")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, _, help_text) in COMMANDS.items():
        found = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen and hasattr(load(name), "add_arguments"):
            load(name).add_arguments(found)
    return top


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    chosen = next((a for a in argv if not a.startswith("-")), None)
    args = parser(chosen if chosen in COMMANDS else None).parse_args(argv)
    return getattr(load(args.command), COMMANDS[args.command][1])(args)


if __name__ == "__main__":
    sys.exit(main())
