"""Rules i and j: applying for a card (guide: personal application; charges).

Rule i: "When a minor applies for a social security card, the guardian must
bring the original valid identity certificate of the guardian and the
certificate of the relationship between the valid guardian and the ward
issued by the public security department (such as the household registration
book)." A minor (younger than ``age_of_majority``) needs an adult guardian,
a relation from the policy's list and a proof from the policy's list; that
list may hold only documents the public security department issues
(:data:`.proofs.PROOFS`: the household register, the household registration
certificate, the police's certificate of the relationship). Any other
document is refused naming who issues it (a birth certificate comes from the
hospital, a notarial certificate from a notary office).

Rule j: "the charging standard shall be implemented in 50 yuan; However, all
residents who apply for the first time will be charged half the fee, that is,
every 25 yuan." Both figures are policy parameters; replacements pay the full
fee.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sscard_terminal.center.policy import CardPolicy, MinorsPolicy
from sscard_terminal.center.refusals import Refusal
from sscard_terminal.center.rules.proofs import PROOFS, PUBLIC_SECURITY, issued_by_public_security

__all__ = [
    "Guardian",
    "age_on",
    "card_fee",
    "is_minor",
    "require_guardian",
]


def age_on(birth_date: dt.date, day: dt.date) -> int:
    """Completed years of age on ``day``."""
    years = day.year - birth_date.year
    if (day.month, day.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def is_minor(birth_date: dt.date, day: dt.date, age_of_majority: int) -> bool:
    return age_on(birth_date, day) < age_of_majority


@dataclass(frozen=True)
class Guardian:
    """A guardian as presented at the counter."""

    birth_date: dt.date
    relation: str
    proof: str
    same_person: bool = False


def require_guardian(
    applicant_birth_date: dt.date, day: dt.date, guardian: Guardian | None, rules: MinorsPolicy
) -> None:
    """Refuse a minor's application without an adult guardian, relation and proof."""
    if not is_minor(applicant_birth_date, day, rules.age_of_majority):
        return
    if guardian is None:
        raise Refusal(
            "application.guardian",
            "未成年人申领社保卡须由监护人持本人有效身份证件和监护关系证明（如户口簿）办理",
            "a minor's card application needs the guardian, with the guardian's ID and a "
            "proof of the relationship (such as the household register)",
        )
    if guardian.same_person or is_minor(guardian.birth_date, day, rules.age_of_majority):
        raise Refusal(
            "application.guardian_minor",
            "监护人须为成年人",
            "the guardian must be an adult",
        )
    if guardian.relation not in rules.guardian_relations:
        raise Refusal(
            "application.relation",
            f"监护关系须为：{', '.join(rules.guardian_relations)}",
            f"the relation must be one of: {', '.join(rules.guardian_relations)}",
        )
    _require_proof(guardian.proof, rules.relationship_proofs)


def _require_proof(proof: str, accepted: list[str]) -> None:
    """The proof must be one the policy accepts, i.e. issued by the police."""
    names_zh = "、".join(PROOFS[p].zh for p in accepted if p in PROOFS)
    names_en = ", ".join(PROOFS[p].en for p in accepted if p in PROOFS)
    if proof in accepted and issued_by_public_security(proof):
        return
    document = PROOFS.get(proof)
    if document is not None and document.issuer != PUBLIC_SECURITY:
        raise Refusal(
            "application.proof",
            f"{document.zh}由{document.issuer_zh}出具，不能证明监护关系：须提供公安机关出具的"
            f"证明（{names_zh}）",
            f"a {document.en} is issued by {document.issuer_en}, not by the public security "
            f"department, and does not prove the relationship: bring one of {names_en}",
        )
    shown = proof or "none"
    raise Refusal(
        "application.proof",
        f"监护关系证明“{shown}”不被接受：须提供公安机关出具的证明（{names_zh}）",
        f"the proof of the relationship ({shown!r}) is not accepted: it must be issued by "
        f"the public security department: one of {names_en}",
    )


def card_fee(first_card: bool, rules: CardPolicy) -> Decimal:
    """The card fee: half (25 yuan) for a first application, else the full fee (50)."""
    return rules.first_card_fee if first_card else rules.fee
