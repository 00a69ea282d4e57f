"""Virtual cards for the tests: one way to personalise a card and put it in an
in-process reader.

Plain functions, for module-level setup, hypothesis tests and the e2e rigs;
tests that want the card connected and closed for them use the
``virtual_card`` fixture of ``tests/conftest.py``, which is built on these.

A card is personalised from a profile (``card_profiles/``), for the profile's
test person and test card unless a :class:`Person` and
:class:`CardParameters` are given, or from a person file as the center hands
it out (what ``sscard card new --person FILE`` does).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sscard_terminal.codecs.id_number import make_id_number
from sscard_terminal.driver.sscard import SocialSecurityCard
from sscard_terminal.person import Person
from sscard_terminal.transport.base import Transport, open_transport
from sscard_terminal.vcard.cardos import CardOS
from sscard_terminal.vcard.factory import new_image
from sscard_terminal.vcard.image import CardImage
from sscard_terminal.vcard.personalise import CardParameters, personalise
from sscard_terminal.vcard.profile import load_profile

#: what a card's random numbers come from (``os.urandom`` unless a test fixes them)
Rng = Callable[[int], bytes]


def make_person(
    name: str, region: str, birth: dt.date, seq: str, ethnic_group: str = "01"
) -> Person:
    """A cardholder born in ``region`` (6 digits, also the birthplace), with an ID
    number built from the region, the birth date and the sequence number."""
    return Person.from_mapping(
        {
            "name": name,
            "id_number": make_id_number(region, birth, seq),
            "ethnic_group": ethnic_group,
            "birthplace": region,
        }
    )


def card_image(
    profile: str = "ningbo-gen2",
    person: Person | None = None,
    params: CardParameters | None = None,
    *,
    person_file: Mapping[str, Any] | Path | None = None,
) -> CardImage:
    """A freshly personalised image: for ``person``/``params`` (default: the
    profile's test person and card), or from a person file (a path, or the
    mapping the center's ``/cards/{card_no}/person-file`` answers)."""
    if person_file is None:
        return personalise(load_profile(profile), person, params)
    if person is not None or params is not None:
        raise ValueError("a person file names the person and the card itself")
    if isinstance(person_file, Path):
        return new_image(profile, person_file)
    with tempfile.TemporaryDirectory(prefix="sscard-person-") as directory:
        path = Path(directory) / "person.json"
        path.write_text(json.dumps(person_file, ensure_ascii=False), encoding="utf-8")
        return new_image(profile, path)


def new_card(
    profile: str = "ningbo-gen2",
    person: Person | None = None,
    params: CardParameters | None = None,
    *,
    person_file: Mapping[str, Any] | Path | None = None,
    rng: Rng | None = None,
) -> CardOS:
    """A card OS holding a freshly personalised image (:func:`card_image`), kept
    in memory only."""
    image = card_image(profile, person, params, person_file=person_file)
    return CardOS(image) if rng is None else CardOS(image, rng=rng)


@functools.cache
def _stock_image(profile: str) -> CardImage:
    return card_image(profile)


def stock_card(profile: str = "ningbo-gen2") -> CardOS:
    """A card of the profile's test person and test card, copied from one image
    personalised once per profile and test session: for tests that make
    thousands of cards (all of them share the PIN salt)."""
    return CardOS(_stock_image(profile).copy_with())


def connected(card: CardOS) -> Transport:
    """The card in an in-process virtual reader, powered on."""
    transport = open_transport("virtual", card=card)
    transport.connect()
    return transport


@dataclass(frozen=True)
class VirtualCard:
    """A card in an in-process reader: the card OS, its connected transport and
    the driver on that transport."""

    os: CardOS
    transport: Transport
    driver: SocialSecurityCard


def insert(card: CardOS) -> VirtualCard:
    """``card`` in an in-process reader, powered on, with its driver; the caller
    closes ``transport``."""
    transport = connected(card)
    return VirtualCard(card, transport, SocialSecurityCard(transport))


class VirtualCards:
    """What the ``virtual_card`` fixture hands a test: call it for a new card
    (the arguments of :func:`new_card`), or :meth:`insert` a card the test made
    otherwise (from an image file, say); :meth:`close` powers them all off."""

    def __init__(self) -> None:
        self._inserted: list[VirtualCard] = []

    def __call__(
        self,
        profile: str = "ningbo-gen2",
        person: Person | None = None,
        params: CardParameters | None = None,
        *,
        person_file: Mapping[str, Any] | Path | None = None,
        rng: Rng | None = None,
    ) -> VirtualCard:
        return self.insert(new_card(profile, person, params, person_file=person_file, rng=rng))

    def insert(self, card: CardOS) -> VirtualCard:
        inserted = insert(card)
        self._inserted.append(inserted)
        return inserted

    def close(self) -> None:
        for card in self._inserted:
            card.transport.close()
        self._inserted.clear()
