"""Queue numbers of the self-service registration (:class:`QueueBook`): per
day, department and doctor, the next free place of the doctor's session in
the hospital's schedule (:mod:`sscard_terminal.terminal.schedule`)."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from pathlib import Path

from sscard_terminal.errors import UsageError

__all__ = ["QueueBook"]


class QueueBook:
    """Queue numbers per day, department and doctor: the next free place of
    the session (schedule.py). Kept in SQLite (a file, or memory)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self._db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False)
        self._lock = threading.Lock()
        with self._db:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS queue (day TEXT, dept TEXT, doctor TEXT, "
                "last INTEGER, PRIMARY KEY (day, dept, doctor))"
            )

    def _last(self, day: dt.date, dept: str, doctor: str) -> int:
        row = self._db.execute(
            "SELECT last FROM queue WHERE day = ? AND dept = ? AND doctor = ?",
            (day.isoformat(), dept, doctor),
        ).fetchone()
        return int(row[0]) if row else 0

    def check(self, day: dt.date, dept: str, doctor: str, places: int) -> None:
        """Raise when the session is full."""
        if self._last(day, dept, doctor) >= places:
            raise UsageError(f"no place left with doctor {doctor} today ({places} places)")

    def take(self, day: dt.date, dept: str, doctor: str) -> int:
        with self._lock, self._db:
            number = self._last(day, dept, doctor) + 1
            self._db.execute(
                "INSERT OR REPLACE INTO queue (day, dept, doctor, last) VALUES (?, ?, ?, ?)",
                (day.isoformat(), dept, doctor, number),
            )
            return number

    def close(self) -> None:
        self._db.close()
