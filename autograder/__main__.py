"""``python -m autograder COMMAND``: every instructor command, each with ``--help``.

demo, release, grade, verify, feedback, dashboard, lms, kit, expected, dask-certs.
"""
import argparse
import sys

try:
    from .classrun import skip_iri_grammar

    skip_iri_grammar()
    from .course import dashboard, demo, feedback, kit, lms
    from .classrun import dask_security, grade, verify
except ModuleNotFoundError as missing:  # a Python without the course's packages
    sys.exit(f"error: the package {missing.name!r} is not installed in this Python ({sys.executable}).\n"
             "The course's packages live in .venv/: run `make venv` at the course root, then "
             "`source .venv/bin/activate` (or run `.venv/bin/python -m autograder ...`).")


def _expected(argv) -> int:
    """``expected``: its own module reads its arguments (the assignment, ``--check``, ...)."""
    from .notebook import expected
    return expected.main(argv)


# Commands whose module parses its own arguments: everything after the command goes to it.
PASSED_ON = {"expected": _expected}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m autograder",
                                  description="The course's instructor commands; `COMMAND --help` for each.")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, help_text, add_arguments=None):
        found = sub.add_parser(name, help=help_text, description=help_text)
        if add_arguments:
            add_arguments(found)

    command("demo", "in demo-course/: release, autograde the example class, print the grades")
    command("release", "regenerate release/ from source/ with nbgrader")
    command("grade", "autograde every submission in parallel; grades CSV + JSON report", grade.add_arguments)
    command("verify", "regrade from the grading receipts; exit 0 when every point matches", verify.add_arguments)
    command("feedback", "per-student feedback HTML: points and failed-check messages, no hidden tests",
            feedback.add_arguments)
    command("dashboard", "the class dashboard, exports/dashboard.html, from the grading report",
            dashboard.add_arguments)
    command("lms", "the LMS gradebook-import CSV (Canvas)", lms.add_arguments)
    command("kit", "the student kit: dist/<course>-student-<version>.zip (no answers)", kit.add_arguments)
    command("expected", "derive the stored expected values (and the quiz key) from the declaration "
                        "and the reference solution; `python -m autograder expected --help` for its arguments")
    command("dask-certs", "the Dask cluster's TLS certificates: a CA, the scheduler's, the workers', "
                          "the coordinator's", dask_security.add_arguments)
    return top


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in PASSED_ON:
        return PASSED_ON[argv[0]](argv[1:])
    args = parser().parse_args(argv)
    if args.command == "demo":
        return demo.main()
    if args.command == "release":
        demo.nbgrader("generate_assignment", demo.ASSIGNMENT, "--force")
        return 0
    run = {"grade": grade.run, "verify": verify.run, "feedback": feedback.run, "dashboard": dashboard.run,
           "lms": lms.run, "kit": kit.run, "dask-certs": dask_security.run}
    return run[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
