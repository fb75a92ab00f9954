"""Grading one notebook: what nbgrader's ``autograde`` runs (see ``nbgrader_config.py``)."""
