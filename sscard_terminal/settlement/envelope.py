"""Request and response envelopes (settlement-interface.md, "Request envelope"
and "Response envelope").

A request envelope carries, besides ``infno`` and ``input``:

- ``msgid`` = fixmedins_code (12) + yyyyMMddHHmmss (14) + sequence (4),
  unique per message (:func:`make_msgid`; the sequence comes from the
  journal's counter, see :mod:`sscard_terminal.settlement.journal`);
- ``inf_time`` = ``yyyy-MM-dd HH:mm:ss`` (Asia/Shanghai);
- ``infver`` = ``V1.0``; ``opter_type`` 1 operator, 2 self-service terminal,
  3 mobile; ``opter``/``opter_name`` the operator or the terminal;
- ``insuplc_admdvs`` = the insured person's home division (from 1101),
  required when the input has a psn_no;
- ``signtype``/``cainfo``: the HMAC-SM3 signature of :mod:`.wire`, or the
  SM2 signature of :mod:`.sm2` when the institution has an SM2 private key.

Every envelope field is written as text. A response envelope has ``infcode``
0 for success and -1 for failure, seen both as a number and as a string
(:func:`parse_response` accepts both), ``err_msg`` and ``output``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sscard_terminal.settlement import wire
from sscard_terminal.settlement.errors import CenterRefused, UnexpectedAnswer
from sscard_terminal.settlement.sm2 import SIGNTYPE as SM2_SIGNTYPE
from sscard_terminal.settlement.sm2 import SM2Signer

__all__ = [
    "INFVER",
    "SHANGHAI",
    "OpterType",
    "RequestParty",
    "Response",
    "build_request",
    "format_inf_time",
    "make_msgid",
    "parse_response",
    "parse_msgid",
]

INFVER = "V1.0"
SHANGHAI = ZoneInfo("Asia/Shanghai")
#: The receiving system when the configuration names none.
DEFAULT_RECER_SYS_CODE = "FSI_LOCAL"

_CODE_RE = re.compile(r"^[A-Z0-9]{12}$")
_MSGID_RE = re.compile(r"^([A-Z0-9]{12})(\d{14})(\d{4})$")
_ADMDVS_RE = re.compile(r"^\d{6}$")


class OpterType(StrEnum):
    """``opter_type`` (settlement-interface.md, "Request envelope")."""

    OPERATOR = "1"
    KIOSK = "2"
    MOBILE = "3"


def _shanghai(moment: dt.datetime) -> dt.datetime:
    """A moment as naive Asia/Shanghai wall time (naive input is taken as such)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(SHANGHAI).replace(tzinfo=None)
    return moment.replace(microsecond=0)


def format_inf_time(moment: dt.datetime) -> str:
    """``inf_time``: ``yyyy-MM-dd HH:mm:ss`` in Asia/Shanghai."""
    return f"{_shanghai(moment):%Y-%m-%d %H:%M:%S}"


def make_msgid(fixmedins_code: str, moment: dt.datetime, sequence: int) -> str:
    """``msgid`` = fixmedins_code (12) + yyyyMMddHHmmss (14, Asia/Shanghai) +
    sequence (4 digits, 0000-9999): 30 characters."""
    if not _CODE_RE.match(fixmedins_code):
        raise ValueError("fixmedins_code must be 12 upper-case letters or digits")
    if not 0 <= sequence <= 9999:
        raise ValueError("the msgid sequence is 4 digits (0-9999)")
    return f"{fixmedins_code}{_shanghai(moment):%Y%m%d%H%M%S}{sequence:04d}"


def parse_msgid(msgid: str) -> tuple[str, dt.datetime, int]:
    """The institution, time (naive Asia/Shanghai) and sequence of a msgid."""
    found = _MSGID_RE.match(msgid)
    if not found:
        raise ValueError(f"not a msgid: {msgid!r}")
    moment = dt.datetime.strptime(found.group(2), "%Y%m%d%H%M%S")
    return found.group(1), moment, int(found.group(3))


@dataclass(frozen=True)
class RequestParty:
    """Who sends: the institution and its operator or terminal (the envelope
    fields that are the same for every message of one terminal)."""

    fixmedins_code: str
    fixmedins_name: str
    mdtrtarea_admvs: str
    opter_type: OpterType
    opter: str
    opter_name: str
    recer_sys_code: str = DEFAULT_RECER_SYS_CODE
    dev_no: str = ""
    dev_safe_info: str = ""

    def __post_init__(self) -> None:
        if not _CODE_RE.match(self.fixmedins_code):
            raise ValueError("fixmedins_code must be 12 upper-case letters or digits")
        if not _ADMDVS_RE.match(self.mdtrtarea_admvs):
            raise ValueError("mdtrtarea_admvs must be a 6-digit division code")
        if not 1 <= len(self.opter) <= 30 or not 1 <= len(self.opter_name) <= 50:
            raise ValueError("opter is 1-30 characters, opter_name 1-50")
        if not 1 <= len(self.fixmedins_name) <= 200:
            raise ValueError("fixmedins_name is 1-200 characters")


def build_request(
    infno: str,
    payload: Mapping[str, Any],
    *,
    party: RequestParty,
    msgid: str,
    inf_time: dt.datetime,
    secret: str,
    sign_no: str | None = None,
    insuplc_admdvs: str | None = None,
    sm2: SM2Signer | None = None,
) -> dict[str, Any]:
    """A signed request envelope (settlement-interface.md, "Request envelope").

    Every field is text; ``cainfo`` is the HMAC-SM3 of :func:`wire.sign`, or
    with ``sm2`` the SM2 signature of :mod:`.sm2` (signtype "SM2"). The
    secret is used here and nowhere stored."""
    if not re.fullmatch(r"\d{4}", infno):
        raise ValueError("infno is 4 digits")
    if insuplc_admdvs and not _ADMDVS_RE.match(insuplc_admdvs):
        raise ValueError("insuplc_admdvs must be a 6-digit division code")
    envelope: dict[str, Any] = {
        "infno": infno,
        "msgid": msgid,
        "mdtrtarea_admvs": party.mdtrtarea_admvs,
        "insuplc_admdvs": insuplc_admdvs or "",
        "recer_sys_code": party.recer_sys_code,
        "dev_no": party.dev_no,
        "dev_safe_info": party.dev_safe_info,
        "signtype": wire.SIGNTYPE if sm2 is None else SM2_SIGNTYPE,
        "infver": INFVER,
        "opter_type": str(party.opter_type.value),
        "opter": party.opter,
        "opter_name": party.opter_name,
        "inf_time": format_inf_time(inf_time),
        "fixmedins_code": party.fixmedins_code,
        "fixmedins_name": party.fixmedins_name,
        "sign_no": sign_no or "",
        "input": dict(payload),
    }
    envelope["cainfo"] = wire.sign(envelope, secret) if sm2 is None else sm2.sign(envelope)
    return envelope


@dataclass(frozen=True)
class Response:
    """A response envelope (settlement-interface.md, "Response envelope")."""

    infcode: int
    err_msg: str | None
    output: dict[str, Any]
    warn_msg: str | None = None
    inf_refmsgid: str | None = None
    refmsg_time: str | None = None
    respond_time: str | None = None
    err_code: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        """infcode 0."""
        return self.infcode == 0

    def raise_for_refusal(self, infno: str = "", msgid: str = "") -> None:
        """Raise :class:`CenterRefused` unless infcode is 0."""
        if self.infcode != 0:
            raise CenterRefused(
                self.err_msg or "(no err_msg)",
                infno=infno,
                msgid=msgid,
                infcode=self.infcode,
                err_code=self.err_code,
            )


def _infcode(value: Any) -> int:
    """infcode as a number or as a string (settlement-interface.md: accept both)."""
    if isinstance(value, bool):
        raise UnexpectedAnswer("infcode is a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    raise UnexpectedAnswer(f"infcode {value!r} is not a number")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def parse_response(body: bytes | Mapping[str, Any]) -> Response:
    """Read a response envelope; raises :class:`UnexpectedAnswer` when it is none."""
    raw: Any
    if isinstance(body, bytes):
        try:
            raw = wire.loads(body)
        except wire.WireFormatError as exc:
            raise UnexpectedAnswer(f"the answer is not JSON ({exc})") from None
    else:
        raw = dict(body)
    if not isinstance(raw, dict):
        raise UnexpectedAnswer("the answer is not a JSON object")
    if "infcode" not in raw:
        raise UnexpectedAnswer("the answer has no infcode")
    infcode = _infcode(raw["infcode"])
    output = raw.get("output")
    if output is None:
        output = {}
    if not isinstance(output, dict):
        raise UnexpectedAnswer("output is not a JSON object")
    return Response(
        infcode=infcode,
        err_msg=_text(raw.get("err_msg")),
        output=output,
        warn_msg=_text(raw.get("warn_msg")),
        inf_refmsgid=_text(raw.get("inf_refmsgid")),
        refmsg_time=_text(raw.get("refmsg_time")),
        respond_time=_text(raw.get("respond_time")),
        err_code=_text(raw.get("err_code")),
        raw=raw,
    )
