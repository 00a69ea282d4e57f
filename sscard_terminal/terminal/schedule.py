"""The hospital's own schedule of departments and doctors, for kiosk registration.

The schedule is the hospital's business, not the insurance center's: a kiosk
gets it from the hospital information system, here as a validated data file
(YAML or JSON). Each session has a registration fee, the medical-list code
of the registration service it is charged under, and a number of places; the
queue number of a registration is the next free place.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sscard_terminal.errors import UsageError
from sscard_terminal.yaml_syntax import describe_yaml_error


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Doctor(_Model):
    code: str = Field(pattern=r"^[A-Za-z0-9]{1,20}$")
    name: str = Field(min_length=1, max_length=50)
    title: str = ""
    #: the registration fee (yuan) and the catalogue code it is charged under
    fee: Decimal = Field(ge=0, decimal_places=2)
    fee_code: str = Field(min_length=1, max_length=50)
    places: int = Field(ge=1, le=999)
    #: when the doctor sees patients, as the kiosk shows it ("08:00-11:30")
    hours: str = Field(default="", pattern=r"^$|^\d{2}:\d{2}-\d{2}:\d{2}$")


class Department(_Model):
    code: str = Field(pattern=r"^[A-Za-z0-9]{1,20}$")
    name: str = Field(min_length=1, max_length=100)
    #: the department's discipline code (caty of 2201)
    caty: str = Field(min_length=1, max_length=10)
    doctors: list[Doctor] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Department:
        codes = [d.code for d in self.doctors]
        if len(codes) != len(set(codes)):
            raise ValueError(f"department {self.code}: duplicate doctor codes")
        return self


class Schedule(_Model):
    schema_: str = Field(alias="schema", pattern=r"^sscard-schedule/1$")
    hospital: str = Field(min_length=1)
    fixmedins_code: str = Field(pattern=r"^[A-Z][0-9]{11}$")
    date: dt.date | None = None  # None: valid every day (a demo schedule)
    departments: list[Department] = Field(min_length=1)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def find(self, department: str, doctor: str) -> tuple[Department, Doctor]:
        for dept in self.departments:
            if dept.code == department or dept.name == department:
                for doc in dept.doctors:
                    if doc.code == doctor or doc.name == doctor:
                        return dept, doc
                names = ", ".join(f"{d.code} {d.name}" for d in dept.doctors)
                raise UsageError(f"no doctor {doctor!r} in {dept.name}", hint=f"choose: {names}")
        names = ", ".join(f"{d.code} {d.name}" for d in self.departments)
        raise UsageError(f"no department {department!r}", hint=f"choose: {names}")


def default_schedule_path() -> Path:
    return Path(str(resources.files("sscard_terminal.terminal") / "data" / "schedule.yaml"))


def load_schedule(path: str | Path | None = None) -> Schedule:
    source = Path(path) if path is not None else default_schedule_path()
    try:
        data: Any = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{source}: cannot read the schedule: {exc}") from None
    except yaml.YAMLError as exc:
        raise UsageError(describe_yaml_error(source, exc)) from None
    try:
        return Schedule.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise UsageError(f"{source}: {problems}") from None
