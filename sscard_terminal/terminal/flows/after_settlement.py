"""The end of every booked flow: the balance after it, the transaction
record owed to the card, and the :class:`Receipt` (settlement-interface.md,
"Flows seen in real integrations").

The card record after the settlement: the settlement (2207 / 2102 / 2208 /
2103) is journaled by the client before it is sent and marked SUCCESS when
the center answers, so the center's books and the journal agree whatever
happens to the card. From that moment the journal owes the card a
transaction record (DF04 EF08; :mod:`sscard_terminal.terminal.card_records`),
written right after the settlement. If the card is removed, refuses the
write, or the terminal dies before it, the settlement stands (it is not
reversed: the patient's money has moved and the journal says so), the
receipt says ``extra["card_record"]`` missing and why, and the record is
written at the next flow with the same card on this terminal, after its
PIN (``extra["earlier_card_records"]``), checking first that it is not on
the card already. A terminal that prefers the opposite policy can call
`resolution.reverse(client, msgid)` with the receipt's msgid.
"""

from __future__ import annotations

from decimal import Decimal

from sscard_terminal.errors import SscardError
from sscard_terminal.settlement.client import SettlementClient
from sscard_terminal.settlement.envelope import SHANGHAI
from sscard_terminal.settlement.journal import CardRecordState
from sscard_terminal.settlement.models import SetlInfo
from sscard_terminal.terminal.card_records import write_owed
from sscard_terminal.terminal.flows.common import Progress, say
from sscard_terminal.terminal.flows.identification import Holder, Presented, Voucher
from sscard_terminal.terminal.receipt import Receipt, ReceiptLine

__all__ = ["written_receipt"]


def _balance(setl: SetlInfo, holder: Holder) -> Decimal:
    if setl.balc is not None:
        return setl.balc
    before = holder.insurance.balc if holder.insurance else Decimal("0.00")
    return before - setl.acct_pay


def _write_card_record(
    card: Presented,
    client: SettlementClient,
    msgid: str | None,
    progress: Progress | None,
) -> str:
    """APPEND RECORD to DF04 EF08 (the PIN verified at the start grants it),
    built from the journal entry of the settlement (card_records.py).
    Returns what the receipt says of it; never raises for the card (the
    settlement stands: see the module's docstring)."""
    if isinstance(card, Voucher):
        return "none (settled with the electronic voucher: no card record)"
    entry = client.journal.get(msgid) if msgid else None
    if entry is None or entry.card_record is None:
        return "none (the settlement was not made with a card)"
    if entry.card_record is not CardRecordState.OWED:
        return entry.card_record.value.lower()
    say(progress, "writing the card record")
    try:
        done = write_owed(card, client.journal, [entry], check_card=False)
    except SscardError as exc:  # removed, mute
        done = {entry.msgid: f"missing ({exc})"}
    note = done.get(entry.msgid, "missing")
    if note.startswith("missing"):
        return f"{note}; the settlement stands ({msgid}): written at the card's next use"
    return note


def written_receipt(
    title: str,
    card: Presented,
    client: SettlementClient,
    holder: Holder,
    setl: SetlInfo,
    msgid: str | None,
    progress: Progress | None,
    extra: dict[str, str],
    *,
    lines: tuple[ReceiptLine, ...] = (),
) -> Receipt:
    """The end of every booked flow: the balance after it, the transaction
    record owed to the card written (its outcome in ``extra["card_record"]``),
    and the receipt."""
    balance = _balance(setl, holder)
    extra["card_record"] = _write_card_record(card, client, msgid, progress)
    when = setl.setl_time or f"{client.clock().astimezone(SHANGHAI):%Y-%m-%d %H:%M:%S}"
    return Receipt(
        title=title,
        institution=client.institution.fixmedins_code,
        institution_name=client.institution.fixmedins_name,
        time=when,
        holder_name=holder.name,
        holder_id=holder.id_number,
        card_number=holder.card_no,
        setl_id=setl.setl_id or "",
        msgid=setl.medins_setl_id or msgid or "",
        total=setl.medfee_sumamt,
        fund=setl.fund_pay_sumamt,
        account=setl.acct_pay,
        cash=setl.psn_cash_pay,
        balance=balance,
        lines=lines,
        extra={**holder.notes, **extra},
    )
