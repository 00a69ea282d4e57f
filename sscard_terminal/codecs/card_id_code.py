"""The card identification code (卡识别码, EF05 tag 01; LD/T 32-2015).

16 bytes of ``cn``, shown as 32 hex digits (card-spec.md, "EF05"):

====== ======================================================
digits content
====== ======================================================
1-6    region code of the issuer (GB/T 2260)
7-16   ``D156000005``: the registered application provider ID
       of the social security card (ISO 7816-5 RID ``D156000005``)
17-24  card serial number (8 hex digits)
25-32  authentication code (8 hex digits)
====== ======================================================

The real authentication-code algorithm is not public. **This project defines its
own** (an inference of what such a code does, not the national algorithm): the
first 4 bytes of SM3 (GB/T 32905-2016) over the ASCII of the first 24 hex
characters (upper case), written as 8 upper-case hex digits. Codes read from real
cards therefore do not verify with it; an authentication code of ``FFFFFFFF``
("not set", seen on real cards) is accepted only when asked for explicitly.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes

from sscard_terminal.codecs.id_number import is_region_code
from sscard_terminal.errors import PersonDataError

__all__ = [
    "AUTH_CODE_UNSET",
    "PROVIDER_ID",
    "CardIdCode",
    "authentication_code",
    "make_card_id_code",
    "parse_card_id_code",
]

PROVIDER_ID = "D156000005"
AUTH_CODE_UNSET = "FFFFFFFF"
_HEX_UPPER = frozenset(string.digits + "ABCDEF")
_FIELD = "card identification code"


def authentication_code(first24: str) -> str:
    """This project's authentication code over the first 24 hex characters.

    Our own definition, not the (unpublished) national one: the first 4 bytes of
    SM3 over the ASCII of ``first24`` in upper case, as 8 upper-case hex digits.
    """
    if len(first24) != 24:
        raise PersonDataError(f"{_FIELD}: the authenticated part must be 24 hex digits")
    digest = hashes.Hash(hashes.SM3())
    digest.update(first24.upper().encode("ascii"))
    return digest.finalize()[:4].hex().upper()


@dataclass(frozen=True)
class CardIdCode:
    """A parsed card identification code (LD/T 32-2015, EF05 tag 01)."""

    region: str
    serial: int
    auth_code: str

    def __post_init__(self) -> None:
        if not is_region_code(self.region):
            raise PersonDataError(
                f"{_FIELD}: region {self.region!r} is not a GB/T 2260 region code"
            )
        if not 0 <= self.serial <= 0xFFFFFFFF:
            raise PersonDataError(f"{_FIELD}: serial must fit in 8 hex digits")
        if len(self.auth_code) != 8 or not set(self.auth_code) <= _HEX_UPPER:
            raise PersonDataError(f"{_FIELD}: authentication code must be 8 upper-case hex digits")

    @property
    def authenticated_part(self) -> str:
        """The first 24 hex digits: region, provider ID and serial."""
        return f"{self.region}{PROVIDER_ID}{self.serial:08X}"

    @property
    def value(self) -> str:
        """The 32 upper-case hex digits."""
        return self.authenticated_part + self.auth_code

    def to_bytes(self) -> bytes:
        """The 16 bytes stored in EF05 tag 01."""
        return bytes.fromhex(self.value)

    @property
    def auth_code_set(self) -> bool:
        """False when the authentication code is ``FFFFFFFF`` (not set)."""
        return self.auth_code != AUTH_CODE_UNSET

    def verify(self, *, accept_unset: bool = False) -> bool:
        """Whether the authentication code is this project's code for the first 24
        digits; with ``accept_unset``, ``FFFFFFFF`` (not set) also passes."""
        if accept_unset and not self.auth_code_set:
            return True
        return self.auth_code == authentication_code(self.authenticated_part)

    def __str__(self) -> str:
        return self.value


def make_card_id_code(region: str, serial: int) -> str:
    """A card identification code with this project's authentication code.

    ``region`` is the 6-digit GB/T 2260 region code of the issuer, ``serial`` the
    card serial 0..0xFFFFFFFF. Returns 32 upper-case hex digits.
    """
    if not is_region_code(region):
        raise PersonDataError(f"{_FIELD}: region {region!r} is not a GB/T 2260 region code")
    if not 0 <= serial <= 0xFFFFFFFF:
        raise PersonDataError(f"{_FIELD}: serial must fit in 8 hex digits")
    first24 = f"{region}{PROVIDER_ID}{serial:08X}"
    return first24 + authentication_code(first24)


def parse_card_id_code(s: str) -> CardIdCode:
    """Parse 32 hex digits (either case, blanks around ignored) into a CardIdCode.

    Checks the form only: length, hex digits, a region code and the provider ID
    ``D156000005``. Call :meth:`CardIdCode.verify` to check the authentication code.
    """
    text = s.strip().upper()
    if len(text) != 32:
        raise PersonDataError(f"{_FIELD}: must be 32 hex digits, got {len(text)} characters")
    for position, char in enumerate(text):
        if char not in _HEX_UPPER:
            raise PersonDataError(
                f"{_FIELD}: character {char!r} at position {position} is not a hex digit"
            )
    if text[6:16] != PROVIDER_ID:
        raise PersonDataError(f"{_FIELD}: digits 7-16 must be {PROVIDER_ID}, got {text[6:16]}")
    return CardIdCode(region=text[:6], serial=int(text[16:24], 16), auth_code=text[24:])
