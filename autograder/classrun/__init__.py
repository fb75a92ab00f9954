"""Grading a class: ``python -m autograder grade`` and ``verify`` (see docs/grading.md)."""
import sys


def skip_iri_grammar() -> None:
    """Block ``rfc3987_syntax`` in a grader process, before nbformat is imported: nothing in
    grading validates IRIs, but jsonschema (via nbformat) builds a grammar for them at import
    time, about a second of CPU per process."""
    sys.modules.setdefault("rfc3987_syntax", None)
