"""``python -m autograder COMMAND``: every instructor command, each with ``--help``.

demo, release, grade, verify, feedback, dashboard, lms, kit, expected, dask-certs, hub.
"""
import argparse
import sys

try:
    from .classrun import skip_iri_grammar

    skip_iri_grammar()
    from .course import dashboard, demo, feedback, kit, lms
    from .classrun import dask_security, grade, verify
    from .notebook import expected
    from .hub import deploy
except ModuleNotFoundError as missing:  # a Python without the course's packages
    sys.exit(f"error: the package {missing.name!r} is not installed in this Python ({sys.executable}).\n"
             "The course's packages live in .venv/: run `make venv` at the course root, then "
             "`source .venv/bin/activate` (or run `.venv/bin/python -m autograder ...`).")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m autograder",
                                  description="The course's instructor commands; `COMMAND --help` for each.")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, help_text, add_arguments=None):
        found = sub.add_parser(name, help=help_text, description=help_text)
        if add_arguments:
            add_arguments(found)

    command("demo", "in demo-course/: release, autograde the example class, print the grades")
    command("release", "regenerate release/ from source/ with nbgrader: every assignment")
    command("grade", "autograde every submission in parallel; grades CSV + JSON report", grade.add_arguments)
    command("verify", "regrade from the grading receipts; exit 0 when every point matches", verify.add_arguments)
    command("feedback", "per-student feedback HTML: points and failed-check messages, no hidden tests",
            feedback.add_arguments)
    command("dashboard", "the class dashboard, exports/dashboard.html, from the grading report",
            dashboard.add_arguments)
    command("lms", "the LMS gradebook-import CSV (Canvas)", lms.add_arguments)
    command("kit", "the student kit: dist/<course>-student-<version>.zip (no answers)", kit.add_arguments)
    command("expected", "derive each graded notebook's expected values or quiz key from its declaration "
                        "and the source notebook (source/<assignment>/*.expected.json)", expected.add_arguments)
    command("dask-certs", "the Dask cluster's TLS certificates: a CA, the scheduler's, the workers', "
                          "the coordinator's", dask_security.add_arguments)
    command("hub", "as root: deploy the course for a class and run its JupyterHub in the foreground "
                   "(docs/hub.md)", deploy.add_arguments)
    return top


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    if args.command == "demo":
        return demo.main()
    if args.command == "release":
        demo.release_all()
        return 0
    run = {"grade": grade.run, "verify": verify.run, "feedback": feedback.run, "dashboard": dashboard.run,
           "lms": lms.run, "kit": kit.run, "expected": expected.run, "dask-certs": dask_security.run, "hub": deploy.main}
    return run[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
