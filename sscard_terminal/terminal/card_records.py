"""The transaction records a terminal owes the card (DF04 EF08), written from
the journal.

A settlement booked with a card owes a record on that card (the journal's
"card records", :mod:`sscard_terminal.settlement.journal.card_records`; the
kind of record is the one its transaction declares,
:mod:`sscard_terminal.settlement.transactions`). The record is built from
the journal entry alone (:func:`record_for`: kind, the center's
settlement time, amount, balance, the journal row as serial), so that the
same entry always gives the same 0x1C bytes. That makes the write
idempotent across a crash:

- the flow writes the record right after the settlement (:func:`write_owed`
  with that one entry), and marks it WRITTEN in the journal;
- if the card is pulled, refuses, or the terminal dies before the journal
  says WRITTEN, the record stays owed; the next flow that reads the same
  card and verifies its PIN (which grants the write, card-spec.md "DF04 EF08
  after the PIN") calls :func:`catch_up`, which first looks for the exact
  record on the card (a terminal killed after the APPEND RECORD but before
  the journal's mark must not write it twice) and appends it only when it
  is not there.

A card without the file (6A82) gets the record SKIPPED with the reason; a
card that refuses the write (6982: the PIN state was lost) or is removed
leaves it owed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from sscard_terminal.codecs.transaction import FLAG_ACCOUNT, TransactionRecord, TransactionType
from sscard_terminal.driver.sscard import SocialSecurityCard
from sscard_terminal.errors import CardFileNotFoundError, SscardError, TransportError
from sscard_terminal.settlement.journal import CardRecordState, Journal, JournalEntry
from sscard_terminal.settlement.transactions import CardRecord, transaction

__all__ = ["CardRecordError", "catch_up", "record_for", "write_owed"]

#: med_type of an outpatient registration (settlement-interface.md, med_type)
MED_REGISTRATION = "12"

Progress = Callable[[str], None]


class CardRecordError(ValueError):
    """A journal entry that cannot give a card record (no setlinfo, bad amounts)."""


def _money(info: dict[str, Any], name: str) -> Decimal:
    try:
        return Decimal(str(info.get(name, "0") or "0"))
    except InvalidOperation:
        raise CardRecordError(f"setlinfo.{name} is not an amount") from None


#: the EF08 transaction type of each card record a settlement declares
_TYPES = {
    CardRecord.PHARMACY: TransactionType.PHARMACY,
    CardRecord.REFUND: TransactionType.REFUND,
    CardRecord.CANCELLATION: TransactionType.CANCELLATION,
    CardRecord.OUTPATIENT: TransactionType.HOSPITAL,
}


def _kind(entry: JournalEntry) -> TransactionType:
    """The record's type: the one its transaction declares, a registration
    fee for an outpatient settlement whose med_type is 12."""
    declared = transaction(entry.infno)
    if declared is None or declared.card_record is None:
        raise CardRecordError(f"{entry.msgid}: a {entry.infno} owes no card record")
    if declared.card_record is CardRecord.OUTPATIENT:
        data = (entry.request.get("input") or {}).get("data") or {}
        if str(data.get("med_type", "")) == MED_REGISTRATION:
            return TransactionType.REGISTRATION
    return _TYPES[declared.card_record]


def record_for(entry: JournalEntry) -> TransactionRecord:
    """The EF08 record of a booked settlement or refund, from its journal
    entry only (the center's setlinfo: setl_time, medfee_sumamt, balc,
    acct_pay; the entry's row number as the terminal's serial)."""
    info = entry.setlinfo
    if info is None:
        raise CardRecordError(f"{entry.msgid} has no setlinfo")
    try:
        when = dt.datetime.strptime(str(info.get("setl_time", "")), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise CardRecordError(f"{entry.msgid}: setlinfo.setl_time is not a time") from None
    balance = _money(info, "balc")
    return TransactionRecord(
        _kind(entry),
        when,
        entry.fixmedins_code,
        abs(_money(info, "medfee_sumamt")),
        max(balance, Decimal("0.00")),
        entry.id % 2**32,
        FLAG_ACCOUNT if _money(info, "acct_pay") != 0 else 0,
    )


def _on_card(card: SocialSecurityCard, record: TransactionRecord) -> bool:
    """Whether ``record`` is on the card already: EF08 newest first, read
    until the record, or a record older than it, or the end."""
    wanted = record.to_bytes()
    card.select_medical()
    for number in range(1, 255):
        found = card.read_transaction(number)
        if found is None:
            return False
        if found.to_bytes() == wanted:
            return True
        if found.when < record.when:
            return False
    return False


def write_owed(
    card: SocialSecurityCard,
    journal: Journal,
    entries: list[JournalEntry],
    *,
    check_card: bool,
    progress: Progress | None = None,
) -> dict[str, str]:
    """Write the owed records of ``entries`` (oldest first) and mark them in
    the journal. Returns, per msgid, ``written``, ``already on the card``,
    ``skipped (...)`` or ``missing (...)``. ``check_card``: look for each
    record on the card first (after a crash); a record the flow has just
    settled cannot be there yet. A removed or mute card raises its
    :class:`~sscard_terminal.errors.TransportError` after marking what was
    done; nothing else raises."""
    done: dict[str, str] = {}
    for entry in entries:
        try:
            record = record_for(entry)
            record.to_bytes()  # amounts in whole fen, an institution code it can hold
        except ValueError as exc:  # CardRecordError included
            journal.card_record_done(entry.msgid, CardRecordState.SKIPPED, str(exc))
            done[entry.msgid] = f"skipped ({exc})"
            continue
        if progress is not None:
            progress(f"writing the card record of {entry.msgid}")
        try:
            if check_card and _on_card(card, record):
                journal.card_record_done(entry.msgid, CardRecordState.WRITTEN, "found on the card")
                done[entry.msgid] = "already on the card"
                continue
            card.append_transaction(record)
        except CardFileNotFoundError as exc:  # a card without DF04 EF08: for good
            journal.card_record_done(entry.msgid, CardRecordState.SKIPPED, str(exc))
            done[entry.msgid] = f"skipped ({exc})"
            continue
        except TransportError:  # removed, mute: the record stays owed
            raise
        except SscardError as exc:
            done[entry.msgid] = f"missing ({exc})"
            continue
        journal.card_record_done(entry.msgid, CardRecordState.WRITTEN)
        done[entry.msgid] = "written"
    return done


def catch_up(
    card: SocialSecurityCard,
    journal: Journal,
    card_no: str,
    *,
    progress: Progress | None = None,
) -> dict[str, str]:
    """Write the records this journal still owes the card ``card_no`` (after
    the PIN was verified); see the module's docstring."""
    owed = journal.card_records_owed(card_no)
    if not owed:
        return {}
    return write_owed(card, journal, owed, check_card=True, progress=progress)
