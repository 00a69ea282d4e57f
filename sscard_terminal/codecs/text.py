"""Alphanumeric (``an``) values, as on the social security card (LD/T 32-2015).

LD/T 32-2015 stores ``an`` data items as ASCII, or GBK (GB 2312 extended) for
Chinese text such as the name (EF06 tag 09), left-justified and right-padded with
``00`` to the fixed length of the item. Some issuers pad with spaces or ``FF``
instead; :func:`decode_an` removes all three. None of these bytes can be the
second byte of a GBK double-byte character (0x40..0xFE without 0x7F), so removing
them never cuts a character.
"""

from __future__ import annotations

__all__ = ["GBK", "decode_an", "encode_an", "gbk_unencodable"]

GBK = "gbk"
_PADDING = b"\x00 \xff"


def gbk_unencodable(text: str) -> tuple[int, str] | None:
    """The position and character of the first character GBK cannot encode, or None."""
    for position, char in enumerate(text):
        try:
            char.encode(GBK)
        except UnicodeEncodeError:
            return position, char
    return None


def _describe(char: str) -> str:
    return f"{char!r} (U+{ord(char):04X})"


def encode_an(text: str, length: int) -> bytes:
    """Encode ``text`` in GBK and right-pad it with ``00`` to ``length`` bytes.

    LD/T 32-2015 ``an``. Raises :class:`ValueError` naming the character when one
    is not GBK-encodable or is NUL (which would read back as padding), and when
    the encoded text is longer than ``length`` bytes (the message gives sizes,
    never the text).
    """
    bad = gbk_unencodable(text)
    if bad is not None:
        position, char = bad
        raise ValueError(
            f"an value: character {_describe(char)} at position {position} cannot be encoded in GBK"
        )
    if "\x00" in text:
        raise ValueError(
            f"an value: character U+0000 at position {text.index(chr(0))} is not allowed "
            "(it is the padding byte)"
        )
    encoded = text.encode(GBK)
    if len(encoded) > length:
        raise ValueError(f"an value: {len(encoded)} bytes in GBK do not fit in {length} bytes")
    return encoded.ljust(length, b"\x00")


def decode_an(raw: bytes) -> str:
    """Decode a GBK ``an`` value, removing trailing ``00``, space and ``FF`` padding.

    LD/T 32-2015 ``an``. Raises :class:`ValueError` when the bytes are not GBK.
    """
    body = raw.rstrip(_PADDING)
    try:
        return body.decode(GBK)
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"an value: bytes {body[exc.start : exc.end].hex().upper()} at offset {exc.start} "
            "are not valid GBK"
        ) from None
