"""The card's security commands (LD/T 32-2015 as in card-spec.md "Security commands").

- VERIFY (00 20): PIN as BCD, F-padded; 63Cx with the tries left, 6983 once
  blocked; no data asks the counter. The counter is decremented and saved
  *before* the PIN is compared (anti-tearing: pulling the card during VERIFY
  never gives a free try), and restored after a correct PIN.
- CHANGE PIN (80 5E 01 00): old PIN || FF || new PIN, with VERIFY's counter rules.
- PIN RELOAD / UNBLOCK (84 24 00 P2): encrypted PIN block + MAC, after EXTERNAL
  AUTHENTICATE with the PUK (key 06); P2 01 reload sets a new PIN and resets the
  counter; P2 00 unblock resets the counter when the PIN block holds the current PIN.
- GET CHALLENGE is in :mod:`sscard_terminal.vcard.cardos`; every challenge is used
  at most once, by EXTERNAL AUTHENTICATE or by a MAC'd command.
- EXTERNAL AUTHENTICATE (00 82 00 KeyID): cryptogram(8) + source(8) [+ key version];
  SK = E(K, last challenge); a wrong cryptogram counts against the key, which locks
  (6983) after the profile's number of failures. Like VERIFY, the attempt is
  counted and saved before the comparison, and cleared after a success.
- INTERNAL AUTHENTICATE (00 88 00 00): process(8) + source(8) -> 8-byte cryptogram
  with the IRK (key 00).
- APPLICATION BLOCK (84 1E 00 01) and CARD BLOCK (84 16 00 00): MAC with the BK
  (key 05); afterwards SSSE answers 9303, or every command 6A81.

MACs use the card's last challenge as the IV (card-spec.md "MAC"), so a MAC'd
command cannot be replayed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any, Protocol

from sscard_terminal.apdu.command import CommandApdu
from sscard_terminal.apdu.status import SW, pin_tries_left, wrong_le
from sscard_terminal.crypto.ciphers import BlockCipher, cipher_for
from sscard_terminal.crypto.computations import (
    auth_cryptogram,
    bcd_to_pin,
    mac,
    mac_input,
    open_pin_block,
)
from sscard_terminal.crypto.keyset import BK, IRK, PUK
from sscard_terminal.vcard.card_status import CardStatus

ALGORITHMS = {0x01: "3des", 0x03: "sm4"}


class SecuredCard(Protocol):
    """What the security commands see of a card (the card OS gives them its
    :class:`~sscard_terminal.vcard.cardos.SecurityView`)."""

    @property
    def df_path(self) -> str: ...

    @property
    def df_algorithm(self) -> int | None: ...

    @property
    def persistent(self) -> Mapping[str, Any]: ...

    def take_challenge(self) -> bytes | None: ...

    def commit_persistent(self, **updates: Any) -> None: ...

    def grant(self, token: str) -> None: ...

    def met_here(self) -> set[str]: ...


def pin_digest(salt: str, pin: str) -> str:
    """What the card keeps of its PIN: a salted SHA-256, never the PIN itself."""
    return hashlib.sha256(f"{salt}:{pin}".encode()).hexdigest()


def _cipher(card: SecuredCard) -> BlockCipher:
    alg = card.df_algorithm
    if alg not in ALGORITHMS:
        raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
    return cipher_for(ALGORITHMS[alg])


def _key(card: SecuredCard, key_id: int) -> bytes:
    keys = card.persistent.get("keys", {}).get(card.df_path, {})
    value = keys.get(f"{key_id:02X}")
    if value is None:
        raise CardStatus(SW.REFERENCED_DATA_NOT_FOUND)
    return bytes.fromhex(value)


def _take_challenge(card: SecuredCard) -> bytes:
    challenge = card.take_challenge()  # used at most once, whatever the outcome
    if challenge is None:
        raise CardStatus(SW.REFERENCE_DATA_NOT_USABLE)
    return challenge


def _check_mac(card: SecuredCard, apdu: CommandApdu, key_id: int) -> bytes:
    """Check the trailing 4-byte MAC; return the data before it."""
    if len(apdu.data) < 4:
        raise CardStatus(SW.WRONG_LENGTH)
    challenge = _take_challenge(card)
    body, given = apdu.data[:-4], apdu.data[-4:]
    expected = mac(_cipher(card), _key(card, key_id), challenge, mac_input(apdu.header, body))
    if not hmac.compare_digest(given, expected):
        raise CardStatus(SW.MAC_INVALID)
    return body


# -- PIN ----------------------------------------------------------------------
def _tries(card: SecuredCard) -> int:
    return int(card.persistent.get("pin_tries_left", 0))


def _check_pin(card: SecuredCard, pin: str | None) -> None:
    """VERIFY's counter discipline: decrement and save first, compare, restore."""
    tries = _tries(card)
    if tries <= 0:
        raise CardStatus(SW.AUTH_METHOD_BLOCKED)
    persistent = card.persistent
    card.commit_persistent(pin_tries_left=tries - 1)
    if pin is not None and hmac.compare_digest(
        pin_digest(persistent["pin_salt"], pin), persistent["pin_digest"]
    ):
        card.commit_persistent(pin_tries_left=int(persistent["pin_tries_max"]))
        return
    left = tries - 1
    raise CardStatus(pin_tries_left(left) if left else SW.AUTH_METHOD_BLOCKED)


def verify(card: SecuredCard, apdu: CommandApdu) -> bytes:
    if apdu.p1 != 0x00 or apdu.p2 != 0x00:
        raise CardStatus(SW.INCORRECT_P1_P2)
    if not apdu.data:
        # no PIN data: the counter (card-spec.md: 00 20 00 00 and 00 20 00 00 00)
        tries = _tries(card)
        raise CardStatus(pin_tries_left(tries) if tries else SW.AUTH_METHOD_BLOCKED)
    if not 2 <= len(apdu.data) <= 8 or apdu.ne is not None:
        raise CardStatus(SW.WRONG_LENGTH)
    _check_pin(card, bcd_to_pin(apdu.data))
    card.grant("pin")
    return b""


def change_pin(card: SecuredCard, apdu: CommandApdu) -> bytes:
    if apdu.p1 != 0x01 or apdu.p2 != 0x00:
        raise CardStatus(SW.INCORRECT_P1_P2)
    parts = apdu.data.split(b"\xff")
    if len(parts) != 2 or not 2 <= len(parts[0]) <= 8 or not 2 <= len(parts[1]) <= 8:
        raise CardStatus(SW.WRONG_LENGTH)
    new_pin = bcd_to_pin(parts[1])
    if new_pin is None:
        raise CardStatus(SW.INCORRECT_DATA)
    _check_pin(card, bcd_to_pin(parts[0]))
    salt = card.persistent["pin_salt"]
    card.commit_persistent(pin_digest=pin_digest(salt, new_pin))
    card.grant("pin")
    return b""


def reload_pin(card: SecuredCard, apdu: CommandApdu) -> bytes:
    """84 24 00 P2: P2 00 unblock (the block holds the current PIN), 01 reload."""
    if apdu.p1 != 0x00 or apdu.p2 not in (0x00, 0x01):
        raise CardStatus(SW.INCORRECT_P1_P2)
    if "key:06" not in card.met_here():
        raise CardStatus(SW.SECURITY_STATUS_NOT_SATISFIED)
    block = _check_mac(card, apdu, PUK)
    cipher = _cipher(card)
    if not block or len(block) % cipher.block_size:
        raise CardStatus(SW.WRONG_LENGTH)
    pin = open_pin_block(cipher, _key(card, PUK), block)
    if pin is None:
        raise CardStatus(SW.INCORRECT_DATA)
    persistent = card.persistent
    salt = persistent["pin_salt"]
    if apdu.p2 == 0x00:
        if not hmac.compare_digest(pin_digest(salt, pin), persistent["pin_digest"]):
            raise CardStatus(SW.INCORRECT_DATA)
        card.commit_persistent(pin_tries_left=int(persistent["pin_tries_max"]))
    else:
        card.commit_persistent(
            pin_digest=pin_digest(salt, pin), pin_tries_left=int(persistent["pin_tries_max"])
        )
    return b""


# -- authentication -------------------------------------------------------------
def _key_errors(card: SecuredCard, key_id: int) -> tuple[str, int]:
    name = f"{card.df_path}:{key_id:02X}"
    return name, int(card.persistent.get("key_errors", {}).get(name, 0))


def external_authenticate(card: SecuredCard, apdu: CommandApdu) -> bytes:
    if apdu.p1 != 0x00:
        raise CardStatus(SW.INCORRECT_P1_P2)
    if len(apdu.data) not in (16, 17) or apdu.ne is not None:
        raise CardStatus(SW.WRONG_LENGTH)
    key_id = apdu.p2
    challenge = _take_challenge(card)
    key = _key(card, key_id)
    name, errors = _key_errors(card, key_id)
    limit = int(card.persistent.get("key_tries", 5))
    if errors >= limit:
        raise CardStatus(SW.AUTH_METHOD_BLOCKED)
    given, source = apdu.data[:8], apdu.data[8:16]
    expected = auth_cryptogram(_cipher(card), key, challenge, source)
    # counter first, as VERIFY does: the failure is saved before the comparison
    # decides, so pulling the card at any moment never spares an attempt
    table = dict(card.persistent.get("key_errors", {}))
    table[name] = errors + 1
    card.commit_persistent(key_errors=table)
    if not hmac.compare_digest(given, expected):
        left = limit - errors - 1
        raise CardStatus(pin_tries_left(left) if left else SW.AUTH_METHOD_BLOCKED)
    card.commit_persistent(key_errors={k: v for k, v in table.items() if k != name})
    card.grant(f"key:{key_id:02X}")
    return b""


def internal_authenticate(card: SecuredCard, apdu: CommandApdu) -> bytes:
    if apdu.p1 != 0x00 or apdu.p2 != 0x00:
        raise CardStatus(SW.INCORRECT_P1_P2)
    if len(apdu.data) != 16:
        raise CardStatus(SW.WRONG_LENGTH)
    if apdu.ne is not None and apdu.ne != 8:
        raise CardStatus(wrong_le(8))
    return auth_cryptogram(_cipher(card), _key(card, IRK), apdu.data[:8], apdu.data[8:])


# -- lifecycle ----------------------------------------------------------------
def application_block(card: SecuredCard, apdu: CommandApdu) -> bytes:
    if apdu.p1 != 0x00 or apdu.p2 != 0x01:
        raise CardStatus(SW.INCORRECT_P1_P2)
    if len(apdu.data) != 4:
        raise CardStatus(SW.WRONG_LENGTH)
    if not card.df_path.startswith("MF/SSSE"):
        raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
    _check_mac(card, apdu, BK)
    card.commit_persistent(application_blocked=True)
    return b""


def card_block(card: SecuredCard, apdu: CommandApdu) -> bytes:
    if apdu.p1 != 0x00 or apdu.p2 != 0x00:
        raise CardStatus(SW.INCORRECT_P1_P2)
    if len(apdu.data) != 4:
        raise CardStatus(SW.WRONG_LENGTH)
    _check_mac(card, apdu, BK)
    card.commit_persistent(card_blocked=True)
    return b""
