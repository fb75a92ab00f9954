"""What ``python -m autograder grade`` tells the instructor: a status per submission, the JSON
report, the grades CSV and the summary table.

A status (:class:`autograder.classrun.status.Status`) is one of ``graded``, ``skipped`` (already
autograded; ``--force`` regrades) or ``failed`` with a reason. The evidence is what the grading process itself saw, never what the
student's notebook says about itself:

- ``notebook missing`` / ``notebook not JSON`` / ``grading error``: nbgrader failed on the
  submission; the reason comes from looking at the submitted file. No grade was recorded.
  (When one notebook of several is missing nbgrader grades the rest and records 0 for it: also
  ``notebook missing``, with the scores shown.)
- ``kernel died`` / ``timed out`` / ``kernel stopped``: nbgrader graded the submission, but the
  grading process recorded that the kernel died or a cell hit the time limit (``GuardedExecute``
  records each incident as data on its log record, :mod:`autograder.notebook.incidents`; a
  student's code cannot write those records, and no log text is parsed). Later cells did not run in
  the kernel; the step scores come from the out-of-kernel re-execution and are recorded, so they
  are shown, next to the status.
- ``timed out`` / ``grading process died`` for the whole submission: the worker was stopped (or
  died) while grading it; nothing trustworthy was recorded.
"""
import csv
import json
import os
from pathlib import Path

from .status import (FAILED, GRADED, GRADING_ERROR, NO_SUBMISSION, NOTEBOOK_MISSING,  # noqa: F401
                     NOTEBOOK_NOT_JSON, SKIPPED, Status)

SCORE_COLUMNS = ("raw_score", "late_submission_penalty", "score")  # the grades CSV's scores (nbgrader's)


def export_path(assignment: str, name: str) -> Path:
    """Where the exports of ``assignment`` go, relative to the course root:
    ``exports/<assignment>/<name>`` (``grades.csv``, ``grading_report.json``, ``grade.log``,
    ``dashboard.html``), so that grading one assignment never overwrites another's."""
    return Path("exports") / assignment / name


def classify(result: dict, notebooks: list) -> Status:
    """Status of one submission from what its grading saw: ``ok`` (nbgrader finished), ``error``,
    ``submitted`` and ``autograded`` (folders) and ``incidents`` (:mod:`autograder.notebook.incidents`,
    recorded by the grading process itself)."""
    if result.get("crash"):
        return Status.failed(result["crash"], result["detail"])
    if not result["ok"]:
        reason, detail = _diagnose(Path(result["submitted"]), notebooks, result.get("error") or "")
        return Status.failed(reason, detail)
    submitted = Path(result["submitted"])
    missing = [f"{name}.ipynb" for name in notebooks if not (submitted / f"{name}.ipynb").is_file()]
    if missing:  # nbgrader scored the absent notebook(s) 0 and graded the rest
        return Status.failed(NOTEBOOK_MISSING, f"not submitted: {', '.join(missing)} (scored 0 by "
                             "nbgrader; the other notebooks were graded)", recorded=True)
    incidents = result.get("incidents") or []
    for incident in incidents:  # the kernel stopped: no later cell ran in it
        if incident["halted"]:
            notebook = incident["notebook"] or (notebooks[0] if notebooks else None)
            cell = incident["cell"]
            where = _cell_ids(Path(result["autograded"]), notebook).get(cell, "cell %s" % cell)
            return Status.failed(incident["reason"], f"in {notebook}.ipynb {where}: {incident['message']}",
                                 recorded=True)
    for incident in incidents:  # a cell interrupted at its time limit; later cells ran
        return Status.failed(incident["reason"], incident["message"], recorded=True)
    return Status.graded()


def _diagnose(folder: Path, notebooks: list, error: str):
    """Why nbgrader could not grade the submission in ``folder``."""
    if not folder.is_dir():
        return NOTEBOOK_MISSING, "no submission folder"
    found = sorted(p.name for p in folder.glob("*.ipynb"))
    for name in notebooks:  # a broken file is what stopped nbgrader, whatever else is missing
        path = folder / f"{name}.ipynb"
        try:
            json.loads(path.read_bytes())
        except OSError:
            continue
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            return NOTEBOOK_NOT_JSON, f"{name}.ipynb: {exc}"
    missing = [f"{name}.ipynb" for name in notebooks if not (folder / f"{name}.ipynb").is_file()]
    if missing:
        extra = f" (found: {', '.join(found)})" if found else ""
        return NOTEBOOK_MISSING, f"no {', '.join(missing)} in the submission{extra}"
    last = error.strip().splitlines()[-1] if error.strip() else "nbgrader failed"
    return GRADING_ERROR, last


def _cell_ids(folder: Path, notebook) -> dict:
    """{cell index: 'cell <grade_id>' or 'cell N'} of an autograded notebook, to locate incidents."""
    try:
        nb = json.loads((folder / f"{notebook}.ipynb").read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError, RecursionError):
        return {}
    ids = {}
    for index, cell in enumerate(nb.get("cells", [])):
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        ids[index] = f"cell {grade_id}" if grade_id else f"cell {index}"
    return ids


def failed_checks(cell) -> list:
    """The teaching messages of a graded cell's failed checks: its error outputs' values."""
    messages = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            text = str(output.get("evalue") or "").strip()
            messages.append(text or "%s (no message)" % output.get("ename", "error"))
    return messages


def check_messages(folder: Path, notebooks: list) -> dict:
    """{grade_id: [message, ...]} of the graded cells whose check failed, from the autograded notebook."""
    messages = {}
    for name in notebooks:
        try:
            nb = json.loads((folder / f"{name}.ipynb").read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            continue
        for cell in nb.get("cells", []):
            meta = cell.get("metadata", {}).get("nbgrader", {})
            found = failed_checks(cell) if meta.get("grade") else []
            if found:
                messages[meta["grade_id"]] = found
    return messages


def student_entry(status: Status, scores: dict, messages: dict, result: dict) -> dict:
    """One student's entry in the JSON report."""
    cells = {}
    if status.scores_recorded:
        for grade_id, (score, max_score) in sorted(scores.items()):
            cells[grade_id] = {"score": score, "max_score": max_score, "messages": messages.get(grade_id, [])}
    recorded = status.scores_recorded and bool(cells)
    return {
        **status.to_json(),
        "scores_recorded": recorded,
        "score": sum(c["score"] or 0 for c in cells.values()) if recorded else None,
        "max_score": sum(c["max_score"] or 0 for c in cells.values()) if recorded else None,
        "cells": cells,
        "seconds": result.get("seconds"),
        "log": [r for r in result.get("log", []) if r["level"] in ("WARNING", "ERROR", "CRITICAL")],
    }


def write_json(path: Path, report: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def write_csv(nbgrader_csv: Path, path: Path, assignment: str, students: dict) -> None:
    """The grades CSV of ``assignment`` (its rows only) as ``nbgrader export`` writes it, plus a
    ``status`` column.

    For this run's submissions whose grade was not recorded the score cells are left empty
    (not 0.0), students nbgrader never entered in the gradebook get a row too, and a student of
    the gradebook without a submission of ``assignment`` reads ``no submission``.
    """
    with open(nbgrader_csv, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields = list(reader.fieldnames or []) + ["status"]
        rows = [row for row in reader if row.get("assignment") == assignment]
    seen = set()
    max_score = ""
    for row in rows:
        row["status"] = NO_SUBMISSION  # a student of the gradebook who handed nothing in
        max_score = row.get("max_score", max_score)
        entry = students.get(row.get("student_id"))
        if entry is None:
            continue
        seen.add(row["student_id"])
        row["status"] = status_text(entry)
        if not entry["scores_recorded"]:
            for key in SCORE_COLUMNS:
                row[key] = ""
    for student, entry in sorted(students.items()):
        if student not in seen:
            row = dict.fromkeys(fields, "")
            row.update(assignment=assignment, student_id=student, max_score=max_score,
                       status=status_text(entry))
            rows.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def read_csv(path: Path, assignment: str) -> dict:
    """``{student_id: [row, ...]}`` of ``assignment`` in a grades CSV :func:`write_csv` wrote, each row
    a dict of its text cells (a student has one row, unless someone edited the file)."""
    rows = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row.get("assignment") == assignment and row.get("student_id"):
                rows.setdefault(row.get("student_id"), []).append(row)
    return rows


def status_text(entry: dict) -> str:
    """The grades CSV's ``status`` cell of a report entry (:meth:`Status.text`)."""
    return Status.from_json(entry).text()


def format_table(students: dict, columns: dict) -> str:
    """Per student: a column per heading of ``columns`` (``{grade_id: heading}``, in the order the
    assignment declares them: :func:`autograder.notebook.assignments.columns`; a heading over several test
    cells shows their sum), a column per graded cell not declared, total, status. Unrecorded grades
    show '-'."""
    groups = {}
    for name, head in columns.items():
        groups.setdefault(head, []).append(name)
    for name in sorted({name for e in students.values() for name in e["cells"]} - set(columns)):
        groups.setdefault(name, []).append(name)
    heads = {head: max(6, len(head)) for head in groups}  # heading: column width
    width = max([len("student")] + [len(s) for s in students])
    lines = ["  ".join([f"{'student':<{width}}"] + [f"{h:>{w}}" for h, w in heads.items()]
                       + [f"{'total':>7}", "status"])]
    for student, entry in sorted(students.items()):
        row = [f"{student:<{width}}"]
        for head, w in heads.items():
            cells = [entry["cells"][name] for name in groups[head] if name in entry["cells"]]
            row.append(_fraction(sum(c["score"] or 0 for c in cells), sum(c["max_score"] for c in cells))
                       .rjust(w) if cells else "-".rjust(w))
        total = _fraction(entry["score"], entry["max_score"]) if entry["scores_recorded"] else "-"
        row.append(total.rjust(7))
        text = entry["status"].upper() if entry["status"] == FAILED else entry["status"]
        if entry["reason"]:
            text += f": {entry['reason']}"
        if entry["status"] == FAILED and entry.get("detail"):
            text += f" ({entry['detail'][:90]})"
        row.append(text)
        lines.append("  ".join(row))
    return "\n".join(lines)


def _fraction(score, max_score) -> str:
    return f"{_num(score)}/{_num(max_score)}"


def _num(value) -> str:
    return "?" if value is None else f"{value:g}"
