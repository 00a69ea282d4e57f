"""The numbers of seeded persons and cards: psn_no prefixes (00 for the demo
persons, 99 for generated ones, after the city prefix of the policy), card
serial ranges, and the ningbo-gen3 profile's own test card, which the demo
person ``normal`` holds. Cards the admin API issues have a range of their own
(:data:`sscard_terminal.center.admin.cards.ADMIN_SERIAL_BASE`).
"""

from __future__ import annotations

import datetime as dt

from sscard_terminal.center.policy import Policy
from sscard_terminal.codecs.card_number import make_card_number

__all__ = [
    "BULK_PSN_PREFIX",
    "BULK_SERIAL_BASE",
    "DEMO_PSN_PREFIX",
    "DEMO_SERIAL_BASE",
    "PROFILE_TEST_ISSUE",
    "PROFILE_TEST_SERIAL",
    "demo_card_number",
    "seeded_psn_no",
]

DEMO_PSN_PREFIX = "00"
BULK_PSN_PREFIX = "99"
DEMO_SERIAL_BASE = 0x00D00000
BULK_SERIAL_BASE = 0x10000000
PROFILE_TEST_SERIAL = 0xC38275EE
PROFILE_TEST_ISSUE = dt.date(2021, 12, 3)


def demo_card_number(serial: int) -> str:
    """The ningbo-gen3 profile's own numbering: D + 7 digits of the serial + check."""
    return make_card_number(f"D{serial % 10_000_000:07d}")


def seeded_psn_no(policy: Policy, prefix: str, index: int) -> str:
    """The psn_no of seeded person ``index``: city prefix, ``prefix``, 14 digits."""
    return f"{policy.city_prefix}{prefix}{index:014d}"
