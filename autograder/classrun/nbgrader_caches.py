"""Two caches for work nbgrader repeats for every notebook of every submission, installed in a
grading process by :func:`install` (:func:`autograder.classrun.task.grade` calls it). Neither
changes what nbgrader decides:

- nbgrader validates each cell's nbgrader metadata with ``jsonschema.validate(metadata,
  schema)``, which checks the (constant) schema itself first and builds a validator, every
  call; here the validator is built and the schema checked once per schema, and each cell is
  validated with it (same validator class, same errors: the best match is raised);
- every ``nbgrader.api.Gradebook`` nbgrader opens (about a dozen per submission) makes a new
  SQLAlchemy engine; here the engine of the last SQLite URL is kept and reused (the previous
  one disposed when another URL comes), so a submission's temporary gradebook is connected to
  once, not a dozen times; a gradebook marked :func:`throwaway` (a grading task's temporary
  one, whose rows the coordinator replays) is written without waiting for the disk
  (``synchronous=OFF``, journal in memory): a dozen commits per submission, none of them synced;
  every throwaway gradebook of the process shares one engine (connecting to the one marked
  last), so SQLAlchemy compiles nbgrader's statements once per process, not once per submission;
  and each ``Gradebook`` nbgrader opens asks whether its tables exist (``create_all``, a dozen
  queries) of a throwaway gradebook only once.
"""
import functools
import types

_validators = {}  # id(schema) -> (schema, validator)
_engine = {}      # the last SQLite URL -> its engine
_throwaway = {"url": None, "tables": False}  # the SQLite URL of the gradebook nobody keeps
# (marked last), and whether its tables were made (or found) already


def validate(instance, schema) -> None:
    """``jsonschema.validate(instance, schema)``, with the schema checked and its validator built once."""
    import jsonschema
    found = _validators.get(id(schema))
    if found is None or found[0] is not schema:
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        found = _validators[id(schema)] = (schema, cls(schema))
    error = jsonschema.exceptions.best_match(found[1].iter_errors(instance))
    if error is not None:
        raise error


def create_engine(url, **kwargs):
    """``sqlalchemy.create_engine``, the engine of the last SQLite URL kept."""
    import sqlalchemy
    if not str(url).startswith("sqlite:"):
        return sqlalchemy.create_engine(url, **kwargs)
    throwaway_url = str(url) == _throwaway["url"]
    key = ("throwaway" if throwaway_url else str(url), tuple(sorted(kwargs.items())))
    if key not in _engine:
        while _engine:
            _engine.popitem()[1].dispose()
        if throwaway_url:
            engine = sqlalchemy.create_engine("sqlite://", creator=_connect_throwaway,
                                              poolclass=sqlalchemy.pool.QueuePool, **kwargs)
            sqlalchemy.event.listen(engine, "connect", _unsynced)
        else:
            engine = sqlalchemy.create_engine(url, **kwargs)
        _engine[key] = engine
    return _engine[key]


def throwaway(url: str) -> None:
    """Mark the SQLite gradebook ``url`` as temporary: its engine will not sync to disk. Call it
    before the file is written: no connection to the one marked before is kept."""
    _throwaway.update(url=str(url), tables=False)
    for key, engine in _engine.items():
        if key[0] == "throwaway":
            engine.dispose()


def _connect_throwaway():
    import sqlite3

    from sqlalchemy.engine import make_url
    return sqlite3.connect(make_url(_throwaway["url"]).database)


def _unsynced(connection, record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.execute("PRAGMA journal_mode=MEMORY")
    cursor.close()


def _create_all(create_all, bind, **kwargs) -> None:
    """nbgrader's ``Base.metadata.create_all``, once per throwaway gradebook."""
    throwaway = any(key[0] == "throwaway" and engine is bind for key, engine in _engine.items())
    if throwaway and _throwaway["tables"]:
        return
    create_all(bind=bind, **kwargs)
    if throwaway:
        _throwaway["tables"] = True


def install() -> None:
    """Put the caches in place (once per process)."""
    import nbgrader.api
    import nbgrader.nbgraderformat.common
    nbgrader.nbgraderformat.common.jsonschema = types.SimpleNamespace(validate=validate)
    nbgrader.api.create_engine = create_engine
    metadata = nbgrader.api.Base.metadata
    if not isinstance(metadata.create_all, functools.partial):
        metadata.create_all = functools.partial(_create_all, metadata.create_all)
