"""The cuts in a submission's CPU (bench/README.md) decide nothing differently:

- the grader's reference runs go to one kept sandboxed process (``run_grader_tasks``): the same
  reports as a fresh process, a uid no student sandbox can get, replaced when it has died;
- nbgrader's metadata validation with the validator built once raises what ``jsonschema.validate``
  raises, and the kept SQLite engine serves a second gradebook on the same file (every
  submission's temporary gradebook one engine, each on its own file, its tables checked once);
- the coordinator's gradebook reads by query (``student_scores``, ``scores_of``,
  ``submission_rows``) give what walking nbgrader's objects gives, manual scores and extra
  credit included, and ``one_transaction`` commits all or nothing;
- a batch of results written in one ``one_transaction`` with its lookups made once (one flush
  for the batch) leaves the rows nbgrader's API leaves when each result is committed on its own;
- ``task.prepare`` (the coordinator's, before its workers fork) compiles the validators that
  reading and exporting a notebook use, so a worker compiles none;
- ``install_folder`` checks names by their text (no path resolved): a name leaving the folder is
  refused before anything is written.
"""
import os
import signal
from pathlib import Path

import jsonschema
import pytest
from nbgrader.api import Gradebook, MissingEntry

from autograder.classrun import gradebook as gradebooks
from autograder.classrun import nbgrader_caches, task
from autograder.notebook import expected, reexecute, steps
from autograder.notebook.sandbox import bwrap, modes

ROOT = Path(__file__).resolve().parents[1]
DATA = expected.load(ROOT / "source" / "reproducibility" / "reproducibility.expected.json")
DECL = steps.declaration(DATA["declaration"])


def reference_tasks(seeds):
    return [t for seed in seeds for t in steps.reference_tasks(DECL, DATA["reference"], seed)]


@pytest.mark.bwrap
def test_the_kept_grader_process_reports_as_a_fresh_one_and_is_replaced_when_dead():
    reexecute.close_grader_processes()
    tasks = reference_tasks([7, 8])
    fresh = reexecute.run_tasks(tasks)
    first = reexecute.run_grader_tasks(tasks)
    assert first.reports == fresh.reports and first.failure is None
    (kept,) = reexecute._GRADER_PROCESSES.values()
    assert reexecute.run_grader_tasks(tasks).reports == fresh.reports
    assert reexecute._GRADER_PROCESSES[next(iter(reexecute._GRADER_PROCESSES))] is kept  # kept, not restarted
    os.killpg(kept.proc.pid, signal.SIGKILL)  # our own child: it dies, the next batch gets a fresh one
    kept.proc.wait()
    assert reexecute.run_grader_tasks(tasks).reports == fresh.reports
    (replaced,) = reexecute._GRADER_PROCESSES.values()
    assert replaced is not kept
    assert modes.detect().sandboxed and replaced.uid is not None
    reexecute.close_grader_processes()
    assert replaced.proc.poll() is not None


def test_grader_side_uids_are_never_student_uids():
    students = {bwrap.new_uid() for _ in range(2000)}
    graders = {bwrap.grader_uid() for _ in range(2000)}
    assert max(students) < bwrap.UID_BASE + bwrap.UID_SPAN <= min(graders)
    assert min(students) >= bwrap.UID_BASE and max(graders) < 1 << 32


def test_the_validator_built_once_raises_what_jsonschema_raises():
    from nbgrader.nbgraderformat.v3 import MetadataValidatorV3
    schema = MetadataValidatorV3().schema
    good = {"grade": True, "solution": False, "locked": True, "points": 2, "grade_id": "t", "schema_version": 3}
    instances = [good, dict(good, points="two"), dict(good, grade="yes"), dict(good, grade_id=3),
                 {k: v for k, v in good.items() if k != "grade_id"}, dict(good, surprise=1), []]
    outcomes = []
    for instance in instances:
        found = []
        for check in (nbgrader_caches.validate, jsonschema.validate):
            try:
                check(instance, schema)
                found.append(None)
            except jsonschema.ValidationError as error:
                found.append((error.message, list(error.path)))
        assert found[0] == found[1], instance
        outcomes.append(found[0])
    assert outcomes[0] is None and sum(o is not None for o in outcomes) >= 3  # some are refused


def test_installed_caches_keep_nbgrader_validating_and_one_engine_per_gradebook_file(tmp_path):
    nbgrader_caches.install()
    from nbgrader.nbgraderformat.v3 import MetadataValidatorV3
    from nbformat.v4 import new_code_cell
    cell = new_code_cell("x = 1", metadata={"nbgrader": {"grade": True, "solution": False, "locked": True,
                                                          "points": "two", "grade_id": "t", "schema_version": 3}})
    with pytest.raises(jsonschema.ValidationError):
        MetadataValidatorV3().validate_cell(cell)
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with Gradebook(url) as one:
        one.add_student("ada")
    with Gradebook(url) as two:
        assert two.engine is one.engine and [s.id for s in two.students] == ["ada"]
    with Gradebook(f"sqlite:///{tmp_path / 'other.db'}") as other:
        assert other.engine is not one.engine and other.students == []


def test_throwaway_gradebooks_share_one_engine_each_connection_to_the_file_marked_last(tmp_path):
    """One engine (so its compiled statements) for every submission's temporary gradebook, each
    written to its own file, unsynced; a course's gradebook keeps an engine of its own."""
    import sqlite3

    from sqlalchemy import text
    nbgrader_caches.install()
    engines, syncs = [], []
    for name, student in (("a.db", "ada"), ("b.db", "ben")):
        url = f"sqlite:///{tmp_path / name}"
        nbgrader_caches.throwaway(url)
        with Gradebook(url) as gb:
            gb.add_student(student)
            engines.append(gb.engine)
            syncs.append(gb.db.execute(text("PRAGMA synchronous")).scalar())
            assert [s.id for s in gb.students] == [student]
    assert engines[0] is engines[1] and syncs == [0, 0]
    for name, student in (("a.db", "ada"), ("b.db", "ben")):
        with sqlite3.connect(tmp_path / name) as db:
            assert db.execute("SELECT id FROM student").fetchall() == [(student,)]
    with Gradebook(f"sqlite:///{tmp_path / 'course.db'}") as course:
        assert course.engine is not engines[0]
        assert course.db.execute(text("PRAGMA synchronous")).scalar() != 0


def test_a_throwaway_gradebook_is_asked_for_its_tables_once_per_file(tmp_path):
    """nbgrader's ``create_all`` checks every table each time a ``Gradebook`` opens; on a throwaway
    gradebook it does so at its first opening only, and again for the next file marked (which
    may be empty: its tables are made); a kept gradebook is checked at every opening."""
    from nbgrader.api import Base
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    nbgrader_caches.install()
    checks = []

    def count(connection, cursor, statement, *rest):
        if statement.startswith("PRAGMA main.table_info"):
            checks[-1] += 1
    event.listen(Engine, "before_cursor_execute", count)
    try:
        for name in ("a.db", "b.db", "kept.db"):
            url = f"sqlite:///{tmp_path / name}"
            if name != "kept.db":
                nbgrader_caches.throwaway(url)
            for student in ("ada", "ben"):
                checks.append(0)
                with Gradebook(url) as gb:
                    gb.add_student(student)
            checks.append(0)
            with Gradebook(url) as gb:
                assert [s.id for s in gb.students] == ["ada", "ben"]
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    tables = len(Base.metadata.tables)
    assert checks == [tables, 0, 0, tables, 0, 0, tables, tables, tables]


def test_prepare_compiles_what_reading_and_exporting_a_notebook_validate_with():
    """What the coordinator computes before forking its workers is what they would compute: a
    notebook read and run through a preprocessor by nbconvert (as nbgrader's Autograde does)
    compiles no more validators, and the seeded states' table is there."""
    import nbformat
    from nbconvert.exporters import NotebookExporter
    from nbconvert.preprocessors import ClearOutputPreprocessor
    from nbformat import validator

    from autograder.notebook import check_kinds
    validator.validators.clear()
    check_kinds.seeded_states.cache_clear()
    task.prepare()
    compiled = dict(validator.validators)
    nb = nbformat.read(ROOT / "release" / "reproducibility" / "reproducibility.ipynb", as_version=4)
    exporter = NotebookExporter()
    exporter.register_preprocessor(ClearOutputPreprocessor(), enabled=True)
    exporter.from_notebook_node(nb)
    assert validator.validators == compiled
    assert check_kinds.seeded_states.cache_info().currsize == 1


def gradebook_with_submissions(url: str) -> None:
    with Gradebook(url) as gb:
        gb.add_assignment("a1")
        for nb in ("one", "two"):
            gb.add_notebook(nb, "a1")
            gb.add_grade_cell(f"{nb}_g1", nb, "a1", max_score=2, cell_type="code")
            gb.add_grade_cell(f"{nb}_g2", nb, "a1", max_score=3, cell_type="code")
            gb.add_solution_cell(f"{nb}_s1", nb, "a1")
            gb.add_task_cell(f"{nb}_t1", nb, "a1", max_score=1, cell_type="markdown")
        for student in ("ada", "ben", "cy"):
            gb.add_student(student)
        gb.add_submission("a1", "ada")
        gb.add_submission("a1", "ben")
        ada = gb.find_submission("a1", "ada")
        for notebook in ada.notebooks:
            notebook.late_submission_penalty = 0.5
            for n, grade in enumerate(notebook.grades):
                grade.auto_score = n
                grade.manual_score = 1.5 if n == 1 else None
                grade.extra_credit = 0.25 if n == 0 else None
                grade.needs_manual_grade = n == 2
            for comment in notebook.comments:
                comment.auto_comment = f"said {comment.name}"
        gb.db.commit()


def walked_scores(gb, student):
    try:
        submission = gb.find_submission("a1", student)
    except MissingEntry:
        return None
    return {g.name: (g.score, g.max_score) for nb in submission.notebooks for g in nb.grades}


def walked_rows(gb, student):
    try:
        submission = gb.find_submission("a1", student)
    except MissingEntry:
        return None
    return {"timestamp": submission.timestamp.isoformat() if submission.timestamp else None, "notebooks": {
        nb.name: {"late_submission_penalty": nb.late_submission_penalty,
                  "grades": {g.name: {"auto_score": g.auto_score, "manual_score": g.manual_score,
                                      "extra_credit": g.extra_credit, "max_score": g.max_score,
                                      "needs_manual_grade": g.needs_manual_grade} for g in nb.grades},
                  "comments": {c.name: {"auto_comment": c.auto_comment} for c in nb.comments}}
        for nb in submission.notebooks}}


def test_gradebook_reads_by_query_match_nbgraders_objects(tmp_path):
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    gradebook_with_submissions(url)
    with Gradebook(url) as gb:
        for student in ("ada", "ben", "cy", "nobody"):
            assert gradebooks.student_scores(gb, "a1", student) == walked_scores(gb, student)
            assert task.submission_rows(gb, "a1", student) == walked_rows(gb, student)
        assert gradebooks.scores_of(gb, "a1", ["ada", "ben", "cy"]) == \
            {s: walked_scores(gb, s) for s in ("ada", "ben")}
        assert walked_scores(gb, "ada")["one_g2"] == (1.5, 3) and walked_scores(gb, "ada")["one_g1"] == (0.25, 2)


def test_one_transaction_commits_everything_or_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    gradebook_with_submissions(url)
    rows = {"timestamp": None, "notebooks": {"one": {"late_submission_penalty": None, "comments": {},
                                                     "grades": {"one_g1": {"auto_score": 2.0, "needs_manual_grade": False}}}}}
    with Gradebook(url) as gb:
        with pytest.raises(RuntimeError):
            with gradebooks.one_transaction(gb):
                gradebooks.replay(gb, "a1", "cy", rows)  # nbgrader's API commits inside: only flushed
                raise RuntimeError("stop")
    with Gradebook(url) as gb:
        assert walked_scores(gb, "cy") is None
        with gradebooks.one_transaction(gb):
            gradebooks.replay(gb, "a1", "cy", rows)
            gradebooks.mark_failed(gb, "a1", "ben", "timed out", "It took too long.", recorded=False)
    with Gradebook(url) as gb:
        assert walked_scores(gb, "cy")["one_g1"] == (2.0, 2)
        assert gradebooks.failed_reason(gb.find_submission("a1", "ben")) == "timed out"


def replay_batch(gb, rows):
    """A batch's results: a regrade keeping manual scores, a known student's first submission,
    a new student's submission failed after its replay, a new student failed with no rows, and
    a result nbgrader recorded nothing for."""
    gradebooks.replay(gb, "a1", "ada", rows)
    gradebooks.replay(gb, "a1", "cy", dict(rows, timestamp=None))
    gradebooks.replay(gb, "a1", "dee", rows)
    gradebooks.mark_failed(gb, "a1", "dee", "kernel died", "In step 2.", recorded=True)
    gradebooks.mark_failed(gb, "a1", "eve", "notebook missing", "", recorded=False)
    gradebooks.replay(gb, "a1", "ben", None)


def test_a_batch_writes_what_results_committed_one_by_one_write(tmp_path):
    import shutil

    from sqlalchemy import event
    from sqlalchemy.orm import Session
    rows = {"timestamp": "2026-03-04T05:06:07.000008", "notebooks": {
        nb: {"late_submission_penalty": 0.5 if nb == "one" else None,
             "grades": {f"{nb}_g1": {"auto_score": 2.0, "needs_manual_grade": False},
                        f"{nb}_g2": {"auto_score": 0.0, "needs_manual_grade": True},
                        f"{nb}_t1": {"auto_score": None, "needs_manual_grade": True}},
             "comments": {f"{nb}_s1": {"auto_comment": f"auto {nb}"}, f"{nb}_t1": {"auto_comment": None}}}
        for nb in ("one", "two")}}
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    gradebook_with_submissions(url)
    shutil.copy(tmp_path / "gradebook.db", tmp_path / "one_by_one.db")
    with Gradebook(f"sqlite:///{tmp_path / 'one_by_one.db'}") as gb:
        replay_batch(gb, rows)  # nbgrader's API, a commit after each change
        gb.db.commit()

    students = ["ada", "ben", "cy", "dee", "eve"]
    flushes = []

    def flushed(session, context):
        flushes.append(session)
    event.listen(Session, "after_flush", flushed)
    try:
        with Gradebook(url) as gb:
            with pytest.raises(RuntimeError):
                with gradebooks.one_transaction(gb, "a1", students) as batch:
                    replay_batch(batch, rows)
                    raise RuntimeError("stop")
            assert gb.find_assignment("a1").num_submissions == 2 and [s.id for s in gb.students] == ["ada", "ben", "cy"]
            flushes.clear()
            with gradebooks.one_transaction(gb, "a1", students) as batch:
                replay_batch(batch, rows)
    finally:
        event.remove(Session, "after_flush", flushed)
    assert len(flushes) == 1  # the batch's rows in one flush, at its end

    with Gradebook(url) as ours, Gradebook(f"sqlite:///{tmp_path / 'one_by_one.db'}") as theirs:
        assert [s.id for s in ours.students] == [s.id for s in theirs.students] == students
        for student in students:
            assert walked_rows(ours, student) == walked_rows(theirs, student), student
        for student in ("dee", "eve"):
            reason = gradebooks.failed_reason(ours.find_submission("a1", student))
            assert reason == gradebooks.failed_reason(theirs.find_submission("a1", student)) and reason
        assert walked_rows(ours, "ada")["notebooks"]["one"]["grades"]["one_g2"]["manual_score"] == 1.5
        assert walked_rows(ours, "dee")["notebooks"]["one"]["grades"]["one_g1"]["auto_score"] == 2.0


def test_install_folder_refuses_names_leaving_the_folder_before_writing(tmp_path):
    from autograder.classrun.grade import install_folder
    folder = tmp_path / "autograded" / "ada" / "a1"
    for name in ("../escaped.txt", "/tmp/escaped.txt", "sub/../../escaped.txt", "./x", "sub//x", ""):
        with pytest.raises(ValueError):
            install_folder(folder, {"ok.txt": b"1", name: b"2"}, {"key": 1}, None)
        assert not (tmp_path / "autograded").exists() and not list(tmp_path.rglob("escaped.txt"))
    install_folder(folder, {"ok.txt": b"1", "sub/deep/x.txt": b"2"}, {"key": 1}, {"cells": {}})
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) == \
        [".grading-key.json", "ok.txt", "receipt.json", "sub/deep/x.txt"]


def test_only_a_throwaway_gradebook_skips_syncing_to_disk(tmp_path):
    from sqlalchemy import text
    nbgrader_caches.install()
    kept, temporary = (f"sqlite:///{tmp_path / name}" for name in ("kept.db", "task.db"))
    nbgrader_caches.throwaway(temporary)
    synced = {}
    for url in (kept, temporary):
        with Gradebook(url) as gb:
            gb.add_student("ada")
            synced[url] = gb.db.execute(text("PRAGMA synchronous")).scalar()
        with Gradebook(url) as gb:
            assert [s.id for s in gb.students] == ["ada"]
    assert synced[kept] != 0 and synced[temporary] == 0
