"""The card records the journal's settlements owe (``card_records``).

A settlement or refund booked with a card (a settlement paid with
``mdtrt_cert_type`` 03, and its refund, which inherits the card of the
settlement it refunds; :mod:`sscard_terminal.settlement.transactions` says
which transactions settle) owes a transaction record on that card (DF04
EF08). The obligation needs no row of its own: it is every booked settlement
with a ``card_no`` and no ``card_records`` row, so it exists from the moment
the center's answer is journaled (or a 5203 confirms it), and a terminal that
dies before the card write finds it at its next start. Writing the record
(or giving it up) adds the row.
"""

from __future__ import annotations

from typing import Any

from sscard_terminal.settlement.errors import JournalError
from sscard_terminal.settlement.journal.entries import (
    COLUMNS,
    CardRecordState,
    JournalEntry,
    entry_of,
)
from sscard_terminal.settlement.journal.store import JournalStore, sql_in, timestamp
from sscard_terminal.settlement.transactions import SETTLEMENTS

__all__ = ["CardRecords"]

#: a booked settlement whose card record is still owed (see the module's docstring)
_OWED = (
    f"infno IN {sql_in(SETTLEMENTS)} AND status = 'SUCCESS' "
    "AND (resolution IS NULL OR resolution != 'REVERSED') AND card_no IS NOT NULL "
    "AND NOT EXISTS (SELECT 1 FROM card_records c WHERE c.msgid = messages.msgid)"
)


class CardRecords(JournalStore):
    """The card records owed, written and given up."""

    def card_records_owed(self, card_no: str | None = None) -> list[JournalEntry]:
        """Booked settlements and refunds whose card record is still owed (of
        ``card_no``, or of any card), oldest first."""
        sql = f"SELECT {COLUMNS} FROM messages WHERE {_OWED}"  # noqa: S608 - fixed text
        args: list[Any] = []
        if card_no is not None:
            sql += " AND card_no = ?"
            args.append(card_no)
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY id", args).fetchall()
        return [entry_of(r) for r in rows]

    def card_record_done(self, msgid: str, state: CardRecordState, note: str | None = None) -> None:
        """The card record of ``msgid`` was written (or is given up: SKIPPED,
        with the reason). Only an owed record can be done."""
        if state is CardRecordState.OWED:
            raise ValueError("a card record is owed until it is written or skipped")
        with self._transaction() as c:
            owed = c.execute(
                f"SELECT 1 FROM messages WHERE msgid = ? AND {_OWED}",  # noqa: S608
                (msgid,),
            ).fetchone()
            if owed is None:
                raise JournalError(f"{msgid} owes no card record")
            c.execute(
                "INSERT INTO card_records (msgid, state, at, note) VALUES (?, ?, ?, ?)",
                (msgid, state.value, timestamp(), note),
            )
