"""SIMPLE-TLV data items, as the records of EF05/EF06 (ISO/IEC 7816-4 clause 5.2.1).

Each record of the SSSE EF05 and EF06 is one SIMPLE-TLV data object: a tag byte
(01..FE), a length byte (0..254; ISO 7816-4 writes 255..65535 as ``FF`` plus two
bytes, which these records never use and this codec refuses) and the value.
"""

from __future__ import annotations

from construct import Construct, GreedyBytes, Int8ub, Prefixed, StreamError, Struct

__all__ = ["DataItem", "build_item", "parse_item"]

#: One SIMPLE-TLV data item with a one-byte length, declared once for both ways.
DataItem: Construct = Struct("tag" / Int8ub, "value" / Prefixed(Int8ub, GreedyBytes))

_MAX_SHORT_LENGTH = 0xFE  # FF announces the three-byte length form


def build_item(tag: int, value: bytes) -> bytes:
    """``tag(1) len(1) value``. Tags 00 and FF are invalid (ISO 7816-4 5.2.1)."""
    if not 0x01 <= tag <= 0xFE:
        raise ValueError(f"SIMPLE-TLV tag must be 01..FE, got {tag:#04x}")
    if len(value) > _MAX_SHORT_LENGTH:
        raise ValueError(
            f"SIMPLE-TLV value of {len(value)} bytes is longer than {_MAX_SHORT_LENGTH}"
        )
    return bytes(DataItem.build({"tag": tag, "value": bytes(value)}))


def parse_item(raw: bytes) -> tuple[int, bytes]:
    """Split one SIMPLE-TLV data item into ``(tag, value)``.

    Raises :class:`ValueError` when the length byte does not match the bytes that
    follow (too few or too many), or on the tags 00/FF.
    """
    if len(raw) < 2:
        raise ValueError(f"SIMPLE-TLV item needs at least 2 bytes, got {len(raw)}")
    if raw[0] in (0x00, 0xFF):
        raise ValueError(f"SIMPLE-TLV tag must be 01..FE, got {raw[0]:#04x}")
    if raw[1] == 0xFF:
        raise ValueError("SIMPLE-TLV three-byte length form is not used on these records")
    try:
        item = DataItem.parse(raw)
    except StreamError:
        raise ValueError(
            f"SIMPLE-TLV length byte says {raw[1]} bytes, only {len(raw) - 2} follow"
        ) from None
    if len(raw) != 2 + len(item.value):
        raise ValueError(f"SIMPLE-TLV length byte says {raw[1]} bytes, but {len(raw) - 2} follow")
    return int(item.tag), bytes(item.value)
