"""Working days by the State Council's holiday schedules (guide, use Q3).

"If the social security card is damaged or lost, the cardholder shall go
through the relevant redemption and replacement procedures within 5 working
days": a deadline in working days. A working day in China is Monday to Friday,
except the days off of the year's holiday schedule (国务院办公厅关于YYYY年部分
节假日安排的通知), plus the weekend days that schedule makes working days in
exchange (调休上班).

A :class:`WorkCalendar` knows the years whose schedule it holds; asking it
about a day of any other year is refused (``calendar.not_covered``) rather
than guessed, since a year's make-up days are known only once the State
Council publishes them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sscard_terminal.center.refusals import Refusal

__all__ = ["Holiday", "WorkCalendar", "YearSchedule"]


@dataclass(frozen=True)
class Holiday:
    """One holiday of a schedule: its days off ``first`` .. ``last`` (inclusive,
    weekend days joined to it included) and the weekend days worked instead."""

    name: str
    first: dt.date
    last: dt.date
    workdays: tuple[dt.date, ...] = ()

    @property
    def days(self) -> int:
        """The length of the break ("共N天" in the notice)."""
        return (self.last - self.first).days + 1

    def days_off(self) -> Iterable[dt.date]:
        day = self.first
        while day <= self.last:
            yield day
            day += dt.timedelta(days=1)


@dataclass(frozen=True)
class YearSchedule:
    """A year's schedule as published (one notice)."""

    year: int
    notice: str
    holidays: tuple[Holiday, ...]


class WorkCalendar:
    """Working days of the years whose schedule is known."""

    def __init__(self, schedules: Iterable[YearSchedule]) -> None:
        self.schedules = {s.year: s for s in schedules}
        self._off: set[dt.date] = set()
        self._worked: set[dt.date] = set()
        for schedule in self.schedules.values():
            for holiday in schedule.holidays:
                self._off.update(holiday.days_off())
                self._worked.update(holiday.workdays)

    @property
    def years(self) -> list[int]:
        return sorted(self.schedules)

    def covers(self, day: dt.date) -> bool:
        return day.year in self.schedules

    def _require_covered(self, day: dt.date) -> None:
        if not self.covers(day):
            years = ", ".join(str(y) for y in self.years) or "none"
            raise Refusal(
                "calendar.not_covered",
                f"工作日历没有 {day.year} 年的国务院节假日安排（已有：{years}），"
                "无法计算工作日：请在政策文件的日历中加入该年的放假调休安排",
                f"the working-day calendar has no State Council holiday schedule for "
                f"{day.year} (it has: {years}); add that year's schedule to the policy's "
                "calendar to count working days in it",
            )

    def is_working_day(self, day: dt.date) -> bool:
        """Monday to Friday unless a day off, or a weekend day worked in exchange."""
        self._require_covered(day)
        if day in self._worked:
            return True
        return day.weekday() < 5 and day not in self._off

    def days_off(self, year: int) -> int:
        """How many days of ``year`` are not working days (weekends and holidays,
        less the make-up days)."""
        day, count = dt.date(year, 1, 1), 0
        while day.year == year:
            count += not self.is_working_day(day)
            day += dt.timedelta(days=1)
        return count

    def add_working_days(self, start: dt.date, working_days: int) -> dt.date:
        """The ``working_days``-th working day after ``start`` (``start`` itself
        not counted, whether or not it is a working day)."""
        day, counted = start, 0
        while counted < working_days:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
        return day
