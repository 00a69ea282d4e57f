"""Rules a and b: when medical benefits run (Ningbo guide, Q1 and "How to use").

Rule a (Q1): "employees ... enjoy medical insurance benefits from the month
after the unit pays fees" - a payment opens benefits ``start_after_months``
(1) after the month it is *made*, and never earlier than the month after the
months it pays for. A back-payment (补缴) therefore never makes a past or the
current month covered: paid on 20 June for January to June, it opens July.

Rule b ("Once the interruption exceeds three months ... invalid"): care in
month T is refused when T minus the last month paid *before T* is more than
``max_gap_months`` (3); the personal account cannot be used then either.
Benefits resume in the month after contributions resume (rule a again).
"Before T" counts what was paid when: a month counts for T only when it was
paid before T began.

So a payment made on day d for the months [f, l] opens the months
[max(f, month of d) + 1, l + 3]; benefits run in month T exactly when some
payment's interval holds T. :func:`benefit_status` merges the intervals and
finds the one holding T.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sscard_terminal.center.clock import Month
from sscard_terminal.center.policy import BenefitsPolicy
from sscard_terminal.center.refusals import Refusal

__all__ = [
    "BenefitStatus",
    "PaidPeriod",
    "active_intervals",
    "benefit_status",
    "require_active",
]

#: psn_insu_stas codes (settlement-interface.md, code lists)
NOT_ENROLLED = "0"
NORMAL = "1"
SUSPENDED = "2"
TERMINATED = "4"


@dataclass(frozen=True, order=True)
class PaidPeriod:
    """Months ``first`` .. ``last`` (inclusive), paid in one payment on ``paid_on``
    (None: paid in time, by the first of the months)."""

    first: Month
    last: Month
    paid_on: dt.date | None = None

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"paid period ends before it starts: {self.first}..{self.last}")

    def opens(self, rules: BenefitsPolicy) -> tuple[Month, Month] | None:
        """The months this payment gives benefits in (rules a and b), if any."""
        paid = self.first if self.paid_on is None else Month.of(self.paid_on)
        start = max(self.first, paid).plus(rules.start_after_months)
        end = self.last.plus(rules.max_gap_months)
        return (start, end) if start <= end else None


@dataclass(frozen=True)
class BenefitStatus:
    """The benefit state in one month.

    ``psn_insu_stas``: "1" benefits run; "2" suspended (rule b); "0" not (yet)
    entitled - enrolled with no paid month before T, i.e. waiting for the month
    after the first contribution (rule a), or nothing paid at all; "4"
    terminated. ``since``: first month of the current active run ("1") or of
    the suspension ("2"). ``starts``: the month benefits (re)start, when known
    and in the future.
    """

    psn_insu_stas: str
    since: Month | None = None
    starts: Month | None = None

    @property
    def active(self) -> bool:
        return self.psn_insu_stas == NORMAL


def active_intervals(
    periods: Iterable[PaidPeriod], rules: BenefitsPolicy
) -> list[tuple[Month, Month]]:
    """The months with benefits, as sorted disjoint inclusive intervals: each
    payment opens :meth:`PaidPeriod.opens`; adjacent or overlapping ones join."""
    opened = sorted(iv for iv in (p.opens(rules) for p in periods) if iv is not None)
    intervals: list[tuple[Month, Month]] = []
    for start, end in opened:
        if intervals and start - intervals[-1][1] <= 1:
            intervals[-1] = (intervals[-1][0], max(intervals[-1][1], end))
        else:
            intervals.append((start, end))
    return intervals


def benefit_status(
    periods: Iterable[PaidPeriod],
    month: Month,
    rules: BenefitsPolicy,
    *,
    terminated: bool = False,
) -> BenefitStatus:
    """The benefit state of one enrolment in ``month`` (rules a and b)."""
    if terminated:
        return BenefitStatus(TERMINATED)
    intervals = active_intervals(periods, rules)
    before = [iv for iv in intervals if iv[1] < month]
    after = [iv for iv in intervals if iv[0] > month]
    for start, end in intervals:
        if start <= month <= end:
            return BenefitStatus(NORMAL, since=start)
    upcoming = after[0][0] if after else None
    if before:
        return BenefitStatus(SUSPENDED, since=before[-1][1].plus(1), starts=upcoming)
    return BenefitStatus(NOT_ENROLLED, starts=upcoming)


def require_active(status: BenefitStatus, month: Month, insutype: str) -> None:
    """Refuse care in ``month`` unless benefits run (rules a and b)."""
    if status.active:
        return
    if status.psn_insu_stas == SUSPENDED:
        resume = f"，续缴后自 {status.starts} 起恢复" if status.starts else "，续缴后次月恢复"
        resume_en = (
            f"; they resume in {status.starts}"
            if status.starts
            else "; they resume in the month after contributions resume"
        )
        raise Refusal(
            "benefits.suspended",
            f"险种 {insutype} 自 {status.since} 起中断缴费超过3个月，医保待遇暂停"
            f"(psn_insu_stas=2)，个人账户不可使用{resume}",
            f"insutype {insutype}: more than 3 months without contributions, benefits "
            f"suspended since {status.since} (psn_insu_stas 2) and the personal account "
            f"cannot be used{resume_en}",
        )
    if status.psn_insu_stas == TERMINATED:
        raise Refusal(
            "benefits.terminated",
            f"险种 {insutype} 参保已终止",
            f"insutype {insutype}: the enrolment is terminated",
        )
    if status.starts is not None:
        raise Refusal(
            "benefits.not_started",
            f"险种 {insutype} 缴费次月起享受待遇，自 {status.starts} 起可用，{month} 不可结算",
            f"insutype {insutype}: benefits start in the month after the first contribution, "
            f"i.e. in {status.starts}; not in {month}",
        )
    raise Refusal(
        "benefits.not_paid",
        f"险种 {insutype} 无缴费记录，不能享受医保待遇",
        f"insutype {insutype}: no contributions paid, no benefits",
    )
