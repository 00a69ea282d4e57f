"""When a visit may start, and on which days its rules are judged.

The start time of a visit (2201 ``begntime``) is given by the terminal. The
center takes it as the day of care, but it must not let a terminal move care
into the past, where benefits may have run that no longer do:

- a start time in the future is refused (a minute of clock skew allowed);
- a start time earlier than the policy's ``visits.begntime_days_back``
  calendar days before the day it reaches the center is refused, with that
  reason (Ningbo: 1, i.e. the day of registration or the day before, for a
  visit that began late in the evening and is registered after midnight);
- the insurance and account rules (rules a and b) hold on the visit's day
  *and* on the day the message is handled: a settlement on 1 April of a visit
  of 31 March needs benefits in March and in April (:func:`judged_months`).
"""

from __future__ import annotations

import datetime as dt

from sscard_terminal.center.clock import Month
from sscard_terminal.center.policy import VisitPolicy
from sscard_terminal.center.refusals import Refusal

__all__ = ["earliest_start", "judged_months", "require_start_time"]

#: clock skew allowed between a terminal and the center
SKEW = dt.timedelta(minutes=1)


def earliest_start(received: dt.datetime, rules: VisitPolicy) -> dt.datetime:
    """The earliest start time a visit registered at ``received`` may give:
    midnight ``begntime_days_back`` days before that day."""
    first_day = received.date() - dt.timedelta(days=rules.begntime_days_back)
    return dt.datetime.combine(first_day, dt.time(), received.tzinfo)


def require_start_time(begntime: dt.datetime, received: dt.datetime, rules: VisitPolicy) -> None:
    """Refuse a start time in the future or earlier than the policy allows
    (``received``: the center's clock, naive Asia/Shanghai like ``begntime``)."""
    if begntime > received + SKEW:
        raise Refusal(
            "input.future",
            f"就诊/费用时间 {begntime:%Y-%m-%d %H:%M:%S} 晚于当前时间",
            f"the time {begntime:%Y-%m-%d %H:%M:%S} is in the future",
        )
    earliest = earliest_start(received, rules)
    if begntime < earliest:
        days = rules.begntime_days_back
        raise Refusal(
            "visit.begntime_too_early",
            f"就诊开始时间 begntime={begntime:%Y-%m-%d %H:%M:%S} "
            f"早于 {earliest:%Y-%m-%d %H:%M:%S}：本市规定就诊须在开始当天或其后{days}天内登记"
            f"（visits.begntime_days_back={days}），不能补登更早的就诊",
            f"begntime {begntime:%Y-%m-%d %H:%M:%S} is before {earliest:%Y-%m-%d %H:%M:%S}: "
            f"the city's policy registers a visit on the day it starts or up to {days} "
            f"calendar day(s) later (visits.begntime_days_back = {days}); an earlier visit "
            "cannot be registered",
        )


def judged_months(visit_day: dt.date, today: dt.date) -> list[Month]:
    """The months whose benefits a message about a visit needs: the visit's and
    the message's own (once when they are the same)."""
    months = [Month.of(visit_day)]
    if Month.of(today) != months[0]:
        months.append(Month.of(today))
    return months
