"""Rule g: which personal details may change (guide Q6 and Q7).

Q6: "non-critical information such as mobile phone, fixed line, address and
zip code" can be corrected. Critical details (name, ID number) cannot be
changed through this path. Q7: "it is currently impossible to handle the bank
change business". Every other change gets a clear refusal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sscard_terminal.center.refusals import Refusal

__all__ = ["CRITICAL", "NON_CRITICAL", "check_card_change", "check_person_change"]

NON_CRITICAL = ("phone", "landline", "address", "postcode")
CRITICAL = ("name", "id_number", "sex", "birth_date")

_PHONE = re.compile(r"^\+?[0-9][0-9 -]{4,19}$")
_POSTCODE = re.compile(r"^\d{6}$")


def _check_value(field: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise Refusal("details.invalid", f"{field} 必须是文本", f"{field} must be text")
    text = value.strip()
    if field in ("phone", "landline") and not _PHONE.match(text):
        raise Refusal("details.invalid", f"{field} 不是电话号码", f"{field} is not a phone number")
    if field == "postcode" and not _POSTCODE.match(text):
        raise Refusal("details.invalid", "邮编须为6位数字", "postcode must be 6 digits")
    if field == "address" and not 1 <= len(text) <= 200:
        raise Refusal("details.invalid", "地址长度须为1-200字", "address must be 1-200 characters")
    return text


def check_person_change(changes: Mapping[str, Any]) -> dict[str, str | None]:
    """The validated non-critical changes; refuses critical or unknown fields."""
    critical = [f for f in changes if f in CRITICAL]
    if critical:
        raise Refusal(
            "details.critical",
            f"姓名、身份证号码等关键信息（{', '.join(critical)}）不能通过此途径修改，"
            "须持户籍证明到公安机关更正后再办理",
            f"critical details ({', '.join(critical)}) cannot be changed through this path; "
            "they follow a correction of the household registration by the police",
        )
    if "bank" in changes:
        raise _bank_refusal()
    unknown = [f for f in changes if f not in NON_CRITICAL]
    if unknown:
        raise Refusal(
            "details.unknown",
            f"不能修改的字段：{', '.join(unknown)}（可改：手机、固话、地址、邮编）",
            f"fields that cannot be changed: {', '.join(unknown)} "
            "(changeable: phone, landline, address, postcode)",
        )
    if not changes:
        raise Refusal("details.empty", "没有要修改的信息", "nothing to change")
    return {field: _check_value(field, value) for field, value in changes.items()}


def _bank_refusal() -> Refusal:
    return Refusal(
        "details.bank",
        "社保卡金融账户的开户银行由本人申领时选定，目前不能办理银行变更",
        "the bank of the card's financial account was chosen at application; "
        "changing it is not possible",
    )


def check_card_change(changes: Mapping[str, Any]) -> None:
    """Card data cannot be changed at all: the bank (Q7) nor anything else."""
    if "bank" in changes:
        raise _bank_refusal()
    raise Refusal(
        "details.card",
        "卡面信息不能修改；挂失、补换请走挂失补换流程",
        "card data cannot be changed; use the loss report and replacement instead",
    )
