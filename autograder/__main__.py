"""``python -m autograder demo|release``."""
import argparse
import sys

from . import demo


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="release, autograde the example class, print the grades")
    sub.add_parser("release", help="regenerate release/ from source/ with nbgrader")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo.main()
    if args.command == "release":
        demo.nbgrader("generate_assignment", demo.ASSIGNMENT, "--force")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
