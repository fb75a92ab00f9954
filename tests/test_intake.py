"""Intake (``autograder.classrun.intake``): each rule rejects what it names, reads nothing it rejects, and
accepts an honest submission byte for byte. No nbgrader here: the folder checks alone."""
import json
import os
import socket

import pytest

from autograder.classrun import intake

A = "reproducibility"


def folder(root, student=b"ada"):
    path = root / "submitted" / os.fsdecode(student) / A
    path.mkdir(parents=True)
    return path


def read(root, student=b"ada", **limits):
    return intake.read(root / "submitted", student, A, intake.Limits(**limits))


def notebook(cells=1) -> bytes:
    return json.dumps({"cells": [{"cell_type": "code", "source": "x = 1", "metadata": {}}] * cells,
                      "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()


def test_an_honest_submission_is_read_exactly(tmp_path):
    sub = folder(tmp_path)
    (sub / "reproducibility.ipynb").write_bytes(notebook())
    (sub / "data").mkdir()
    (sub / "data" / "extra.csv").write_bytes(b"a,b\n1,2\n")
    got = read(tmp_path)
    assert got.ok, got
    assert got.files == {"reproducibility.ipynb": notebook(), "data/extra.csv": b"a,b\n1,2\n"}


@pytest.mark.parametrize("make, rule", [
    (lambda sub, tmp: (sub / "reproducibility.ipynb").symlink_to(tmp / "source.ipynb"), "not a regular file"),
    (lambda sub, tmp: (sub / "key.json").symlink_to("../../../source/key.json"), "not a regular file"),
    (lambda sub, tmp: (sub / "r.ipynb").symlink_to("/proc/self/cwd/source/r.ipynb"), "not a regular file"),
    (lambda sub, tmp: (sub / "zero").symlink_to("/dev/zero"), "not a regular file"),
    (lambda sub, tmp: os.mkfifo(sub / "fifo"), "not a regular file"),
    (lambda sub, tmp: socket.socket(socket.AF_UNIX).bind(str(sub / "sock")), "not a regular file"),
    (lambda sub, tmp: os.link(tmp / "source.ipynb", sub / "hard.ipynb"), "not a regular file"),
    (lambda sub, tmp: (sub / "d").symlink_to(tmp, target_is_directory=True), "not a regular file"),
])
def test_links_and_special_files_are_rejected_and_nothing_is_read(tmp_path, make, rule):
    (tmp_path / "source.ipynb").write_bytes(b"SECRET")
    sub = folder(tmp_path)
    (sub / "reproducibility.ipynb.bak").write_bytes(b"fine")
    make(sub, tmp_path)
    got = read(tmp_path)
    assert not got.ok and got.rule == rule, got
    assert got.files == {}


def test_linked_student_and_assignment_folders_are_rejected(tmp_path):
    real = folder(tmp_path, b"real")
    (real / "reproducibility.ipynb").write_bytes(notebook())
    os.symlink(tmp_path / "submitted" / "real", tmp_path / "submitted" / "linked")
    assert read(tmp_path, b"linked").rule == "linked folder"
    (tmp_path / "submitted" / "half").mkdir()
    os.symlink(real, tmp_path / "submitted" / "half" / A)
    assert read(tmp_path, b"half").rule == "linked folder"
    listed = [shown for _, shown in intake.list_submissions(tmp_path / "submitted", A)]
    assert listed == ["half", "linked", "real"]


@pytest.mark.parametrize("raw", [b"*", b"a?b", b"[ab]", b".hidden", b"-rf", b"a\\b", b"x" * 65,
                                 b"caf\xe9", "é".encode(), b"ada\n"])
def test_student_ids_outside_the_rule_are_rejected(tmp_path, raw):
    sub = folder(tmp_path, raw)
    (sub / "reproducibility.ipynb").write_bytes(notebook())
    got = read(tmp_path, raw)
    assert got.rule == "student id" and got.files == {}
    assert got.student == raw.decode("utf-8", "backslashreplace")
    got.student.encode("utf-8")  # always writable as text


def test_valid_ids(tmp_path):
    for raw in (b"ada", b"ben_forgot_seed", b"s001.x@uni-b", b"_x", b"9" * 64):
        assert intake.check_student_id(raw) is None, raw


def test_limits_name_their_rule(tmp_path):
    sub = folder(tmp_path)
    (sub / "reproducibility.ipynb").write_bytes(notebook(cells=5))
    assert read(tmp_path, cells=4).rule == "too many cells"
    assert read(tmp_path, cells=5).ok
    assert read(tmp_path, notebook_bytes=100).rule == "notebook too large"
    assert read(tmp_path, file_bytes=100).rule == "file too large"
    (sub / "b.txt").write_bytes(b"x" * 50)
    assert read(tmp_path, files=1).rule == "too many files"
    assert read(tmp_path, total_bytes=len(notebook(cells=5)) + 10).rule == "submission too large"
    deep = sub / "a" / "b" / "c"
    deep.mkdir(parents=True)
    assert read(tmp_path, folder_depth=2).rule == "folder depth"
    assert read(tmp_path, folder_depth=3).ok


def test_deep_json_is_measured_without_recursion(tmp_path):
    sub = folder(tmp_path)
    deep = b'{"cells": [], "metadata": {"x": ' + b"[" * 20000 + b"]" * 20000 + b"}}"
    (sub / "reproducibility.ipynb").write_bytes(deep)
    with pytest.raises(RecursionError):
        json.loads(deep)  # what the check protects against
    got = read(tmp_path)
    assert got.rule == "notebook nested too deep" and "20002" in got.detail
    # brackets inside strings do not count
    assert intake.json_depth(b'{"a": "[[[[[[\\"[[["}') == 1


@pytest.mark.parametrize("data", [b'"' + b'\\"' * 1000, b'"' + b'\\"' * 1000 + b"\\", b'["a\\', b'"\\' + b'"' * 1000])
def test_the_string_scan_never_fails_at_a_quote(data):
    """What keeps the nesting check linear on hostile bytes (an unclosed string of escaped
    quotes took ~50 min per MB before): a string match started at any quote succeeds, so the scan
    never goes back to rescan the rest of the file from the next quote."""
    for start in [i for i, byte in enumerate(data) if byte == ord('"')]:
        assert intake._STRING.match(data, start), start
    hostile = b'"' + b'\\"' * 500_000  # 1 MB, under the notebook size limit
    assert intake.json_depth(hostile) == 0
    assert intake.json_depth(b'[[["' + hostile) == 3  # what follows an unclosed quote is its string


def test_a_file_that_is_not_json_is_left_to_nbgrader(tmp_path):
    sub = folder(tmp_path)
    (sub / "reproducibility.ipynb").write_bytes(b'{"cells": [ this is not JSON')
    assert read(tmp_path).ok


def test_limits_parse():
    assert intake.Limits.parse(["files=3"]).files == 3
    with pytest.raises(ValueError):
        intake.Limits.parse(["nope=3"])
