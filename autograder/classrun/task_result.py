"""A grading task's result as it crosses from a Dask worker to the coordinator: one JSON text.

The worker sends :func:`dumps` of :func:`autograder.classrun.task.grade`'s result (the autograded
files' bytes as base64). The coordinator takes it only through :func:`loads`: a ``str`` of at most
:data:`MAX_CHARS`, strict JSON (no NaN, no repeated key), exactly the keys and types ``grade``
returns (one shape when nbgrader ran, one when grading crashed), every string, list and map
bounded, and the student it was sent for. Anything else raises :class:`Invalid`, and the
submission fails with the reason ``invalid result``: nothing of it is recorded. ``grade``'s result
and :data:`RESULT` change together (``tests/test_dask.py`` grades a class through this check).
"""
import base64
import binascii
import json
import math
from datetime import datetime

from ..notebook.limits import GradingLimits
from . import status

MAX_CHARS = 1 << 28        # the whole text (as the local pool's largest message)
NAME, TEXT = 1000, 1 << 20  # a name (cell, notebook, level, reason), a free text (detail, message)
ITEMS = 100_000             # entries of one list or map
SEED = 1 << 64


class Invalid(ValueError):
    """The result breaks the schema; the message says where (quoting at most a short name)."""


def dumps(result: dict) -> str:
    """The JSON text of ``result`` (a worker's side)."""
    out = dict(result)
    if "autograded" in out:
        out["autograded"] = {name: base64.b64encode(data).decode("ascii")
                             for name, data in out["autograded"].items()}
    return json.dumps(out, allow_nan=False)


def loads(text, student: str) -> dict:
    """``student``'s result from the JSON ``text`` a worker sent back; :class:`Invalid` if it is not one."""
    if not isinstance(text, str):
        raise Invalid(f"got {type(text).__name__} instead of the JSON text of a result")
    if len(text) > MAX_CHARS:
        raise Invalid(f"{len(text)} characters, over the {MAX_CHARS} limit")
    try:
        result = json.loads(text, object_pairs_hook=_no_repeats, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise Invalid(f"not JSON: {str(exc)[:200]}") from None
    (RESULT if isinstance(result, dict) and "autograded" in result else CRASHED)(result, "result")
    if result["student"] != student:
        raise Invalid(f"result.student is {_shown(result['student'])}, not the student it was sent for")
    if "autograded" in result:
        files = {}
        for name, data in result["autograded"].items():
            try:
                files[name] = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                raise Invalid(f"result.autograded[{_shown(name)}]: not base64") from None
        result["autograded"] = files
    return result


def _no_repeats(pairs):
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("a key repeated in one object")
    return dict(pairs)


def _no_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- the schema: each check is a function (value, where) raising Invalid ---------------------------
def _fail(where, wanted, value):
    found = _shown(value) if isinstance(value, (str, int, float)) else type(value).__name__
    raise Invalid(f"{where}: expected {wanted}, got {found}")


def text(limit: int, optional: bool = False):
    def check(value, where):
        if value is None and optional:
            return
        if not isinstance(value, str) or len(value) > limit:
            _fail(where, f"a string of at most {limit} characters" + (" or null" if optional else ""), value)
    return check


def number(optional: bool = False):
    def check(value, where):
        if value is None and optional:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or abs(value) > 1e12:
            _fail(where, "a finite number" + (" or null" if optional else ""), value)
    return check


def integer(low: int, high: int):
    def check(value, where):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value < high:
            _fail(where, f"an integer in [{low}, {high})", value)
    return check


def boolean(value, where):
    if not isinstance(value, bool):
        _fail(where, "true or false", value)


def one_of(*allowed):
    def check(value, where):
        if not isinstance(value, str) or value not in allowed:
            _fail(where, " or ".join(map(repr, allowed)), value)
    return check


def exactly(value):
    def check(found, where):
        if found is not value:
            _fail(where, repr(value), found)
    return check


def timestamp(value, where):
    text(64, optional=True)(value, where)
    if value is not None:
        try:
            datetime.fromisoformat(value)
        except ValueError:
            _fail(where, "an ISO timestamp", value)


def hexdigest(optional: bool = False):
    def check(value, where):
        if value is None and optional:
            return
        if not isinstance(value, str) or len(value) != 64 or value.strip("0123456789abcdef"):
            _fail(where, "a sha256 hex digest", value)
    return check


def relative_path(value, where):
    text(4096)(value, where)
    parts = value.split("/")
    if not value or value.startswith("/") or "\0" in value or any(p in ("", ".", "..") for p in parts):
        _fail(where, "a relative path inside the folder", value)


def items(check, limit: int = ITEMS):
    def check_list(value, where):
        if not isinstance(value, list) or len(value) > limit:
            _fail(where, f"a list of at most {limit} items", value)
        for i, item in enumerate(value):
            check(item, f"{where}[{i}]")
    return check_list


def mapping(check, key=text(NAME), limit: int = ITEMS):
    def check_map(value, where):
        if not isinstance(value, dict) or len(value) > limit:
            _fail(where, f"an object of at most {limit} entries", value)
        for name, item in value.items():
            key(name, f"{where} key")
            check(item, f"{where}[{_shown(name)}]")
    return check_map


def record(**fields):
    def check(value, where):
        if not isinstance(value, dict):
            _fail(where, "an object", value)
        if set(value) != set(fields):
            extra, missing = sorted(set(value) - set(fields)), sorted(set(fields) - set(value))
            raise Invalid(f"{where}: " + "; ".join(
                part for part in (extra and "unexpected " + ", ".join(map(_shown, extra[:5])),
                                  missing and "missing " + ", ".join(missing)) if part))
        for name, field in fields.items():
            field(value[name], f"{where}.{name}")
    return check


def optional(check):
    def maybe(value, where):
        if value is not None:
            check(value, where)
    return maybe


STATUS = one_of(*status.TASK_STATES)
VERDICT = one_of("failed", "passed", "none")
SEEDS = items(integer(0, SEED), 1024)
LOG = items(record(level=one_of("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"), message=text(TEXT)))
GRADEBOOK = optional(record(
    timestamp=timestamp,
    notebooks=mapping(record(
        late_submission_penalty=number(optional=True),
        grades=mapping(record(auto_score=number(optional=True), manual_score=number(optional=True),
                              extra_credit=number(optional=True), max_score=number(),
                              needs_manual_grade=boolean)),
        comments=mapping(record(auto_comment=text(TEXT, optional=True)))))))
RECEIPT = record(
    version=integer(0, 1 << 16),
    submitted=mapping(hexdigest(), key=relative_path),
    autograded=mapping(hexdigest(), key=relative_path),
    commit=text(NAME, optional=True),
    grader=record(code=hexdigest(), data=hexdigest()),
    environment=record(requirements_lock=hexdigest(optional=True), python=text(NAME), implementation=text(NAME)),
    seeds=SEEDS,
    limits=record(grading=record(**{name: number() for name in GradingLimits.names()}), sandbox=text(NAME)),
    status=record(status=STATUS, reason=text(NAME, optional=True), detail=text(TEXT, optional=True)),
    cells=mapping(record(score=number(optional=True), max_score=number(), verdict=VERDICT)))
COMMON = dict(student=text(NAME), seconds=number(), status=STATUS, reason=text(NAME, optional=True),
              detail=text(TEXT, optional=True), scores_recorded=boolean, log=LOG)
RESULT = record(**COMMON, autograded=mapping(text(MAX_CHARS), key=relative_path, limit=10_000),
                gradebook=GRADEBOOK, seeds=SEEDS, error=text(TEXT, optional=True), receipt=RECEIPT,
                cells=mapping(record(score=number(optional=True), max_score=number(), verdict=VERDICT,
                                     messages=items(text(TEXT), 1000))))
CRASHED = record(**dict(COMMON, status=one_of(status.FAILED.value), scores_recorded=exactly(False)),
                 traceback=text(TEXT))
