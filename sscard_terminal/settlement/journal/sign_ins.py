"""The sign-ins of the journal (``sign_ins``): the sign_no of a 9001 per
institution and operator, with its date (Asia/Shanghai), kept until a new
day, a 9002, or a refusal for it."""

from __future__ import annotations

import datetime as dt

from sscard_terminal.settlement.journal.store import JournalStore, timestamp

__all__ = ["SignIns"]


class SignIns(JournalStore):
    """Today's sign_no per institution and operator."""

    def sign_no(self, fixmedins_code: str, opter: str, day: dt.date) -> str | None:
        """The cached sign_no of this institution and operator for ``day``."""
        with self._lock:
            row = self._conn.execute(
                "SELECT sign_no FROM sign_ins WHERE fixmedins_code = ? AND opter = ? "
                "AND sign_date = ?",
                (fixmedins_code, opter, day.isoformat()),
            ).fetchone()
        return None if row is None else str(row[0])

    def store_sign_no(
        self, fixmedins_code: str, opter: str, day: dt.date, sign_no: str, msgid: str | None
    ) -> None:
        """Cache the sign_no of a 9001 for ``day``."""
        with self._transaction() as c:
            c.execute(
                "INSERT INTO sign_ins (fixmedins_code, opter, sign_date, sign_no, signed_in_at, "
                "msgid) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (fixmedins_code, opter) DO UPDATE "
                "SET sign_date = excluded.sign_date, sign_no = excluded.sign_no, "
                "signed_in_at = excluded.signed_in_at, msgid = excluded.msgid",
                (fixmedins_code, opter, day.isoformat(), sign_no, timestamp(), msgid),
            )

    def forget_sign_no(self, fixmedins_code: str, opter: str, sign_no: str | None = None) -> None:
        """Drop the cached sign_no (only if it is ``sign_no``, when given)."""
        with self._transaction() as c:
            if sign_no is None:
                c.execute(
                    "DELETE FROM sign_ins WHERE fixmedins_code = ? AND opter = ?",
                    (fixmedins_code, opter),
                )
            else:
                c.execute(
                    "DELETE FROM sign_ins WHERE fixmedins_code = ? AND opter = ? AND sign_no = ?",
                    (fixmedins_code, opter, sign_no),
                )
