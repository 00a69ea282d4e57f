"""Storage: the engine, one transaction per message, and the migrations.

The URL is a SQLAlchemy URL: ``sqlite:///path`` (the default, no server at
all) or ``postgresql+psycopg://user@host:port/db``; a bare path means a
SQLite file and ``postgresql://`` means psycopg 3.

SQLite runs in WAL mode with ``synchronous=NORMAL`` (a server checkpoints the
WAL in a thread of its own, see :meth:`Database.start_checkpointer`); every transaction starts
with ``BEGIN IMMEDIATE`` so that a transaction holds the write lock from its
first read and two messages never book on the same stale balance, and
writers of one process take turns on a lock instead of waiting in SQLite's
busy handler. PostgreSQL runs READ COMMITTED with row locks (``SELECT ... FOR
UPDATE``) on the balances a message changes. Engines hide SQL parameters
in their errors, so that no personal data reaches a log through them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["DEFAULT_URL", "Database", "current_revision", "downgrade", "migrate", "normalise_url"]

DEFAULT_URL = "sqlite:///sscard-center.db"

log = logging.getLogger("sscard_terminal.center")


def normalise_url(url: str) -> str:
    """A SQLAlchemy URL from what a user typed: a bare path is a SQLite file."""
    text = url.strip()
    if "://" not in text:
        return f"sqlite:///{Path(text).expanduser()}"
    if text.startswith("postgresql://") or text.startswith("postgres://"):
        return "postgresql+psycopg://" + text.split("://", 1)[1]
    return text


#: execution option of :meth:`Database.read` connections
_READ_ONLY = "sscard_read_only"

#: how often the server's checkpointer thread copies the SQLite WAL into the database
CHECKPOINT_INTERVAL = 0.05


def _sqlite_setup(engine: Engine, database: Database) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB of pages per connection
        if database.checkpointing:  # the checkpointer thread does it, not the commits
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        if connection.get_execution_options().get(_READ_ONLY):
            connection.exec_driver_sql("BEGIN")  # deferred: a WAL reader takes no lock
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """An engine, its sessions, and a per-message transaction."""

    def __init__(self, url: str = DEFAULT_URL, *, pool_size: int = 10) -> None:
        self.url = normalise_url(url)
        parsed = make_url(self.url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite:
            _create_private(parsed.database)
            self.engine = create_engine(
                self.url,
                connect_args={"check_same_thread": False, "timeout": 30},
                hide_parameters=True,
            )
            _sqlite_setup(self.engine, self)
        else:
            self.engine = create_engine(
                self.url,
                pool_size=pool_size,
                max_overflow=pool_size,
                # no ping before each use (a round trip per message): a connection
                # that died fails its first statement, is dropped from the pool,
                # and the message is tried again (CenterService.handle)
                pool_pre_ping=False,
                hide_parameters=True,
            )
        self.sessions = sessionmaker(self.engine, expire_on_commit=False, autoflush=True)
        self._lock = threading.Lock() if self.is_sqlite else None
        #: SQLite: a thread of this process checkpoints the WAL (start_checkpointer)
        self.checkpointing = False
        self._stop_checkpoints: threading.Event | None = None

    @property
    def backend(self) -> str:
        return "sqlite" if self.is_sqlite else "postgresql"

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """One database transaction: committed when the block ends, rolled back when
        it raises."""
        guard = self._lock if self._lock is not None else contextlib.nullcontext()
        with guard, self.sessions.begin() as session:
            yield session

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        """One database transaction on a plain connection (the message pipeline)."""
        guard = self._lock if self._lock is not None else contextlib.nullcontext()
        with guard, self.engine.begin() as connection:
            yield connection

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A transaction that only reads: it takes no write lock and waits for no
        writer (SQLite: a deferred ``BEGIN`` in WAL mode, outside the lock the
        writers of this process take turns on). The message pipeline reads the
        sender's institution with it before the sender is authenticated, so that
        an unauthenticated message never holds or waits for the write lock."""
        with self.engine.connect() as connection:
            connection.execution_options(**{_READ_ONLY: True})
            with connection.begin():
                yield connection

    def start_checkpointer(self) -> None:
        """SQLite (a server): copy the WAL into the database file in a thread of
        its own, every :data:`CHECKPOINT_INTERVAL` seconds, instead of in the
        commit that happens to fill the WAL (SQLite's automatic checkpoint), which
        then takes milliseconds longer. A passive checkpoint never waits for and
        never blocks a writer; SQLite releases the GIL while it copies.
        Durability is unchanged: a commit is in the WAL either way."""
        if not self.is_sqlite or self._stop_checkpoints is not None:
            return
        path = make_url(self.url).database
        if not path or path == ":memory:":
            return
        self.checkpointing = True
        self.engine.dispose()  # connections made from now on leave checkpoints alone
        stop = threading.Event()
        self._stop_checkpoints = stop
        threading.Thread(
            target=_checkpoint_loop, args=(path, stop), name="sqlite-checkpoint", daemon=True
        ).start()

    def dispose(self) -> None:
        if self._stop_checkpoints is not None:
            self._stop_checkpoints.set()
            self._stop_checkpoints = None
            self.checkpointing = False
        self.engine.dispose()

    def masked_url(self) -> str:
        """The URL with any password hidden (for logs)."""
        return make_url(self.url).render_as_string(hide_password=True)


def _create_private(path: str | None) -> None:
    """Create a SQLite database file that does not exist yet with mode 0600
    (readable by its owner only). SQLite gives the WAL and SHM files the
    permissions of the database file (sqlite.org/tempfiles.html), so they are
    0600 too. An existing file keeps the mode its operator gave it; a missing
    directory is left for SQLite to report."""
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:  # it exists (or cannot be made: SQLite will say why)
        return
    os.close(fd)  # an empty file is an empty SQLite database


def _checkpoint_loop(path: str, stop: threading.Event) -> None:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        while not stop.wait(CHECKPOINT_INTERVAL):
            try:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as exc:  # busy, or the file went away: try again later
                log.debug("checkpoint: %s", exc)
    finally:
        connection.close()


def _alembic_config(connection: Any) -> Any:
    from alembic.config import Config

    config = Config()
    location = resources.files("sscard_terminal.center") / "migrations"
    config.set_main_option("script_location", str(location))
    config.attributes["connection"] = connection
    return config


def migrate(db: Database, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (Alembic ``upgrade``)."""
    from alembic import command

    with db.engine.begin() as connection:
        command.upgrade(_alembic_config(connection), revision)


def downgrade(db: Database, revision: str = "base") -> None:
    """Take the schema back to ``revision`` (Alembic ``downgrade``; base = empty)."""
    from alembic import command

    with db.engine.begin() as connection:
        command.downgrade(_alembic_config(connection), revision)


def current_revision(db: Database) -> str | None:
    """The schema's Alembic revision, None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
