"""The start of every terminal flow: who the patient is, and the enrolment
the flow settles under (:func:`identify`, :class:`Holder`).

With the card:

1. read the card (authenticated read with the security module, expiry checked);
2. the PIN, verified by the card (VERIFY). A wrong or blocked PIN raises the
   driver's :class:`~sscard_terminal.errors.PinError` and nothing has been
   sent to the center; the card records the journal still owes this card are
   written now (:func:`sscard_terminal.terminal.card_records.catch_up`);
3. 1101 by card (card number + card identification code). A lost or replaced
   card is refused by the center (:class:`CenterRefused` with its message);
   a person whose benefits are suspended (``psn_insu_stas`` != 1) is refused
   at the terminal by :class:`NotEligible`, naming the center's status and
   the date it was suspended.

With the electronic voucher instead of the card (:class:`Voucher`, the
scanned QR code): ``ec.query`` (the code for the person's ``ecToken``,
settlement/voucher.py) and 1101 with ``mdtrt_cert_type`` "01" and the token;
there is no card to read and no card PIN (the phone app verified the person
when it showed the code), and the settlement writes no card record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sscard_terminal.driver.cardholder import CardholderRecord
from sscard_terminal.driver.pin import PinSource
from sscard_terminal.driver.sam import SecurityModule
from sscard_terminal.driver.sscard import SocialSecurityCard
from sscard_terminal.errors import ExitCode, SscardError, UsageError
from sscard_terminal.settlement.client import SettlementClient
from sscard_terminal.settlement.models import InsuInfo, PersonInfo, PersonRef
from sscard_terminal.settlement.voucher import VOUCHER_CERT, check_code, ec_query
from sscard_terminal.terminal.card_records import catch_up
from sscard_terminal.terminal.flows.common import Progress, say

__all__ = [
    "CARD_CERT",
    "Holder",
    "NotEligible",
    "Presented",
    "Voucher",
    "identify",
    "identify_voucher",
]

#: mdtrt_cert_type of the social security card
CARD_CERT = "03"


class NotEligible(SscardError):
    """The center's 1101 says the person cannot settle now (benefits suspended).
    ``psn_insu_stas`` is the center's status (settlement-interface.md, "Code
    lists"), None when the person has no enrolment at all."""

    exit_code = ExitCode.CENTER_REFUSED
    hint = "the insured person should contact the social insurance office"
    psn_insu_stas: str | None = None
    since: str | None = None


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


def _enrolment(person: PersonInfo, insutype: str | None, require_active: bool) -> InsuInfo | None:
    """The enrolment the flow settles under: an active one (NotEligible
    otherwise) when ``require_active``, else the first of ``insutype``."""
    insurance = _eligible(person, insutype) if require_active else None
    if insurance is None:
        insurance = next(
            (i for i in person.insuinfo if insutype is None or i.insutype == insutype), None
        )
    return insurance


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
    say(progress, "reading the card")
    record = card.read(sam=sam, check_expiry=True, today=today)
    card_no = record.issuer.card_number or ""
    card_sn = record.issuer.card_id_code or ""
    if not card_no or not card_sn:
        raise UsageError("the card gives no card number or card identification code")
    if on_read is not None:
        on_read(record)
    say(progress, "PIN")
    card.verify_pin(pins.get_pin("PIN"))  # PinError: nothing sent to the center
    earlier = catch_up(card, client.journal, card_no, progress=progress)
    say(progress, "1101 person information")
    person = client.person_by_card(card_no, card_sn)  # lost / replaced: CenterRefused
    insurance = _enrolment(person, insutype, require_active)
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
    say(progress, "ec.query voucher exchange")
    token = ec_query(client, voucher.code)  # forged, used, expired: CenterRefused
    say(progress, "1101 person information (voucher)")
    person = client.person_info(VOUCHER_CERT, token.ec_token)
    insurance = _enrolment(person, insutype, require_active)
    notes = {"credential": "医保电子凭证 electronic voucher"}
    return Holder(
        None, "", "", person, insurance, notes, cert_type=VOUCHER_CERT, ec_token=token.ec_token
    )


def _summary(done: dict[str, str]) -> str:
    return "; ".join(f"{msgid}: {what}" for msgid, what in done.items())
