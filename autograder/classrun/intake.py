"""Intake: check a submission before nbgrader touches it, and read only what passed.

A submission is ``submitted/<student>/<assignment>/``. It is accepted when:

- the student id follows :data:`STUDENT_ID` (valid UTF-8; ASCII letters, digits and ``_ . @ -``;
  not starting with ``.``, ``-`` or ``@``; at most 64 characters: so no glob character ``* ? [ ]``,
  no path separator, nothing nbgrader's path patterns could expand);
- neither the student folder nor the assignment folder is a link (or anything but a folder);
- everything in it is a regular file with one link (no symbolic link, hard link, device, FIFO or
  socket) or a folder, with UTF-8 names, so nothing in it resolves outside it;
- it stays within the :class:`Limits` (file count, file size, total size, folder depth) and each
  notebook (``*.ipynb``) within the notebook size, JSON nesting depth and cell count.

Files are opened with ``O_NOFOLLOW`` relative to their already-opened folder, checked again after
opening (``fstat``), and read up to the size limit plus one byte; nothing is ever followed. A
rejected submission fails with the reason ``intake: <rule>`` and nothing of it is read further.
The JSON nesting depth is measured on the raw bytes before any parser can recurse.
"""
import json
import os
import re
import stat
from dataclasses import dataclass, field, fields
from pathlib import Path

from ..notebook.limits import GradingLimits

STUDENT_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}")  # the whole id (fullmatch)


@dataclass(frozen=True)
class Limits:
    """The intake limits (plain data): ``c.GradingLimits.intake_<name>`` in the course's
    nbgrader_config.py (:meth:`autograder.notebook.limits.GradingLimits.intake`, which holds the defaults),
    each overridden for one run with ``grade --intake NAME=VALUE``."""
    files: int = GradingLimits.default("intake_files")                    # files in one submission
    file_bytes: int = GradingLimits.default("intake_file_bytes")          # one file
    total_bytes: int = GradingLimits.default("intake_total_bytes")        # all files of one submission
    notebook_bytes: int = GradingLimits.default("intake_notebook_bytes")  # one notebook
    json_depth: int = GradingLimits.default("intake_json_depth")          # nesting of a notebook's JSON
    cells: int = GradingLimits.default("intake_cells")                    # cells in one notebook
    folder_depth: int = GradingLimits.default("intake_folder_depth")      # folders inside the submission

    @classmethod
    def names(cls) -> list:
        return [f.name for f in fields(cls)]

    @classmethod
    def parse(cls, settings, base: "Limits" = None) -> "Limits":
        """Limits from ``["files=50", "file_bytes=1048576", ...]`` over ``base`` (default: the
        defaults); ValueError names a bad one."""
        names = set(cls.names())
        values = dict((base or cls()).__dict__)
        for item in settings or []:
            name, _, value = item.partition("=")
            if name not in names or not value.isdigit() or int(value) < 1:
                raise ValueError(f"--intake {item!r}: expected NAME=POSITIVE_INTEGER, NAME one of "
                                 f"{', '.join(sorted(names))}")
            values[name] = int(value)
        return cls(**values)


class Rejected(Exception):
    """The submission breaks an intake rule: ``rule`` (short) and ``detail`` (where, which limit)."""

    def __init__(self, rule: str, detail: str):
        super().__init__(f"{rule}: {detail}")
        self.rule, self.detail = rule, detail


@dataclass
class Submission:
    """One folder under ``submitted/``: its shown id, and the files intake accepted (or why not)."""
    student: str                      # the id; a non-UTF-8 folder name is shown backslash-escaped
    files: dict = field(default_factory=dict, repr=False)
    rule: str = None
    detail: str = None

    @property
    def ok(self) -> bool:
        return self.rule is None


def shown_name(raw: bytes) -> str:
    """A folder name as text: itself when valid UTF-8, else with its bad bytes as ``\\xNN``."""
    return raw.decode("utf-8", "backslashreplace")


def check_student_id(raw: bytes):
    """None when ``raw`` is a valid student id, else the reason it is not."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "the folder name is not valid UTF-8"
    if not STUDENT_ID.fullmatch(text):
        return (f"{text!r} does not match {STUDENT_ID.pattern} (letters, digits, _ . @ -; "
                "no glob characters or path separators; at most 64 characters)")
    return None


def list_submissions(submitted: Path, assignment: str) -> list:
    """Every folder in ``submitted`` that holds ``assignment`` (or is not a plain folder), as
    ``(raw name, shown name)``, sorted; never follows a link."""
    found = []
    try:
        entries = list(os.scandir(os.fsencode(submitted)))
    except FileNotFoundError:
        return []
    for entry in entries:
        raw = entry.name
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            inner = os.path.join(entry.path, os.fsencode(assignment))
            if not os.path.lexists(inner):
                continue
        found.append((raw, shown_name(raw)))
    return sorted(found, key=lambda item: item[0])


def read(submitted: Path, raw: bytes, assignment: str, limits: Limits = Limits()) -> Submission:
    """Check ``submitted/<raw>/<assignment>`` and read it; never raises for what the folder holds."""
    submission = Submission(student=shown_name(raw))
    try:
        reason = check_student_id(raw)
        if reason:
            raise Rejected("student id", reason)
        submission.files = _read_folder(os.fsencode(submitted), raw, os.fsencode(assignment), limits)
    except Rejected as exc:
        submission.rule, submission.detail, submission.files = exc.rule, exc.detail, {}
    return submission


def _open_dir(name: bytes, dir_fd, what: str) -> int:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as exc:
        raise Rejected("linked folder", f"{what} is a link or not a folder ({exc.strerror})") from None
    return fd


def _read_folder(submitted: bytes, raw: bytes, assignment: bytes, limits: Limits) -> dict:
    base = os.open(submitted, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        student_fd = _open_dir(raw, base, "the student folder")
        try:
            folder_fd = _open_dir(assignment, student_fd, "the assignment folder")
        finally:
            os.close(student_fd)
        files, total = {}, [0]
        try:
            _walk(folder_fd, "", 0, files, total, limits)
        finally:
            os.close(folder_fd)
    finally:
        os.close(base)
    for name, data in files.items():
        if name.endswith(".ipynb"):
            check_notebook(name, data, limits)
    return files


def _walk(dir_fd: int, prefix: str, depth: int, files: dict, total: list, limits: Limits) -> None:
    with os.scandir(dir_fd) as entries:
        names = sorted(entry.name for entry in entries)
    for name in names:
        try:
            text = os.fsdecode(name) if isinstance(name, bytes) else name
            text.encode("utf-8")
        except UnicodeError:
            raise Rejected("file name", f"{prefix}{shown_name(os.fsencode(name))} is not valid UTF-8") from None
        path = prefix + text
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            if depth + 1 > limits.folder_depth:
                raise Rejected("folder depth", f"{path}/ is more than {limits.folder_depth} folders deep")
            sub = _open_dir(name, dir_fd, path)
            try:
                _walk(sub, path + "/", depth + 1, files, total, limits)
            finally:
                os.close(sub)
            continue
        if not stat.S_ISREG(st.st_mode):
            raise Rejected("not a regular file", f"{path} is {_kind(st.st_mode)}; only regular files are accepted")
        if len(files) + 1 > limits.files:
            raise Rejected("too many files", f"more than {limits.files} files")
        files[path] = _read_file(name, dir_fd, path, limits)
        total[0] += len(files[path])
        if total[0] > limits.total_bytes:
            raise Rejected("submission too large", f"the files add up to more than {limits.total_bytes} bytes")


def _kind(mode: int) -> str:
    for test, text in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return text
    return "not a regular file"


def _read_file(name, dir_fd: int, path: str, limits: Limits) -> bytes:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as exc:
        raise Rejected("not a regular file", f"{path} cannot be opened without following it "
                       f"({exc.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Rejected("not a regular file", f"{path} is {_kind(st.st_mode)}")
        if st.st_nlink != 1:
            raise Rejected("not a regular file", f"{path} is a hard link ({st.st_nlink} names)")
        if st.st_size > limits.file_bytes:
            raise Rejected("file too large", f"{path} has {st.st_size} bytes; the limit is {limits.file_bytes}")
        chunks, size = [], 0
        while size <= limits.file_bytes:
            chunk = os.read(fd, min(1 << 20, limits.file_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limits.file_bytes:
            raise Rejected("file too large", f"{path} grew past {limits.file_bytes} bytes while read")
        return b"".join(chunks)
    finally:
        os.close(fd)


# A string, or an unclosed one up to the end: every match that starts at a quote succeeds, and
# possessive quantifiers never backtrack, so the scan is linear (a failing start would make the
# engine rescan the rest of the file from the next quote: quadratic on b'"' + b'\\"' * n).
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)', re.S)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")


def json_depth(data: bytes) -> int:
    """The deepest nesting of ``[``/``{`` in ``data`` outside strings; no recursion, no parser."""
    brackets = _NOT_BRACKET.sub(b"", _STRING.sub(b"", data))
    depth = deepest = 0
    for byte in brackets:
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def check_notebook(path: str, data: bytes, limits: Limits) -> None:
    """Size, nesting and cell count of a notebook; a file that is not JSON is left to nbgrader
    (it reports ``notebook not JSON``)."""
    if len(data) > limits.notebook_bytes:
        raise Rejected("notebook too large", f"{path} has {len(data)} bytes; the limit is {limits.notebook_bytes}")
    depth = json_depth(data)
    if depth > limits.json_depth:
        raise Rejected("notebook nested too deep", f"{path} nests {depth} levels; the limit is {limits.json_depth}")
    try:
        nb = json.loads(data)
    except (ValueError, RecursionError):
        return
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if isinstance(cells, list) and len(cells) > limits.cells:
        raise Rejected("too many cells", f"{path} has {len(cells)} cells; the limit is {limits.cells}")
