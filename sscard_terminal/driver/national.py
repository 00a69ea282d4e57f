"""The national reader interface's line (``iReadCardBas``), card-spec.md.

The vendor library "SSCardDriver" that kiosk and HIS software calls answers
``iReadCardBas`` with one line of eleven items, each followed by ``|``::

    region code|social security number|card number|card identification code|name|
    card reset info|spec version|issue date|expiry date|terminal number|
    terminal device number|

- region code: the first 6 digits of the card identification code;
- card identification code and card reset info (the ATR's historical bytes)
  in uppercase hex;
- name: tag 09 followed by tag 4E, padding removed;
- terminal number from the PSAM (EF 0016) when one is used, terminal device
  number from the terminal's configuration; both empty when unknown.

Items the card does not give (an EF06 that needs authentication, a blank
card) are left empty, as vendor libraries do.
"""

from __future__ import annotations

from dataclasses import dataclass

from sscard_terminal.driver.cardholder import CardholderRecord
from sscard_terminal.driver.sam import SecurityModule
from sscard_terminal.driver.sscard import SocialSecurityCard

#: the items the line needs, so a line read costs only their APDUs
LINE_ISSUER_KEYS = ("card_id_code", "spec_version", "issue_date", "expiry_date", "card_number")
LINE_HOLDER_KEYS = ("id_number", "name")

FIELDS = (
    "region code",
    "social security number",
    "card number",
    "card identification code",
    "name",
    "card reset info",
    "spec version",
    "issue date",
    "expiry date",
    "terminal number",
    "terminal device number",
)


@dataclass(frozen=True)
class NationalLine:
    items: tuple[str, ...]

    def __str__(self) -> str:
        return "".join(f"{item}|" for item in self.items)

    @classmethod
    def parse(cls, line: str) -> NationalLine:
        """Split a line into its eleven items (the trailing ``|`` is required)."""
        if not line.endswith("|"):
            raise ValueError("an iReadCardBas line ends with '|'")
        items = tuple(line[:-1].split("|"))
        if len(items) != len(FIELDS):
            raise ValueError(f"an iReadCardBas line has {len(FIELDS)} items, got {len(items)}")
        return cls(items)

    def as_dict(self) -> dict[str, str]:
        return dict(zip(FIELDS, self.items, strict=True))


def line_from_record(
    record: CardholderRecord, terminal_number: str = "", device_number: str = ""
) -> NationalLine:
    issuer, holder = record.issuer, record.holder
    for text in (terminal_number, device_number):
        if "|" in text:
            raise ValueError("terminal numbers cannot contain '|'")
    return NationalLine(
        (
            issuer.region,
            (holder.id_number or "") if holder else "",
            issuer.card_number or "",
            issuer.card_id_code or "",
            (holder.name or "") if holder else "",
            record.historical_bytes.hex().upper(),
            issuer.spec_version or "",
            issuer.issue_date or "",
            issuer.expiry_date or "",
            terminal_number,
            device_number,
        )
    )


def read_national_line(
    card: SocialSecurityCard,
    terminal_number: str = "",
    device_number: str = "",
    *,
    sam: SecurityModule | None = None,
    check_expiry: bool = False,
) -> NationalLine:
    """Read only what the line needs and build it (``iReadCardBas``)."""
    record = card.read(LINE_ISSUER_KEYS, LINE_HOLDER_KEYS, sam=sam, check_expiry=check_expiry)
    return line_from_record(record, terminal_number, device_number)
