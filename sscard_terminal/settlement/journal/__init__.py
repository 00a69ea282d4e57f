"""The terminal's crash-safe journal of messages, in SQLite.

settlement-interface.md, "Journal rule from robust clients": write the request
as PENDING before sending; classify the outcome as SUCCESS, FAIL or UNKNOWN;
settle every UNKNOWN by reversal 2601 or by a lookup, never by blindly
sending the same settlement again. "Every input and output is kept per
transaction."

One journal per terminal, one SQLite file, one connection
(:mod:`.store`: the schema and the durable transaction). :class:`Journal`
is made of one part per thing it holds, each in its own module:

- :mod:`.msgids`: the msgid counter, unique across restarts;
- :mod:`.sign_ins`: the sign_no of 9001 per institution, operator and day;
- :mod:`.messages`: one row per message and its state machine (PENDING,
  SUCCESS, FAIL, UNKNOWN; CONFIRMED, REVERSED, DROPPED), read back as
  :class:`JournalEntry` (:mod:`.entries`), masked (:mod:`.masking`);
- :mod:`.card_records`: the card records booked settlements owe;
- :mod:`.visits`: the registrations their flows abandoned or hold;
- :mod:`.books`: the institution's books, for reconciliation.
"""

from __future__ import annotations

from sscard_terminal.settlement.journal.books import Books, BookTotals
from sscard_terminal.settlement.journal.card_records import CardRecords
from sscard_terminal.settlement.journal.entries import (
    CardRecordState,
    JournalEntry,
    Resolution,
    Status,
)
from sscard_terminal.settlement.journal.masking import mask_for_journal
from sscard_terminal.settlement.journal.messages import Messages
from sscard_terminal.settlement.journal.msgids import MsgidCounter
from sscard_terminal.settlement.journal.sign_ins import SignIns
from sscard_terminal.settlement.journal.store import SCHEMA_VERSION
from sscard_terminal.settlement.journal.visits import Visits

__all__ = [
    "SCHEMA_VERSION",
    "BookTotals",
    "CardRecordState",
    "Journal",
    "JournalEntry",
    "Resolution",
    "Status",
    "mask_for_journal",
]


class Journal(MsgidCounter, SignIns, Messages, CardRecords, Visits, Books):
    """A terminal's journal in one SQLite file; safe to share between threads
    of a process, and between processes (SQLite locking)."""
