"""A submission's status (autograder/classrun/status.py): one typed value, its JSON form, and a
classification from recorded incidents, never from log text."""
import json
import logging

import pytest

from autograder.classrun import report, task
from autograder.classrun.status import FAILED, GRADED, Status, State
from autograder.notebook import incidents


def test_the_json_form_round_trips_and_bad_statuses_are_refused():
    for status in (Status.graded(), Status.skipped(), Status.failed(incidents.KERNEL_DIED, "in x", True),
                   Status.not_graded("interrupted", "stopped")):
        assert Status.from_json(json.loads(json.dumps(status.to_json()))) == status
    assert Status.skipped().text() == GRADED.value  # the grade's status, in the CSV
    assert Status.failed("notebook missing").text() == "failed: notebook missing"
    with pytest.raises(ValueError):
        Status(GRADED, reason="kernel died")
    with pytest.raises(ValueError):
        Status(FAILED)
    with pytest.raises(ValueError):
        Status.from_json({"status": "fine"})


def test_incidents_come_from_the_log_record_not_its_text(tmp_path):
    records = task.Records()
    log = logging.getLogger("test-status")
    log.addHandler(records)
    try:
        log.warning("cell 3: The kernel died while running this cell. Later cells are not executed.")
        log.error("Timeout waiting for execute reply (5s).")
        assert records.incidents == []  # text alone says nothing
        log.warning("cell %d: %s", 3, "stopped", extra=incidents.extra(
            incidents.KERNEL_DIED, "nb", 3, "The kernel died. Later cells are not executed.", halted=True))
    finally:
        log.removeHandler(records)
    (tmp_path / "submitted").mkdir()
    (tmp_path / "submitted" / "nb.ipynb").write_text("{}")
    seen = {"ok": True, "error": None, "submitted": str(tmp_path / "submitted"),
            "autograded": str(tmp_path / "autograded")}
    assert report.classify(dict(seen, incidents=[]), ["nb"]) == Status.graded()
    status = report.classify(dict(seen, incidents=records.incidents), ["nb"])
    assert status.state is State.FAILED and status.reason == incidents.KERNEL_DIED and status.scores_recorded
    assert status.detail.startswith("in nb.ipynb cell 3: The kernel died")
