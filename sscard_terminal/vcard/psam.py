"""The virtual PSAM's operating system (card-spec.md "PSAM").

A PSAM is the terminal's secure access module: it holds the city-level master
keys and turns a card's public data (its diversification factors and its
challenge) into the cryptogram with which the terminal authenticates to the
card, without the keys ever leaving it. :class:`PsamOS` is a
:class:`~sscard_terminal.vcard.cardos.CardOS` with its own instruction table;
file selection, READ BINARY, GET RESPONSE and the T=0 response shaping (61xx,
6Cxx) are the card OS's.

Commands (card-spec.md "PSAM"; P1 values of CIPHER DATA as in the PBOC-derived
financial PSAM specification):

- SELECT (00 A4) of the MF and of the ADF DF01 by AID ``D15600000590``, by FID
  or by path; READ BINARY (00 B0) of EF 0015 and EF 0016 in the MF and EF 0019
  in the ADF, by SFI (``00 B0 95 01 0A``, ``00 B0 96 00 06``, ``00 B0 99 00 04``)
  or as the current EF.
- INIT ENVIRONMENT (``BF EC 00 00 01`` + the first byte of the card
  identification code): remembered in the volatile state. The public text does
  not say what a PSAM derives from it; this one changes no computation.
- DELIVERY SESSION KEY (``BF DE P1 P2 Lc`` + factors + process factor):
  P1 b8-b6 = the number N of diversification levels (0..3), b5-b1 = the key
  type; P2 = the PSAM key ID; data = N 8-byte factors, in the order card,
  city [, province], then the process factor of M bytes, Lc = 8N + M. M gives
  the algorithm: 8 -> 3DES (R), 16 -> SM4 (R || 00 x 8). The PSAM derives the
  card's key from its master, factor by factor in the order given
  (:func:`~sscard_terminal.crypto.computations.diversify_levels`, exactly as
  :func:`~sscard_terminal.crypto.keyset.card_key` does for the card and the
  software SAM), then the session key SK = E(card key, process factor)
  (:func:`~sscard_terminal.crypto.computations.session_key`). Keys are looked
  up in the current DF (the ADF) by key ID and type.
- CIPHER DATA (``80 FA P1 00 Lc`` + data) with SK:

  - P1 00 (and 02, more blocks follow): ECB encryption of whole blocks. With
    R (3DES) or R || 00 x 8 (SM4) this is step 4 of card-spec.md's flow: the
    terminal takes the 8 bytes (3DES) or left8 XOR right8 of the 16 bytes (SM4)
    as the cryptogram;
  - P1 05 (the only block), 07 (first), 03 (next), 01 (last): a MAC. The data
    of 05 and 07 start with the initial value (one block: the card's challenge
    padded with 00); everything after it is MAC'd with CBC. The *terminal*
    pads the message (80 00.., always added: ISO/IEC 9797-1 method 2), so the
    PSAM takes whole blocks only, as public PSAM terminal code does. The
    result folds the last block as :func:`~sscard_terminal.crypto.computations.mac`
    does (8-byte block: the leftmost 4 bytes; 16-byte block: the XOR of its
    four 4-byte words), so ``05`` over ``IV || pad80(M)`` equals
    ``mac(cipher, SK, IV, M)``.

  The answer comes with 61xx and GET RESPONSE when the command has no Le
  (``80 FA 00 00 08`` + R -> ``61 08``; ``00 C0 00 00 08`` -> C).

Status words: CIPHER DATA without a session key (or 03/01 without a MAC
begun) 6985; an unknown PSAM key (or key type, or no keys in the current DF)
6A88; a length that fits no rule 6700; wrong P1/P2 6A86.

The session key and the MAC chain live only in volatile state: power off,
reset, a new DELIVERY SESSION KEY and a change of DF clear them. Nothing here
logs a key, a session key or a cryptogram.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sscard_terminal.apdu.command import CommandApdu
from sscard_terminal.apdu.status import SW
from sscard_terminal.crypto.ciphers import SM4, TDES, BlockCipher
from sscard_terminal.crypto.computations import diversify_levels, session_key
from sscard_terminal.crypto.keyset import KeySet
from sscard_terminal.errors import ProfileError
from sscard_terminal.vcard.card_status import CardStatus
from sscard_terminal.vcard.cardos import CardOS
from sscard_terminal.vcard.filesystem import DFSpec
from sscard_terminal.vcard.image import CardImage, Content, ImageStore
from sscard_terminal.vcard.psam_profile import PsamProfile

#: DELIVERY SESSION KEY: at most three diversification levels (province, city, card)
MAX_LEVELS = 3
#: CIPHER DATA P1 values
ENCRYPT, ENCRYPT_MORE = 0x00, 0x02
MAC_ONLY, MAC_FIRST, MAC_NEXT, MAC_LAST = 0x05, 0x07, 0x03, 0x01

_PERSISTENT_KEYS = "psam_keys"


@dataclass
class PsamVolatile:
    """What the PSAM forgets on power off, reset and a change of DF."""

    #: the byte of the last INIT ENVIRONMENT
    environment: int | None = None
    cipher: BlockCipher | None = None
    session_key: bytes | None = field(default=None, repr=False)
    #: the running CBC block of a MAC begun with P1 07
    mac_chain: bytes | None = field(default=None, repr=False)


class PsamOS(CardOS):
    """A virtual PSAM built from a card image whose profile is a :class:`PsamProfile`."""

    known_cla = frozenset({0x00, 0x80, 0xBF})

    def __init__(
        self,
        image: CardImage,
        store: ImageStore | None = None,
        rng: Callable[[int], bytes] = os.urandom,
    ) -> None:
        if not isinstance(image.profile, PsamProfile):
            raise ProfileError(
                f"profile {image.profile.name!r} describes a card, not a PSAM",
                hint="serve it as a card, or give a PSAM profile (schema sscard-psam-profile/1)",
            )
        super().__init__(image, store, rng)
        self._psam = PsamVolatile()

    @property
    def environment(self) -> int | None:
        """The byte of the last INIT ENVIRONMENT since reset (None without one)."""
        return self._psam.environment

    @property
    def has_session_key(self) -> bool:
        return self._psam.session_key is not None

    # -- volatile state -------------------------------------------------------
    def power_on(self) -> bytes:
        self._psam = PsamVolatile()
        return super().power_on()

    def power_off(self) -> None:
        self._psam = PsamVolatile()
        super().power_off()

    def _select_df(self, df: DFSpec) -> None:
        if df is not self._state.current_df:
            self._psam = PsamVolatile()
        super()._select_df(df)

    def _master(self, key_id: int, key_type: int) -> bytes:
        """The master key ``key_id`` of type ``key_type`` in the current DF, or 6A88."""
        by_df = self.image.persistent.get(_PERSISTENT_KEYS, {})
        entry = by_df.get(self._state.current_df.path, {}).get(f"{key_id:02X}")
        if entry is None or int(entry["type"], 16) != key_type:
            raise CardStatus(SW.REFERENCED_DATA_NOT_FOUND)
        return bytes.fromhex(entry["value"])


def _psam(card: CardOS) -> PsamOS:
    assert isinstance(card, PsamOS)
    return card


# -- the PSAM commands (card-spec.md "PSAM") ------------------------------------
def init_environment(card: CardOS, apdu: CommandApdu) -> bytes:
    """BF EC 00 00 01 + the first byte of the card identification code."""
    psam = _psam(card)
    if apdu.p1 or apdu.p2:
        raise CardStatus(SW.INCORRECT_P1_P2)
    if len(apdu.data) != 1 or apdu.ne is not None:
        raise CardStatus(SW.WRONG_LENGTH)
    psam._psam.environment = apdu.data[0]
    return b""


def delivery_session_key(card: CardOS, apdu: CommandApdu) -> bytes:
    """BF DE P1 P2 Lc + N factors + process factor: derive the card key, then SK."""
    psam = _psam(card)
    environment = psam._psam.environment
    psam._psam = PsamVolatile(environment=environment)  # a failed delivery leaves none
    levels, key_type = apdu.p1 >> 5, apdu.p1 & 0x1F
    if levels > MAX_LEVELS:
        raise CardStatus(SW.INCORRECT_P1_P2)
    process_len = len(apdu.data) - 8 * levels
    if process_len not in (8, 16) or apdu.ne is not None:
        raise CardStatus(SW.WRONG_LENGTH)  # Lc = 8N + M, M = 8 (3DES) or 16 (SM4)
    cipher = TDES if process_len == 8 else SM4
    master = psam._master(apdu.p2, key_type)
    data = bytes(apdu.data)
    factors = [data[8 * i : 8 * i + 8] for i in range(levels)]
    card_key = diversify_levels(cipher, master, factors)
    psam._psam.cipher = cipher
    psam._psam.session_key = session_key(cipher, card_key, data[8 * levels :])
    return b""


def _fold(cipher: BlockCipher, last: bytes) -> bytes:
    """The 4-byte MAC from the last CBC block (as crypto.computations.mac folds it)."""
    if cipher.block_size == 8:
        return last[:4]
    out = bytearray(4)
    for i in range(0, 16, 4):
        for j in range(4):
            out[j] ^= last[i + j]
    return bytes(out)


def cipher_data(card: CardOS, apdu: CommandApdu) -> bytes:
    """80 FA P1 00 Lc + data: encrypt (P1 00/02) or MAC (05, 07/03/01) with SK."""
    psam = _psam(card)
    state = psam._psam
    if apdu.p2 != 0x00 or apdu.p1 not in (
        ENCRYPT,
        ENCRYPT_MORE,
        MAC_ONLY,
        MAC_FIRST,
        MAC_NEXT,
        MAC_LAST,
    ):
        raise CardStatus(SW.INCORRECT_P1_P2)
    cipher, sk = state.cipher, state.session_key
    if cipher is None or sk is None:
        raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
    if apdu.p1 in (MAC_NEXT, MAC_LAST) and state.mac_chain is None:
        raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
    size = cipher.block_size
    data = bytes(apdu.data)
    with_iv = apdu.p1 in (MAC_ONLY, MAC_FIRST)
    body = data[size:] if with_iv else data
    if not body or len(body) % size:
        raise CardStatus(SW.WRONG_LENGTH)
    if apdu.p1 in (ENCRYPT, ENCRYPT_MORE):
        return cipher.encrypt(sk, body)
    iv = data[:size] if with_iv else state.mac_chain
    assert iv is not None
    last = cipher.cbc_last_block(sk, iv, body)
    if apdu.p1 in (MAC_FIRST, MAC_NEXT):
        state.mac_chain = last
        return b""
    state.mac_chain = None
    return _fold(cipher, last)


_ISO = frozenset({0x00})
_PROPRIETARY = frozenset({0x80})
_PSAM = frozenset({0xBF})

PsamOS.dispatch = {
    0xA4: (CardOS._select, _ISO),
    0xB0: (CardOS._read_binary, _ISO),
    0xEC: (init_environment, _PSAM),
    0xDE: (delivery_session_key, _PSAM),
    0xFA: (cipher_data, _PROPRIETARY),
}


# -- building a PSAM ------------------------------------------------------------
def psam_keys(profile: PsamProfile, key_set: KeySet) -> dict[str, dict[str, dict[str, str]]]:
    """The PSAM's key file: every master key of the key set under its PSAM key ID,
    with the profile's key type, in the application DF. ``card_key`` records
    which card key the PSAM key stands for."""
    keys: dict[str, dict[str, str]] = {}
    for entry in key_set.keys:
        psam_id = entry.psam_key_id.upper()
        if psam_id in keys:
            raise ProfileError(f"key set {key_set.name}: PSAM key ID {psam_id} is used twice")
        keys[psam_id] = {
            "type": profile.key_type.upper(),
            "card_key": entry.id.upper(),
            "value": entry.value.upper(),
        }
    return {profile.application: keys}


def psam_image(profile: PsamProfile, key_set: KeySet) -> CardImage:
    """A new PSAM image: ATR, EF 0015/0016/0019 from the profile, masters from the key set."""
    contents: dict[str, Content] = {path: raw for path, raw in profile.contents().items()}
    persistent: dict[str, Any] = {_PERSISTENT_KEYS: psam_keys(profile, key_set)}
    return CardImage(profile, profile.atr_bytes, contents, persistent)
