"""Where the gradebook lives: ``COURSE_DB_URL`` (any SQLAlchemy URL) or the course's SQLite file.

``nbgrader_config.py`` sets ``CourseDirectory.db_url`` from :func:`from_environment`, so every
nbgrader command (``generate_assignment``, ``autograde``, ``export``, the formgrader) and
``python -m autograder grade`` read and write the same database, for example PostgreSQL::

    export COURSE_DB_URL=postgresql://grader:secret@db.example.org:5432/course

nbgrader's ``Gradebook`` creates its tables when it connects; two processes doing that at once
race. :func:`prepare` does it once, in the coordinator, before any grading worker starts.
"""
import os
import shutil
import sys
from pathlib import Path

ENV = "COURSE_DB_URL"
# The PostgreSQL driver the course pins (psycopg 3); SQLAlchemy's default would be psycopg2.
POSTGRES_DRIVER = "postgresql+psycopg"


def normalize(url: str) -> str:
    """``url`` with the course's PostgreSQL driver named when the URL names none."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme in ("postgresql", "postgres"):
        return f"{POSTGRES_DRIVER}://{rest}"
    return url


def from_environment() -> str | None:
    """The gradebook URL ``COURSE_DB_URL`` names, or None when it is unset or empty."""
    url = os.environ.get(ENV, "").strip()
    return normalize(url) if url else None


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite:")


def shown(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    from sqlalchemy.engine import make_url
    return make_url(url).render_as_string(hide_password=True)


def prepare(url: str, course_id: str) -> None:
    """Create the gradebook's schema (tables, alembic version, course row) unless it exists.

    Call it once, before starting workers that open the gradebook. Idempotent; on PostgreSQL a
    transaction-level advisory lock makes two coordinators starting at once wait for each other.
    """
    from nbgrader.api import Gradebook
    from sqlalchemy import create_engine, text

    if shutil.which("alembic") is None:  # nbgrader runs `alembic heads` for a new gradebook
        os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    url = normalize(url)
    if is_sqlite(url):
        Gradebook(url, course_id).close()
        return
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('nbgrader gradebook schema'))"))
            # nbgrader's own code creates the schema, inside this lock's transaction.
            Gradebook(url, course_id).close()
    finally:
        engine.dispose()
