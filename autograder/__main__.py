"""``python -m autograder demo|release|grade|verify|dashboard|lms|dask-certs``."""
import argparse
import sys

try:
    from .classrun import skip_iri_grammar

    skip_iri_grammar()
    from .course import dashboard, demo, lms
    from .classrun import dask_security, grade, verify
except ModuleNotFoundError as missing:  # a Python without the course's packages
    sys.exit(f"error: the package {missing.name!r} is not installed in this Python ({sys.executable}).\n"
             "The course's packages live in .venv/: run `make venv` at the course root, then "
             "`source .venv/bin/activate` (or run `.venv/bin/python -m autograder ...`).")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="in demo-course/: release, autograde the example class, print the grades")
    sub.add_parser("release", help="regenerate release/ from source/ with nbgrader: every assignment")
    grade.add_arguments(sub.add_parser(
        "grade", help="autograde every submission in parallel; grades CSV + JSON report"))
    verify.add_arguments(sub.add_parser(
        "verify", help="regrade from the grading receipts; exit 0 when every point matches"))
    dashboard.add_arguments(sub.add_parser(
        "dashboard", help="the class dashboard, exports/dashboard.html, from the grading report"))
    lms.add_arguments(sub.add_parser("lms", help="the LMS gradebook-import CSV (Canvas)"))
    dask_security.add_arguments(sub.add_parser(
        "dask-certs", help="the Dask cluster's TLS certificates: a CA, the scheduler's, the workers', "
                           "the coordinator's"))
    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo.main()
    if args.command == "release":
        demo.release_all()
        return 0
    if args.command == "grade":
        return grade.run(args)
    if args.command == "verify":
        return verify.run(args)
    if args.command == "dashboard":
        return dashboard.run(args)
    if args.command == "lms":
        return lms.run(args)
    if args.command == "dask-certs":
        return dask_security.run(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
