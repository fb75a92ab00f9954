"""``python -m autograder demo|release|grade|verify|dashboard|lms``."""
import argparse
import sys

from .classrun import skip_iri_grammar

skip_iri_grammar()
from .course import dashboard, demo, lms  # noqa: E402
from .classrun import grade, verify  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="in demo-course/: release, autograde the example class, print the grades")
    sub.add_parser("release", help="regenerate release/ from source/ with nbgrader")
    grade.add_arguments(sub.add_parser(
        "grade", help="autograde every submission in parallel; grades CSV + JSON report"))
    verify.add_arguments(sub.add_parser(
        "verify", help="regrade from the grading receipts; exit 0 when every point matches"))
    dashboard.add_arguments(sub.add_parser(
        "dashboard", help="the class dashboard, exports/dashboard.html, from the grading report"))
    lms.add_arguments(sub.add_parser("lms", help="the LMS gradebook-import CSV (Canvas)"))
    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo.main()
    if args.command == "release":
        demo.nbgrader("generate_assignment", demo.ASSIGNMENT, "--force")
        return 0
    if args.command == "grade":
        return grade.run(args)
    if args.command == "verify":
        return verify.run(args)
    if args.command == "dashboard":
        return dashboard.run(args)
    if args.command == "lms":
        return lms.run(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
