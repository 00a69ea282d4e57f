"""Rule d: with which credential a person settles (guide Q5).

"the insured person ... will directly use the social security card he has
received for settlement; if the social security card is not received ...
[expenses] shall be paid by the individual in advance" and claimed as
sporadic reimbursement. The policy's ``settlement_cert_types`` lists the
credentials that settle (Ningbo: ``03``, the card); ``lookup_cert_types``
those a person may be looked up with (1101).
"""

from __future__ import annotations

from collections.abc import Collection

from sscard_terminal.center.refusals import Refusal

__all__ = ["CERT_TYPE_NAMES", "require_lookup_credential", "require_settlement_credential"]

CERT_TYPE_NAMES = {
    "01": ("医保电子凭证", "e-voucher"),
    "02": ("居民身份证", "ID card"),
    "03": ("社会保障卡", "social security card"),
}


def require_settlement_credential(cert_type: str, allowed: Collection[str]) -> None:
    """Refuse settling with a credential the area does not allow (rule d)."""
    if cert_type in allowed:
        return
    zh, en = CERT_TYPE_NAMES.get(cert_type, ("未知凭证", "an unknown credential"))
    raise Refusal(
        "credential.settlement",
        f"本统筹区须持社会保障卡就医结算，不能凭{zh}结算；未领卡期间的急诊费用先由个人垫付，"
        "自票据之日起6个月内申请零星报销",
        f"in this area care is settled with the social security card, not with {en}; "
        "without a card, pay emergency expenses yourself and claim sporadic reimbursement "
        "within 6 months of the bill date",
    )


def require_lookup_credential(cert_type: str, allowed: Collection[str]) -> None:
    """Refuse a person look-up with a credential the area does not accept."""
    if cert_type in allowed:
        return
    zh, en = CERT_TYPE_NAMES.get(cert_type, ("未知凭证", "an unknown credential"))
    raise Refusal(
        "credential.lookup",
        f"不支持凭{zh}查询人员信息（mdtrt_cert_type={cert_type}）",
        f"looking a person up with {en} is not supported (mdtrt_cert_type {cert_type})",
    )
