"""The demo data as validated data: the institutions, the catalogue and the
named persons that ``sscard center seed`` makes, read from
``policies/demo/ningbo.yaml`` (shipped with the package) and checked on load,
like the policies and the card profiles.

An institution is validated as the admin API's ``POST /institutions`` takes it
(:class:`~sscard_terminal.center.admin.institutions.InstitutionIn`, without a
secret: the seed makes one), a catalogue item as ``PUT /catalogue`` takes it
(:class:`~sscard_terminal.center.admin.catalogue.CatalogueIn`), a person by
:class:`DemoPerson`. A broken file raises :class:`DemoDataError`, whose
message names the file and the field.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sscard_terminal.center.admin.catalogue import CatalogueIn
from sscard_terminal.center.admin.institutions import InstitutionIn
from sscard_terminal.yaml_syntax import describe_yaml_error

__all__ = ["SITUATIONS", "DemoData", "DemoDataError", "DemoPerson", "load_demo_data"]

#: the situations of the guide that :func:`sscard_terminal.center.seed.demo.seed_demo`
#: sets up (enrolments, contributions, cards, filings); the file names one
#: person for each, exactly once
SITUATIONS = (
    "normal",
    "resident",
    "lapsed",
    "lost_card",
    "replaced_card",
    "temp_lost",
    "new_household",
    "cixi_rural",
    "offsite_filed",
    "offsite_unfiled",
    "minor",
    "no_card",
    "special_disease",
)


class DemoDataError(ValueError):
    """A demo data file that does not validate; the message names file and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DemoPerson(_Strict):
    """A named person for one situation of the guide."""

    #: the situation, one of :data:`SITUATIONS`
    key: str
    name: str = Field(min_length=1, max_length=50)
    #: region, birth date and sequence code make the ID number (GB 11643-1999)
    region: str = Field(pattern=r"^\d{6}$")
    birth: dt.date
    seq: int = Field(ge=0, le=999)
    #: what the situation is, in Chinese and English (``中文 / English``)
    situation: str = Field(min_length=1)
    #: the insured area (参保地)
    insuplc: str = Field(default="330200", pattern=r"^\d{6}$")


class DemoData(_Strict):
    """The demo institutions, catalogue and persons, in the file's order."""

    institutions: tuple[InstitutionIn, ...] = Field(min_length=1)
    catalogue: tuple[CatalogueIn, ...]
    persons: tuple[DemoPerson, ...]

    @model_validator(mode="after")
    def _consistent(self) -> DemoData:
        for i, institution in enumerate(self.institutions):
            if institution.secret is not None:
                raise ValueError(
                    f"institutions.{i}.secret: the seed makes the secrets; "
                    "a shipped file holds none"
                )
        _unique("institutions", "fixmedins_code", [i.fixmedins_code for i in self.institutions])
        _unique("catalogue", "list_code", [c.list_code for c in self.catalogue])
        _unique(
            "persons",
            "seq",
            [(p.region, p.birth, p.seq) for p in self.persons],
            "region, birth and seq: the ID number of an earlier person",
        )
        keys = [p.key for p in self.persons]
        for i, key in enumerate(keys):
            if key not in SITUATIONS:
                raise ValueError(f"persons.{i}.key: {key!r} is not one of {', '.join(SITUATIONS)}")
        _unique("persons", "key", keys)
        missing = [s for s in SITUATIONS if s not in keys]
        if missing:
            raise ValueError(f"persons: no person for {', '.join(missing)}")
        return self


def _unique(where: str, field: str, values: list[Any], what: str = "") -> None:
    seen: set[Any] = set()
    for i, value in enumerate(values):
        if value in seen:
            raise ValueError(f"{where}.{i}.{field}: {what or repr(value)} appears twice")
        seen.add(value)


def _problems(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
        if e["loc"]
        else str(e["msg"]).removeprefix("Value error, ")
        for e in exc.errors(include_url=False, include_input=False)
    )


def _read(path: Path, text: str) -> DemoData:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DemoDataError(describe_yaml_error(path, exc)) from None
    try:
        return DemoData.model_validate(data)
    except ValidationError as exc:
        raise DemoDataError(f"{path}: {_problems(exc)}") from None


@lru_cache(maxsize=1)
def _shipped() -> DemoData:
    shipped = resources.files("sscard_terminal.center") / "policies" / "demo" / "ningbo.yaml"
    return _read(Path(str(shipped)), shipped.read_text(encoding="utf-8"))


def load_demo_data(path: Path | None = None) -> DemoData:
    """The demo data shipped in ``policies/demo/ningbo.yaml``, or that of a file."""
    if path is None:
        return _shipped()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DemoDataError(f"{path}: cannot read: {exc.strerror}") from None
    return _read(path, text)
