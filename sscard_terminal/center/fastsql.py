"""Hot-path statements run straight on the driver, several in one round trip.

SQLAlchemy's ``Connection.execute`` costs some 30-40 us of Python per
statement (execution context, events, result metadata) and each statement is
one round trip to PostgreSQL. For the statements of the settlement hot path
this module compiles each Core statement of :mod:`sscard_terminal.center.store`
once per dialect, with SQLAlchemy itself (same SQL, same bind and result
processing: Money as integer fen, dates, DecimalText), and runs it on the
DBAPI connection that underlies the SQLAlchemy :class:`~sqlalchemy.engine.Connection`,
inside the same transaction.

A :class:`Batch` sends several statements at once: on PostgreSQL in one
round trip (psycopg's pipeline mode; the server still runs them one after the
other, each with its own snapshot under READ COMMITTED, so a read queued after
a ``SELECT ... FOR UPDATE`` sees the data as of after the lock was granted);
on SQLite one after the other (no round trips there). Driver errors come back
as SQLAlchemy's exceptions (IntegrityError, OperationalError, ...), with the
parameters hidden, so the callers handle them as before.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.expression import ClauseElement

__all__ = ["Batch", "Prepared", "run"]

Params = Mapping[str, Any]


@dataclass(frozen=True)
class _Compiled:
    """A statement compiled for one dialect, with its bind and result processing."""

    sql: str
    positional: tuple[str, ...] | None  # names in order (qmark), None: named (pyformat)
    defaults: dict[str, Any]  # values bound in the statement itself (``status = 'open'``)
    binds: tuple[tuple[str, Callable[[Any], Any]], ...]
    row_type: Any  # a namedtuple class, None when the statement returns no rows
    results: tuple[Callable[[Any], Any] | None, ...]

    def parameters(self, given: Params) -> Any:
        values = dict(self.defaults)
        values.update(given)
        for name, process in self.binds:
            if name in values:
                values[name] = process(values[name])
        if self.positional is None:
            return values
        return tuple(values[name] for name in self.positional)

    def rows(self, raw: Iterable[Sequence[Any]]) -> list[Any]:
        make = self.row_type._make
        if not any(self.results):
            return [make(r) for r in raw]
        processors = self.results
        return [
            make([v if p is None else p(v) for p, v in zip(processors, r, strict=True)])
            for r in raw
        ]


class Prepared:
    """A Core statement for the fast path; compiled on first use per dialect.

    ``keys`` names the columns an INSERT gets (Core compiles an INSERT for the
    keys of its parameters). Statements with ``expanding`` IN parameters are
    not supported: write them with a subquery instead."""

    def __init__(self, statement: ClauseElement, *, keys: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.keys = list(keys) if keys is not None else None
        self._compiled: dict[str, _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            found = self._compile(dialect)
            self._compiled[dialect.name] = found
        return found

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled: Any = self.statement.compile(dialect=dialect, column_keys=self.keys)
        if any(b.expanding for b in compiled.binds.values()):
            raise ValueError("expanding parameters are not supported on the fast path")
        required = {name for name, b in compiled.binds.items() if b.required}
        defaults = {
            name: value
            for name, value in compiled.construct_params(_check=False).items()
            if name not in required
        }
        binds = tuple(compiled._bind_processors.items())
        positional = tuple(compiled.positiontup) if compiled.positional else None
        columns = list(compiled._result_columns)
        row_type: Any = None
        results: tuple[Callable[[Any], Any] | None, ...] = ()
        if columns and not (compiled.isinsert or compiled.isupdate or compiled.isdelete):
            row_type = _row_class([entry[0] for entry in columns])
            results = tuple(entry[3]._cached_result_processor(dialect, None) for entry in columns)
        return _Compiled(compiled.string, positional, defaults, binds, row_type, results)


def _row_class(names: list[str]) -> Any:
    """Rows read like SQLAlchemy's: ``row.balance``, ``row[0]``."""
    return collections.namedtuple("Row", names)


@dataclass
class _Queued:
    prepared: Prepared
    params: Params | Sequence[Params]
    many: bool


def _wrap(conn: Connection, error: Exception, sql: str | None) -> BaseException:
    """A driver error as the SQLAlchemy exception ``Connection.execute`` would raise
    (the connection invalidated when the error means it is gone)."""
    dialect = conn.dialect
    dbapi = dialect.loaded_dbapi
    if not isinstance(error, dbapi.Error):
        return error
    invalidated = dialect.is_disconnect(error, conn.connection.dbapi_connection, None)
    if invalidated:
        conn.invalidate(error)
    return DBAPIError.instance(
        sql,
        None,
        error,
        dbapi.Error,
        hide_parameters=True,
        connection_invalidated=invalidated,
        dialect=dialect,
    )


class Batch:
    """Statements run together; :meth:`run` returns each one's rows, in order
    (an empty list for statements that return none)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._queued: list[_Queued] = []

    def __len__(self) -> int:
        return len(self._queued)

    def add(self, prepared: Prepared, params: Params) -> int:
        """Queue one statement; returns its index in :meth:`run`'s answer."""
        self._queued.append(_Queued(prepared, params, False))
        return len(self._queued) - 1

    def add_many(self, prepared: Prepared, params: Sequence[Params]) -> int:
        """Queue one statement run for each of ``params`` (no rows come back)."""
        self._queued.append(_Queued(prepared, params, True))
        return len(self._queued) - 1

    def run(self, *, commit: bool = False) -> list[list[Any]]:
        """Send the statements; with ``commit`` the transaction commits in the
        same round trip on PostgreSQL (the SQLAlchemy transaction's own commit
        then finds nothing left to do); on SQLite the caller commits."""
        queued, self._queued = self._queued, []
        if not queued:
            return []
        dialect = self.conn.dialect
        driver: Any = self.conn.connection.driver_connection
        compiled = [q.prepared.compiled(dialect) for q in queued]
        sql: str | None = None
        try:
            if dialect.name == "postgresql" and (len(queued) > 1 or commit):
                cursors = []
                with driver.pipeline():
                    for q, c in zip(queued, compiled, strict=True):
                        sql = c.sql
                        cursor = driver.cursor()
                        _send(cursor, q, c)
                        cursors.append(cursor)
                    sql = "COMMIT" if commit else None
                    if commit:
                        driver.commit()
                sql = None
                return [_fetch(cursor, c) for cursor, c in zip(cursors, compiled, strict=True)]
            out = []
            cursor = driver.cursor()
            try:
                for q, c in zip(queued, compiled, strict=True):
                    sql = c.sql
                    _send(cursor, q, c)
                    out.append(_fetch(cursor, c))
            finally:
                cursor.close()
            return out
        except Exception as error:
            raise _wrap(self.conn, error, sql) from error


def _send(cursor: Any, queued: _Queued, compiled: _Compiled) -> None:
    params: Any = queued.params
    if queued.many:
        cursor.executemany(compiled.sql, [compiled.parameters(p) for p in params])
    else:
        cursor.execute(compiled.sql, compiled.parameters(params))


def _fetch(cursor: Any, compiled: _Compiled) -> list[Any]:
    if compiled.row_type is None:
        return []
    return compiled.rows(cursor.fetchall())


def run(conn: Connection, prepared: Prepared, params: Params) -> list[Any]:
    """One statement's rows."""
    batch = Batch(conn)
    batch.add(prepared, params)
    return batch.run()[0]
