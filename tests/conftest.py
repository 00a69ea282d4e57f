"""Fixtures every test folder shares: virtual cards in in-process readers.

``virtual_card`` personalises a new card, connects it and hands back the card
OS, the transport and the driver: ``virtual_card("ningbo-gen3", person,
params)``, ``virtual_card(person_file=...)``, or ``virtual_card.insert(card)``
for a card made otherwise. The cards are powered off when the test ends. The
plain functions it is built on, for module-level setup and hypothesis tests,
are in ``tests/virtual_cards.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.virtual_cards import VirtualCards


@pytest.fixture
def virtual_card() -> Iterator[VirtualCards]:
    cards = VirtualCards()
    try:
        yield cards
    finally:
        cards.close()
