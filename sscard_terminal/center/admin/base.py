"""What the operator's operations share: the request base model, the 404
refusal, lookups of a person, a card and an institution by key, and the local
time the center stores.

A :class:`~sscard_terminal.center.refusals.Refusal` is a business refusal
(HTTP 409 in the API), :class:`NotFound` a missing record (HTTP 404).
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from sscard_terminal.center.models import Card, Institution, Person
from sscard_terminal.center.refusals import Refusal

__all__ = [
    "AdminModel",
    "NotFound",
    "find_card",
    "find_institution",
    "find_person",
    "local_time",
]


class NotFound(Refusal):
    """A record that does not exist (HTTP 404)."""


# A request of the admin API: unknown fields refused, text stripped. (No
# docstring: the API's schemas would take it as the description of every request.)
class AdminModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def find_person(session: Session, psn_no: str, *, lock: bool = False) -> Person:
    """The person with this psn_no (locked for update when ``lock``), or NotFound."""
    query = select(Person).where(Person.psn_no == psn_no)
    if lock:
        query = query.with_for_update()
    person = session.execute(query).scalar_one_or_none()
    if person is None:
        raise NotFound("person.unknown", f"人员编号 {psn_no} 不存在", f"no person {psn_no}")
    return person


def find_card(session: Session, card_no: str, *, lock: bool = False) -> Card:
    """The card with this number, any case (locked for update when ``lock``), or NotFound."""
    query = select(Card).where(Card.card_no == card_no.upper())
    if lock:
        query = query.with_for_update()
    card = session.execute(query).scalar_one_or_none()
    if card is None:
        raise NotFound("card.unknown", f"社保卡 {card_no} 不存在", f"no card {card_no}")
    return card


def find_institution(session: Session, code: str) -> Institution:
    """The institution with this fixmedins_code, or NotFound."""
    institution = session.get(Institution, code)
    if institution is None:
        raise NotFound("institution.unknown", f"定点机构 {code} 未登记", f"no institution {code}")
    return institution


def local_time(now: dt.datetime) -> dt.datetime:
    """``now`` as the center stores it: local wall time, whole seconds."""
    return now.replace(tzinfo=None, microsecond=0)
