"""The reader driver for the social security card.

:class:`SocialSecurityCard` runs over any transport and holds it for a whole
transaction. It selects the social security application SSSE by name, reads
the data items of EF05 and EF06 by tag with their exact Le (one APDU per item,
the fewest the card allows: LD/T 32-2015 cards have no multi-record read),
and returns a typed :class:`~sscard_terminal.driver.cardholder.CardholderRecord`
or the national reader interface's line (:mod:`sscard_terminal.driver.national`).
"""

from __future__ import annotations

from collections.abc import Iterable

from sscard_terminal.apdu.command import CommandApdu
from sscard_terminal.codecs.atr import Atr, AtrError
from sscard_terminal.codecs.card_id_code import parse_card_id_code
from sscard_terminal.codecs.records import EF05_ITEMS, EF06_ITEMS, ItemSpec, decode_value
from sscard_terminal.codecs.tlv import parse_item
from sscard_terminal.driver.cardholder import CardholderRecord, HolderData, IssuerData
from sscard_terminal.driver.session import CardSession
from sscard_terminal.errors import (
    CorruptResponseError,
    PersonDataError,
    RecordNotFoundError,
    SecurityStatusNotSatisfiedError,
)
from sscard_terminal.transport.base import Transport

#: DF name of the social security application: "sx1.sh.社会保障" in GBK (card-spec.md)
SSSE_NAME = "sx1.sh.社会保障".encode("gbk")
EF05_SFI = 0x05
EF06_SFI = 0x06

_ISSUER_KEYS = tuple(spec.key for spec in EF05_ITEMS)
_HOLDER_KEYS = ("id_number", "name", "sex", "ethnic_group", "birthplace", "birth_date")


def _plausible(spec: ItemSpec, text: str) -> bool:
    """Reject values no issued card can hold, so a damaged answer is an error,
    not a result: BCD items other than the card identification code are decimal,
    and the card identification code has its fixed layout."""
    if spec.key == "card_id_code":
        try:
            parse_card_id_code(text)
        except (ValueError, PersonDataError):
            return False
        return True
    if spec.kind == "cn":
        return text.isdigit()
    return True


def read_record_by_tag(sfi: int, spec: ItemSpec) -> CommandApdu:
    """READ RECORD by data-item tag in an EF named by SFI, with the item's exact Le.

    card-spec.md "Records": P1 = tag, P2 = (SFI << 3) | 000, Le = 2 + length.
    """
    return CommandApdu(0x00, 0xB2, spec.tag, (sfi << 3), ne=spec.length + 2)


class SocialSecurityCard:
    """A social security card behind a transport (connected by the caller or here)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.session = CardSession(transport)

    # -- steps ------------------------------------------------------------------
    def select_ssse(self, *, fetch_fci: bool = False) -> bytes:
        """SELECT SSSE by name (``00 A4 04 00 0F 7378312E73682EC9E7BBE1B1A3D5CF``).

        The FCI is only fetched when asked for (it costs a GET RESPONSE).
        """
        apdu = CommandApdu(0x00, 0xA4, 0x04, 0x00, SSSE_NAME)
        return self.session.send(apdu, what="SELECT SSSE", fetch=fetch_fci)

    def read_item(self, sfi: int, spec: ItemSpec) -> str | None:
        """One data item as text, or None when the card has no such item (6A83)."""
        try:
            raw = self.session.send(
                read_record_by_tag(sfi, spec), what=f"READ RECORD EF{sfi:02X} tag {spec.tag:02X}"
            )
        except RecordNotFoundError:
            return None
        try:
            tag, value = parse_item(raw)
        except ValueError as exc:
            raise CorruptResponseError(f"EF{sfi:02X} tag {spec.tag:02X}: {exc}") from None
        if tag != spec.tag:
            raise CorruptResponseError(
                f"asked for tag {spec.tag:02X} of EF{sfi:02X}, the card gave tag {tag:02X}"
            )
        try:
            text = decode_value(spec, value)
        except (ValueError, PersonDataError) as exc:
            raise CorruptResponseError(f"EF{sfi:02X} tag {spec.tag:02X}: {exc}") from None
        if text and not _plausible(spec, text):
            raise CorruptResponseError(
                f"EF{sfi:02X} tag {spec.tag:02X} ({spec.label}) holds an impossible value"
            )
        return text

    def read_items(self, sfi: int, specs: Iterable[ItemSpec]) -> dict[str, str | None]:
        return {spec.key: self.read_item(sfi, spec) for spec in specs}

    def read_issuer(self, keys: Iterable[str] = _ISSUER_KEYS) -> IssuerData:
        wanted = set(keys)
        values = self.read_items(EF05_SFI, (s for s in EF05_ITEMS if s.key in wanted))
        return IssuerData(**{k: values.get(k) for k in _ISSUER_KEYS})

    def read_holder(self, keys: Iterable[str] = _HOLDER_KEYS) -> HolderData:
        wanted = set(keys)
        if "name" in wanted:
            wanted.add("name_ext")
        values = self.read_items(EF06_SFI, (s for s in EF06_ITEMS if s.key in wanted))
        name = values.pop("name", None)
        extension = values.pop("name_ext", None)
        if name is not None or extension is not None:
            name = (name or "") + (extension or "")
        return HolderData(name=name, **{k: values.get(k) for k in _HOLDER_KEYS if k != "name"})

    @property
    def atr(self) -> Atr:
        try:
            return Atr.parse(self.transport.atr)
        except AtrError as exc:
            raise CorruptResponseError(f"the card's ATR is not valid: {exc}") from None

    # -- whole reads --------------------------------------------------------------
    def read(
        self,
        issuer_keys: Iterable[str] = _ISSUER_KEYS,
        holder_keys: Iterable[str] = _HOLDER_KEYS,
    ) -> CardholderRecord:
        """SELECT SSSE, then EF05 and EF06 item by item.

        When EF06 needs an authentication the terminal has not done (a 3.0 card
        read without a security module), the record has no holder part and
        says why.
        """
        atr = self.atr
        self.select_ssse()
        issuer = self.read_issuer(issuer_keys)
        holder: HolderData | None = None
        reason = None
        try:
            holder = self.read_holder(holder_keys)
        except SecurityStatusNotSatisfiedError as exc:
            reason = f"EF06 needs authentication first ({exc.sw:04X})"
        return CardholderRecord(atr.raw, atr.historical, issuer, holder, reason)
