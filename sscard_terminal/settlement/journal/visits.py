"""Abandoned and held visits (``abandoned_visits``).

A flow that stops after its registration because the center did not answer
marks the registration abandoned. A registration sent by a flow that settles
or cancels the visit itself is *held* by that process from the moment it is
journaled, and counts as abandoned once the process is gone (ended, killed,
or the machine restarted). Resolution reverses an abandoned registration
(2601: the center withdraws its fee details and closes the visit) once
nothing of the visit is open any more, unless a settlement of the visit
stands or a cancellation closed it.
"""

from __future__ import annotations

from sscard_terminal.settlement.journal.entries import COLUMNS, JournalEntry, entry_of
from sscard_terminal.settlement.journal.store import JournalStore, owner_alive, sql_in, timestamp
from sscard_terminal.settlement.transactions import REGISTRATIONS, VISIT_ENDS

__all__ = ["Visits"]


class Visits(JournalStore):
    """Registrations abandoned, or held, by their flow."""

    def abandon_visit(self, msgid: str, why: str) -> None:
        """Mark the registration (2201) ``msgid`` abandoned by its flow (and no
        longer held by it: resolution may reverse it now)."""
        with self._transaction() as c:
            c.execute(
                "INSERT INTO abandoned_visits (msgid, at, why, held) VALUES (?, ?, ?, 0) "
                "ON CONFLICT (msgid) DO UPDATE SET at = excluded.at, why = excluded.why, held = 0",
                (msgid, timestamp(), why),
            )

    def abandoned_visits(self) -> list[JournalEntry]:
        """Registrations abandoned by their flow that are still booked and
        ready to be reversed: no message of the visit is open, no settlement
        of it stands and no 2202 closed it. Oldest first.

        A registration still *held* by its flow (``add_pending(hold_visit=True)``)
        counts only once the process that sent it is gone (ended, killed, or
        the machine restarted): a flow waiting at its confirmation prompt in a
        live process is not abandoned."""
        sql = (
            f"SELECT {COLUMNS}, "  # noqa: S608 - fixed text
            "(SELECT held FROM abandoned_visits a WHERE a.msgid = messages.msgid) AS held "
            "FROM messages "
            "WHERE msgid IN (SELECT msgid FROM abandoned_visits) "
            f"AND infno IN {sql_in(REGISTRATIONS)} "
            "AND status = 'SUCCESS' AND (resolution IS NULL OR resolution != 'REVERSED') "
            "AND NOT EXISTS (SELECT 1 FROM messages o WHERE o.mdtrt_id = messages.mdtrt_id "
            "  AND o.id > messages.id AND ("
            "    (o.status IN ('PENDING', 'UNKNOWN') AND o.resolution IS NULL) "
            f"    OR (o.infno IN {sql_in(VISIT_ENDS)} AND o.status = 'SUCCESS' "
            "        AND (o.resolution IS NULL OR o.resolution != 'REVERSED')))) "
            "ORDER BY id"
        )
        with self._lock:
            rows = self._conn.execute(sql).fetchall()
        return [
            entry_of(r) for r in rows if not r["held"] or not owner_alive(r["pid"], r["boot_id"])
        ]
