"""Rule c: the card's status and what it allows (Ningbo guide, use Q3).

- A temporary loss report by phone (12333, 预挂失) blocks the card at once.
- It is cancelled (解挂) with the ID card and the card itself.
- A formal loss report (正式挂失) leads to a replacement card with a new card
  number and card identification code; the old card is refused forever.
- A damaged card is reported like a formal loss and replaced.
- The replacement must be applied for within 5 working days.

The statuses and transitions are a table (:data:`TRANSITIONS`); every refusal
names the card's status.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sscard_terminal.center.refusals import Refusal
from sscard_terminal.center.rules.workdays import WorkCalendar

__all__ = [
    "CardEvent",
    "CardStatus",
    "TRANSITIONS",
    "next_status",
    "replacement_deadline",
    "require_usable",
]


class CardStatus(StrEnum):
    ACTIVE = "active"
    TEMPORARILY_LOST = "temporarily_lost"
    LOST = "lost"
    REPLACED = "replaced"
    DAMAGED = "damaged"

    @property
    def zh(self) -> str:
        return _ZH[self]

    @property
    def en(self) -> str:
        return self.value.replace("_", " ")


_ZH = {
    CardStatus.ACTIVE: "正常",
    CardStatus.TEMPORARILY_LOST: "临时挂失",
    CardStatus.LOST: "正式挂失",
    CardStatus.REPLACED: "已补换",
    CardStatus.DAMAGED: "损坏",
}


class CardEvent(StrEnum):
    TEMPORARY_LOSS = "temporary_loss"
    CANCEL_TEMPORARY_LOSS = "cancel_temporary_loss"
    FORMAL_LOSS = "formal_loss"
    DAMAGE = "damage"
    REPLACE = "replace"


TRANSITIONS: dict[tuple[CardStatus, CardEvent], CardStatus] = {
    (CardStatus.ACTIVE, CardEvent.TEMPORARY_LOSS): CardStatus.TEMPORARILY_LOST,
    (CardStatus.TEMPORARILY_LOST, CardEvent.CANCEL_TEMPORARY_LOSS): CardStatus.ACTIVE,
    (CardStatus.ACTIVE, CardEvent.FORMAL_LOSS): CardStatus.LOST,
    (CardStatus.TEMPORARILY_LOST, CardEvent.FORMAL_LOSS): CardStatus.LOST,
    (CardStatus.ACTIVE, CardEvent.DAMAGE): CardStatus.DAMAGED,
    (CardStatus.TEMPORARILY_LOST, CardEvent.DAMAGE): CardStatus.DAMAGED,
    (CardStatus.LOST, CardEvent.REPLACE): CardStatus.REPLACED,
    (CardStatus.DAMAGED, CardEvent.REPLACE): CardStatus.REPLACED,
}

_EVENT_TEXT = {
    CardEvent.TEMPORARY_LOSS: ("临时挂失", "a temporary loss report"),
    CardEvent.CANCEL_TEMPORARY_LOSS: ("解除临时挂失", "cancelling the temporary loss report"),
    CardEvent.FORMAL_LOSS: ("正式挂失", "a formal loss report"),
    CardEvent.DAMAGE: ("损坏挂失", "a damaged-card report"),
    CardEvent.REPLACE: ("补换卡", "a replacement"),
}


def next_status(current: CardStatus, event: CardEvent) -> CardStatus:
    """The status after ``event``; refuses transitions the table does not allow."""
    try:
        return TRANSITIONS[(current, event)]
    except KeyError:
        zh, en = _EVENT_TEXT[event]
        raise Refusal(
            "card.transition",
            f"卡状态为“{current.zh}”，不能办理{zh}",
            f"the card is {current.en}: {en} is not possible",
        ) from None


def require_usable(status: CardStatus, card_no: str) -> None:
    """Refuse a card that is not active, naming its status (rule c)."""
    if status is CardStatus.ACTIVE:
        return
    advice = {
        CardStatus.TEMPORARILY_LOST: (
            "持身份证和社保卡到经办机构解除挂失",
            "cancel the report with the ID card and the card at a card agency",
        ),
        CardStatus.LOST: (
            "该卡永久停用，请使用补换的新卡",
            "the card is refused forever; use the replacement card",
        ),
        CardStatus.REPLACED: (
            "该卡已被新卡替换，永久停用",
            "the card was replaced and is refused forever",
        ),
        CardStatus.DAMAGED: (
            "该卡已报损，请使用补换的新卡",
            "the card was reported damaged; use the replacement card",
        ),
    }[status]
    raise Refusal(
        f"card.{status.value}",
        f"社保卡 {card_no} 状态为“{status.zh}”，不能使用：{advice[0]}",
        f"card {card_no} is {status.en} and cannot be used: {advice[1]}",
    )


def replacement_deadline(
    reported_on: dt.date, working_days: int, calendar: WorkCalendar
) -> dt.date:
    """The last day to apply for a replacement: the ``working_days``-th working
    day after the day of the loss report (that day itself not counted), by the
    State Council's holiday schedules (:mod:`.workdays`)."""
    return calendar.add_working_days(reported_on, working_days)
