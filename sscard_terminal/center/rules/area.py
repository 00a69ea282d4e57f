"""Rule f: care outside the insured person's city (guide, use Q1).

"After the insured person has gone through the formalities of medical
treatment in a different place [filing, 异地就医备案] ... [he] can directly
swipe his card for medical treatment at the designated medical institution in
Zhejiang Province (special diseases are not supported for the time being)."

- same city (``city_prefix``, Ningbo 3302): allowed;
- other city within the province (``province_prefix``, 33): needs a valid
  filing covering the institution's area, and an institution designated for
  out-of-area settlement; med_type 14 (chronic/special disease) is refused;
- outside the province: refused (cross-province settlement is not this
  center's business, ``cross_province: false``).

A filing's area is a division code; trailing ``00`` pairs widen it (330100
covers Hangzhou's 3301xx, 330000 the whole province).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from sscard_terminal.center.policy import OutOfAreaPolicy
from sscard_terminal.center.refusals import Refusal

__all__ = ["AreaKind", "Filing", "area_kind", "covers", "require_area", "require_special_disease"]


class AreaKind(StrEnum):
    LOCAL = "local"
    IN_PROVINCE = "in_province"
    OUT_OF_PROVINCE = "out_of_province"


@dataclass(frozen=True)
class Filing:
    """A filing (备案): ``offsite`` care in ``area``, or a ``special_disease``."""

    kind: str
    area: str | None
    begin: dt.date
    end: dt.date | None
    dise_code: str | None = None

    def valid_on(self, day: dt.date) -> bool:
        return self.begin <= day and (self.end is None or day <= self.end)


def covers(filing_area: str, admdvs: str) -> bool:
    """Whether a filing's division covers ``admdvs`` (330100 covers 330102)."""
    prefix = filing_area
    while len(prefix) > 2 and prefix.endswith("00"):
        prefix = prefix[:-2]
    return admdvs.startswith(prefix)


def area_kind(
    person_admdvs: str, institution_admdvs: str, city_prefix_len: int, province_prefix_len: int
) -> AreaKind:
    """Same city, other city of the province, or another province."""
    if person_admdvs[:city_prefix_len] == institution_admdvs[:city_prefix_len]:
        return AreaKind.LOCAL
    if person_admdvs[:province_prefix_len] == institution_admdvs[:province_prefix_len]:
        return AreaKind.IN_PROVINCE
    return AreaKind.OUT_OF_PROVINCE


def require_area(
    *,
    person_admdvs: str,
    institution_admdvs: str,
    institution_offsite_designated: bool,
    med_type: str,
    filings: Iterable[Filing],
    on: dt.date,
    rules: OutOfAreaPolicy,
    city_prefix_len: int = 4,
    province_prefix_len: int = 2,
) -> AreaKind:
    """Refuse out-of-area care that rule f does not allow; return the area kind."""
    kind = area_kind(person_admdvs, institution_admdvs, city_prefix_len, province_prefix_len)
    if kind is AreaKind.LOCAL:
        return kind
    if kind is AreaKind.OUT_OF_PROVINCE and not rules.cross_province:
        raise Refusal(
            "area.out_of_province",
            f"参保地 {person_admdvs} 的人员在省外 {institution_admdvs} 就医不能在本平台结算",
            f"an insured of {person_admdvs} cannot settle care in {institution_admdvs}, "
            "outside the province, on this platform",
        )
    if med_type in rules.refused_med_types:
        raise Refusal(
            "area.special_disease",
            f"异地就医暂不支持门诊特殊病（med_type={med_type}）直接结算",
            f"special-disease outpatient care (med_type {med_type}) is not settled out of area",
        )
    if not institution_offsite_designated:
        raise Refusal(
            "area.not_designated",
            f"医药机构（{institution_admdvs}）不是异地就医定点机构",
            f"the institution ({institution_admdvs}) is not designated for out-of-area settlement",
        )
    if rules.needs_filing and not any(
        f.kind == "offsite"
        and f.area is not None
        and covers(f.area, institution_admdvs)
        and f.valid_on(on)
        for f in filings
    ):
        raise Refusal(
            "area.no_filing",
            f"未办理异地就医备案（就医地 {institution_admdvs}），不能异地直接结算",
            f"no out-of-area filing for {institution_admdvs}: file first, then settle "
            "directly out of area",
        )
    return kind


def require_special_disease(
    med_type: str, dise_code: str | None, filings: Iterable[Filing], on: dt.date
) -> None:
    """med_type 14 needs a valid special-disease filing (for the visit's disease,
    when the filing names one)."""
    if med_type != "14":
        return
    for filing in filings:
        if filing.kind != "special_disease" or not filing.valid_on(on):
            continue
        if filing.dise_code is None or dise_code is None or filing.dise_code == dise_code:
            return
    raise Refusal(
        "special_disease.no_filing",
        "门诊特殊病（med_type=14）须先办理特殊病备案（可用5301查询）",
        "special-disease outpatient care (med_type 14) needs a special-disease filing "
        "first (query with 5301)",
    )
