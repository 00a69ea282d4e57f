"""Packed BCD (``cn``) values, as on the social security card (LD/T 32-2015).

The data item type ``cn`` of LD/T 32-2015 (the same as EMV/PBOC ``cn``) packs two
digits per byte, high nibble first, and right-pads with ``F`` nibbles to the fixed
length of the data item. The card identification code (EF05 tag 01) holds hex
digits (``D156000005`` is part of it), so this codec accepts ``0-9A-F``.
"""

from __future__ import annotations

import string

__all__ = ["decode_cn", "encode_cn"]

_HEX = frozenset(string.hexdigits)


def encode_cn(digits: str, length: int) -> bytes:
    """Pack ``digits`` (hex digits, either case) into ``length`` bytes, F-padded.

    LD/T 32-2015 ``cn``: two digits per byte, high nibble first; the unused nibbles
    at the right are ``F``. Raises :class:`ValueError` on a non-hex character or on
    more than ``2 * length`` digits. A value ending in ``F`` cannot be told apart
    from padding by :func:`decode_cn`, except when it fills the field.
    """
    if length < 0:
        raise ValueError(f"cn length must not be negative, got {length}")
    for position, char in enumerate(digits):
        if char not in _HEX:
            raise ValueError(
                f"cn value: character {char!r} at position {position} is not a hex digit"
            )
    if len(digits) > 2 * length:
        raise ValueError(
            f"cn value: {len(digits)} digits do not fit in {length} bytes "
            f"(at most {2 * length} digits)"
        )
    return bytes.fromhex(digits.ljust(2 * length, "F"))


def decode_cn(raw: bytes, *, strip_padding: bool = True) -> str:
    """Unpack a ``cn`` value into uppercase hex digits, without its F padding.

    LD/T 32-2015 ``cn``: trailing ``F`` nibbles are padding and are removed unless
    ``strip_padding`` is false (for items that always fill their field, such as
    the card identification code, whose authentication code may be ``FFFFFFFF``).
    """
    text = raw.hex().upper()
    return text.rstrip("F") if strip_padding else text
