"""Security modules: what computes the terminal's side of card authentication.

A :class:`SecurityModule` authenticates the terminal to a card for one card
key (EXTERNAL AUTHENTICATE, card-spec.md "Security commands") by driving the
card through :class:`AuthCard`. Three implementations:

- :class:`SoftwareSam`: keys from a test key-set file (this module);
- ``PsamSam``: a PSAM card over PC/SC (:mod:`sscard_terminal.driver.psam`);
- ``KeyServiceSam``: the key service's two-step mode over HTTP
  (:mod:`sscard_terminal.driver.keyservice_client`).

Chosen by name with :func:`~sscard_terminal.driver.security_modules.open_security_module`
(``software``, ``pcsc``, ``keyservice``). No module ever logs a key, a session key or a cryptogram.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from sscard_terminal.apdu.command import CommandApdu
from sscard_terminal.crypto.ciphers import cipher_for
from sscard_terminal.crypto.computations import auth_cryptogram, mac, mac_input, pin_block
from sscard_terminal.crypto.keyset import KeySet, card_key, load_key_set
from sscard_terminal.driver.session import CardSession


@dataclass(frozen=True)
class CardContext:
    """What a security module knows of the card: all public, read from ATR and EF05."""

    atr: bytes
    #: ATR historical bytes 6..13
    card_factor: bytes
    #: the 6-digit region (first 6 digits of the card identification code)
    region: str
    card_id_code: str
    #: "3des" or "sm4" (EF05 spec version / FCI tag 9F0C)
    algorithm: str


class AuthCard:
    """The card-side steps of authentication, over the driver's session."""

    def __init__(self, session: CardSession, context: CardContext) -> None:
        self.session = session
        self.context = context

    def get_challenge(self, n: int = 8) -> bytes:
        return self.session.send(CommandApdu(0x00, 0x84, 0x00, 0x00, ne=n), what="GET CHALLENGE")

    def internal_authenticate(self, process: bytes, source: bytes) -> bytes:
        apdu = CommandApdu(0x00, 0x88, 0x00, 0x00, process + source)
        return self.session.send(apdu, what="INTERNAL AUTHENTICATE")

    def external_authenticate(self, key_id: int, cryptogram: bytes, source: bytes) -> None:
        data = cryptogram + source
        if self.context.algorithm == "sm4":
            data += b"\x01"  # key version (Lc 11, card-spec.md PSAM flow step 5)
        self.session.send(
            CommandApdu(0x00, 0x82, 0x00, key_id, data),
            what=f"EXTERNAL AUTHENTICATE key {key_id:02X}",
        )

    def send_maced(self, header: bytes, body: bytes, mac4: bytes) -> None:
        apdu = CommandApdu(header[0], header[1], header[2], header[3], body + mac4)
        self.session.send(apdu, what=f"{header[:2].hex().upper()} with MAC")


@runtime_checkable
class SecurityModule(Protocol):
    name: str

    @property
    def terminal_number(self) -> str:
        """The terminal number (PSAM EF 0016), or "" when this module has none."""
        ...

    def authenticate(self, card: AuthCard, key_id: int) -> None:
        """Run EXTERNAL AUTHENTICATE with card key ``key_id``; raise if refused."""
        ...

    def close(self) -> None: ...


class SoftwareSam:
    """Keys from a test key-set file; the card's keys are diversified in software.

    Also computes issuer-side operations that need the card's own keys (PIN
    block and MAC of PIN RELOAD/UNBLOCK, APPLICATION/CARD BLOCK).
    """

    name = "software"

    def __init__(self, key_set: KeySet, terminal_number: str = "") -> None:
        self.key_set = key_set
        self._terminal_number = terminal_number

    @classmethod
    def from_file(cls, path: str | Path, terminal_number: str = "") -> SoftwareSam:
        return cls(load_key_set(Path(path)), terminal_number)

    @property
    def terminal_number(self) -> str:
        return self._terminal_number

    def _card_key(self, ctx: CardContext, key_id: int) -> bytes:
        cipher = cipher_for(ctx.algorithm)
        return card_key(cipher, self.key_set.master(key_id), ctx.card_factor, ctx.region)

    def authenticate(self, card: AuthCard, key_id: int) -> None:
        ctx = card.context
        challenge = card.get_challenge(8)
        cipher = cipher_for(ctx.algorithm)
        crypt = auth_cryptogram(cipher, self._card_key(ctx, key_id), challenge, challenge)
        card.external_authenticate(key_id, crypt, challenge)

    def maced_command(self, card: AuthCard, header: bytes, body: bytes, key_id: int) -> None:
        """Send ``header || Lc || body || MAC`` with the MAC of card-spec.md (IV = a
        fresh challenge)."""
        ctx = card.context
        challenge = card.get_challenge(8)
        cipher = cipher_for(ctx.algorithm)
        m = mac(cipher, self._card_key(ctx, key_id), challenge, mac_input(header, body))
        card.send_maced(header, body, m)

    def encrypted_pin(self, ctx: CardContext, key_id: int, pin: str) -> bytes:
        return pin_block(cipher_for(ctx.algorithm), self._card_key(ctx, key_id), pin)

    def close(self) -> None:
        return None
