"""The terminal flows (issue 5, point 3): hospital swipe and refund, pharmacy
purchase and cancellation, self-service registration at a kiosk.

Each flow composes a connected :class:`SocialSecurityCard`, a security module
(``None`` for a 2.0 card), a :class:`PinSource`, and a
:class:`SettlementClient` (whose journal keeps every message), and ends in a
:class:`Receipt` (settlement-interface.md, "Flows seen in real integrations").

The common start of every flow:

1. read the card (authenticated read with the security module, expiry checked);
2. the PIN, verified by the card (VERIFY). A wrong or blocked PIN raises the
   driver's :class:`~sscard_terminal.errors.PinError` and nothing has been
   sent to the center;
3. 1101 by card (card number + card identification code). A lost or replaced
   card is refused by the center (:class:`CenterRefused` with its message);
   a person whose benefits are suspended (``psn_insu_stas`` != 1) is refused
   at the terminal by :class:`NotEligible`, naming the center's status and
   the date it was suspended.

The electronic voucher instead of the card: every flow takes a
:class:`Voucher` (the scanned QR code) where it takes a card. The start is
then ``ec.query`` (the code for the person's ``ecToken``,
settlement/voucher.py) and 1101 with ``mdtrt_cert_type`` "01" and the token;
there is no card to read and no card PIN (the phone app verified the person
when it showed the code), and the settlement writes no card record.

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

import datetime as dt
import itertools
import json
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sscard_terminal.driver.cardholder import CardholderRecord
from sscard_terminal.driver.pin import PinSource
from sscard_terminal.driver.sam import SecurityModule
from sscard_terminal.driver.sscard import SocialSecurityCard
from sscard_terminal.errors import ExitCode, SscardError, UsageError
from sscard_terminal.settlement.client import SettlementClient
from sscard_terminal.settlement.envelope import SHANGHAI
from sscard_terminal.settlement.errors import CenterRefused, CenterUnavailable
from sscard_terminal.settlement.inputs import DrugSale, OutpatientSettlement
from sscard_terminal.settlement.journal import CardRecordState
from sscard_terminal.settlement.models import (
    Diagnosis,
    DrugDetail,
    FeeDetail,
    InsuInfo,
    PersonInfo,
    PersonRef,
    SetlInfo,
)
from sscard_terminal.settlement.voucher import VOUCHER_CERT, check_code, ec_query
from sscard_terminal.terminal.card_records import catch_up, write_owed
from sscard_terminal.terminal.payment import PaymentFailed, PaymentProvider
from sscard_terminal.terminal.receipt import Receipt, ReceiptLine
from sscard_terminal.terminal.schedule import Schedule

__all__ = [
    "CARD_CERT",
    "Declined",
    "DeskVisit",
    "Holder",
    "Item",
    "NotEligible",
    "QueueBook",
    "Voucher",
    "hospital_refund",
    "hospital_swipe",
    "kiosk_register",
    "load_items",
    "parse_item",
    "pay_outstanding",
    "pharmacy_cancel",
    "pharmacy_purchase",
]

#: mdtrt_cert_type of the social security card
CARD_CERT = "03"
CENT = Decimal("0.01")
#: med_type: 11 ordinary outpatient, 12 outpatient registration, 41 pharmacy
MED_OUTPATIENT = "11"
MED_REGISTRATION = "12"

Progress = Callable[[str], None]
Confirm = Callable[[SetlInfo], bool]


class NotEligible(SscardError):
    """The center's 1101 says the person cannot settle now (benefits suspended).
    ``psn_insu_stas`` is the center's status (settlement-interface.md, "Code
    lists"), None when the person has no enrolment at all."""

    exit_code = ExitCode.CENTER_REFUSED
    hint = "the insured person should contact the social insurance office"
    psn_insu_stas: str | None = None
    since: str | None = None


class Declined(SscardError):
    """The patient (or operator) declined the split shown by the pre-settlement;
    the visit was rolled back and nothing was booked."""

    exit_code = ExitCode.USAGE


# -- items -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Item:
    """One line the terminal charges: a catalogue code, a count and a price."""

    code: str
    count: Decimal
    price: Decimal
    name: str = ""
    medins_code: str = ""

    @property
    def amount(self) -> Decimal:
        return (self.count * self.price).quantize(CENT)


def _decimal(value: Any, what: str) -> Decimal:
    if isinstance(value, float | bool):
        value = str(value)
    try:
        result = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise UsageError(f"{what}: {value!r} is not a number") from None
    if not result.is_finite() or result <= 0:
        raise UsageError(f"{what}: {value!r} must be positive")
    return result


def _item(node: Any, where: str) -> Item:
    if not isinstance(node, dict) or "code" not in node:
        raise UsageError(f"{where}: an item is an object with code, count and price")
    return Item(
        code=str(node["code"]),
        count=_decimal(node.get("count", node.get("cnt", 1)), f"{where}.count"),
        price=_decimal(node.get("price", node.get("pric")), f"{where}.price"),
        name=str(node.get("name", "")),
        medins_code=str(node.get("medins_code", "")),
    )


def load_items(path: str | Path) -> list[Item]:
    """Items from a JSON file: ``[{"code": ..., "count": "1", "price": "30.00",
    "name": ...}, ...]`` or ``{"items": [...]}``. Prices as strings keep them exact."""
    source = Path(path)
    try:
        data = json.loads(source.read_text(encoding="utf-8"), parse_float=Decimal)
    except OSError as exc:
        raise UsageError(f"{source}: cannot read the items: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{source}: not JSON: {exc}") from None
    rows = data.get("items") if isinstance(data, dict) else data
    if not isinstance(rows, list) or not rows:
        raise UsageError(f"{source}: no items")
    return [_item(row, f"{source}[{i}]") for i, row in enumerate(rows)]


def parse_item(text: str) -> Item:
    """``CODE:COUNT:PRICE[:NAME]`` from the command line."""
    parts = text.split(":", 3)
    if len(parts) < 3:
        raise UsageError(f"--item {text!r}: give CODE:COUNT:PRICE[:NAME]")
    return Item(
        parts[0],
        _decimal(parts[1], "--item count"),
        _decimal(parts[2], "--item price"),
        parts[3] if len(parts) > 3 else "",
    )


def _fee_details(items: Sequence[Item], when: dt.datetime) -> list[FeeDetail]:
    return [
        FeeDetail(
            str(i),
            it.code,
            it.medins_code or it.code,
            it.count,
            it.price,
            it.amount,
            when,
        )
        for i, it in enumerate(items, 1)
    ]


def _drug_details(items: Sequence[Item], when: dt.datetime) -> list[DrugDetail]:
    return [
        DrugDetail(
            str(i),
            it.code,
            it.medins_code or it.code,
            it.count,
            it.price,
            it.amount,
            fee_ocur_time=when,
        )
        for i, it in enumerate(items, 1)
    ]


def _lines(items: Iterable[Item]) -> tuple[ReceiptLine, ...]:
    return tuple(
        ReceiptLine(it.name or it.code, it.code, it.count, it.price, it.amount) for it in items
    )


# -- queue numbers ---------------------------------------------------------------------------
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


# -- the common start ------------------------------------------------------------------------
@dataclass(frozen=True)
class Voucher:
    """The electronic voucher's QR code, presented instead of a card."""

    code: str = field(repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", check_code(self.code))


#: what a patient presents: the card (in the reader) or the voucher
Presented = SocialSecurityCard | Voucher


@dataclass
class Holder:
    """What the common start of a flow learned: the card (or the voucher's
    token), the 1101 answer, and the enrolment the flow settles under."""

    record: CardholderRecord | None
    card_no: str
    card_sn: str
    person: PersonInfo
    insurance: InsuInfo | None
    notes: dict[str, str] = field(default_factory=dict)
    cert_type: str = CARD_CERT
    ec_token: str = field(default="", repr=False)

    @property
    def cert_no(self) -> str:
        """mdtrt_cert_no: the card number, or the voucher's token."""
        return self.ec_token if self.cert_type == VOUCHER_CERT else self.card_no

    @property
    def cert(self) -> dict[str, Any]:
        """The credential fields of 2201, 2206/2207 and 2101/2102."""
        return {
            "mdtrt_cert_type": self.cert_type,
            "mdtrt_cert_no": self.cert_no,
            "card_sn": self.card_sn or None,
        }

    @property
    def ref(self) -> PersonRef:
        return self.person.ref

    @property
    def insutype(self) -> str:
        if self.insurance is None:
            raise NotEligible("the person has no enrolment to settle under")
        return self.insurance.insutype

    @property
    def name(self) -> str:
        holder = self.record.holder if self.record else None
        return self.person.baseinfo.psn_name or (holder.name if holder else "") or ""

    @property
    def id_number(self) -> str:
        holder = self.record.holder if self.record else None
        return self.person.baseinfo.certno or (holder.id_number if holder else "") or ""


def _say(progress: Progress | None, text: str) -> None:
    if progress is not None:
        progress(text)


def _eligible(person: PersonInfo, insutype: str | None) -> InsuInfo:
    """The enrolment to settle under; NotEligible with the center's status
    when it is suspended (psn_insu_stas != 1)."""
    rows = [i for i in person.insuinfo if insutype is None or i.insutype == insutype]
    warn = person.warn_msg
    if not rows:
        reason = (
            f"the center knows no enrolment{f' in {insutype}' if insutype else ''} for this person"
        )
        raise NotEligible(reason + (f": {warn}" if warn else ""))
    for row in rows:
        if row.active:
            return row
    row = rows[0]
    since = f" since {row.paus_insu_date}" if row.paus_insu_date else ""
    status = {"2": "suspended", "0": "not yet started", "3": "terminated"}.get(
        row.psn_insu_stas or "", "not active"
    )
    reason = (
        f"the center reports insurance {row.insutype} {status}{since} "
        f"(psn_insu_stas {row.psn_insu_stas})"
    )
    refused = NotEligible(reason + (f": {warn}" if warn else ""))
    refused.psn_insu_stas = row.psn_insu_stas
    refused.since = row.paus_insu_date or row.psn_insu_date
    raise refused


def identify(
    card: Presented,
    sam: SecurityModule | None,
    pins: PinSource | None,
    client: SettlementClient,
    *,
    insutype: str | None = None,
    require_active: bool = True,
    today: dt.date | None = None,
    progress: Progress | None = None,
    on_read: Callable[[CardholderRecord], None] | None = None,
) -> Holder:
    """Card, PIN, 1101 (or voucher, ec.query, 1101): the start of every flow
    (see the module's docstring). ``on_read`` sees the card's data before the
    PIN is asked (a kiosk shows the holder, masked)."""
    if isinstance(card, Voucher):
        return identify_voucher(
            card, client, insutype=insutype, require_active=require_active, progress=progress
        )
    if pins is None:
        raise UsageError("a card flow needs a PIN source")
    _say(progress, "reading the card")
    record = card.read(sam=sam, check_expiry=True, today=today)
    card_no = record.issuer.card_number or ""
    card_sn = record.issuer.card_id_code or ""
    if not card_no or not card_sn:
        raise UsageError("the card gives no card number or card identification code")
    if on_read is not None:
        on_read(record)
    _say(progress, "PIN")
    card.verify_pin(pins.get_pin("PIN"))  # PinError: nothing sent to the center
    earlier = catch_up(card, client.journal, card_no, progress=progress)
    _say(progress, "1101 person information")
    person = client.person_by_card(card_no, card_sn)  # lost / replaced: CenterRefused
    insurance = _eligible(person, insutype) if require_active else None
    if insurance is None:
        insurance = next(
            (i for i in person.insuinfo if insutype is None or i.insutype == insutype), None
        )
    notes = {"earlier_card_records": _summary(earlier)} if earlier else {}
    return Holder(record, card_no, card_sn, person, insurance, notes)


def identify_voucher(
    voucher: Voucher,
    client: SettlementClient,
    *,
    insutype: str | None = None,
    require_active: bool = True,
    progress: Progress | None = None,
) -> Holder:
    """ec.query, then 1101 with mdtrt_cert_type 01 and the token."""
    _say(progress, "ec.query voucher exchange")
    token = ec_query(client, voucher.code)  # forged, used, expired: CenterRefused
    _say(progress, "1101 person information (voucher)")
    person = client.person_info(VOUCHER_CERT, token.ec_token)
    insurance = _eligible(person, insutype) if require_active else None
    if insurance is None:
        insurance = next(
            (i for i in person.insuinfo if insutype is None or i.insutype == insutype), None
        )
    notes = {"credential": "医保电子凭证 electronic voucher"}
    return Holder(
        None, "", "", person, insurance, notes, cert_type=VOUCHER_CERT, ec_token=token.ec_token
    )


def _summary(done: dict[str, str]) -> str:
    return "; ".join(f"{msgid}: {what}" for msgid, what in done.items())


# -- after the settlement --------------------------------------------------------------------
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
    _say(progress, "writing the card record")
    try:
        done = write_owed(card, client.journal, [entry], check_card=False)
    except SscardError as exc:  # removed, mute
        done = {entry.msgid: f"missing ({exc})"}
    note = done.get(entry.msgid, "missing")
    if note.startswith("missing"):
        return f"{note}; the settlement stands ({msgid}): written at the card's next use"
    return note


def _written_receipt(
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
    return _receipt(title, client, holder, setl, msgid, balance=balance, lines=lines, extra=extra)


def _receipt(
    title: str,
    client: SettlementClient,
    holder: Holder,
    setl: SetlInfo,
    msgid: str | None,
    *,
    balance: Decimal | None,
    lines: tuple[ReceiptLine, ...] = (),
    extra: dict[str, str] | None = None,
) -> Receipt:
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
        extra={**holder.notes, **(extra or {})},
    )


def _now(client: SettlementClient) -> dt.datetime:
    return client.clock().astimezone(SHANGHAI).replace(tzinfo=None, microsecond=0)


def _otp_no(prefix: str, client: SettlementClient) -> str:
    return f"{prefix}{_now(client):%y%m%d%H%M%S}{secrets.randbelow(1000):03d}"


def _rollback(
    client: SettlementClient,
    ref: PersonRef,
    mdtrt_id: str,
    ipt_otp_no: str | None,
    registration: str | None = None,
) -> list[str]:
    """2205 (withdraw the details) then 2202 (cancel the visit); problems are
    returned, not raised (the caller is already failing for its own reason).
    When they fail, the ``registration`` (the 2201's msgid) is left to the
    journal's resolution as abandoned."""
    problems = []
    for step, call in (
        ("2205", lambda: client.withdraw_fees(ref, mdtrt_id)),
        ("2202", lambda: client.cancel_registration(ref, mdtrt_id, ipt_otp_no)),
    ):
        try:
            call()
        except SscardError as exc:
            problems.append(f"{step}: {exc}")
    if problems and registration:
        client.journal.abandon_visit(registration, "; ".join(problems))
    return problems


def _abandon(client: SettlementClient, registration: str | None, exc: BaseException) -> None:
    """The center did not answer after the 2201 (or the flow was stopped):
    the journal's resolution reverses the registration once the visit's
    messages are settled (and leaves it when a settlement of the visit
    stands)."""
    if registration:
        client.journal.abandon_visit(registration, _why(exc))


def _why(exc: BaseException) -> str:
    """What stopped a flow, for the journal (our errors carry no PIN or key)."""
    if isinstance(exc, SscardError):
        return str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return f"stopped by {type(exc).__name__}"


def _interrupted(
    client: SettlementClient,
    ref: PersonRef,
    mdtrt_id: str,
    ipt_otp_no: str | None,
    registration: str | None,
    progress: Progress | None,
) -> None:
    """The flow was stopped after its 2201 by something other than the center
    or the patient (Ctrl-C outside a prompt, a fault of the program): roll
    the visit back as a refusal would; whatever cannot be rolled back stays
    with the journal (the registration is held for this process, so it is
    abandoned the moment the process ends, even if a second interrupt stops
    the rollback itself)."""
    _say(progress, "stopped: rolling back with 2205, 2202")
    _rollback(client, ref, mdtrt_id, ipt_otp_no, registration)


def _always(_: SetlInfo) -> bool:
    return True


# -- hospital --------------------------------------------------------------------------------
def hospital_swipe(
    card: Presented,
    sam: SecurityModule | None,
    pins: PinSource | None,
    client: SettlementClient,
    items: Sequence[Item],
    *,
    confirm: Confirm = _always,
    insutype: str | None = None,
    med_type: str = MED_OUTPATIENT,
    dise_codg: str | None = None,
    dise_name: str | None = None,
    dept_code: str | None = None,
    dept_name: str | None = None,
    dr_name: str | None = None,
    acct_used: bool = True,
    today: dt.date | None = None,
    progress: Progress | None = None,
) -> Receipt:
    """Hospital outpatient swipe: card, PIN, 1101, 2201, 2203, 2204, 2206
    (``confirm`` sees the split; False rolls back with 2205/2202 and raises
    :class:`Declined`), 2207, the card record (HOSPITAL), the receipt."""
    if not items:
        raise UsageError("a hospital swipe needs at least one item")
    holder = identify(card, sam, pins, client, insutype=insutype, today=today, progress=progress)
    ref = holder.ref
    ipt_otp_no = _otp_no("OP", client)
    _say(progress, "2201 registration")
    visit = client.register(
        ref,
        insutype=holder.insutype,
        **holder.cert,
        ipt_otp_no=ipt_otp_no,
        med_type=med_type,
        dept_code=dept_code,
        dept_name=dept_name,
        dr_name=dr_name,
        hold_visit=True,
    )
    mdtrt_id = visit.mdtrt_id
    try:
        _say(progress, "2203 visit information")
        diagnoses = [Diagnosis(dise_codg, dise_name or dise_codg)] if dise_codg else []
        client.visit_info(
            ref,
            mdtrt_id,
            med_type=med_type,
            dise_codg=dise_codg,
            dise_name=dise_name,
            diagnoses=diagnoses,
        )
        _say(progress, "2204 fee details")
        client.upload_fees(ref, mdtrt_id, _fee_details(items, _now(client)))
        total = sum((it.amount for it in items), Decimal("0.00"))
        args: dict[str, Any] = {
            "mdtrt_id": mdtrt_id,
            **holder.cert,
            "medfee_sumamt": total,
            "insutype": holder.insutype,
            "med_type": med_type,
            "acct_used": acct_used,
        }
        _say(progress, "2206 pre-settlement")
        pre = client.pre_settle(OutpatientSettlement(ref, **args))
        if not confirm(pre.setlinfo):
            raise Declined("the settlement was declined; the visit is cancelled")
    except (Declined, CenterRefused):
        _say(progress, "rolling back: 2205, 2202")
        _rollback(client, ref, mdtrt_id, ipt_otp_no, visit.msgid)
        raise
    except CenterUnavailable as exc:
        _abandon(client, visit.msgid, exc)
        raise
    except BaseException:
        _interrupted(client, ref, mdtrt_id, ipt_otp_no, visit.msgid, progress)
        raise
    _say(progress, "2207 settlement")
    try:
        # OutcomeUnknown: the journal resolves it
        settled = client.settle(OutpatientSettlement(ref, **args))
    except CenterRefused:
        _rollback(client, ref, mdtrt_id, ipt_otp_no, visit.msgid)
        raise
    except BaseException as exc:  # no answer, or stopped: kept if the 2207 turns out booked
        _abandon(client, visit.msgid, exc)
        raise
    msgid = settled.msgid
    setl = settled.setlinfo
    balance = _balance(setl, holder)
    note = _write_card_record(card, client, msgid, progress)
    return _receipt(
        "门诊结算单 outpatient settlement",
        client,
        holder,
        setl,
        msgid,
        balance=balance,
        lines=_lines(items),
        extra={"mdtrt_id": mdtrt_id, "ipt_otp_no": ipt_otp_no, "card_record": note},
    )


def hospital_refund(
    card: Presented,
    sam: SecurityModule | None,
    pins: PinSource | None,
    client: SettlementClient,
    *,
    setl_id: str,
    mdtrt_id: str,
    cancel_visit: bool = True,
    today: dt.date | None = None,
    progress: Progress | None = None,
) -> Receipt:
    """Refund an outpatient settlement: card, PIN, 1101, 2208 (then 2205 and
    2202 to close the visit when ``cancel_visit``), a REFUND card record."""
    holder = identify(card, sam, pins, client, require_active=False, today=today, progress=progress)
    _say(progress, "2208 refund")
    refund = client.cancel_settlement(
        holder.ref, setl_id=setl_id, mdtrt_id=mdtrt_id, card_no=holder.card_no or None
    )
    msgid = refund.msgid
    setl = refund.setlinfo
    extra = {"mdtrt_id": mdtrt_id, "refunds": setl_id}
    if cancel_visit:
        problems = _rollback(client, holder.ref, mdtrt_id, None)
        if problems:
            extra["visit"] = "still open: " + "; ".join(problems)
    return _written_receipt(
        "门诊退费单 outpatient refund", card, client, holder, setl, msgid, progress, extra
    )


# -- pharmacy --------------------------------------------------------------------------------
_PAY_KEYS = itertools.count(1)


def pharmacy_purchase(
    card: Presented,
    sam: SecurityModule | None,
    pins: PinSource | None,
    client: SettlementClient,
    items: Sequence[Item],
    payments: PaymentProvider,
    *,
    confirm: Confirm = _always,
    insutype: str | None = None,
    acct_used: bool = True,
    today: dt.date | None = None,
    progress: Progress | None = None,
) -> Receipt:
    """Pharmacy purchase: card, PIN, 1101, 2101 (the split; ``confirm``), the
    cash part through ``payments`` (PaymentFailed: nothing was booked),
    2102, the card record (PHARMACY), the receipt."""
    if not items:
        raise UsageError("a purchase needs at least one item")
    holder = identify(card, sam, pins, client, insutype=insutype, today=today, progress=progress)
    ref = holder.ref
    args: dict[str, Any] = {
        **holder.cert,
        "insutype": holder.insutype,
        "lines": _drug_details(items, _now(client)),
        "acct_used": acct_used,
    }
    _say(progress, "2101 pre-settlement")
    pre = client.pharmacy_pre_settle(DrugSale(ref, **args))
    if not confirm(pre.setlinfo):
        raise Declined("the purchase was declined; nothing was booked")
    cash = pre.setlinfo.psn_cash_pay
    key = f"{client.institution.fixmedins_code}-{_otp_no('RX', client)}-{next(_PAY_KEYS)}"
    payment = None
    if cash > 0:
        _say(progress, f"payment of {cash} yuan")
        payment = payments.pay(key, cash)  # PaymentFailed: 2101 booked nothing
    _say(progress, "2102 settlement")
    try:
        # OutcomeUnknown: the journal resolves it
        sold = client.pharmacy_settle(DrugSale(ref, **args))
    except CenterRefused as exc:
        if payment is not None:
            payments.refund(payment.reference)
            exc.hint = f"payment {payment.reference} ({payment.amount} yuan) was refunded"
        raise
    msgid = sold.msgid
    setl = sold.setlinfo
    extra = {"mdtrt_id": setl.mdtrt_id or ""}
    if payment is not None:
        extra["payment"] = payment.reference
    if setl.psn_cash_pay != cash:
        extra["cash_note"] = f"paid {cash}, settled cash {setl.psn_cash_pay}: settle the difference"
    return _written_receipt(
        "药店结算单 pharmacy settlement",
        card,
        client,
        holder,
        setl,
        msgid,
        progress,
        extra,
        lines=_lines(items),
    )


def pharmacy_cancel(
    card: Presented,
    sam: SecurityModule | None,
    pins: PinSource | None,
    client: SettlementClient,
    *,
    setl_id: str,
    mdtrt_id: str,
    payments: PaymentProvider | None = None,
    payment: str | None = None,
    today: dt.date | None = None,
    progress: Progress | None = None,
) -> Receipt:
    """Cancel a pharmacy settlement: card, PIN, 1101, 2103, the cash part
    given back (``payment``, the purchase receipt's ``extra["payment"]``,
    through ``payments``), a CANCELLATION record."""
    holder = identify(card, sam, pins, client, require_active=False, today=today, progress=progress)
    _say(progress, "2103 cancellation")
    cancelled = client.pharmacy_cancel(
        holder.ref, setl_id=setl_id, mdtrt_id=mdtrt_id, card_no=holder.card_no or None
    )
    msgid = cancelled.msgid
    setl = cancelled.setlinfo
    balance = _balance(setl, holder)
    extra = {"mdtrt_id": mdtrt_id, "cancels": setl_id}
    if payments is not None and payment:
        _say(progress, f"refund of payment {payment}")
        extra["payment_refund"] = payments.refund(payment).reference
    extra["card_record"] = _write_card_record(card, client, msgid, progress)
    return _receipt(
        "药店退费单 pharmacy cancellation",
        client,
        holder,
        setl,
        msgid,
        balance=balance,
        extra=extra,
    )


# -- kiosk -----------------------------------------------------------------------------------
def kiosk_register(
    card: Presented,
    sam: SecurityModule | None,
    pins: PinSource | None,
    client: SettlementClient,
    schedule: Schedule,
    department: str,
    doctor: str,
    payments: PaymentProvider,
    *,
    queue: QueueBook | None = None,
    confirm: Confirm = _always,
    insutype: str | None = None,
    today: dt.date | None = None,
    progress: Progress | None = None,
    holder: Holder | None = None,
) -> Receipt:
    """Self-service registration: card, PIN, 1101, the department and doctor
    from the hospital's schedule, 2201, the fee by 2204 and 2206, the cash
    part through ``payments`` (PaymentFailed: rolled back by 2205 and 2202,
    then re-raised), 2207, the card record (REGISTRATION), and a receipt with
    the queue number (``extra["queue_number"]``). ``holder``: the start done
    already (a kiosk identifies the patient once, then offers its menu)."""
    dept, doc = schedule.find(department, doctor)  # before the card: a usage error
    if schedule.fixmedins_code != client.institution.fixmedins_code:
        raise UsageError(
            f"the schedule is {schedule.fixmedins_code}'s, the terminal is "
            f"{client.institution.fixmedins_code}'s"
        )
    queue = queue or QueueBook()
    day = _now(client).date()
    queue.check(day, dept.code, doc.code, doc.places)
    if holder is None:
        holder = identify(
            card, sam, pins, client, insutype=insutype, today=today, progress=progress
        )
    ref = holder.ref
    ipt_otp_no = _otp_no("RG", client)
    _say(progress, f"2201 registration: {dept.name} {doc.name}")
    visit = client.register(
        ref,
        insutype=holder.insutype,
        **holder.cert,
        ipt_otp_no=ipt_otp_no,
        med_type=MED_REGISTRATION,
        atddr_no=doc.code,
        dr_name=doc.name,
        dept_code=dept.code,
        dept_name=dept.name,
        caty=dept.caty,
        hold_visit=True,
    )
    mdtrt_id = visit.mdtrt_id
    item = Item(doc.fee_code, Decimal(1), doc.fee, f"挂号费 {doc.name}", f"REG-{doc.code}")
    args: dict[str, Any] = {
        "mdtrt_id": mdtrt_id,
        **holder.cert,
        "medfee_sumamt": item.amount,
        "insutype": holder.insutype,
        "med_type": MED_REGISTRATION,
    }
    try:
        _say(progress, "2204 registration fee")
        client.upload_fees(ref, mdtrt_id, _fee_details([item], _now(client)))
        _say(progress, "2206 pre-settlement")
        pre = client.pre_settle(OutpatientSettlement(ref, **args))
        if not confirm(pre.setlinfo):
            raise Declined("the registration was declined; it is cancelled")
        cash = pre.setlinfo.psn_cash_pay
        payment = None
        if cash > 0:
            _say(progress, f"payment of {cash} yuan")
            payment = payments.pay(f"{client.institution.fixmedins_code}-{mdtrt_id}", cash)
    except (PaymentFailed, Declined, CenterRefused) as exc:
        _say(progress, "rolling back: 2205, 2202")
        problems = _rollback(client, ref, mdtrt_id, ipt_otp_no, visit.msgid)
        if problems and isinstance(exc, PaymentFailed):
            exc.hint = "the visit is closed by `sscard journal resolve`: " + "; ".join(problems)
        raise
    except CenterUnavailable as exc:
        _abandon(client, visit.msgid, exc)
        raise
    except BaseException:
        _interrupted(client, ref, mdtrt_id, ipt_otp_no, visit.msgid, progress)
        raise
    _say(progress, "2207 settlement")
    try:
        # OutcomeUnknown: the journal resolves it
        settled = client.settle(OutpatientSettlement(ref, **args))
    except CenterRefused as exc:
        _rollback(client, ref, mdtrt_id, ipt_otp_no, visit.msgid)
        if payment is not None:
            payments.refund(payment.reference)
            exc.hint = f"payment {payment.reference} ({payment.amount} yuan) was refunded"
        raise
    except BaseException as exc:  # no answer, or stopped: kept if the 2207 turns out booked
        _abandon(client, visit.msgid, exc)
        raise
    msgid = settled.msgid
    setl = settled.setlinfo
    number = queue.take(day, dept.code, doc.code)
    extra = {
        "queue_number": str(number),
        "department": f"{dept.code} {dept.name}",
        "doctor": f"{doc.code} {doc.name}",
        "mdtrt_id": mdtrt_id,
    }
    if payment is not None:
        extra["payment"] = payment.reference
    return _written_receipt(
        "自助挂号单 registration",
        card,
        client,
        holder,
        setl,
        msgid,
        progress,
        extra,
        lines=_lines([item]),
    )


@dataclass(frozen=True)
class DeskVisit:
    """A visit registered at the desk (2201 done there) whose fees the patient
    pays at a kiosk: what the hospital information system hands over."""

    mdtrt_id: str
    items: tuple[Item, ...]
    ipt_otp_no: str | None = None
    dept_name: str | None = None
    dr_name: str | None = None
    dise_codg: str | None = None
    dise_name: str | None = None
    med_type: str = MED_OUTPATIENT

    @property
    def total(self) -> Decimal:
        return sum((it.amount for it in self.items), Decimal("0.00"))


def pay_outstanding(
    card: Presented,
    sam: SecurityModule | None,
    pins: PinSource | None,
    client: SettlementClient,
    visit: DeskVisit,
    payments: PaymentProvider,
    *,
    confirm: Confirm = _always,
    insutype: str | None = None,
    acct_used: bool = True,
    today: dt.date | None = None,
    progress: Progress | None = None,
    holder: Holder | None = None,
) -> Receipt:
    """Outpatient fees of a visit registered at the desk, paid at a kiosk (the
    hospital swipe's path after its 2201, settlement-interface.md "Flows
    seen in real integrations"): 2203, 2204, 2206 (``confirm``), the cash part
    through ``payments``, 2207, the card record (HOSPITAL), the receipt. A
    refusal, a decline or a failed payment withdraws the fees (2205) and
    leaves the desk's registration open, for the desk to settle or cancel."""
    if not visit.items:
        raise UsageError("the visit has no fees to pay")
    if holder is None:
        holder = identify(
            card, sam, pins, client, insutype=insutype, today=today, progress=progress
        )
    ref = holder.ref
    mdtrt_id = visit.mdtrt_id
    args: dict[str, Any] = {
        "mdtrt_id": mdtrt_id,
        **holder.cert,
        "medfee_sumamt": visit.total,
        "insutype": holder.insutype,
        "med_type": visit.med_type,
        "acct_used": acct_used,
    }

    def withdraw() -> None:
        try:
            client.withdraw_fees(ref, mdtrt_id)
        except SscardError as exc:  # the desk sees the fees still open
            _say(progress, f"2205 failed: {exc}")

    payment = None
    try:
        _say(progress, "2203 visit information")
        diagnoses = (
            [Diagnosis(visit.dise_codg, visit.dise_name or visit.dise_codg)]
            if visit.dise_codg
            else []
        )
        client.visit_info(
            ref,
            mdtrt_id,
            med_type=visit.med_type,
            dise_codg=visit.dise_codg,
            dise_name=visit.dise_name,
            diagnoses=diagnoses,
        )
        _say(progress, "2204 fee details")
        client.upload_fees(ref, mdtrt_id, _fee_details(visit.items, _now(client)))
        _say(progress, "2206 pre-settlement")
        pre = client.pre_settle(OutpatientSettlement(ref, **args))
        if not confirm(pre.setlinfo):
            raise Declined("the payment was declined; the fees stay open at the desk")
        cash = pre.setlinfo.psn_cash_pay
        if cash > 0:
            _say(progress, f"payment of {cash} yuan")
            payment = payments.pay(f"{client.institution.fixmedins_code}-{mdtrt_id}-fees", cash)
    except (PaymentFailed, Declined, CenterRefused, CenterUnavailable):
        _say(progress, "withdrawing the fees: 2205")
        withdraw()
        raise
    _say(progress, "2207 settlement")
    try:
        # OutcomeUnknown: the journal resolves it
        settled = client.settle(OutpatientSettlement(ref, **args))
    except CenterRefused as exc:
        withdraw()
        if payment is not None:
            payments.refund(payment.reference)
            exc.hint = f"payment {payment.reference} ({payment.amount} yuan) was refunded"
        raise
    msgid = settled.msgid
    setl = settled.setlinfo
    extra = {"mdtrt_id": mdtrt_id}
    if payment is not None:
        extra["payment"] = payment.reference
    return _written_receipt(
        "门诊缴费单 outpatient fees",
        card,
        client,
        holder,
        setl,
        msgid,
        progress,
        extra,
        lines=_lines(visit.items),
    )
