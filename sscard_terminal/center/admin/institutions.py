"""Institutions: registration with a secret, a new secret, the SM2 public key
of signtype SM2 and the x-tif gateway-header option (docs/center.md, "Admin
API" and "How an institution authenticates").

:func:`institution_row` is the one place an ``institutions`` row is built:
registration here and the demo seed both use it.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any, Literal

from pydantic import Field, field_validator
from sqlalchemy.orm import Session

from sscard_terminal.center import sm2sign
from sscard_terminal.center.admin.base import AdminModel, find_institution, local_time
from sscard_terminal.center.models import Institution
from sscard_terminal.center.refusals import Refusal

__all__ = [
    "SECRET_RE",
    "GatewayIn",
    "InstitutionAuthIn",
    "InstitutionIn",
    "SM2KeyIn",
    "auth_view",
    "create_institution",
    "institution_row",
    "rotate_secret",
    "set_gateway",
    "set_sm2_key",
]


#: an institution's secret: 32 random bytes in lower-case hex, as
#: ``secrets.token_hex(32)`` makes it
SECRET_RE = re.compile(r"[0-9a-f]{64}")


def _sm2_key(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return sm2sign.parse_public_key(value).hex
    except sm2sign.SM2KeyError as exc:
        raise ValueError(str(exc)) from None


class SM2KeyIn(AdminModel):
    """An institution's SM2 public key for signtype SM2 (None removes it)."""

    public_key: str | None = Field(
        description="04 + X + Y (130 hex digits), X + Y (128 hex digits) or a PEM PUBLIC KEY"
    )

    _key = field_validator("public_key")(_sm2_key)


class GatewayIn(AdminModel):
    """The x-tif gateway-header option of an institution (docs/center.md)."""

    mode: Literal["off", "also", "only"] = Field(
        description="off: headers ignored; also: required with cainfo; only: required, "
        "cainfo optional"
    )
    paasid: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_\-.]{1,64}$",
        description="the x-tif-paasid expected (default: the fixmedins_code)",
    )


class InstitutionAuthIn(AdminModel):
    """How an institution authenticates besides its secret: an SM2 key, gateway headers."""

    sm2_public_key: str | None = Field(
        default=None,
        description="SM2 public key for signtype SM2: 04 + X + Y in hex, or a PEM PUBLIC KEY",
    )
    gateway: Literal["off", "also", "only"] = "off"
    gateway_paasid: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_\-.]{1,64}$")

    _key = field_validator("sm2_public_key")(_sm2_key)


class InstitutionIn(InstitutionAuthIn):
    fixmedins_code: str = Field(pattern=r"^[A-Z0-9]{12}$")
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["hospital", "pharmacy"]
    level: Literal["0", "1", "2", "3"]
    admdvs: str = Field(pattern=r"^\d{6}$")
    designated: bool = True
    offsite_designated: bool = False
    secret: str | None = Field(
        default=None,
        description="64 lower-case hex digits; leave it out and the center makes one",
    )

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        if value is not None and SECRET_RE.fullmatch(value) is None:
            raise ValueError(
                "must be 64 lower-case hex digits (256 bits), or left out: "
                "the center then makes one"
            )
        return value


def institution_row(req: InstitutionIn, secret: str, now: dt.datetime) -> Institution:
    """The ``institutions`` row of a registration, with its secret."""
    return Institution(
        fixmedins_code=req.fixmedins_code,
        name=req.name,
        kind=req.kind,
        level=req.level,
        admdvs=req.admdvs,
        designated=req.designated,
        offsite_designated=req.offsite_designated,
        secret=secret,
        created_at=local_time(now),
        sm2_public_key=req.sm2_public_key,
        gateway=req.gateway,
        gateway_paasid=req.gateway_paasid,
    )


def create_institution(session: Session, now: dt.datetime, req: InstitutionIn) -> dict[str, Any]:
    """Register an institution; its secret is returned here and never again."""
    if session.get(Institution, req.fixmedins_code) is not None:
        raise Refusal(
            "institution.exists",
            f"定点机构 {req.fixmedins_code} 已登记",
            f"institution {req.fixmedins_code} is already registered",
        )
    secret = req.secret or secrets.token_hex(32)
    session.add(institution_row(req, secret, now))
    return {"fixmedins_code": req.fixmedins_code, "secret": secret}


def rotate_secret(session: Session, code: str) -> dict[str, Any]:
    """Give an institution a new secret; returned here and never again."""
    institution = find_institution(session, code)
    institution.secret = secrets.token_hex(32)
    return {"fixmedins_code": code, "secret": institution.secret}


def auth_view(institution: Institution) -> dict[str, Any]:
    """What an institution authenticates with, without its secret."""
    return {
        "fixmedins_code": institution.fixmedins_code,
        "sm2_public_key": institution.sm2_public_key,
        "gateway": institution.gateway,
        "gateway_paasid": institution.gateway_paasid or institution.fixmedins_code,
    }


def set_sm2_key(session: Session, code: str, req: SM2KeyIn) -> dict[str, Any]:
    """Register (or with None remove) the SM2 public key of signtype SM2."""
    institution = find_institution(session, code)
    institution.sm2_public_key = req.public_key
    return auth_view(institution)


def set_gateway(session: Session, code: str, req: GatewayIn) -> dict[str, Any]:
    """Set the gateway-header option (off, also, only) and the expected paasid."""
    institution = find_institution(session, code)
    institution.gateway = req.mode
    institution.gateway_paasid = req.paasid
    return auth_view(institution)
