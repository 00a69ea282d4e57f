"""Policy parameters per area, as validated data.

A policy file (YAML or JSON) holds every number and list the rules use, so
that rules stay pure functions of their inputs and a city's parameters are
data, not code. ``policies/330200.yaml`` is Ningbo's and the default. The
schema is :class:`Policy`; :func:`load_policy` takes an area code (a file
shipped in ``policies/``) or a path.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from sscard_terminal.center.rules.proofs import PROOFS, issued_by_public_security
from sscard_terminal.center.rules.workdays import Holiday, WorkCalendar, YearSchedule
from sscard_terminal.yaml_syntax import describe_yaml_error

__all__ = [
    "DEFAULT_AREA",
    "FundPolicy",
    "HolidaySchedule",
    "Policy",
    "PolicyError",
    "VisitPolicy",
    "load_policy",
]

DEFAULT_AREA = "330200"


class PolicyError(ValueError):
    """A policy file that does not validate; the message names file and field."""


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool | float):
        raise ValueError("write decimals as quoted text, e.g. '0.85' (floats are not exact)")
    if isinstance(value, int | str | Decimal):
        try:
            result = Decimal(str(value))
        except ArithmeticError:
            raise ValueError(f"not a decimal: {value!r}") from None
        if not result.is_finite():
            raise ValueError("must be finite")
        return result
    raise ValueError(f"not a decimal: {value!r}")


def _money(value: Any) -> Decimal:
    result = _decimal(value)
    if result < 0 or result.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValueError("an amount is >= 0 with at most 2 decimals")
    return result.quantize(Decimal("0.01"))


def _ratio(value: Any) -> Decimal:
    result = _decimal(value)
    if not Decimal(0) <= result <= Decimal(1):
        raise ValueError("a ratio is between 0 and 1")
    return result


Money = Annotated[Decimal, BeforeValidator(_money)]
Ratio = Annotated[Decimal, BeforeValidator(_ratio)]
Level = Literal["0", "1", "2", "3"]
Region = Annotated[str, Field(pattern=r"^\d{6}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BenefitsPolicy(_Strict):
    """Rules a and b: when benefits start and when they are suspended."""

    #: benefits start this many months after the first paid month (Q1: 1)
    start_after_months: int = Field(ge=0, le=12)
    #: care in month T is refused when T - last paid month > this (3)
    max_gap_months: int = Field(ge=0, le=24)


class VisitPolicy(_Strict):
    """When a visit may start (rules/visits.py): a visit is registered on the day
    it starts or at most ``begntime_days_back`` calendar days later."""

    begntime_days_back: int = Field(ge=0, le=31)


class CardPolicy(_Strict):
    """Rules c, d and j: fees, replacement deadline, which credentials settle."""

    fee: Money
    first_card_fee: Money
    replacement_working_days: int = Field(ge=1, le=60)
    settlement_cert_types: list[Literal["01", "02", "03"]]
    lookup_cert_types: list[Literal["01", "02", "03"]]

    @model_validator(mode="after")
    def _fees(self) -> CardPolicy:
        if self.first_card_fee > self.fee:
            raise ValueError("first_card_fee cannot exceed fee")
        return self


class HolidayEntry(_Strict):
    """One holiday of a State Council schedule, as the notice states it."""

    name: str = Field(min_length=1)
    #: first and last day off ("X月X日至X日放假调休"), the key ``break`` in YAML
    #: (``off`` would be read as a boolean)
    off: tuple[dt.date, dt.date] = Field(alias="break")
    #: the break's length as published ("共N天"): checked against ``off``
    days: int = Field(ge=1, le=15)
    #: weekend days worked in exchange ("X月X日(周日)上班")
    workdays: list[dt.date] = []

    @model_validator(mode="after")
    def _consistent(self) -> HolidayEntry:
        first, last = self.off
        if last < first:
            raise ValueError(f"{self.name}: the last day off is before the first")
        if (last - first).days + 1 != self.days:
            raise ValueError(
                f"{self.name}: {first}..{last} is {(last - first).days + 1} days, not {self.days}"
            )
        for day in self.workdays:
            if day.weekday() < 5:
                raise ValueError(f"{self.name}: make-up day {day} is not a Saturday or Sunday")
            if first <= day <= last:
                raise ValueError(f"{self.name}: make-up day {day} lies in the break")
        return self


class HolidaySchedule(_Strict):
    """A year's holiday and make-up-day schedule (国务院办公厅关于YYYY年部分节假日
    安排的通知): one file ``policies/calendars/<name>/<year>.yaml`` per year."""

    schema_: Literal["sscard-holiday-schedule/1"] = Field(alias="schema")
    year: int = Field(ge=2000, le=2100)
    notice: str = Field(min_length=1)
    published: dt.date
    holidays: list[HolidayEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _in_year(self) -> HolidaySchedule:
        if self.published.year >= self.year + 1:
            raise ValueError("published after its year")
        for entry in self.holidays:
            if self.year not in (entry.off[0].year, entry.off[1].year):
                raise ValueError(
                    f"{entry.name}: {entry.off[0]}..{entry.off[1]} is not in {self.year}"
                )
        return self

    def schedule(self) -> YearSchedule:
        return YearSchedule(
            self.year,
            self.notice,
            tuple(Holiday(e.name, e.off[0], e.off[1], tuple(e.workdays)) for e in self.holidays),
        )


class CalendarPolicy(_Strict):
    """Working days (rule c's deadline): the State Council's schedules of the
    years in ``policies/calendars/<schedules>/``, one file per year; a day of
    any other year is refused, not guessed (:mod:`rules.workdays`)."""

    schedules: str = Field(pattern=r"^[a-z0-9-]{1,20}$")
    _calendar: WorkCalendar = PrivateAttr()

    @model_validator(mode="after")
    def _load(self) -> CalendarPolicy:
        self._calendar = WorkCalendar(_holiday_schedules(self.schedules))
        return self

    @property
    def working(self) -> WorkCalendar:
        """The working-day calendar."""
        return self._calendar


class SporadicPolicy(_Strict):
    """Rule d: sporadic reimbursement claims (零星报销)."""

    #: claims accepted up to and including this many months after the bill date
    claim_months: int = Field(ge=1, le=36)


class MinorsPolicy(_Strict):
    """Rule i: a minor's card application."""

    age_of_majority: int = Field(ge=14, le=21)
    #: documents of the public security department only (rules/applications.py PROOFS)
    relationship_proofs: list[str] = Field(min_length=1)
    guardian_relations: list[str] = Field(min_length=1)

    @field_validator("relationship_proofs")
    @classmethod
    def _police_documents(cls, value: list[str]) -> list[str]:
        for proof in value:
            if proof not in PROOFS:
                raise ValueError(f"unknown document {proof!r}; known: {', '.join(PROOFS)}")
            if not issued_by_public_security(proof):
                raise ValueError(
                    f"{proof} is not issued by the public security department (guide: "
                    "the relationship certificate is 'issued by the public security department')"
                )
        return value


class LegacyScheme(_Strict):
    """Rule e: a scheme whose insured get a card but no medical use until enrolled
    in ``requires_insutype``."""

    name_zh: str
    name_en: str
    requires_insutype: str


class OutOfAreaPolicy(_Strict):
    """Rule f: care outside the insured person's city."""

    needs_filing: bool
    refused_med_types: list[str]
    cross_province: bool = False


class FundPolicy(_Strict):
    """Rule h for one insutype: deductible per year, pooled-fund ratio by
    institution level ("0" pharmacies and unrated, "1".."3" hospital levels),
    annual cap, and whether the insured have a personal account."""

    fund_pay_type: str = Field(pattern=r"^\d{6}$")
    deductible: Money
    annual_cap: Money
    pool_ratio: dict[Level, Ratio]
    personal_account: bool

    @field_validator("pool_ratio")
    @classmethod
    def _all_levels(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        missing = {"0", "1", "2", "3"} - set(value)
        if missing:
            raise ValueError(f"pool_ratio needs every level; missing {sorted(missing)}")
        return value


class MoneyPolicy(_Strict):
    """Rule h: catalogue classes and the funds."""

    class_b_selfpay_prop: Ratio
    insutypes: dict[str, FundPolicy]


class Policy(_Strict):
    """All parameters of one area (a city's medical-insurance planning area)."""

    schema_: Literal["sscard-center-policy/1"] = Field(alias="schema")
    admdvs: Region
    name: str
    timezone: Literal["Asia/Shanghai"]
    city_prefix: str = Field(pattern=r"^\d{4}$")
    province_prefix: str = Field(pattern=r"^\d{2}$")
    benefits: BenefitsPolicy
    visits: VisitPolicy
    cards: CardPolicy
    calendar: CalendarPolicy
    sporadic: SporadicPolicy
    minors: MinorsPolicy
    legacy_schemes: dict[str, LegacyScheme]
    out_of_area: OutOfAreaPolicy
    money: MoneyPolicy

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        if not self.admdvs.startswith(self.city_prefix):
            raise ValueError("admdvs must lie in city_prefix")
        if not self.city_prefix.startswith(self.province_prefix):
            raise ValueError("city_prefix must lie in province_prefix")
        for key, scheme in self.legacy_schemes.items():
            if scheme.requires_insutype not in self.money.insutypes:
                raise ValueError(
                    f"legacy_schemes.{key}: insutype {scheme.requires_insutype} has no fund"
                )
        return self

    def fund(self, insutype: str) -> FundPolicy | None:
        return self.money.insutypes.get(insutype)


def _problems(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
        for e in exc.errors(include_url=False, include_input=False)
    )


@lru_cache(maxsize=4)
def _holiday_schedules(name: str) -> tuple[YearSchedule, ...]:
    """The schedules shipped in ``policies/calendars/<name>/<year>.yaml``."""
    folder = resources.files("sscard_terminal.center") / "policies" / "calendars" / name
    if not folder.is_dir():
        raise ValueError(f"no holiday schedules {name!r} (policies/calendars/{name}/)")
    found: list[YearSchedule] = []
    for item in sorted(folder.iterdir(), key=lambda i: i.name):
        if not item.name.endswith(".yaml"):
            continue
        where = f"policies/calendars/{name}/{item.name}"
        try:
            parsed = HolidaySchedule.model_validate(yaml.safe_load(item.read_text("utf-8")))
        except yaml.YAMLError as exc:
            raise ValueError(f"{where}: not YAML: {exc}") from None
        except ValidationError as exc:
            raise ValueError(f"{where}: {_problems(exc)}") from None
        if item.name != f"{parsed.year}.yaml":
            raise ValueError(f"{where}: holds the schedule of {parsed.year}")
        found.append(parsed.schedule())
    if not found:
        raise ValueError(f"policies/calendars/{name}/ holds no schedule")
    return tuple(found)


def _read(path: Path, text: str) -> Policy:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(describe_yaml_error(path, exc)) from None
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(f"{path}: {_problems(exc)}") from None


def load_policy(ref: str | Path = DEFAULT_AREA) -> Policy:
    """The policy of an area code shipped in ``policies/`` (``"330200"``) or of a file."""
    return _load(str(ref))


@lru_cache(maxsize=16)
def _load(ref: str) -> Policy:
    candidate = Path(ref)
    if candidate.suffix in {".yaml", ".yml", ".json"} or candidate.exists():
        if not candidate.is_file():
            raise PolicyError(f"{candidate}: no such policy file")
        return _read(candidate, candidate.read_text(encoding="utf-8"))
    shipped = resources.files("sscard_terminal.center") / "policies" / f"{ref}.yaml"
    if not shipped.is_file():
        raise PolicyError(f"no policy for area {ref!r} (ship policies/{ref}.yaml or give a path)")
    return _read(Path(str(shipped)), shipped.read_text(encoding="utf-8"))
