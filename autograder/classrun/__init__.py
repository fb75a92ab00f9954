"""Grading a class: ``python -m autograder grade`` and ``verify`` (see docs/grading.md)."""
