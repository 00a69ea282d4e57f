"""Whether a loaded card image is a personalised card of its profile.

:class:`~sscard_terminal.vcard.image.CardImage` checks that every EF of an
image exists in the profile's tree and fits it. A social security card needs
more to be served: the issuer data (EF05, tags 01..07) and the cardholder
basics (EF06, tags 08, 09, 0A..0D; 4E only for long names) that LD/T 32-2015
(card-spec.md "Records") makes mandatory, each a well-formed SIMPLE-TLV item
of its declared length, and the PIN state. An image without them (records
removed or damaged by hand) would serve a card that reads blank, so loading
refuses it, naming the file and what is wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sscard_terminal.codecs.records import EF05_ITEMS, EF06_ITEMS, ItemSpec, decode_value
from sscard_terminal.codecs.tlv import parse_item
from sscard_terminal.errors import PersonDataError, ProfileError
from sscard_terminal.vcard.profile import Profile
from sscard_terminal.vcard.psam_profile import PsamProfile

__all__ = ["check_personalised"]

EF05_PATH = "MF/SSSE/EF05"
EF06_PATH = "MF/SSSE/EF06"
#: items a card may lack: the name extension, used only by names of more than 30 bytes
OPTIONAL_TAGS = frozenset({0x4E})
PIN_STATE = ("pin_salt", "pin_digest", "pin_tries_max", "pin_tries_left")


#: an image's EF contents by path: a transparent EF's bytes or a record EF's records
Contents = Mapping[str, bytes | tuple[bytes, ...]]


def _check_items(contents: Contents, path: str, specs: Iterable[ItemSpec]) -> list[str]:
    by_tag = {spec.tag: spec for spec in specs}
    found: set[int] = set()
    problems: list[str] = []
    content = contents.get(path, ())
    for number, record in enumerate(content if isinstance(content, tuple) else (), 1):
        try:
            tag, value = parse_item(record)
        except ValueError as exc:
            problems.append(f"{path} record {number}: {exc}")
            continue
        spec = by_tag.get(tag)
        if spec is None:
            continue  # an item this project does not read; the card keeps it
        found.add(tag)
        try:
            decode_value(spec, value)
        except PersonDataError as exc:
            problems.append(f"{path} record {number}: {exc}")
    absent = [s for tag, s in by_tag.items() if tag not in found and tag not in OPTIONAL_TAGS]
    if absent:
        names = ", ".join(f"{s.label} (tag {s.tag:02X})" for s in absent)
        problems.append(f"{path} lacks {names}")
    return problems


def check_personalised(
    profile: Profile | PsamProfile, contents: Contents, persistent: Mapping[str, Any], source: str
) -> None:
    """Raise :class:`ProfileError` naming ``source`` when the image of a social
    security card (its profile, EF contents and persistent state) lacks a
    mandatory EF05/EF06 item, holds one that does not decode, or has no PIN
    state. PSAM images are left to their own checks."""
    if not isinstance(profile, Profile):
        return
    problems = _check_items(contents, EF05_PATH, EF05_ITEMS)
    problems += _check_items(contents, EF06_PATH, EF06_ITEMS)
    missing_pin = [key for key in PIN_STATE if key not in persistent]
    if missing_pin:
        problems.append(f"persistent lacks {', '.join(missing_pin)}")
    if problems:
        raise ProfileError(
            f"{source}: not a personalised {profile.name} card: {'; '.join(problems[:4])}",
            hint="make a new image with `sscard card new`",
        )
