"""Time in the center: Asia/Shanghai time throughout, in which the rules count months and days.

Months are :class:`Month` values (year and month), so that "T minus the last
paid month" is plain integer arithmetic. A :data:`Clock` is a function that
returns the current aware datetime; the service takes one, so tests and the
benchmark may fix it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

__all__ = ["SHANGHAI", "Clock", "Month", "add_months", "system_clock"]

SHANGHAI = ZoneInfo("Asia/Shanghai")

Clock = Callable[[], dt.datetime]

_MONTH_RE = re.compile(r"^(\d{4})-?(\d{2})$")


def system_clock() -> dt.datetime:
    """The current time in Asia/Shanghai."""
    return dt.datetime.now(SHANGHAI)


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month. ``Month(2026, 3) - Month(2025, 12) == 3``."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12 or not 1900 <= self.year <= 9999:
            raise ValueError(f"not a month: {self.year}-{self.month}")

    @classmethod
    def of(cls, day: dt.date) -> Month:
        """The month of a date (of a datetime: of its own calendar date)."""
        return cls(day.year, day.month)

    @classmethod
    def parse(cls, text: str) -> Month:
        """``"2026-03"`` or ``"202603"``."""
        found = _MONTH_RE.match(text.strip()) if isinstance(text, str) else None
        if not found:
            raise ValueError(f"not a month (YYYY-MM): {text!r}")
        return cls(int(found.group(1)), int(found.group(2)))

    @classmethod
    def from_index(cls, index: int) -> Month:
        return cls(index // 12, index % 12 + 1)

    @classmethod
    def from_yyyymm(cls, value: int) -> Month:
        return cls(value // 100, value % 100)

    @property
    def index(self) -> int:
        """Months since year 0: differences of indexes are month differences."""
        return self.year * 12 + self.month - 1

    @property
    def yyyymm(self) -> int:
        """The month as the integer YYYYMM (how the database stores it)."""
        return self.year * 100 + self.month

    def plus(self, months: int) -> Month:
        return Month.from_index(self.index + months)

    def __sub__(self, other: Month) -> int:
        return self.index - other.index

    @property
    def first_day(self) -> dt.date:
        return dt.date(self.year, self.month, 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus ``months`` calendar months, the day clamped to the month's end
    (2026-08-31 + 6 months = 2027-02-28)."""
    target = Month.of(day).plus(months)
    following = target.plus(1).first_day
    last = (following - dt.timedelta(days=1)).day
    return dt.date(target.year, target.month, min(day.day, last))
