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
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from sscard_terminal.vcard.cardos import CardOS

ALGORITHMS = {0x01: "3des", 0x03: "sm4"}


def _status(sw: int) -> Exception:
    from sscard_terminal.vcard.cardos import CardStatus

    return CardStatus(sw)


def pin_digest(salt: str, pin: str) -> str:
    """What the card keeps of its PIN: a salted SHA-256, never the PIN itself."""
    return hashlib.sha256(f"{salt}:{pin}".encode()).hexdigest()


def _cipher(card: CardOS) -> BlockCipher:
    alg = card._state.current_df.algorithm
    if alg not in ALGORITHMS:
        raise _status(SW.CONDITIONS_NOT_SATISFIED)
    return cipher_for(ALGORITHMS[alg])


def _key(card: CardOS, key_id: int) -> bytes:
    keys = card.image.persistent.get("keys", {}).get(card._state.current_df.path, {})
    value = keys.get(f"{key_id:02X}")
    if value is None:
        raise _status(SW.REFERENCED_DATA_NOT_FOUND)
    return bytes.fromhex(value)


def _take_challenge(card: CardOS) -> bytes:
    challenge = card._state.challenge
    card._state.challenge = None  # used at most once, whatever the outcome
    if challenge is None:
        raise _status(SW.REFERENCE_DATA_NOT_USABLE)
    return challenge


def _check_mac(card: CardOS, apdu: CommandApdu, key_id: int) -> bytes:
    """Check the trailing 4-byte MAC; return the data before it."""
    if len(apdu.data) < 4:
        raise _status(SW.WRONG_LENGTH)
    challenge = _take_challenge(card)
    body, given = apdu.data[:-4], apdu.data[-4:]
    expected = mac(_cipher(card), _key(card, key_id), challenge, mac_input(apdu.header, body))
    if not hmac.compare_digest(given, expected):
        raise _status(SW.MAC_INVALID)
    return body


# -- PIN ----------------------------------------------------------------------
def _tries(card: CardOS) -> int:
    return int(card.image.persistent.get("pin_tries_left", 0))


def _check_pin(card: CardOS, pin: str | None) -> None:
    """VERIFY's counter discipline: decrement and save first, compare, restore."""
    tries = _tries(card)
    if tries <= 0:
        raise _status(SW.AUTH_METHOD_BLOCKED)
    persistent = card.image.persistent
    card._commit_persistent(pin_tries_left=tries - 1)
    if pin is not None and hmac.compare_digest(
        pin_digest(persistent["pin_salt"], pin), persistent["pin_digest"]
    ):
        card._commit_persistent(pin_tries_left=int(persistent["pin_tries_max"]))
        return
    left = tries - 1
    raise _status(pin_tries_left(left) if left else SW.AUTH_METHOD_BLOCKED)


def verify(card: CardOS, apdu: CommandApdu) -> bytes:
    if apdu.p1 != 0x00 or apdu.p2 != 0x00:
        raise _status(SW.INCORRECT_P1_P2)
    if not apdu.data:
        # no PIN data: the counter (card-spec.md: 00 20 00 00 and 00 20 00 00 00)
        tries = _tries(card)
        raise _status(pin_tries_left(tries) if tries else SW.AUTH_METHOD_BLOCKED)
    if not 2 <= len(apdu.data) <= 8 or apdu.ne is not None:
        raise _status(SW.WRONG_LENGTH)
    _check_pin(card, bcd_to_pin(apdu.data))
    card._grant("pin")
    return b""


def change_pin(card: CardOS, apdu: CommandApdu) -> bytes:
    if apdu.p1 != 0x01 or apdu.p2 != 0x00:
        raise _status(SW.INCORRECT_P1_P2)
    parts = apdu.data.split(b"\xff")
    if len(parts) != 2 or not 2 <= len(parts[0]) <= 8 or not 2 <= len(parts[1]) <= 8:
        raise _status(SW.WRONG_LENGTH)
    new_pin = bcd_to_pin(parts[1])
    if new_pin is None:
        raise _status(SW.INCORRECT_DATA)
    _check_pin(card, bcd_to_pin(parts[0]))
    salt = card.image.persistent["pin_salt"]
    card._commit_persistent(pin_digest=pin_digest(salt, new_pin))
    card._grant("pin")
    return b""


def reload_pin(card: CardOS, apdu: CommandApdu) -> bytes:
    """84 24 00 P2: P2 00 unblock (the block holds the current PIN), 01 reload."""
    if apdu.p1 != 0x00 or apdu.p2 not in (0x00, 0x01):
        raise _status(SW.INCORRECT_P1_P2)
    if "key:06" not in card._met_here():
        raise _status(SW.SECURITY_STATUS_NOT_SATISFIED)
    block = _check_mac(card, apdu, PUK)
    cipher = _cipher(card)
    if not block or len(block) % cipher.block_size:
        raise _status(SW.WRONG_LENGTH)
    pin = open_pin_block(cipher, _key(card, PUK), block)
    if pin is None:
        raise _status(SW.INCORRECT_DATA)
    persistent = card.image.persistent
    salt = persistent["pin_salt"]
    if apdu.p2 == 0x00:
        if not hmac.compare_digest(pin_digest(salt, pin), persistent["pin_digest"]):
            raise _status(SW.INCORRECT_DATA)
        card._commit_persistent(pin_tries_left=int(persistent["pin_tries_max"]))
    else:
        card._commit_persistent(
            pin_digest=pin_digest(salt, pin), pin_tries_left=int(persistent["pin_tries_max"])
        )
    return b""


# -- authentication -------------------------------------------------------------
def _key_errors(card: CardOS, key_id: int) -> tuple[str, int]:
    name = f"{card._state.current_df.path}:{key_id:02X}"
    return name, int(card.image.persistent.get("key_errors", {}).get(name, 0))


def external_authenticate(card: CardOS, apdu: CommandApdu) -> bytes:
    if apdu.p1 != 0x00:
        raise _status(SW.INCORRECT_P1_P2)
    if len(apdu.data) not in (16, 17) or apdu.ne is not None:
        raise _status(SW.WRONG_LENGTH)
    key_id = apdu.p2
    challenge = _take_challenge(card)
    key = _key(card, key_id)
    name, errors = _key_errors(card, key_id)
    limit = int(card.image.persistent.get("key_tries", 5))
    if errors >= limit:
        raise _status(SW.AUTH_METHOD_BLOCKED)
    given, source = apdu.data[:8], apdu.data[8:16]
    expected = auth_cryptogram(_cipher(card), key, challenge, source)
    # counter first, as VERIFY does: the failure is saved before the comparison
    # decides, so pulling the card at any moment never spares an attempt
    table = dict(card.image.persistent.get("key_errors", {}))
    table[name] = errors + 1
    card._commit_persistent(key_errors=table)
    if not hmac.compare_digest(given, expected):
        left = limit - errors - 1
        raise _status(pin_tries_left(left) if left else SW.AUTH_METHOD_BLOCKED)
    card._commit_persistent(key_errors={k: v for k, v in table.items() if k != name})
    card._grant(f"key:{key_id:02X}")
    return b""


def internal_authenticate(card: CardOS, apdu: CommandApdu) -> bytes:
    if apdu.p1 != 0x00 or apdu.p2 != 0x00:
        raise _status(SW.INCORRECT_P1_P2)
    if len(apdu.data) != 16:
        raise _status(SW.WRONG_LENGTH)
    if apdu.ne is not None and apdu.ne != 8:
        raise _status(wrong_le(8))
    return auth_cryptogram(_cipher(card), _key(card, IRK), apdu.data[:8], apdu.data[8:])


# -- lifecycle ----------------------------------------------------------------
def application_block(card: CardOS, apdu: CommandApdu) -> bytes:
    if apdu.p1 != 0x00 or apdu.p2 != 0x01:
        raise _status(SW.INCORRECT_P1_P2)
    if len(apdu.data) != 4:
        raise _status(SW.WRONG_LENGTH)
    if not card._state.current_df.path.startswith("MF/SSSE"):
        raise _status(SW.CONDITIONS_NOT_SATISFIED)
    _check_mac(card, apdu, BK)
    card._commit_persistent(application_blocked=True)
    return b""


def card_block(card: CardOS, apdu: CommandApdu) -> bytes:
    if apdu.p1 != 0x00 or apdu.p2 != 0x00:
        raise _status(SW.INCORRECT_P1_P2)
    if len(apdu.data) != 4:
        raise _status(SW.WRONG_LENGTH)
    _check_mac(card, apdu, BK)
    card._commit_persistent(card_blocked=True)
    return b""
