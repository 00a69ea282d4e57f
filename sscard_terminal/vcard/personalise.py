"""Personalisation: from a profile and a person to a card image.

Builds what an issuer writes into a new card (LD/T 32-2015 as summarised in
card-spec.md): the ATR with the card-level diversification factor, EF05 card
issuer data (card identification code, class, spec version, initialising
organisation, issue and expiry dates, card number with its check character)
and EF06 cardholder basics (ID number, name and name extension, sex, ethnic
group, birthplace, birth date), with the BCD/GBK encodings and paddings of
:mod:`sscard_terminal.codecs.records`. The person's data is validated first
(:class:`sscard_terminal.person.Person`).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sscard_terminal.codecs.atr import Atr
from sscard_terminal.codecs.card_id_code import make_card_id_code
from sscard_terminal.codecs.card_number import is_valid_card_number, make_card_number
from sscard_terminal.codecs.records import EF05_ITEMS, EF06_ITEMS, ItemSpec, encode_value
from sscard_terminal.codecs.tlv import build_item
from sscard_terminal.crypto.ciphers import cipher_for
from sscard_terminal.crypto.keyset import KeySet, card_key, load_key_set, resolve_key_set_path
from sscard_terminal.errors import PersonDataError
from sscard_terminal.person import Person, split_name_gbk
from sscard_terminal.vcard.filesystem import DFSpec
from sscard_terminal.vcard.image import CardImage, Content
from sscard_terminal.vcard.profile import Profile, build_tree
from sscard_terminal.vcard.security import ALGORITHMS, pin_digest

EF05_PATH = "MF/SSSE/EF05"
EF06_PATH = "MF/SSSE/EF06"


@dataclass(frozen=True)
class CardParameters:
    """What makes one card unique: its serial, card number and dates."""

    serial: int
    issue_date: dt.date
    card_number: str | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "card") -> CardParameters:
        unknown = set(data) - {"serial", "issue_date", "card_number"}
        if unknown:
            raise PersonDataError(f"{source}: unknown keys {sorted(unknown)}")
        try:
            serial_text = str(data["serial"])
            serial = int(serial_text, 16)
            if len(serial_text) != 8:
                raise ValueError
        except (KeyError, ValueError):
            raise PersonDataError(f"{source}.serial: 8 hex digits expected") from None
        issue = data.get("issue_date")
        if isinstance(issue, str):
            try:
                issue = dt.date.fromisoformat(issue)
            except ValueError:
                raise PersonDataError(f"{source}.issue_date: YYYY-MM-DD expected") from None
        if not isinstance(issue, dt.date):
            raise PersonDataError(f"{source}.issue_date: a date is required")
        number = data.get("card_number")
        return cls(serial, issue, None if number is None else str(number))


def expiry_for(issue: dt.date, years: int) -> dt.date:
    """Valid for ``years`` years: the day before the anniversary (20211203 -> 20311202)."""
    try:
        anniversary = issue.replace(year=issue.year + years)
    except ValueError:  # 29 February
        anniversary = issue.replace(year=issue.year + years, day=28) + dt.timedelta(days=1)
    return anniversary - dt.timedelta(days=1)


def card_number_for(profile: Profile, params: CardParameters) -> str:
    """The card number: given, or the profile's prefix + 7 digits of the serial + check."""
    if params.card_number is not None:
        number = params.card_number.upper()
        if len(number) == 8:
            number = make_card_number(number)
        if not is_valid_card_number(number):
            raise PersonDataError(f"card_number {number!r} has a wrong check character")
        return number
    body = f"{profile.issuer.card_number_prefix}{params.serial % 10_000_000:07d}"
    return make_card_number(body)


def build_atr(profile: Profile, params: CardParameters) -> bytes:
    """ATR = template prefix + chip (2) + region's first 4 digits (BCD) + serial (4).

    card-spec.md "ATR": historical bytes 6..13 are the card-level key
    diversification factor; bytes 8-9 carry the first four digits of the region.
    """
    region4 = bytes.fromhex(profile.issuer.region[:4])
    return (
        profile.atr_prefix
        + bytes.fromhex(profile.atr.chip)
        + region4
        + params.serial.to_bytes(4, "big")
    )


def _items(specs: tuple[ItemSpec, ...], values: Mapping[str, str]) -> tuple[bytes, ...]:
    records = []
    for spec in specs:
        text = values.get(spec.key)
        if text is None or text == "":
            continue
        records.append(build_item(spec.tag, encode_value(spec, text)))
    return tuple(records)


def issuer_records(profile: Profile, params: CardParameters) -> tuple[bytes, ...]:
    """EF05 records, one SIMPLE-TLV item each, record n = tag n."""
    issuer = profile.issuer
    values = {
        "card_id_code": make_card_id_code(issuer.region, params.serial),
        "card_class": issuer.card_class,
        "spec_version": issuer.spec_version,
        "init_org": issuer.init_org,
        "issue_date": params.issue_date.strftime("%Y%m%d"),
        "expiry_date": expiry_for(params.issue_date, issuer.validity_years).strftime("%Y%m%d"),
        "card_number": card_number_for(profile, params),
    }
    return _items(EF05_ITEMS, values)


def holder_records(person: Person) -> tuple[bytes, ...]:
    """EF06 records 1..7 = tags 08, 09, 4E, 0A, 0B, 0C, 0D (4E only when the name needs it)."""
    name, extension = split_name_gbk(person.name)
    values = {
        "id_number": person.id_number,
        "name": name,
        "name_ext": extension,
        "sex": person.sex,
        "ethnic_group": person.ethnic_group,
        "birthplace": person.birthplace,
        "birth_date": person.birth_date.strftime("%Y%m%d"),
    }
    return _items(EF06_ITEMS, values)


def card_keys(profile: Profile, atr: bytes, key_set: KeySet) -> dict[str, dict[str, str]]:
    """Every DF with an algorithm gets the card's own keys, diversified from the key
    set's masters with the card factor (ATR historical bytes 6..13) and the city
    factor of the issuer's region (:mod:`sscard_terminal.crypto.keyset`)."""
    factor = Atr.parse(atr).diversification_factor
    keys: dict[str, dict[str, str]] = {}
    for node in build_tree(profile).mf.walk():
        if isinstance(node, DFSpec) and node.algorithm in ALGORITHMS:
            cipher = cipher_for(ALGORITHMS[node.algorithm])
            keys[node.path] = {
                f"{key_id:02X}": card_key(
                    cipher, key_set.master(key_id), factor, profile.issuer.region
                )
                .hex()
                .upper()
                for key_id in key_set.card_key_ids()
            }
    return keys


def personalise(
    profile: Profile,
    person: Person | None = None,
    params: CardParameters | None = None,
    key_set: KeySet | None = None,
) -> CardImage:
    """A new card image for ``person`` (default: the profile's test person)."""
    if person is None:
        person = Person.from_mapping(profile.test_person)
    if params is None:
        params = CardParameters.from_mapping(
            profile.test_card.model_dump(exclude_none=True), "test_card"
        )
    tree = build_tree(profile)
    contents: dict[str, Content] = {}
    for path, content in profile.contents.items():
        if isinstance(content, list):
            contents[path] = tuple(bytes.fromhex(r) for r in content)
        else:
            raw = bytes.fromhex(content)
            node = tree.by_path[path]
            size = getattr(node, "size", len(raw))
            contents[path] = raw + b"\x00" * (size - len(raw))
    contents[EF05_PATH] = issuer_records(profile, params)
    contents[EF06_PATH] = holder_records(person)
    if key_set is None:
        key_set = load_key_set(resolve_key_set_path(profile.key_set))
    atr = build_atr(profile, params)
    salt = secrets.token_hex(8)
    persistent: dict[str, Any] = {
        "pin_salt": salt,
        "pin_digest": pin_digest(salt, profile.pin.initial),
        "pin_tries_max": profile.pin.tries,
        "pin_tries_left": profile.pin.tries,
        "key_tries": profile.key_tries,
        "key_errors": {},
        "application_blocked": False,
        "card_blocked": False,
        "keys": card_keys(profile, atr, key_set),
    }
    return CardImage(profile, atr, contents, persistent)


def person_file_parts(data: Mapping[str, Any], source: str) -> tuple[Person, CardParameters | None]:
    """A person file: the person's fields, and optionally a ``card:`` section."""
    if not isinstance(data, Mapping):
        raise PersonDataError(f"{source}: a person file is a mapping")
    fields = dict(data)
    card = fields.pop("card", None)
    person = Person.from_mapping(fields)
    params = None if card is None else CardParameters.from_mapping(card, f"{source}: card")
    return person, params
