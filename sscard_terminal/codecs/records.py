"""The record layouts of the SSSE EF05 and EF06, declared once as data.

LD/T 32-2015 (card-spec.md, "Records", "EF05", "EF06"): each record is one
SIMPLE-TLV data item (ISO/IEC 7816-4 clause 5.2.1) of fixed value length. ``cn``
items are packed BCD right-padded with ``F``; ``an`` items are ASCII/GBK
right-padded with ``00``. Each :class:`ItemSpec` carries one ``construct``
declaration of its value, used both to build and to parse, and each table has
its test vectors beside it (``EF05_VECTORS``, ``EF06_VECTORS``), which one unit
test runs both ways.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from construct import Adapter, Bytes, Construct, ConstructError

from sscard_terminal.codecs.bcd import decode_cn, encode_cn
from sscard_terminal.codecs.text import decode_an, encode_an
from sscard_terminal.codecs.tlv import build_item, parse_item
from sscard_terminal.errors import PersonDataError

__all__ = [
    "EF05_ITEMS",
    "EF05_VECTORS",
    "EF06_ITEMS",
    "EF06_VECTORS",
    "ITEMS_BY_KEY",
    "ITEMS_BY_TAG",
    "ItemSpec",
    "decode_record",
    "decode_value",
    "encode_record",
    "encode_value",
]

Kind = Literal["cn", "an"]


class CnField(Adapter):  # type: ignore[misc]
    """A ``cn`` value of ``length`` bytes: BCD right-padded with F (LD/T 32-2015).

    With ``fixed`` the value always fills the field: building requires exactly
    ``2 * length`` digits and parsing keeps trailing ``F`` digits (the card
    identification code, whose authentication code may be ``FFFFFFFF``).
    """

    def __init__(self, length: int, *, fixed: bool = False) -> None:
        super().__init__(Bytes(length))
        self.length = length
        self.fixed = fixed

    def _decode(self, obj: bytes, context: Any, path: str) -> str:
        return decode_cn(obj, strip_padding=not self.fixed)

    def _encode(self, obj: str, context: Any, path: str) -> bytes:
        if self.fixed and len(obj) != 2 * self.length:
            raise ValueError(f"cn value: must be exactly {2 * self.length} digits, got {len(obj)}")
        return encode_cn(obj, self.length)


class AnField(Adapter):  # type: ignore[misc]
    """An ``an`` value of ``length`` bytes: GBK right-padded with 00 (LD/T 32-2015)."""

    def __init__(self, length: int) -> None:
        super().__init__(Bytes(length))
        self.length = length

    def _decode(self, obj: bytes, context: Any, path: str) -> str:
        return decode_an(obj)

    def _encode(self, obj: str, context: Any, path: str) -> bytes:
        return encode_an(obj, self.length)


@dataclass(frozen=True)
class ItemSpec:
    """One data item of EF05/EF06: what it is, not what a card holds.

    ``fixed`` marks a ``cn`` item whose value always fills the field (no padding).
    """

    tag: int
    key: str
    label: str
    label_zh: str
    kind: Kind
    length: int
    fixed: bool = False

    @cached_property
    def field(self) -> Construct:
        """The ``construct`` declaration of the value (both ways)."""
        if self.kind == "cn":
            return CnField(self.length, fixed=self.fixed)
        return AnField(self.length)

    @property
    def where(self) -> str:
        """How error messages name the item, e.g. ``"name (tag 09)"``."""
        return f"{self.label} (tag {self.tag:02X})"


#: EF05 card issuer data, record n = tag n (LD/T 32-2015; card-spec.md "EF05").
EF05_ITEMS: tuple[ItemSpec, ...] = (
    ItemSpec(0x01, "card_id_code", "card identification code", "卡识别码", "cn", 16, fixed=True),
    ItemSpec(0x02, "card_class", "card class", "卡的类别", "an", 1),
    ItemSpec(0x03, "spec_version", "spec version", "规范版本", "an", 4),
    ItemSpec(0x04, "init_org", "initialising organisation", "初始化机构编号", "cn", 12),
    ItemSpec(0x05, "issue_date", "issue date", "发卡日期", "cn", 4),
    ItemSpec(0x06, "expiry_date", "expiry date", "卡有效期", "cn", 4),
    ItemSpec(0x07, "card_number", "card number", "卡号", "an", 9),
)

#: EF06 cardholder basics, records 1..7 in this order (LD/T 32-2015; card-spec.md
#: "EF06"). The ethnic group is a 2-digit GB 3304 code in one cn byte.
EF06_ITEMS: tuple[ItemSpec, ...] = (
    ItemSpec(0x08, "id_number", "social security number", "社会保障号码", "an", 18),
    ItemSpec(0x09, "name", "name", "姓名", "an", 30),
    ItemSpec(0x4E, "name_ext", "name extension", "姓名扩展", "an", 20),
    ItemSpec(0x0A, "sex", "sex", "性别", "an", 1),
    ItemSpec(0x0B, "ethnic_group", "ethnic group", "民族", "cn", 1),
    ItemSpec(0x0C, "birthplace", "birthplace", "出生地", "cn", 3),
    ItemSpec(0x0D, "birth_date", "birth date", "出生日期", "cn", 4),
)

ITEMS_BY_TAG: dict[int, ItemSpec] = {spec.tag: spec for spec in EF05_ITEMS + EF06_ITEMS}
ITEMS_BY_KEY: dict[str, ItemSpec] = {spec.key: spec for spec in EF05_ITEMS + EF06_ITEMS}

# Test vectors (key, text, value as hex), worked out by hand from the spec:
# cn = BCD with F padding, an = ASCII/GBK with 00 padding, fixed lengths above.
EF05_VECTORS: tuple[tuple[str, str, str], ...] = (
    ("card_id_code", "519900D15600000510000B26FFFFFFFF", "519900D15600000510000B26FFFFFFFF"),
    ("card_id_code", "330200D156000005C38275EEFC9B9648", "330200D156000005C38275EEFC9B9648"),
    ("card_class", "3", "33"),
    ("spec_version", "3.00", "332E3030"),
    ("spec_version", "2.00", "322E3030"),
    ("init_org", "330200000001", "330200000001FFFFFFFFFFFF"),
    ("issue_date", "20211203", "20211203"),
    ("expiry_date", "20311202", "20311202"),
    ("card_number", "D2143569X", "443231343335363958"),
)

EF06_VECTORS: tuple[tuple[str, str, str], ...] = (
    ("id_number", "330203199001011236", "333330323033313939303031303131323336"),
    ("name", "张三", "D5C5C8FD" + "00" * 26),
    ("name", "阿依古丽·买买提", "B0A2D2C0B9C5C0F6A1A4C2F2C2F2CCE1" + "00" * 14),
    ("name_ext", "", "00" * 20),
    ("name_ext", "丰", "B7E1" + "00" * 18),
    ("sex", "1", "31"),
    ("sex", "2", "32"),
    ("ethnic_group", "01", "01"),
    ("ethnic_group", "56", "56"),
    ("birthplace", "330203", "330203"),
    ("birth_date", "19900101", "19900101"),
)


def _spec(spec: ItemSpec | str) -> ItemSpec:
    if isinstance(spec, ItemSpec):
        return spec
    try:
        return ITEMS_BY_KEY[spec]
    except KeyError:
        raise PersonDataError(f"unknown data item {spec!r}") from None


def encode_value(spec: ItemSpec | str, text: str) -> bytes:
    """The value bytes of one item, exactly ``spec.length`` long, padded for its kind.

    Raises :class:`PersonDataError` naming the item (never quoting the whole text).
    """
    item = _spec(spec)
    try:
        return bytes(item.field.build(text))
    except (ValueError, ConstructError) as exc:
        raise PersonDataError(f"{item.where}: {exc}") from None


def decode_value(spec: ItemSpec | str, raw: bytes) -> str:
    """The text of one item's value bytes, padding removed.

    The value must be exactly ``spec.length`` bytes; otherwise, or when the bytes
    do not decode, raises :class:`PersonDataError` naming the item.
    """
    item = _spec(spec)
    if len(raw) != item.length:
        raise PersonDataError(f"{item.where}: value must be {item.length} bytes, got {len(raw)}")
    try:
        return str(item.field.parse(raw))
    except (ValueError, ConstructError) as exc:
        raise PersonDataError(f"{item.where}: {exc}") from None


def encode_record(spec: ItemSpec | str, text: str) -> bytes:
    """The whole record: the SIMPLE-TLV item ``tag len value`` (ISO 7816-4 5.2.1)."""
    item = _spec(spec)
    return build_item(item.tag, encode_value(item, text))


def decode_record(raw: bytes) -> tuple[ItemSpec, str]:
    """Parse one record of EF05/EF06 into its item spec and text."""
    try:
        tag, value = parse_item(raw)
    except ValueError as exc:
        raise PersonDataError(f"EF05/EF06 record: {exc}") from None
    item = ITEMS_BY_TAG.get(tag)
    if item is None:
        raise PersonDataError(f"EF05/EF06 record: unknown tag {tag:02X}")
    return item, decode_value(item, value)
