"""What each exported function does, on the driver's public functions.

One :class:`NativeDriver` per loaded library. Each method takes the call's
configuration and arguments, returns the text for the caller's buffer and
raises this package's errors; :mod:`sscard_terminal.native.exports` turns those
into the vendors' return codes and holds the lock that serialises the calls.

- ``iReadCardBas``: the national line (card-spec.md "The national reader
  interface"), the same read as ``sscard read --line``
  (:func:`~sscard_terminal.driver.national.read_national_line`), with the
  configured security module. A 3.0 card read without one is refused with
  -2201 "no PSAM", which callers take as the sign to use the key-service
  steps.
- ``iReadCardBas_HSM_Step1`` / ``Step2``: the key-service (HSM) mode of
  card-spec.md, with the calling program carrying step 1's line to the key
  service and its answer back. The card connection stays open between the two
  steps (the card's challenge lives only as long as it).
- ``iVerifyPIN`` / ``iChangePIN``: the PIN comes from the PIN pad
  (:mod:`sscard_terminal.driver.pin`), never from the caller.

``iType`` (1 contact, 2 contactless, 3 and 4 search) must be 1..4; the card is
looked for in the configured reader whatever its value.
"""

from __future__ import annotations

import os
import re
from contextlib import ExitStack
from dataclasses import dataclass

from sscard_terminal.codecs.atr import Atr
from sscard_terminal.crypto.keyset import RK, key_set_file
from sscard_terminal.driver.cardholder import CardholderRecord, IssuerData
from sscard_terminal.driver.discovery import open_reader
from sscard_terminal.driver.keyservice_client import KeyServiceSam, step1_line
from sscard_terminal.driver.national import (
    LINE_HOLDER_KEYS,
    LINE_ISSUER_KEYS,
    line_from_record,
)
from sscard_terminal.driver.pin import Pin, PinSource, PromptPin, SimulatedPinPad
from sscard_terminal.driver.psam import PsamSam
from sscard_terminal.driver.sam import AuthCard, SecurityModule, SoftwareSam
from sscard_terminal.driver.sscard import SocialSecurityCard
from sscard_terminal.errors import TransportError, UsageError
from sscard_terminal.native.codes import ConfigError, NativeError, ReturnCode
from sscard_terminal.native.config import DriverConfig
from sscard_terminal.terminal.station import ENV_KEYSERVICE_TOKEN
from sscard_terminal.transport.base import Transport

#: an iReadCardBas_HSM_Step2 pKey: the key service's cryptogram, 16 hex digits
#: (an 8-byte EXTERNAL AUTHENTICATE cryptogram), optionally followed by "|"
_PKEY = re.compile(r"([0-9A-Fa-f]{16})\|?")
#: the bytes of pKey read at most (a C string the caller may not terminate)
PKEY_MAX = 256

_STEP1_ISSUER_KEYS = (*LINE_ISSUER_KEYS, "card_id_code", "spec_version")


def check_itype(itype: int) -> None:
    if itype not in (1, 2, 3, 4):
        raise NativeError(
            ReturnCode.CARD_TYPE,
            f"iType {itype} is not a card type",
            hint="1 contact, 2 contactless, 3 or 4 search",
        )


def open_security_module(config: DriverConfig) -> SecurityModule | None:
    """The configured security module (None for ``none``); a PSAM that is not
    there is -2201."""
    if config.sam == "none":
        return None
    if config.sam == "psam":
        try:
            return PsamSam.open(config.sam_reader)
        except TransportError as exc:
            raise NativeError(
                ReturnCode.NO_PSAM,
                f"no PSAM in {config.sam_reader!r} ({exc})",
                hint="insert the PSAM, or check [sam] reader",
            ) from None
    if config.sam == "software":
        key_file = key_set_file(config.key_file)
        try:
            return SoftwareSam.from_file(key_file, config.terminal_number)
        except (OSError, UsageError) as exc:
            raise ConfigError(f"[sam] key_file {config.key_file!r}: {exc}") from None
    assert config.keyservice_url is not None  # checked by the configuration
    # the terminal's bearer token, as for `sscard --sam keyservice`: from the
    # calling program's environment, never from the ini file
    return KeyServiceSam(
        config.keyservice_url,
        config.terminal_number,
        timeout=config.keyservice_timeout,
        token=os.environ.get(ENV_KEYSERVICE_TOKEN) or None,
    )


def pin_source(config: DriverConfig) -> PinSource:
    """The configured PIN pad. The simulated pad's file is read at every call:
    its lines are the entries typed for that call (a change takes three)."""
    if config.pinpad == "terminal":
        return PromptPin()
    if not config.pinpad_file:
        raise ConfigError(
            f"{config.source or 'the configuration'}: [pinpad] kind = simulated needs [pinpad] file"
        )
    try:
        with open(config.pinpad_file, encoding="ascii") as fh:
            entries = [line.strip() for line in fh if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        cause = exc.strerror if isinstance(exc, OSError) else "not ASCII"
        raise ConfigError(f"cannot read the PIN-pad file {config.pinpad_file}: {cause}") from None
    return _CheckedPad(entries)


class _CheckedPad:
    """The simulated PIN pad, its entries checked when typed (-33 for a wrong
    length, -31 when it has nothing left to type)."""

    def __init__(self, entries: list[str]) -> None:
        self._entries = entries

    def get_pin(self, purpose: str) -> Pin:
        if not self._entries:
            raise NativeError(ReturnCode.PIN_CANCELLED, f"no {purpose} was entered on the PIN pad")
        try:
            return SimulatedPinPad([self._entries.pop(0)]).get_pin(purpose)
        except UsageError:
            raise NativeError(
                ReturnCode.PIN_LENGTH, f"the {purpose} entered is not 4 to 12 digits"
            ) from None


@dataclass
class HsmSession:
    """Step 1's card, kept open for step 2."""

    transport: Transport
    card: SocialSecurityCard
    auth: AuthCard
    issuer: IssuerData
    #: the card's last challenge, which EXTERNAL AUTHENTICATE uses
    challenge: bytes

    def close(self) -> None:
        self.transport.close()


class NativeDriver:
    """The state of one loaded library: the key-service step 1 awaiting step 2."""

    def __init__(self) -> None:
        self._hsm: HsmSession | None = None

    # -- iReadCardBas -----------------------------------------------------------
    def read_card_bas(self, config: DriverConfig, itype: int) -> str:
        check_itype(itype)
        self.end_hsm()
        with ExitStack() as stack:
            sam = open_security_module(config)
            if sam is not None:
                stack.callback(sam.close)
            transport = stack.enter_context(open_reader(config.reader))
            card = SocialSecurityCard(transport)
            record = card.read(LINE_ISSUER_KEYS, LINE_HOLDER_KEYS, sam=sam)
            if record.holder is None and record.issuer.generation == 3:
                raise NativeError(
                    ReturnCode.NO_PSAM,
                    "a 3.0 card's EF06 needs a security module and none is configured",
                    hint="set [sam] kind, or use iReadCardBas_HSM_Step1 and Step2",
                )
            terminal = sam.terminal_number if sam is not None else config.terminal_number
            return str(line_from_record(record, terminal, config.device_number))

    # -- the key-service (HSM) steps ---------------------------------------------
    def hsm_step1(self, config: DriverConfig, itype: int) -> str:
        """SELECT SSSE, EF05, two challenges R1 and R2, INTERNAL AUTHENTICATE with
        R2 as process factor and R1 as source (the key service's binding,
        :mod:`sscard_terminal.driver.keyservice_client`); the line
        ``region|ATR|algorithm|card id code|IA process|IA source|EA process|EA source|``
        ``terminal no|IA answer|``: card-spec.md's nine items, then this project's
        tenth, the card's INTERNAL AUTHENTICATE answer."""
        check_itype(itype)
        self.end_hsm()
        transport = open_reader(config.reader)
        try:
            card = SocialSecurityCard(transport)
            card.select_ssse()
            issuer = card.read_issuer(_STEP1_ISSUER_KEYS)
            if issuer.generation != 3:
                raise NativeError(
                    ReturnCode.HSM_NOT_NEEDED,
                    f"a {issuer.spec_version or 'pre-3.0'} card needs no key service",
                    hint="read it with iReadCardBas",
                )
            auth = AuthCard(card.session, card.context(issuer))
            r1 = auth.get_challenge(8)
            r2 = auth.get_challenge(8)
            answer = auth.internal_authenticate(r2, r1)
            line = step1_line(auth.context, r2, r1, r2, r2, config.terminal_number)
        except BaseException:
            transport.close()
            raise
        self._hsm = HsmSession(transport, card, auth, issuer, r2)
        return f"{line}{answer.hex().upper()}|"

    def hsm_step2(self, config: DriverConfig, key: bytes | None) -> str:
        """EXTERNAL AUTHENTICATE with RKSSSE and the key service's cryptogram, then
        EF06 and the line, as ``iReadCardBas``. Step 1's card is closed after it,
        whatever the outcome."""
        session, self._hsm = self._hsm, None
        if session is None:
            raise NativeError(
                ReturnCode.NOT_CONNECTED,
                "no card is waiting for step 2",
                hint="call iReadCardBas_HSM_Step1 first",
            )
        try:
            if key is None:
                raise NativeError(ReturnCode.PARAMETER, "pKey is NULL")
            match = _PKEY.fullmatch(key.decode("ascii", errors="replace").strip())
            if match is None:
                raise NativeError(
                    ReturnCode.PARAMETER,
                    "pKey must be the key service's cryptogram: 16 hex digits",
                )
            session.auth.external_authenticate(RK, bytes.fromhex(match.group(1)), session.challenge)
            holder = session.card.read_holder(LINE_HOLDER_KEYS)
            atr = Atr.parse(session.transport.atr)
            record = CardholderRecord(atr.raw, atr.historical, session.issuer, holder)
            return str(line_from_record(record, config.terminal_number, config.device_number))
        finally:
            session.close()

    def end_hsm(self) -> None:
        """Forget a step 1 left without its step 2 (any other call ends it)."""
        session, self._hsm = self._hsm, None
        if session is not None:
            session.close()

    # -- PIN ---------------------------------------------------------------------
    def verify_pin(self, config: DriverConfig, itype: int) -> str:
        check_itype(itype)
        self.end_hsm()
        source = pin_source(config)
        with open_reader(config.reader) as transport:
            card = SocialSecurityCard(transport)
            card.select_ssse()
            card.verify_pin(source.get_pin("PIN"))
        return ""

    def change_pin(self, config: DriverConfig, itype: int) -> str:
        check_itype(itype)
        self.end_hsm()
        source = pin_source(config)
        with open_reader(config.reader) as transport:
            card = SocialSecurityCard(transport)
            card.select_ssse()
            old = source.get_pin("current PIN")
            new = source.get_pin("new PIN")
            if source.get_pin("new PIN again") != new:
                raise NativeError(
                    ReturnCode.PIN_MISMATCH, "the two new PINs differ; nothing was changed"
                )
            card.change_pin(old, new)
        return ""

    # -- iGetReaderInfo -------------------------------------------------------------
    def reader_info(self, config: DriverConfig) -> tuple[str, str]:
        """(the card reader's PC/SC name, the terminal number): the PSAM's EF 0016
        with ``[sam] kind = psam``, else ``[terminal] number``."""
        self.end_hsm()
        with ExitStack() as stack:
            sam = open_security_module(config) if config.sam == "psam" else None
            if sam is not None:
                stack.callback(sam.close)
            transport = stack.enter_context(open_reader(config.reader))
            name = getattr(transport, "reader_name", None) or config.reader or ""
            terminal = sam.terminal_number if sam is not None else config.terminal_number
            return name, terminal
