"""The journal's SQLite file: its schema, its one connection and the durable
transaction every part of the journal writes through.

One journal per terminal (a SQLite file, WAL, ``synchronous=FULL``: a commit
is on disk before a write returns, so a message is never sent without its
entry). The file's format is the schema below, version
:data:`SCHEMA_VERSION`; a journal from before card records or held visits
gains their columns when it is opened. Also here: whether the process that
wrote a row may still be running (:func:`owner_alive`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Self

from sscard_terminal.settlement import wire
from sscard_terminal.settlement.envelope import SHANGHAI
from sscard_terminal.settlement.errors import JournalError

__all__ = [
    "SCHEMA_VERSION",
    "JournalStore",
    "owner_alive",
    "sql_in",
    "this_boot",
    "timestamp",
    "to_json",
]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sign_ins (
    fixmedins_code TEXT NOT NULL,
    opter TEXT NOT NULL,
    sign_date TEXT NOT NULL,
    sign_no TEXT NOT NULL,
    signed_in_at TEXT NOT NULL,
    msgid TEXT,
    PRIMARY KEY (fixmedins_code, opter)
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    msgid TEXT NOT NULL UNIQUE,
    infno TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('PENDING', 'SUCCESS', 'FAIL', 'UNKNOWN')),
    fixmedins_code TEXT NOT NULL,
    opter TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    psn_no TEXT,
    insuplc_admdvs TEXT,
    mdtrt_id TEXT,
    setl_id TEXT,
    keys TEXT NOT NULL DEFAULT '{}',
    request TEXT NOT NULL,
    response TEXT,
    infcode INTEGER,
    err_msg TEXT,
    error TEXT,
    setl_time TEXT,
    medfee_sumamt TEXT,
    fund_pay_sumamt TEXT,
    acct_pay TEXT,
    psn_cash_pay TEXT,
    insutype TEXT,
    clr_type TEXT,
    resolves TEXT,
    resolution TEXT CHECK (resolution IN ('CONFIRMED', 'REVERSED', 'DROPPED')),
    resolved_by TEXT,
    resolved_at TEXT,
    resolution_note TEXT,
    pid INTEGER,
    boot_id TEXT
);
CREATE TABLE IF NOT EXISTS card_records (
    msgid TEXT PRIMARY KEY REFERENCES messages (msgid),
    state TEXT NOT NULL CHECK (state IN ('WRITTEN', 'SKIPPED')),
    at TEXT NOT NULL,
    note TEXT
);
CREATE TABLE IF NOT EXISTS abandoned_visits (
    msgid TEXT PRIMARY KEY REFERENCES messages (msgid),
    at TEXT NOT NULL,
    why TEXT,
    held INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS messages_open ON messages (status) WHERE resolution IS NULL;
CREATE INDEX IF NOT EXISTS messages_resolves ON messages (resolves);
CREATE INDEX IF NOT EXISTS messages_setl_time ON messages (setl_time);
"""


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return None


_BOOT_ID = _boot_id()


def timestamp() -> str:
    return dt.datetime.now(SHANGHAI).isoformat(timespec="milliseconds")


def to_json(value: Any) -> str:
    return wire.dumps(value).decode("utf-8")


def this_boot() -> str | None:
    """The machine's boot id (rows of an earlier boot belong to no live process)."""
    return _BOOT_ID


def sql_in(values: Iterable[str]) -> str:
    """A fixed SQL list of codes, e.g. ``('2207', '2102')``, from the transactions' table."""
    return "(" + ", ".join(f"'{v}'" for v in sorted(values) if v.isdigit()) + ")"


def owner_alive(pid: int | None, boot_id: str | None) -> bool:
    """Whether the process that wrote a journal row may still be running: this
    process, or a live process of the same boot (a PID of an earlier boot is
    somebody else's)."""
    if pid is None:
        return False
    if boot_id and this_boot() and boot_id != this_boot():
        return False
    return pid == os.getpid() or _process_alive(pid)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


class JournalStore:
    """The connection and schema of one journal file; safe to share between
    threads of a process, and between processes (SQLite locking)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise JournalError(f"cannot open the journal {self.path}: {exc}") from None
        self._lock = threading.RLock()
        try:
            with self._lock:
                self._conn.row_factory = sqlite3.Row
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=FULL")
                self._conn.execute("PRAGMA busy_timeout=30000")
                with self._transaction() as c:
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            c.execute(statement)
                    columns = {r[1] for r in c.execute("PRAGMA table_info(messages)")}
                    if "card_no" not in columns:  # a journal from before card records
                        c.execute("ALTER TABLE messages ADD COLUMN card_no TEXT")
                    held = {r[1] for r in c.execute("PRAGMA table_info(abandoned_visits)")}
                    if "held" not in held:  # a journal from before held visits
                        c.execute(
                            "ALTER TABLE abandoned_visits "
                            "ADD COLUMN held INTEGER NOT NULL DEFAULT 0"
                        )
                    row = c.execute(
                        "SELECT value FROM journal_meta WHERE key = 'schema_version'"
                    ).fetchone()
                    if row is None:
                        c.execute(
                            "INSERT INTO journal_meta (key, value) VALUES "
                            "('schema_version', ?), ('seq', '0'), ('last_stamp', ''), "
                            "('stamp_count', '0')",
                            (str(SCHEMA_VERSION),),
                        )
                    elif int(row[0]) > SCHEMA_VERSION:
                        raise JournalError(
                            f"the journal {self.path} has schema {row[0]}, newer than this "
                            f"program's {SCHEMA_VERSION}",
                            hint="upgrade sscard-terminal",
                        )
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise JournalError(f"the journal {self.path} is not usable: {exc}") from None
        if os.name == "posix":
            with contextlib.suppress(OSError):
                os.chmod(self.path, 0o600)

    # -- plumbing ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        """BEGIN IMMEDIATE ... COMMIT (durable: synchronous=FULL)."""
        with self._lock:
            cursor = self._conn.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            else:
                cursor.execute("COMMIT")
            finally:
                cursor.close()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
