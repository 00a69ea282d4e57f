"""The journal's msgid counter (``journal_meta``: the counter and the last
msgid time), so that the msgids of one terminal stay unique across restarts
(settlement-interface.md, "Request envelope": msgid unique per message)."""

from __future__ import annotations

import datetime as dt

from sscard_terminal.settlement.envelope import SHANGHAI
from sscard_terminal.settlement.journal.store import JournalStore

__all__ = ["MsgidCounter"]


class MsgidCounter(JournalStore):
    """Allocates the counter value and time of each msgid."""

    def allocate(self, now: dt.datetime, modulus: int = 10000) -> tuple[int, dt.datetime]:
        """The next value of the counter and the time for the msgid.

        The time never goes back (a clock set back reuses the last time), and at
        most ``modulus`` msgids share one second (then the time moves on by a
        second): with the sequence = counter mod ``modulus``, msgids of one
        journal are unique across restarts (settlement-interface.md: "unique
        per message")."""
        moment = now.astimezone(SHANGHAI).replace(tzinfo=None, microsecond=0)
        with self._transaction() as c:
            meta = dict(c.execute("SELECT key, value FROM journal_meta").fetchall())
            seq = int(meta["seq"]) + 1
            last = dt.datetime.fromisoformat(meta["last_stamp"]) if meta["last_stamp"] else None
            count = int(meta["stamp_count"])
            if last is not None and moment <= last:
                moment = last
                if count >= modulus:
                    moment = last + dt.timedelta(seconds=1)
                    count = 0
            else:
                count = 0
            count += 1
            c.executemany(
                "UPDATE journal_meta SET value = ? WHERE key = ?",
                [
                    (str(seq), "seq"),
                    (moment.isoformat(), "last_stamp"),
                    (str(count), "stamp_count"),
                ],
            )
        return seq, moment
