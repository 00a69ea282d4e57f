"""The request and response envelopes of the national interface.

settlement-interface.md, "Request envelope" and "Response envelope". Every
field of the request is text (numbers are refused, so that what is signed is
unambiguous); lengths and forms are those of the table there. ``msgid`` is
fixmedins_code (12) + yyyyMMddHHmmss (14) + sequence (4), and its first 12
characters must be the sender's fixmedins_code.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sscard_terminal.center.refusals import Refusal

__all__ = [
    "FIELD_FORMS",
    "INFVER",
    "RequestEnvelope",
    "failure",
    "parse_envelope",
    "pydantic_refusal",
    "success",
]

INFVER = "V1.0"

Code6 = Annotated[str, Field(pattern=r"^\d{6}$")]


def _opt(max_length: int) -> Any:
    return Field(default=None, max_length=max_length)


class RequestEnvelope(BaseModel):
    """A request envelope (settlement-interface.md, "Request envelope")."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    infno: str = Field(pattern=r"^\d{4}$", description="transaction code, e.g. 2207")
    msgid: str = Field(
        pattern=r"^[A-Z0-9]{12}\d{18}$",
        description="fixmedins_code(12) + yyyyMMddHHmmss(14) + sequence(4)",
    )
    mdtrtarea_admvs: Code6 = Field(description="division where care happens")
    insuplc_admdvs: str | None = Field(
        default=None, pattern=r"^(\d{6})?$", description="the insured person's home division"
    )
    recer_sys_code: str = Field(min_length=1, max_length=10)
    dev_no: str | None = _opt(100)
    dev_safe_info: str | None = _opt(2000)
    cainfo: str | None = _opt(1024)
    signtype: str | None = _opt(10)
    infver: str = Field(min_length=1, max_length=6)
    opter_type: str = Field(pattern=r"^[123]$", description="1 operator, 2 kiosk, 3 mobile")
    opter: str = Field(min_length=1, max_length=30)
    opter_name: str = Field(min_length=1, max_length=50)
    inf_time: str = Field(description="yyyy-MM-dd HH:mm:ss")
    fixmedins_code: str = Field(pattern=r"^[A-Z0-9]{12}$")
    fixmedins_name: str = Field(min_length=1, max_length=200)
    sign_no: str | None = _opt(30)
    input: dict[str, Any]

    @field_validator("inf_time")
    @classmethod
    def _time(cls, value: str) -> str:
        if _parse_time(value) is None:
            raise ValueError("must be yyyy-MM-dd HH:mm:ss")
        return value

    @field_validator("infver")
    @classmethod
    def _version(cls, value: str) -> str:
        if value != INFVER:
            raise ValueError(f"must be {INFVER}")
        return value

    @property
    def msg_time(self) -> dt.datetime | None:
        """The time in the msgid (naive, Asia/Shanghai), None when it is no date."""
        text = self.msgid[12:26]
        if len(text) != 14 or not text.isascii() or not text.isdigit():
            return None
        return _datetime(text[0:4], text[4:6], text[6:8], text[8:10], text[10:12], text[12:14])


_TIME_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})")


def _parse_time(value: str) -> dt.datetime | None:
    """``yyyy-MM-dd HH:mm:ss`` as a datetime, None when it is not one (what
    ``strptime`` with that format accepts for a 19-character text)."""
    match = _TIME_RE.fullmatch(value)
    return None if match is None else _datetime(*match.groups())


def _datetime(
    year: str, month: str, day: str, hour: str, minute: str, second: str
) -> dt.datetime | None:
    try:
        return dt.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
    except ValueError:
        return None


#: the form each envelope field must take, for the refusals (settlement-interface.md,
#: "Request envelope"); every field is text
FIELD_FORMS: dict[str, str] = {
    "infno": "the 4-digit transaction code, e.g. 2207",
    "msgid": "fixmedins_code (12) + yyyyMMddHHmmss (14) + sequence (4 digits)",
    "mdtrtarea_admvs": "a 6-digit division code",
    "insuplc_admdvs": "a 6-digit division code, or empty",
    "recer_sys_code": "text of 1-10 characters",
    "dev_no": "text of at most 100 characters",
    "dev_safe_info": "text of at most 2000 characters",
    "cainfo": "the signature, text of at most 1024 characters",
    "signtype": "HMAC-SM3 or SM2",
    "infver": INFVER,
    "opter_type": "the text 1, 2 or 3",
    "opter": "text of 1-30 characters",
    "opter_name": "text of 1-50 characters",
    "inf_time": "the text yyyy-MM-dd HH:mm:ss",
    "fixmedins_code": "12 upper-case letters or digits",
    "fixmedins_name": "text of 1-200 characters",
    "sign_no": "text of at most 30 characters",
    "input": "a JSON object, or a JSON text holding one",
}


def pydantic_refusal(
    exc: ValidationError,
    where: str,
    code: str = "input.invalid",
    forms: Mapping[str, str] | None = None,
) -> Refusal:
    """A refusal naming every bad field (never echoing its value), with the
    form the field must take where ``forms`` knows it."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False)[:8]:
        location = ".".join(str(p) for p in error["loc"]) or where
        text = error["msg"]
        form = forms.get(str(error["loc"][0])) if forms and error["loc"] else None
        if form:
            text = f"{text}; it must be {form}"
        parts.append(f"{where}.{location}: {text}" if location != where else text)
    text = "; ".join(parts)
    return Refusal(code, f"报文字段不合法 ({text})", f"invalid fields: {text}")


def parse_envelope(raw: Any) -> RequestEnvelope:
    """Validate a request envelope; raises :class:`Refusal` naming the bad fields."""
    if not isinstance(raw, dict):
        raise Refusal("envelope.invalid", "报文必须是JSON对象", "the message must be a JSON object")
    try:
        envelope = RequestEnvelope.model_validate(raw)
    except ValidationError as exc:
        raise pydantic_refusal(exc, "envelope", "envelope.invalid", FIELD_FORMS) from None
    if envelope.msgid[:12] != envelope.fixmedins_code:
        raise Refusal(
            "envelope.msgid",
            "msgid 前12位必须是本机构编码 fixmedins_code",
            "msgid must start with the sender's fixmedins_code",
        )
    if envelope.msg_time is None:
        raise Refusal(
            "envelope.msgid",
            "msgid 第13-26位必须是 yyyyMMddHHmmss 时间",
            "msgid characters 13-26 must be a time yyyyMMddHHmmss",
        )
    return envelope


def _stamp17(moment: dt.datetime) -> str:
    return moment.strftime("%Y%m%d%H%M%S") + f"{moment.microsecond // 1000:03d}"


def _base(admdvs: str, received: dt.datetime, answered: dt.datetime) -> dict[str, Any]:
    serial = secrets.randbelow(10**10)
    return {
        "inf_refmsgid": f"{admdvs}{received:%Y%m%d%H%M%S}{serial:010d}",
        "refmsg_time": _stamp17(received),
        "respond_time": _stamp17(answered),
    }


def success(
    output: dict[str, Any],
    *,
    admdvs: str,
    received: dt.datetime,
    answered: dt.datetime,
    warn_msg: str | None = None,
) -> dict[str, Any]:
    """A response envelope with infcode 0."""
    return {
        "infcode": 0,
        **_base(admdvs, received, answered),
        "err_msg": None,
        "warn_msg": warn_msg,
        "output": output,
    }


def failure(
    refusal: Refusal, *, admdvs: str, received: dt.datetime, answered: dt.datetime
) -> dict[str, Any]:
    """A response envelope with infcode -1, ``err_msg`` in Chinese and English and
    the stable ``err_code``."""
    return {
        "infcode": -1,
        **_base(admdvs, received, answered),
        "err_msg": refusal.err_msg,
        "err_code": refusal.code,
        "warn_msg": None,
        "output": {},
    }
