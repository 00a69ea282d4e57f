"""Rule k: ID numbers are checked (GB 11643-1999).

The check character (clause 5.4), a real birth date not in the future
(clause 5.2), and - when given - a birth date and sex (clause 5.3, odd
sequence code for men) that agree with the number. The number is parsed by
:class:`sscard_terminal.codecs.id_number.IdNumber`; every refusal shows it
masked only.
"""

from __future__ import annotations

import datetime as dt

from sscard_terminal.center.refusals import Refusal
from sscard_terminal.codecs.id_number import IdNumber
from sscard_terminal.codecs.masking import mask_id_number
from sscard_terminal.errors import PersonDataError

__all__ = ["check_id_number"]

_SEX_ZH = {"1": "男", "2": "女"}


def check_id_number(
    value: str, *, birth_date: dt.date | None = None, sex: str | None = None
) -> IdNumber:
    """The validated ID number; refuses a bad one with the reason, masked."""
    if not isinstance(value, str):
        raise Refusal("id.invalid", "身份证号码必须是文本", "the ID number must be text")
    try:
        ident = IdNumber.parse(value)
    except PersonDataError as exc:
        reason = str(exc)
        zh = "身份证号码不合法"
        if "check character" in reason:
            zh = "身份证号码校验位错误"
        elif "birth date" in reason:
            zh = "身份证号码中的出生日期不合法"
        elif "18 characters" in reason:
            zh = "身份证号码须为18位"
        raise Refusal("id.invalid", f"{zh}（{mask_id_number(value.strip())}）", reason) from None
    masked = mask_id_number(ident.value)
    if birth_date is not None and birth_date != ident.birth_date:
        raise Refusal(
            "id.birth_date",
            f"出生日期与身份证号码（{masked}）不一致",
            f"the birth date does not agree with the ID number {masked}",
        )
    if sex is not None and sex != ident.sex:
        raise Refusal(
            "id.sex",
            f"性别与身份证号码（{masked}）不一致（号码表示{_SEX_ZH[ident.sex]}）",
            f"the sex does not agree with the ID number {masked}",
        )
    return ident
