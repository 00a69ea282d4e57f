"""Documents offered as proof of a guardian's relationship, and who issues them
(rule i; guide, personal application: the certificate "issued by the public
security department (such as the household registration book)").

A table, so that the policy file names documents by key and a refusal can say
who issued a document that does not count.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PROOFS", "PUBLIC_SECURITY", "ProofDocument", "issued_by_public_security"]

PUBLIC_SECURITY = "public_security"


@dataclass(frozen=True)
class ProofDocument:
    """A document and its issuer, in Chinese and English."""

    zh: str
    en: str
    issuer: str
    issuer_zh: str
    issuer_en: str


#: The documents the counter knows, keyed as the admin API takes them.
PROOFS: dict[str, ProofDocument] = {
    "household_register": ProofDocument(
        "户口簿",
        "household register",
        PUBLIC_SECURITY,
        "公安机关",
        "the public security department",
    ),
    "household_certificate": ProofDocument(
        "户籍证明",
        "household registration certificate",
        PUBLIC_SECURITY,
        "公安机关",
        "the public security department",
    ),
    "police_certificate": ProofDocument(
        "公安机关出具的亲属关系证明",
        "police certificate of the relationship",
        PUBLIC_SECURITY,
        "公安机关",
        "the public security department",
    ),
    "birth_certificate": ProofDocument(
        "出生医学证明", "medical birth certificate", "hospital", "医疗机构", "the hospital"
    ),
    "notarial_certificate": ProofDocument(
        "亲属关系公证书", "notarial certificate", "notary", "公证机构", "a notary office"
    ),
    "court_judgment": ProofDocument("法院判决书", "court judgment", "court", "人民法院", "a court"),
    "committee_certificate": ProofDocument(
        "居（村）委会证明",
        "neighbourhood or village committee certificate",
        "committee",
        "居（村）民委员会",
        "a neighbourhood or village committee",
    ),
}


def issued_by_public_security(proof: str) -> bool:
    document = PROOFS.get(proof)
    return document is not None and document.issuer == PUBLIC_SECURITY
