"""The agent's card work: blocking calls into the driver, one per function.

Each method runs on a worker thread (never on the agent's event loop) and
holds the card for one PC/SC connection. The national interface's functions
(card-spec.md "The national reader interface"): ``iReadCardBas`` answers the
line exactly as ``sscard read --line`` prints it; the key-service pair
``iReadCardBas_HSM_Step1``/``Step2`` splits the read around the key service
(card-spec.md "Reading without a PSAM: the key-service (HSM) mode"), so the
card stays connected, SSSE selected, between the two steps (:class:`HsmHold`).
PINs come from the station's PIN pad only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sscard_terminal.codecs.transaction import TransactionRecord
from sscard_terminal.crypto.keyset import RK
from sscard_terminal.driver.cardholder import CardholderRecord
from sscard_terminal.driver.keyservice_client import step1_line
from sscard_terminal.driver.national import (
    LINE_HOLDER_KEYS,
    LINE_ISSUER_KEYS,
    line_from_record,
    read_national_line,
)
from sscard_terminal.driver.sam import AuthCard
from sscard_terminal.driver.sscard import SocialSecurityCard
from sscard_terminal.errors import (
    CorruptResponseError,
    UsageError,
)
from sscard_terminal.terminal.station import Station
from sscard_terminal.transport.base import Transport, list_readers

_HEX16 = re.compile(r"[0-9A-Fa-f]{16}")


def check_itype(itype: int) -> None:
    """iType 1 (contact) and 3 (search, contact first) read the contact card; the
    contactless types are refused with what to send instead."""
    if itype in (2, 4):
        raise UsageError(
            f"iType {itype} asks for a contactless card, which this agent's readers do not "
            "serve; send iType 1 (contact) or 3 (search)"
        )


@dataclass
class HsmHold:
    """A card between step 1 and step 2 of the key-service read: still connected,
    SSSE selected, its last challenge the EA random."""

    reader: str
    transport: Transport
    card: SocialSecurityCard
    record_issuer: Any
    ea_random: bytes

    def close(self) -> None:
        self.transport.close()


class CardCalls:
    """The functions of the agent, over a :class:`Station` and its readers."""

    def __init__(
        self, station: Station, readers: Sequence[str], *, check_expiry: bool = True
    ) -> None:
        if not readers:
            raise UsageError("the agent needs at least one --reader")
        self.station = station
        self.readers = tuple(readers)
        self.check_expiry = check_expiry

    # -- readers -------------------------------------------------------------------
    def resolve_reader(self, wanted: str | None) -> str:
        """One of the agent's readers: the first when ``wanted`` is None, else the
        one named exactly or by a unique part."""
        if wanted is None:
            return self.readers[0]
        if wanted in self.readers:
            return wanted
        matches = [r for r in self.readers if wanted.casefold() in r.casefold()]
        if len(matches) == 1:
            return matches[0]
        raise UsageError(
            f"'reader' {wanted[:60]!r} is not one of this agent's readers "
            f"({', '.join(self.readers)})"
        )

    def serves(self, reader_name: str) -> str | None:
        """The configured reader that a backend's full reader name stands for, if any."""
        for configured in self.readers:
            if reader_name == configured or configured.casefold() in reader_name.casefold():
                return configured
        return None

    def status(self) -> list[dict[str, Any]]:
        """The agent's readers with card presence and ATR (SCardGetStatusChange, no APDU)."""
        found = list_readers(self.station.spec.transport)
        rows = []
        for configured in self.readers:
            info = next((i for i in found if self.serves(i.name) == configured), None)
            rows.append(
                {
                    "reader": configured,
                    "connected": info is not None,
                    "cardPresent": bool(info and info.card_present),
                    "atr": info.atr.hex().upper() if info and info.atr else None,
                }
            )
        return rows

    # -- reads -----------------------------------------------------------------------
    def read_line(self, reader: str) -> str:
        """``iReadCardBas``: the national line, as ``sscard read --line`` prints it."""
        with self.station.card(reader) as card:
            line = read_national_line(
                card,
                terminal_number=self.station.terminal_number,
                device_number=self.station.spec.device_number,
                sam=self.station.sam,
                check_expiry=self.check_expiry,
            )
        return str(line)

    def hsm_step1(self, reader: str) -> tuple[HsmHold, str, str]:
        """Step 1: SELECT SSSE, EF05, two challenges, INTERNAL AUTHENTICATE.

        Returns the hold (the card stays connected), the key service's step-1
        line and the card's INTERNAL AUTHENTICATE answer (hex)."""
        terminal = self.station.terminal_number
        if not re.fullmatch(r"[0-9]{12}", terminal):
            raise UsageError(
                "the key-service read needs this terminal's 12-digit number",
                hint="start the agent with --terminal NUMBER",
            )
        transport = self.station.connect(reader)
        try:
            card = SocialSecurityCard(transport)
            atr_check = card.atr  # a damaged ATR fails here, before any command
            del atr_check
            card.select_ssse()
            wanted = set(LINE_ISSUER_KEYS) | {"card_id_code", "spec_version"}
            issuer = card.read_issuer(wanted)
            if self.check_expiry:
                card.check_not_expired(issuer)
            context = card.context(issuer)
            auth = AuthCard(card.session, context)
            r1 = auth.get_challenge(8)
            r2 = auth.get_challenge(8)
            if len(r1) != 8 or len(r2) != 8:
                raise CorruptResponseError("GET CHALLENGE answered a random of the wrong length")
            ia_answer = auth.internal_authenticate(r2, r1)
            if len(ia_answer) != 8:
                raise CorruptResponseError(
                    f"INTERNAL AUTHENTICATE answered {len(ia_answer)} bytes, expected 8"
                )
            line = step1_line(context, r2, r1, r2, r2, terminal)
        except BaseException:
            transport.close()
            raise
        return HsmHold(reader, transport, card, issuer, r2), line, ia_answer.hex().upper()

    def hsm_step2(self, hold: HsmHold, key_hex: str) -> str:
        """Step 2: EXTERNAL AUTHENTICATE with the key service's cryptogram, then EF06;
        the full line. The hold's card is released in every case."""
        try:
            if not _HEX16.fullmatch(key_hex):
                raise UsageError("'pKey' must be the key service's cryptogram, 16 hex digits")
            card = hold.card
            context = card.context(hold.record_issuer)
            AuthCard(card.session, context).external_authenticate(
                RK, bytes.fromhex(key_hex), hold.ea_random
            )
            holder = card.read_holder(LINE_HOLDER_KEYS)
            atr = card.atr
            record = CardholderRecord(atr.raw, atr.historical, hold.record_issuer, holder, None)
            return str(
                line_from_record(
                    record, self.station.terminal_number, self.station.spec.device_number
                )
            )
        finally:
            hold.close()

    # -- PIN -------------------------------------------------------------------------
    def verify_pin(self, reader: str) -> int:
        """``iVerifyPIN`` with the PIN from the PIN pad; the tries left after it."""
        pins = self.station.pin_source()
        with self.station.card(reader) as card:
            card.select_ssse()
            card.verify_pin(pins.get_pin("PIN"))
            return card.pin_tries()

    def change_pin(self, reader: str) -> None:
        """``iChangePIN``: the old PIN, then the new one twice, all from the PIN pad."""
        pins = self.station.pin_source()
        old = pins.get_pin("current PIN")
        new = pins.get_pin("new PIN")
        if pins.get_pin("new PIN again") != new:
            raise UsageError("the two new PINs typed on the PIN pad differ; nothing was changed")
        with self.station.card(reader) as card:
            card.select_ssse()
            card.change_pin(old, new)

    def read_records(self, reader: str) -> list[TransactionRecord]:
        """``iReadTransRecords``: DF04 EF08 after the PIN (from the PIN pad)."""
        pins = self.station.pin_source()
        with self.station.card(reader) as card:
            card.select_ssse()
            card.verify_pin(pins.get_pin("PIN"))
            return card.read_log()


def record_row(record: TransactionRecord) -> dict[str, Any]:
    """One transaction record for the answer's ``records`` list."""
    return {
        "type": record.type.name.lower(),
        "time": record.when.isoformat(),
        "institution": record.institution,
        "amount": f"{record.amount:.2f}",
        "balance": f"{record.balance:.2f}",
        "serial": record.serial,
    }


def record_line(record: TransactionRecord) -> str:
    """One record as a ``|``-terminated line: type|yyyyMMddHHmmss|institution|amount|
    balance|serial| (amounts in yuan with two decimals)."""
    return (
        f"{int(record.type):02d}|{record.when:%Y%m%d%H%M%S}|{record.institution}|"
        f"{record.amount:.2f}|{record.balance:.2f}|{record.serial}|"
    )
