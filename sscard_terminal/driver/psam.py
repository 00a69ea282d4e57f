"""A PSAM card as the terminal's security module, over any transport (PC/SC in a kiosk).

:class:`PsamSam` implements :class:`~sscard_terminal.driver.sam.SecurityModule`
with a PSAM in the terminal's SAM slot, following card-spec.md "PSAM"
(external authentication of the terminal to a card via the PSAM):

1. card ``00 84 00 00 08`` -> R;
2. PSAM ``00 A4 04 00 06 D15600000590`` (done once, when the PSAM is opened);
3. PSAM ``BF DE 48 <PSAM key ID> Lc`` + card factor + city factor + R
   (3DES, Lc 18) or R || 00 x 8 (SM4, Lc 20): 2 diversification levels, key
   type 08;
4. PSAM ``80 FA 00 00 Lc`` + R [|| 00 x 8] -> 61xx, GET RESPONSE -> C
   (3DES: the 8 bytes; SM4: left8 XOR right8 of the 16 bytes);
5. card ``00 82 00 <card key ID> Lc`` + C + R [+ key version].

The card factor is the ATR's historical bytes 6..13 and the city factor that of
the card's region (Zhejiang rule included, :func:`~sscard_terminal.crypto.keyset.city_factor`),
in the order the card's keys were diversified at personalisation.

Which PSAM key ID stands for which card key is public metadata (``psam_key_id``
in the test key set; card-spec.md's example uses PSAM key 12 for UKSSSE, card
key 04). :func:`psam_key_ids` reads only that mapping from a key-set file; a
deployment passes its own mapping. 61xx/6Cxx are resolved by
:class:`~sscard_terminal.driver.session.CardSession`, not here.

When the PSAM is opened it is reset (MF current), its terminal number is read
from EF 0016 (``00 B0 96 00 06``) and its serial from EF 0015
(``00 B0 95 01 0A``), both in the MF, then its ADF is selected. Nothing here
logs a factor, a random, a cryptogram or a key.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import TracebackType
from typing import Self

from sscard_terminal.apdu.command import CommandApdu
from sscard_terminal.crypto.keyset import city_factor, load_key_set, resolve_key_set_path
from sscard_terminal.driver.sam import AuthCard
from sscard_terminal.driver.session import CardSession
from sscard_terminal.errors import CardResetError, CorruptResponseError, UsageError
from sscard_terminal.shipped import DEFAULT_KEY_SET
from sscard_terminal.transport.base import DEFAULT_TRANSPORT, Transport, open_transport

log = logging.getLogger(__name__)

#: vpcd's second reader, where ``sscard card serve --profile psam-ningbo --slot 1`` serves
DEFAULT_PSAM_READER = "Virtual PCD 00 01"
#: the PSAM application (card-spec.md "PSAM")
PSAM_AID = bytes.fromhex("D15600000590")
#: DELIVERY SESSION KEY P1: 2 diversification levels (card, city), key type 08
DELIVERY_P1 = (2 << 5) | 0x08


def psam_key_ids(key_set: str = DEFAULT_KEY_SET) -> dict[int, int]:
    """{card key ID: PSAM key ID} from a test key-set file, by name.

    Only the public mapping leaves this function, never a key value.
    """
    keys = load_key_set(resolve_key_set_path(key_set))
    return {int(entry.id, 16): int(entry.psam_key_id, 16) for entry in keys.keys}


def _xor_halves(block: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(block[:8], block[8:], strict=True))


class _PsamWasReset(Exception):
    """The PSAM (not the user card) was reset by another program."""


class PsamSam:
    """A PSAM behind a transport; use :meth:`open` for PC/SC or :meth:`on_transport`."""

    name = "pcsc"

    def __init__(
        self,
        transport: Transport,
        key_ids: Mapping[int, int],
        *,
        init_environment: bool = False,
    ) -> None:
        """Wrap a *connected* transport to the PSAM; call :meth:`start` before use.

        ``key_ids`` maps card key IDs to PSAM key IDs. With ``init_environment``
        every authentication first sends INIT ENVIRONMENT (``BF EC 00 00 01`` +
        the first byte of the card identification code), for PSAMs that need it.
        """
        self.transport = transport
        self.session = CardSession(transport)
        self.key_ids = dict(key_ids)
        self.init_environment = init_environment
        self._terminal_number = ""
        self._serial = b""

    # -- opening ---------------------------------------------------------------
    @classmethod
    def on_transport(
        cls,
        transport: Transport,
        *,
        key_ids: Mapping[int, int] | None = None,
        key_set: str = DEFAULT_KEY_SET,
        init_environment: bool = False,
    ) -> PsamSam:
        """Connect ``transport``, read the PSAM's public files and select its ADF.

        Without ``key_ids`` the mapping comes from the key set ``key_set``.
        The transport is closed again when this fails.
        """
        transport.connect()
        try:
            sam = cls(
                transport,
                psam_key_ids(key_set) if key_ids is None else key_ids,
                init_environment=init_environment,
            )
            sam.start()
        except BaseException:
            transport.close()
            raise
        return sam

    @classmethod
    def open(
        cls,
        reader: str | None = None,
        *,
        key_ids: Mapping[int, int] | None = None,
        key_set: str = DEFAULT_KEY_SET,
        init_environment: bool = False,
        transport: str = DEFAULT_TRANSPORT,
    ) -> PsamSam:
        """The PSAM in PC/SC reader ``reader`` (default "Virtual PCD 00 01"; in a kiosk,
        the SAM slot's reader name or a unique part of it)."""
        opened = open_transport(transport, reader=reader or DEFAULT_PSAM_READER)
        return cls.on_transport(
            opened, key_ids=key_ids, key_set=key_set, init_environment=init_environment
        )

    def start(self) -> None:
        """Reset the PSAM, read EF 0016 and EF 0015 in its MF, select its ADF."""
        self.transport.reset()
        raw = self.session.send(CommandApdu(0x00, 0xB0, 0x96, 0x00, ne=6), what="READ EF 0016")
        digits = raw.hex().upper().rstrip("F")
        if len(raw) != 6 or not digits.isdigit():
            raise CorruptResponseError("the PSAM's terminal number (EF 0016) is not BCD digits")
        self._terminal_number = digits
        self._serial = self.session.send(
            CommandApdu(0x00, 0xB0, 0x95, 0x01, ne=10), what="READ EF 0015"
        )
        self.select_application()

    def select_application(self) -> None:
        """SELECT the PSAM's ADF by AID (``00 A4 04 00 06 D15600000590``), FCI not fetched."""
        self.session.send(
            CommandApdu(0x00, 0xA4, 0x04, 0x00, PSAM_AID), what="SELECT PSAM ADF", fetch=False
        )

    # -- the SecurityModule protocol ------------------------------------------
    @property
    def terminal_number(self) -> str:
        """The terminal number of PSAM EF 0016, as digits."""
        return self._terminal_number

    @property
    def serial(self) -> str:
        """Issuer + PSAM serial of EF 0015 (bytes 1..10), as hex digits."""
        return self._serial.hex().upper()

    def authenticate(self, card: AuthCard, key_id: int) -> None:
        """EXTERNAL AUTHENTICATE ``card`` with card key ``key_id`` via the PSAM.

        A PSAM reset by another program sharing its reader (PC/SC
        SCARD_W_RESET_CARD) has lost its selected ADF: it is started again
        (:meth:`start`) and the authentication is done once more, with a new
        challenge of the card."""
        try:
            self._authenticate(card, key_id)
        except _PsamWasReset:
            log.info("PSAM: reset by another program; starting it again")
            self.start()
            self._authenticate(card, key_id)

    def _psam(self, apdu: CommandApdu, what: str) -> bytes:
        """One APDU to the PSAM; its reset by another program is told apart
        from the user card's."""
        try:
            return self.session.send(apdu, what=what)
        except CardResetError:
            raise _PsamWasReset from None

    def _authenticate(self, card: AuthCard, key_id: int) -> None:
        ctx = card.context
        psam_key = self.key_ids.get(key_id)
        if psam_key is None:
            raise UsageError(f"no PSAM key is known for card key {key_id:02X}")
        if ctx.algorithm not in ("3des", "sm4"):
            raise UsageError(f"the PSAM cannot serve a card with algorithm {ctx.algorithm!r}")
        if len(ctx.card_factor) != 8:
            raise CorruptResponseError("the card factor (ATR historical bytes 6..13) is missing")
        challenge = card.get_challenge(8)
        if len(challenge) != 8:
            raise CorruptResponseError(f"the card gave a {len(challenge)}-byte challenge, not 8")
        process = challenge if ctx.algorithm == "3des" else challenge + bytes(8)
        if self.init_environment:
            self._psam(
                CommandApdu(0xBF, 0xEC, 0x00, 0x00, bytes.fromhex(ctx.card_id_code[:2])),
                "INIT ENVIRONMENT",
            )
        factors = ctx.card_factor + city_factor(ctx.region)
        log.debug("PSAM: authenticating with PSAM key %02X for card key %02X", psam_key, key_id)
        self._psam(
            CommandApdu(0xBF, 0xDE, DELIVERY_P1, psam_key, factors + process),
            f"DELIVERY SESSION KEY (PSAM key {psam_key:02X})",
        )
        block = self._psam(CommandApdu(0x80, 0xFA, 0x00, 0x00, process), "CIPHER DATA")
        if len(block) != len(process):
            raise CorruptResponseError(
                f"the PSAM's CIPHER DATA gave {len(block)} bytes, not {len(process)}"
            )
        cryptogram = block if len(block) == 8 else _xor_halves(block)
        card.external_authenticate(key_id, cryptogram, challenge)

    def close(self) -> None:
        """Close the connection to the PSAM (it is reset: the session key is gone)."""
        self.transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
