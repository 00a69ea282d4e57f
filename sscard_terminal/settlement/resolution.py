"""Settling what the journal holds open, so that each settlement is booked
exactly once or not at all.

settlement-interface.md, "Journal rule from robust clients": settle every
UNKNOWN by reversal 2601 or by a lookup, never by blindly sending the same
settlement again; "a 2207 whose answer never came -> 2601 with its msgid";
5203 is "how a terminal confirms an outcome it never heard". Open entries are
the UNKNOWN ones and the PENDING ones left behind by a process that is gone
(a crash between writing and marking).

The rules, per kind of message (oldest first; the messages sent to resolve
an entry are journaled too, with ``resolves`` = the entry's msgid). Which
rule applies to an infno is its declaration's ``unanswered``
(:mod:`sscard_terminal.settlement.transactions`). The resolution sits above
the client and uses it; the client knows nothing of it.

- settlements and refunds (2207, 2102, 2208, 2103): 5203 with psn_no, the
  visit (mdtrt_id, when the request had one) and ``medins_setl_id`` = the
  msgid. When the answer identifies the message - a setlinfo whose
  ``medins_setl_id`` is the msgid, or a report that this msgid was refused -
  the entry is CONFIRMED with what was found (status SUCCESS and the
  setlinfo, or FAIL). A settlement the center shows as reversed is REVERSED.
  When the center does not know the message or cannot identify it, 2601 with
  ``omsgid`` = the msgid reverses it (a server that follows the interface
  makes 2601 idempotent and bars a msgid that never arrived): REVERSED.
  With ``confirm_booked=False`` a booked settlement is reversed instead of
  confirmed.
- registrations (2201): 2601 (5203 cannot find a visit by its msgid): REVERSED.
- once a 2601 was sent for an entry, its outcome is never "confirmed"
  afterwards: a reversal whose answer was lost may still land, so the entry
  is only closed by a 2601 that answers (a new msgid each time; the center
  answers already_reversed when the first one had landed).
- fee uploads (2204): 2205 withdraws their batches (REVERSED), unless another
  upload of the same visit that succeeded shares a batch (then DROPPED: the
  next 2206 shows what is there). Other visit changes (2202, 2203, 2205) move
  no money: DROPPED.
- queries and pre-settlements (9001, 9002, 1101, 2206, 2101, 3201, 3202,
  5203, 5301) book nothing: DROPPED.
- a 2601 without answer: the reversal it asked for is sent again (new msgid);
  when its original is REVERSED the orphan is closed CONFIRMED.

An entry whose resolution cannot finish now (the center is down) stays open
and is reported; running again later is always safe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sscard_terminal.settlement.client import SettlementClient
from sscard_terminal.settlement.errors import (
    CenterRefused,
    CenterUnavailable,
    JournalError,
    SettlementError,
)
from sscard_terminal.settlement.journal import JournalEntry, Resolution, Status
from sscard_terminal.settlement.models import PersonRef, Reversal, SettlementLookup
from sscard_terminal.settlement.transactions import (
    REVERSE,
    Kind,
    Unanswered,
    transaction,
)

__all__ = ["Outcome", "ResolveReport", "resolve", "reverse", "reverse_entry"]

#: rvs_stas of 2601 that say the original had been booked (and is reversed now);
#: "already_reversed" says nothing of it (a barred msgid answers so too).
_WAS_BOOKED = frozenset({"reversed"})
#: rvs_stas of 2601 that say the original had booked nothing.
_NOT_BOOKED = frozenset({"barred", "nothing_booked"})


@dataclass(frozen=True)
class Outcome:
    """What resolution did with one open entry."""

    msgid: str
    infno: str
    action: str  # confirmed, reversed, dropped, open, skipped
    status: str
    resolution: str | None = None
    resolved_by: str | None = None
    note: str | None = None
    setlinfo: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "msgid": self.msgid,
            "infno": self.infno,
            "action": self.action,
            "status": self.status,
            "resolution": self.resolution,
            "resolved_by": self.resolved_by,
            "note": self.note,
            "setlinfo": self.setlinfo,
        }


@dataclass
class ResolveReport:
    """Every open entry and what became of it."""

    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def still_open(self) -> list[Outcome]:
        """Entries that could not be settled now (center down, refused), or were
        skipped (in flight in a live process)."""
        return [o for o in self.outcomes if o.action in ("open", "skipped")]

    @property
    def ok(self) -> bool:
        """Nothing is left open."""
        return not self.still_open

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "outcomes": [o.as_json() for o in self.outcomes]}


def _person(entry: JournalEntry) -> PersonRef | None:
    psn_no = entry.keys.get("psn_no") or entry.psn_no
    if not psn_no:
        return None
    return PersonRef(str(psn_no), entry.insuplc_admdvs or "")


def _closed(client: SettlementClient, msgid: str, action: str) -> Outcome:
    entry = client.journal.get(msgid)
    assert entry is not None
    return Outcome(
        msgid=entry.msgid,
        infno=entry.infno,
        action=action,
        status=entry.status.value,
        resolution=entry.resolution.value if entry.resolution else None,
        resolved_by=entry.resolved_by,
        note=entry.resolution_note,
        setlinfo=entry.setlinfo,
    )


def _still_open(entry: JournalEntry, why: str, action: str = "open") -> Outcome:
    return Outcome(entry.msgid, entry.infno, action, entry.status.value, note=why)


# -- reversal -----------------------------------------------------------------------------------
def _record_reversal(
    client: SettlementClient, entry: JournalEntry, result: Reversal, by: str
) -> None:
    stas = result.rvs_stas or ""
    status: Status | None = None
    if entry.is_open:
        if stas in _WAS_BOOKED:
            status = Status.SUCCESS
        elif stas in _NOT_BOOKED:
            status = Status.FAIL
        elif entry.status is Status.PENDING:
            status = Status.UNKNOWN
    note = f"2601 {by}: {stas or 'reversed'}"
    client.journal.close_entry(
        entry.msgid, Resolution.REVERSED, status=status, resolved_by=by, note=note
    )


def reverse_entry(client: SettlementClient, entry: JournalEntry) -> Reversal:
    """2601 for a journaled message (open, or SUCCESS) and its record on the
    entry (REVERSED). Raises what the 2601 raises (the entry then stays as it
    was), or :class:`JournalError` when there is nothing to reverse."""
    if not _reversible(entry.infno):
        raise JournalError(f"{entry.msgid}: a {entry.infno} is not reversed by 2601")
    if entry.resolution is Resolution.REVERSED:
        raise JournalError(f"{entry.msgid} is reversed already (by {entry.resolved_by})")
    if not entry.is_open and entry.status is not Status.SUCCESS:
        raise JournalError(
            f"{entry.msgid} booked nothing ({entry.status.value}): nothing to reverse"
        )
    person = _person(entry)
    if person is None:
        raise JournalError(f"{entry.msgid} has no psn_no to reverse it with")
    result = client.reversal(person, omsgid=entry.msgid, oinfno=entry.infno, resolves=entry.msgid)
    by = client.last_msgid or ""
    _record_reversal(client, entry, result, by)
    return result


def reverse(client: SettlementClient, msgid: str) -> Reversal:
    """Reverse a journaled message by 2601 (e.g. a 2207 whose card record
    could not be written) and record it: the entry becomes REVERSED."""
    entry = client.journal.get(msgid)
    if entry is None:
        raise JournalError(f"{msgid} is not in this terminal's journal")
    return reverse_entry(client, entry)


def _reverse(client: SettlementClient, entry: JournalEntry) -> Outcome:
    try:
        reverse_entry(client, entry)
    except CenterRefused as exc:
        return _still_open(entry, f"2601 refused: {exc.err_msg}")
    except CenterUnavailable as exc:
        return _still_open(entry, f"2601 got no answer: {exc}")
    except SettlementError as exc:
        return _still_open(entry, f"2601: {exc}")
    return _closed(client, entry.msgid, "reversed")


# -- lookup ----------------------------------------------------------------------------------
def _identify(entry: JournalEntry, found: SettlementLookup) -> str | None:
    """booked, reversed, refused, or None when the answer is not about this message."""
    info = found.setlinfo
    if info is not None and info.medins_setl_id == entry.msgid:
        return "reversed" if info.setl_stas == "reversed" else "booked"
    if info is None and found.msg_stas == "refused" and found.omsgid == entry.msgid:
        return "refused"
    return None


def _settle_settlement(
    client: SettlementClient, entry: JournalEntry, confirm_booked: bool
) -> Outcome:
    person = _person(entry)
    if person is None:
        return _still_open(entry, "no psn_no in the request: cannot query or reverse it")
    declared = transaction(entry.infno)
    by_visit = declared is not None and declared.unanswered is Unanswered.LOOKUP_BY_VISIT
    mdtrt_id = entry.keys.get("mdtrt_id") if by_visit else None
    try:
        found = client.settlement_query(
            person,
            mdtrt_id=mdtrt_id,
            medins_setl_id=entry.msgid,
            resolves=entry.msgid,
        )
    except CenterRefused:
        found = None  # the center does not know it: reverse it to bar it for good
    except CenterUnavailable as exc:
        return _still_open(entry, f"5203 got no answer: {exc}")
    except SettlementError as exc:
        return _still_open(entry, f"5203: {exc}")
    query_msgid = client.last_msgid
    what = None if found is None else _identify(entry, found)
    if found is not None and what == "booked" and confirm_booked:
        client.journal.close_entry(
            entry.msgid,
            Resolution.CONFIRMED,
            status=Status.SUCCESS,
            resolved_by=query_msgid,
            note=f"5203 {query_msgid}: booked, setl_id {found.setlinfo.setl_id}"  # type: ignore[union-attr]
            f" ({found.setlinfo.setl_stas or 'valid'})",  # type: ignore[union-attr]
            response={"infcode": 0, "output": found.model_dump(mode="python", exclude_none=False)},
        )
        return _closed(client, entry.msgid, "confirmed")
    if found is not None and what == "refused":
        client.journal.close_entry(
            entry.msgid,
            Resolution.CONFIRMED,
            status=Status.FAIL,
            resolved_by=query_msgid,
            note=f"5203 {query_msgid}: refused by the center ({found.err_msg or ''})",
        )
        return _closed(client, entry.msgid, "confirmed")
    if found is not None and what == "reversed":
        client.journal.close_entry(
            entry.msgid,
            Resolution.REVERSED,
            status=Status.SUCCESS,
            resolved_by=query_msgid,
            note=f"5203 {query_msgid}: booked and reversed at the center",
        )
        return _closed(client, entry.msgid, "reversed")
    return _reverse(client, entry)


# -- fee uploads --------------------------------------------------------------------------------
def _settle_fee_upload(client: SettlementClient, entry: JournalEntry) -> Outcome:
    person = _person(entry)
    mdtrt_id = entry.keys.get("mdtrt_id")
    batches = [str(b) for b in entry.keys.get("chrg_bchno") or []]
    if person is None or not mdtrt_id or not batches:
        client.journal.close_entry(
            entry.msgid, Resolution.DROPPED, note="no visit or batch to withdraw; moves no money"
        )
        return _closed(client, entry.msgid, "dropped")
    shared = [
        other
        for other in client.journal.entries(infno=entry.infno)
        if other.msgid != entry.msgid
        and other.booked
        and other.keys.get("mdtrt_id") == mdtrt_id
        and set(other.keys.get("chrg_bchno") or []) & set(batches)
    ]
    if shared or "0000" in batches:
        client.journal.close_entry(
            entry.msgid,
            Resolution.DROPPED,
            note="its batch is shared with an upload that stands: not withdrawn "
            "(moves no money; 2206 shows what the visit holds)",
        )
        return _closed(client, entry.msgid, "dropped")
    last = None
    for batch in batches:
        try:
            client.withdraw_fees(person, str(mdtrt_id), batch, resolves=entry.msgid)
            last = client.last_msgid
        except CenterRefused as exc:
            client.journal.close_entry(
                entry.msgid,
                Resolution.DROPPED,
                resolved_by=client.last_msgid,
                note=f"2205 refused ({exc.err_msg}); fee details move no money",
            )
            return _closed(client, entry.msgid, "dropped")
        except SettlementError as exc:
            return _still_open(entry, f"2205: {exc}")
    client.journal.close_entry(
        entry.msgid,
        Resolution.REVERSED,
        resolved_by=last,
        note=f"2205 {last}: batch {', '.join(batches)} withdrawn",
    )
    return _closed(client, entry.msgid, "reversed")


# -- orphan reversals ---------------------------------------------------------------------------
def _settle_orphan_reversal(client: SettlementClient, entry: JournalEntry) -> Outcome:
    original_msgid = entry.resolves or entry.keys.get("omsgid")
    original = client.journal.get(str(original_msgid)) if original_msgid else None
    if original is not None and original.resolution is Resolution.REVERSED:
        client.journal.close_entry(
            entry.msgid,
            Resolution.CONFIRMED,
            resolved_by=original.resolved_by,
            note=f"the reversal of {original.msgid} stands ({original.resolved_by})",
        )
        return _closed(client, entry.msgid, "confirmed")
    person = _person(entry)
    oinfno = entry.keys.get("oinfno")
    if person is None or not original_msgid or not oinfno:
        return _still_open(entry, "no psn_no/omsgid/oinfno to repeat the reversal with")
    try:
        if original is not None and _reversible(original.infno):
            reverse_entry(client, original)
        else:
            client.reversal(
                person, omsgid=str(original_msgid), oinfno=str(oinfno), resolves=original_msgid
            )
    except CenterRefused as exc:
        return _still_open(entry, f"2601 refused: {exc.err_msg}")
    except SettlementError as exc:
        return _still_open(entry, f"2601: {exc}")
    by = client.last_msgid
    client.journal.close_entry(
        entry.msgid,
        Resolution.CONFIRMED,
        resolved_by=by,
        note=f"the reversal of {original_msgid} was sent again and stands ({by})",
    )
    return _closed(client, entry.msgid, "confirmed")


# -- the loop ------------------------------------------------------------------------------------
def _reversible(infno: str) -> bool:
    """A booking: reversible by 2601."""
    declared = transaction(infno)
    return declared is not None and declared.kind is Kind.BOOKING


def _settle(client: SettlementClient, entry: JournalEntry, confirm_booked: bool) -> Outcome:
    declared = transaction(entry.infno)
    rule = Unanswered.DROP if declared is None else declared.unanswered
    if rule is Unanswered.REPEAT:
        return _settle_orphan_reversal(client, entry)
    if _reversible(entry.infno):
        if any(r.infno == REVERSE.infno for r in client.journal.resolvers_of(entry.msgid)):
            return _reverse(client, entry)  # a reversal was begun: finish it
        if rule is Unanswered.REVERSE:
            return _reverse(client, entry)
        return _settle_settlement(client, entry, confirm_booked)
    if rule is Unanswered.WITHDRAW:
        return _settle_fee_upload(client, entry)
    note = (
        "changes a visit but moves no money; the next step of the flow checks it"
        if entry.kind == Kind.CHANGE
        else "books nothing"
    )
    client.journal.close_entry(entry.msgid, Resolution.DROPPED, note=note)
    return _closed(client, entry.msgid, "dropped")


def resolve(client: SettlementClient, *, confirm_booked: bool = True) -> ResolveReport:
    """Settle every open entry of the client's journal (see the module's rules).

    Entries PENDING in another live process, or in flight in this client, are
    left alone (reported as skipped). Originals are settled before the
    messages that were sent to settle them. Then the registrations the flows
    abandoned are reversed (:meth:`Journal.abandoned_visits`)."""
    report = ResolveReport()
    in_flight = client.in_flight
    entries = client.journal.open_entries()
    ordered = [e for e in entries if e.resolves is None] + [
        e for e in entries if e.resolves is not None
    ]
    for stale in ordered:
        entry = client.journal.get(stale.msgid)
        if entry is None or not entry.is_open:
            continue
        if entry.msgid in in_flight or client.journal.in_flight_elsewhere(entry):
            report.outcomes.append(
                _still_open(entry, f"being sent by process {entry.pid}", "skipped")
            )
            continue
        report.outcomes.append(_settle(client, entry, confirm_booked))
    for visit in client.journal.abandoned_visits():  # their visits' messages are settled now
        report.outcomes.append(_reverse(client, visit))
    return report
