"""``python -m autograder demo|release|grade``."""
import argparse
import sys

from . import demo, grade


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="release, autograde the example class, print the grades")
    sub.add_parser("release", help="regenerate release/ from source/ with nbgrader")
    grade.add_arguments(sub.add_parser(
        "grade", help="autograde every submission in parallel; grades CSV + JSON report"))
    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo.main()
    if args.command == "release":
        demo.nbgrader("generate_assignment", demo.ASSIGNMENT, "--force")
        return 0
    if args.command == "grade":
        return grade.run(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
