"""``python -m autograder verify ASSIGNMENT [--student ID ...] [--course DIR]``: prove the grades.

For each student with a receipt (``autograded/<student>/<assignment>/receipt.json``, see
:mod:`autograder.classrun.receipt`) it compares the submitted files, the grader's code and data and the
environment with what the receipt recorded, regrades the submission as it is now with the
receipt's seeds (:func:`autograder.classrun.task.grade`: a temporary course, fresh sandboxed processes)
and compares every cell's points. Exit status 0 when every point matches and nothing changed;
1 naming each difference (a changed, missing or added submission file, a changed grader, a
changed environment, different points or status); 2 when there is no receipt to check.
"""
import argparse
import sys
from pathlib import Path

from . import receipt, task


def differences(course: Path, snapshot: dict, student: str) -> list:
    """What differs for ``student`` between their receipt and a regrade now (empty: verified)."""
    assignment = snapshot["assignment"]
    autograded = course / snapshot["paths"]["autograded"].replace(task.SUBMITTED, student)
    submitted = course / snapshot["paths"]["submitted"].replace(task.SUBMITTED, student)
    if not (autograded / receipt.NAME).is_file():
        return [f"no receipt ({autograded.relative_to(course) / receipt.NAME})"]
    recorded = receipt.read(autograded)
    found = []
    now = receipt.files(submitted)
    for name in sorted(set(now) | set(recorded["submitted"])):
        if name not in now:
            found.append(f"submitted file {name} is missing")
        elif name not in recorded["submitted"]:
            found.append(f"submitted file {name} was added")
        elif now[name] != recorded["submitted"][name]:
            found.append(f"submitted file {name} changed (sha256 {now[name][:12]}, receipt {recorded['submitted'][name][:12]})")
    grader = receipt.grader()
    found += [f"grader {part} changed (autograder/*.{'py' if part == 'code' else 'json'})"
              for part in ("code", "data") if grader[part] != recorded["grader"][part]]
    env = receipt.environment()
    found += [f"environment changed: {key} {recorded['environment'].get(key)} -> {env[key]}"
              for key in sorted(env) if env[key] != recorded["environment"].get(key)]
    files = {str(p.relative_to(submitted)): p.read_bytes() for p in sorted(submitted.rglob("*"))
             if p.is_file() and not p.is_symlink()} if submitted.is_dir() else {}
    result = task.grade(snapshot, student, files, seeds=recorded["seeds"])
    if result["status"] != recorded["status"]["status"]:
        found.append(f"status {recorded['status']['status']} -> {result['status']} ({result.get('reason')})")
    cells = result.get("cells", {})
    for name in sorted(set(cells) | set(recorded["cells"])):
        was, got = recorded["cells"].get(name, {}).get("score"), cells.get(name, {}).get("score")
        if was != got:
            found.append(f"points of {name} differ: receipt {was}, regraded {got}")
    return found


def receipted_students(course: Path, snapshot: dict) -> list:
    pattern = snapshot["paths"]["autograded"]
    parent = (course / pattern.split(task.SUBMITTED)[0])
    return sorted(p.name for p in parent.iterdir()
                  if (course / pattern.replace(task.SUBMITTED, p.name) / receipt.NAME).is_file()) \
        if parent.is_dir() else []


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("assignment", help="assignment id, e.g. reproducibility")
    parser.add_argument("--student", action="append", default=[], metavar="ID",
                        help="verify only this student (repeatable; default: every receipt)")
    parser.add_argument("--course", type=Path, default=Path.cwd(), help="course root (default: .)")


def run(args) -> int:
    course = args.course.resolve()
    snapshot = task.snapshot(course, args.assignment)
    students = args.student or receipted_students(course, snapshot)
    if not students:
        print(f"no receipts for {args.assignment} under {course}: grade with `python -m autograder grade`")
        return 2
    failed = 0
    for student in students:
        found = differences(course, snapshot, student)
        failed += bool(found)
        print(f"{student}: " + ("verified, every point matches" if not found else
                                "DIFFERS\n" + "\n".join(f"  - {line}" for line in found)), flush=True)
    print(f"{len(students) - failed} of {len(students)} verified")
    return 1 if failed else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder verify", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
