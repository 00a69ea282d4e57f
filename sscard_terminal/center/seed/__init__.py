"""Seeding the center: the guide's situations as named demo persons, and N
generated persons.

====================  ==============================================================
module                what
====================  ==============================================================
``demo_data``         the demo institutions, catalogue and persons, a validated data
                      file (``policies/demo/ningbo.yaml``)
``demo``              :func:`~sscard_terminal.center.seed.demo.seed_demo`: that data
                      in the database, each person in their situation
``bulk``              :func:`~sscard_terminal.center.seed.bulk.seed_bulk`: N
                      generated persons in bulk inserts
``numbers``           psn_no prefixes, card serial ranges, the profile's test card
====================  ==============================================================

:func:`seed` does both, as ``sscard center seed`` and ``POST /admin/seed`` do.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sscard_terminal.center.db import Database
from sscard_terminal.center.policy import Policy
from sscard_terminal.center.refusals import Refusal
from sscard_terminal.center.seed.bulk import Progress, seed_bulk
from sscard_terminal.center.seed.demo import seed_demo

__all__ = ["seed"]


def seed(
    db: Database,
    policy: Policy,
    now: dt.datetime,
    *,
    persons: int = 0,
    demo: bool = True,
    progress: Progress | None = None,
    secrets_by_code: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Demo data (unless already there) and ``persons`` generated persons."""
    result: dict[str, Any] = {}
    if demo:
        try:
            result["demo"] = seed_demo(db, policy, now, secrets_by_code=secrets_by_code)
        except Refusal as refusal:
            if refusal.code != "seed.exists":
                raise
            result["demo"] = None
            result["demo_note"] = refusal.err_msg
    if persons:
        result["generated"] = seed_bulk(db, policy, now, persons, progress=progress)
    return result
