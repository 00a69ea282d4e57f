"""The reader driver for the social security card.

:class:`SocialSecurityCard` runs over any transport and holds it for a whole
transaction. It selects the social security application SSSE by name, reads
the data items of EF05 and EF06 by tag with their exact Le (one APDU per item,
the fewest the card allows: LD/T 32-2015 cards have no multi-record read),
and returns a typed :class:`~sscard_terminal.driver.cardholder.CardholderRecord`
or the national reader interface's line (:mod:`sscard_terminal.driver.national`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from sscard_terminal.apdu.command import CommandApdu
from sscard_terminal.apdu.status import SW
from sscard_terminal.codecs.atr import Atr, AtrError
from sscard_terminal.codecs.card_id_code import parse_card_id_code
from sscard_terminal.codecs.card_number import is_valid_card_number
from sscard_terminal.codecs.id_number import IdNumber, is_region_code
from sscard_terminal.codecs.records import (
    EF05_ITEMS,
    EF06_ITEMS,
    ITEMS_BY_KEY,
    ItemSpec,
    decode_value,
    encode_value,
)
from sscard_terminal.codecs.tlv import build_item, parse_item
from sscard_terminal.codecs.transaction import RECORD_SIZE, TransactionRecord
from sscard_terminal.crypto.computations import pin_to_bcd
from sscard_terminal.crypto.keyset import PUK, UK
from sscard_terminal.crypto.keyset import RK as RKSSSE
from sscard_terminal.driver.cardholder import CardholderRecord, HolderData, IssuerData
from sscard_terminal.driver.pin import Pin
from sscard_terminal.driver.sam import AuthCard, CardContext, SecurityModule, SoftwareSam
from sscard_terminal.driver.session import CardSession
from sscard_terminal.errors import (
    CardExpiredError,
    CorruptResponseError,
    PersonDataError,
    RecordNotFoundError,
    SecurityStatusNotSatisfiedError,
    StatusWordError,
    UnblockPinRefusedError,
    UsageError,
    error_for_sw,
)
from sscard_terminal.person import ETHNIC_GROUP_CODES
from sscard_terminal.transport.base import Transport

#: DF name of the social security application: "sx1.sh.社会保障" in GBK (card-spec.md)
SSSE_NAME = "sx1.sh.社会保障".encode("gbk")
DF04_AID = bytes.fromhex("D15600000503")
DF04_EF08_SFI = 0x08
SHANGHAI = ZoneInfo("Asia/Shanghai")
EF05_SFI = 0x05
EF06_SFI = 0x06

_ISSUER_KEYS = tuple(spec.key for spec in EF05_ITEMS)
_HOLDER_KEYS = ("id_number", "name", "sex", "ethnic_group", "birthplace", "birth_date")
#: what a full read (``read()`` with no keys) asks for
FULL_ISSUER_KEYS = _ISSUER_KEYS
FULL_HOLDER_KEYS = _HOLDER_KEYS


def shanghai_today() -> dt.date:
    """Card dates are Chinese dates: today in Asia/Shanghai."""
    return dt.datetime.now(SHANGHAI).date()


_NAME_SPEC = next(s for s in EF06_ITEMS if s.key == "name")
_EXT_SPEC = next(s for s in EF06_ITEMS if s.key == "name_ext")
_DATE_KEYS = frozenset({"issue_date", "expiry_date", "birth_date"})
#: items with no redundancy of their own: read twice and compared (see read_item)
REREAD_KEYS = frozenset({"name", "name_ext", "card_id_code"})


def _is_date(text: str) -> bool:
    try:
        dt.datetime.strptime(text, "%Y%m%d")
    except ValueError:
        return False
    return len(text) == 8


def _plausible(spec: ItemSpec, text: str) -> bool:
    """Reject values no issued card can hold, so a damaged answer is an error,
    not a result. Every check is a fact of the standards, true of any card:
    the card identification code's layout (LD/T 32), the card number's check
    character, the ID number's GB 11643 check digit and birth date, real
    calendar dates, the code lists of sex (GB/T 2261.1) and ethnic group
    (GB 3304), a GB/T 2260 region code for the birthplace."""
    key = spec.key
    try:
        if key == "card_id_code":
            parse_card_id_code(text)
        elif key == "card_number":
            return text == text.upper() and is_valid_card_number(text)
        elif key == "id_number":
            IdNumber.parse(text)
        elif key in _DATE_KEYS:
            return _is_date(text)
        elif key == "sex":
            return text in ("1", "2", "9")
        elif key == "ethnic_group":
            return text in ETHNIC_GROUP_CODES
        elif key == "birthplace":
            return is_region_code(text)
        elif key == "spec_version":
            return len(text) == 4 and text[0].isdigit() and text[1] == "." and text[2:].isdigit()
        elif spec.kind == "cn":
            return text.isdigit()
    except (ValueError, PersonDataError):
        return False
    return True


def _consistent(atr: Atr, issuer: IssuerData, holder: HolderData | None) -> str | None:
    """Cross-checks between items (a reason when they disagree): the region in the
    card identification code and in ATR historical bytes 8-9 (card-spec.md "ATR"),
    the issue date before the expiry date, and sex and birth date against the ID
    number (GB 11643)."""
    if (
        issuer.card_id_code
        and len(atr.historical) >= 13
        and issuer.card_id_code[:4] != atr.region_prefix
    ):
        return "the card identification code's region differs from the ATR's"
    if issuer.issue_date and issuer.expiry_date and issuer.issue_date >= issuer.expiry_date:
        return "the issue date is not before the expiry date"
    if holder is not None and holder.id_number:
        number = IdNumber.parse(holder.id_number)
        if holder.birth_date and holder.birth_date != number.birth_date.strftime("%Y%m%d"):
            return "the birth date differs from the ID number's"
        if holder.sex in ("1", "2") and holder.sex != number.sex:
            return "the sex differs from the ID number's"
    return None


def read_record_by_tag(sfi: int, spec: ItemSpec) -> CommandApdu:
    """READ RECORD by data-item tag in an EF named by SFI, with the item's exact Le.

    card-spec.md "Records": P1 = tag, P2 = (SFI << 3) | 000, Le = 2 + length.
    """
    return CommandApdu(0x00, 0xB2, spec.tag, (sfi << 3), ne=spec.length + 2)


class SocialSecurityCard:
    """A social security card behind a transport (connected by the caller or here)."""

    def __init__(self, transport: Transport, *, verify_reads: bool = False) -> None:
        """``verify_reads`` reads every item twice and compares the answers, for
        links that do not detect damaged bytes themselves (a contact reader's T=0
        parity or T=1 checksum does); names are always read twice."""
        self.transport = transport
        self.session = CardSession(transport)
        self.verify_reads = verify_reads

    # -- steps ------------------------------------------------------------------
    def select_ssse(self, *, fetch_fci: bool = False) -> bytes:
        """SELECT SSSE by name (``00 A4 04 00 0F 7378312E73682EC9E7BBE1B1A3D5CF``).

        The FCI is only fetched when asked for (it costs a GET RESPONSE).
        """
        apdu = CommandApdu(0x00, 0xA4, 0x04, 0x00, SSSE_NAME)
        return self.session.send(apdu, what="SELECT SSSE", fetch=fetch_fci)

    def read_item(self, sfi: int, spec: ItemSpec) -> str | None:
        """One data item as text, or None when the card has no such item (6A83)."""
        what = f"READ RECORD EF{sfi:02X} tag {spec.tag:02X}"
        try:
            raw = self.session.send(read_record_by_tag(sfi, spec), what=what)
        except RecordNotFoundError:
            return None
        if self.verify_reads or spec.key in REREAD_KEYS:
            again = self.session.send(read_record_by_tag(sfi, spec), what=what)
            if again != raw:
                raise CorruptResponseError(f"two reads of EF{sfi:02X} tag {spec.tag:02X} differ")
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
        """EF06 items. The name extension (tag 4E) continues a name that fills
        all 30 bytes of tag 09, so it is only read when tag 09 is full."""
        wanted = set(keys)
        values = self.read_items(EF06_SFI, (s for s in EF06_ITEMS if s.key in wanted))
        name = values.pop("name", None)
        if name is not None and len(name.encode("gbk")) >= _NAME_SPEC.length:
            extension = self.read_item(EF06_SFI, _EXT_SPEC)
            name += extension or ""
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
        *,
        sam: SecurityModule | None = None,
        check_expiry: bool = False,
        today: dt.date | None = None,
    ) -> CardholderRecord:
        """SELECT SSSE, EF05, then (authentication on a 3.0 card) and EF06.

        With a security module, a 3.0 card is authenticated with RKSSSE (key
        0A) before EF06, whose read access a 3.0 card grants only after it (the
        ningbo-gen3 profile). Without one, EF06 is tried and a
        refusal (6982) is recorded as the reason the record has no holder part.
        With ``check_expiry``, a card past its expiry date raises
        :class:`CardExpiredError` naming the date.
        """
        atr = self.atr
        self.select_ssse()
        wanted = set(issuer_keys) | ({"card_id_code", "spec_version"} if sam else set())
        if check_expiry:
            wanted.add("expiry_date")
        issuer = self.read_issuer(wanted)
        if check_expiry:
            self.check_not_expired(issuer, today)
        holder: HolderData | None = None
        reason = None
        if sam is not None and issuer.generation == 3:
            self.authenticate(sam, RKSSSE, issuer)
        try:
            holder = self.read_holder(holder_keys)
        except SecurityStatusNotSatisfiedError as exc:
            reason = f"EF06 needs authentication first ({exc.sw:04X})"
        problem = _consistent(atr, issuer, holder)
        if problem is not None:
            raise CorruptResponseError(f"the card's data is inconsistent: {problem}")
        return CardholderRecord(atr.raw, atr.historical, issuer, holder, reason)

    @staticmethod
    def check_not_expired(issuer: IssuerData, today: dt.date | None = None) -> None:
        today = today or shanghai_today()
        expiry = issuer.expiry
        if expiry is not None and expiry < today:
            raise CardExpiredError(f"the card expired on {expiry.isoformat()}")

    # -- security ---------------------------------------------------------------
    def context(self, issuer: IssuerData) -> CardContext:
        """What a security module needs: ATR, card factor, region, algorithm."""
        atr = self.atr
        if not issuer.card_id_code or not issuer.spec_version:
            raise CorruptResponseError("EF05 lacks the card identification code or spec version")
        algorithm = "sm4" if issuer.generation == 3 else "3des"
        return CardContext(
            atr.raw, atr.diversification_factor, issuer.region, issuer.card_id_code, algorithm
        )

    def authenticate(self, sam: SecurityModule, key_id: int, issuer: IssuerData) -> None:
        """EXTERNAL AUTHENTICATE with card key ``key_id`` through a security module."""
        sam.authenticate(AuthCard(self.session, self.context(issuer)), key_id)

    def pin_tries(self) -> int:
        """The PIN tries left (VERIFY without data answers 63Cx; 6983 = blocked = 0)."""
        response = self.session.transmit(CommandApdu(0x00, 0x20, 0x00, 0x00))
        if response.sw & 0xFFF0 == 0x63C0:
            return response.sw & 0x0F
        if response.sw == 0x6983:
            return 0
        raise error_for_sw(response.sw, "VERIFY (tries)", pin=True)

    def verify_pin(self, pin: Pin) -> None:
        """VERIFY in the current application (SSSE, or a DF below it)."""
        apdu = CommandApdu(0x00, 0x20, 0x00, 0x00, pin_to_bcd(pin.reveal()))
        self.session.send(apdu, what="VERIFY PIN", pin=True)

    def change_pin(self, old: Pin, new: Pin) -> None:
        """CHANGE PIN (80 5E 01 00): old PIN || FF || new PIN."""
        data = pin_to_bcd(old.reveal()) + b"\xff" + pin_to_bcd(new.reveal())
        self.session.send(CommandApdu(0x80, 0x5E, 0x01, 0x00, data), what="CHANGE PIN", pin=True)

    def unblock_pin(self, sam: SoftwareSam, pin: Pin, issuer: IssuerData, *, reload: bool) -> None:
        """PIN RELOAD (P2 01, sets ``pin``) or UNBLOCK (P2 00, ``pin`` = the current PIN),
        after EXTERNAL AUTHENTICATE with the PUK (key 06); an issuer operation."""
        ctx = self.context(issuer)
        card = AuthCard(self.session, ctx)
        sam.authenticate(card, PUK)
        block = sam.encrypted_pin(ctx, PUK, pin.reveal())
        header = bytes((0x84, 0x24, 0x00, 0x01 if reload else 0x00))
        try:
            sam.maced_command(card, header, block, PUK)
        except StatusWordError as exc:
            # P2 00: the block must hold the current PIN, else the card answers 6A80
            if not reload and exc.sw == SW.INCORRECT_DATA:
                raise UnblockPinRefusedError(exc.sw, exc.command) from None
            raise

    # -- protected writes -------------------------------------------------------------
    def update_item(self, sam: SecurityModule, issuer: IssuerData, key: str, text: str) -> None:
        """An issuer update of one EF05/EF06 data item: EXTERNAL AUTHENTICATE with
        UKSSSE (key 04), then UPDATE RECORD by tag (an item the card lacks is
        appended). The value is encoded and padded as its layout declares."""
        spec = ITEMS_BY_KEY.get(key)
        if spec is None:
            raise UsageError(f"no EF05/EF06 data item {key!r}")
        sfi = EF05_SFI if spec in EF05_ITEMS else EF06_SFI
        try:
            value = encode_value(spec, text)
        except (ValueError, PersonDataError) as exc:
            raise UsageError(f"{spec.where}: {exc}") from None
        self.select_ssse()
        self.authenticate(sam, UK, issuer)
        apdu = CommandApdu(0x00, 0xDC, spec.tag, sfi << 3, build_item(spec.tag, value))
        self.session.send(apdu, what=f"UPDATE RECORD EF{sfi:02X} tag {spec.tag:02X}")

    def update_medical_item(
        self, sam: SecurityModule, issuer: IssuerData, tag: int, value: bytes
    ) -> None:
        """A medical DF04 EF05 data item (tags 80-8F, 7D-7F): EXTERNAL AUTHENTICATE
        with DF04's update key (UK1DF04, key 04 of DF04), then UPDATE RECORD by tag."""
        if not (0x80 <= tag <= 0x8F or 0x7D <= tag <= 0x7F):
            raise UsageError(f"DF04 EF05 holds tags 80-8F and 7D-7F, not {tag:02X}")
        self.select_ssse()
        self.select_medical()
        self.authenticate(sam, UK, issuer)
        apdu = CommandApdu(0x00, 0xDC, tag, 0x05 << 3, build_item(tag, value))
        self.session.send(apdu, what=f"UPDATE RECORD DF04 EF05 tag {tag:02X}")

    def read_medical_item(self, tag: int) -> bytes | None:
        """A DF04 EF05 data item's value (after the PIN or RK1DF04), None if absent."""
        self.select_medical()
        apdu = CommandApdu(0x00, 0xB2, tag, 0x05 << 3, ne=256)
        try:
            raw = self.session.send(apdu, what=f"READ RECORD DF04 EF05 tag {tag:02X}")
        except RecordNotFoundError:
            return None
        try:
            found, value = parse_item(raw)
        except ValueError as exc:
            raise CorruptResponseError(f"DF04 EF05 tag {tag:02X}: {exc}") from None
        if found != tag:
            raise CorruptResponseError(f"asked for DF04 EF05 tag {tag:02X}, got {found:02X}")
        return value

    # -- the medical application (DF04) ---------------------------------------------
    def select_medical(self) -> None:
        self.session.send(
            CommandApdu(0x00, 0xA4, 0x04, 0x00, DF04_AID), what="SELECT DF04", fetch=False
        )

    def read_log(self) -> list[TransactionRecord]:
        """The transaction records of DF04 EF08, newest first (after VERIFY)."""
        self.select_medical()
        records: list[TransactionRecord] = []
        for number in range(1, 255):
            found = self.read_transaction(number)
            if found is None:
                break
            records.append(found)
        return records

    def read_transaction(self, number: int) -> TransactionRecord | None:
        """Record ``number`` of DF04 EF08 (1 = the newest), None past the last
        one; DF04 must be selected (:meth:`select_medical`)."""
        apdu = CommandApdu(0x00, 0xB2, number, (DF04_EF08_SFI << 3) | 0x04, ne=RECORD_SIZE)
        try:
            raw = self.session.send(apdu, what=f"READ RECORD DF04 EF08 record {number}")
        except RecordNotFoundError:
            return None
        try:
            return TransactionRecord.from_bytes(raw)
        except ValueError as exc:
            raise CorruptResponseError(f"DF04 EF08 record {number}: {exc}") from None

    def append_transaction(self, record: TransactionRecord) -> None:
        """APPEND RECORD to DF04 EF08 (cyclic: the new record becomes record 1)."""
        self.select_medical()
        apdu = CommandApdu(0x00, 0xE2, 0x00, DF04_EF08_SFI << 3, record.to_bytes())
        self.session.send(apdu, what="APPEND RECORD DF04 EF08")
