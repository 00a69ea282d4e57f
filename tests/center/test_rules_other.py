"""Rules d (credentials), e, f, g, i, j, k as pure functions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from decimal import Decimal

import pytest

from sscard_terminal.center.policy import load_policy
from sscard_terminal.center.refusals import Refusal
from sscard_terminal.center.rules import (
    applications,
    area,
    credentials,
    details,
    identity,
    schemes,
)

POLICY = load_policy()
D = dt.date.fromisoformat


def refused(code: str, fn: Callable[..., object], *args: object, **kw: object) -> Refusal:
    with pytest.raises(Refusal) as caught:
        fn(*args, **kw)
    assert caught.value.code == code, caught.value
    assert caught.value.zh and caught.value.en
    return caught.value


# -- d -----------------------------------------------------------------------------
def test_ningbo_settles_with_the_card_only() -> None:
    credentials.require_settlement_credential("03", POLICY.cards.settlement_cert_types)
    r = refused(
        "credential.settlement",
        credentials.require_settlement_credential,
        "02",
        POLICY.cards.settlement_cert_types,
    )
    assert "6 months" in r.en and "零星报销" in r.zh
    # the electronic voucher stands for the card: it settles and looks up
    credentials.require_settlement_credential("01", POLICY.cards.settlement_cert_types)
    credentials.require_lookup_credential("02", POLICY.cards.lookup_cert_types)
    credentials.require_lookup_credential("01", POLICY.cards.lookup_cert_types)
    refused(
        "credential.lookup",
        credentials.require_lookup_credential,
        "04",
        POLICY.cards.lookup_cert_types,
    )


# -- e -----------------------------------------------------------------------------
def test_cixi_rural_cooperative_needs_the_residents_insurance() -> None:
    r = refused(
        "scheme.legacy", schemes.require_medical_use, "cixi-ncms", set(), POLICY.legacy_schemes
    )
    assert "慈溪" in r.zh and "390" in r.en
    refused(
        "scheme.legacy", schemes.require_medical_use, "cixi-ncms", {"310"}, POLICY.legacy_schemes
    )
    schemes.require_medical_use("cixi-ncms", {"390"}, POLICY.legacy_schemes)
    schemes.require_medical_use(None, set(), POLICY.legacy_schemes)


# -- f -----------------------------------------------------------------------------
def _area(
    person: str = "330200",
    inst: str = "330106",
    designated: bool = True,
    med_type: str = "11",
    filings: Iterable[area.Filing] = (),
) -> area.AreaKind:
    return area.require_area(
        person_admdvs=person,
        institution_admdvs=inst,
        institution_offsite_designated=designated,
        med_type=med_type,
        filings=list(filings),
        on=D("2026-11-25"),
        rules=POLICY.out_of_area,
    )


HANGZHOU = area.Filing("offsite", "330100", D("2026-01-01"), None)


def test_local_care_needs_nothing() -> None:
    assert _area(inst="330203", designated=False) is area.AreaKind.LOCAL
    assert _area(person="330282", inst="330212", med_type="14") is area.AreaKind.LOCAL


def test_out_of_area_needs_a_filing_and_a_designated_institution() -> None:
    assert _area(filings=[HANGZHOU]) is area.AreaKind.IN_PROVINCE
    refused("area.no_filing", _area)
    refused("area.not_designated", _area, designated=False, filings=[HANGZHOU])
    # a filing for another city, or one expired, does not count
    refused("area.no_filing", _area, inst="330302", filings=[HANGZHOU])
    expired = area.Filing("offsite", "330100", D("2025-01-01"), D("2025-12-31"))
    refused("area.no_filing", _area, filings=[expired])
    province = area.Filing("offsite", "330000", D("2026-01-01"), None)
    assert _area(inst="330302", filings=[province]) is area.AreaKind.IN_PROVINCE


def test_special_disease_care_is_refused_out_of_area_and_across_provinces() -> None:
    refused("area.special_disease", _area, med_type="14", filings=[HANGZHOU])
    refused("area.out_of_province", _area, inst="310101", filings=[HANGZHOU])


def test_special_disease_needs_its_filing() -> None:
    filing = area.Filing("special_disease", None, D("2025-01-01"), None, "M03900")
    area.require_special_disease("14", "M03900", [filing], D("2026-11-25"))
    area.require_special_disease("11", None, [], D("2026-11-25"))
    refused(
        "special_disease.no_filing",
        area.require_special_disease,
        "14",
        "M03900",
        [],
        D("2026-11-25"),
    )
    refused(
        "special_disease.no_filing",
        area.require_special_disease,
        "14",
        "E11.900",
        [filing],
        D("2026-11-25"),
    )


def test_filing_area_prefixes() -> None:
    assert area.covers("330100", "330106") and area.covers("330000", "330302")
    assert not area.covers("330100", "330203") and area.covers("330106", "330106")


# -- g -----------------------------------------------------------------------------
def test_non_critical_details_change() -> None:
    changed = details.check_person_change(
        {
            "phone": "13912345678",
            "postcode": "315000",
            "address": "宁波市江北区",
            "landline": "0574-87654321",
        }
    )
    assert changed["phone"] == "13912345678"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"name": "李四"}, "details.critical"),
        ({"id_number": "330203199001011236"}, "details.critical"),
        ({"bank": "宁波银行"}, "details.bank"),
        ({"email": "x@y"}, "details.unknown"),
        ({}, "details.empty"),
        ({"postcode": "31500"}, "details.invalid"),
        ({"phone": "call me"}, "details.invalid"),
    ],
)
def test_critical_unknown_and_bank_changes_are_refused(changes: dict[str, str], code: str) -> None:
    refused(code, details.check_person_change, changes)


def test_card_bank_cannot_change() -> None:
    r = refused("details.bank", details.check_card_change, {"bank": "中国银行"})
    assert "bank" in r.en
    refused("details.card", details.check_card_change, {"card_no": "X"})


# -- i, j --------------------------------------------------------------------------
def _guardian(
    birth: str = "1985-01-01",
    relation: str = "father",
    proof: str = "household_register",
    same: bool = False,
) -> applications.Guardian:
    return applications.Guardian(D(birth), relation, proof, same)


def test_a_minor_needs_a_guardian_with_proof() -> None:
    child, today, rules = D("2018-06-01"), D("2026-11-25"), POLICY.minors
    applications.require_guardian(child, today, _guardian(), rules)
    refused("application.guardian", applications.require_guardian, child, today, None, rules)
    refused(
        "application.proof",
        applications.require_guardian,
        child,
        today,
        _guardian(proof="oral statement"),
        rules,
    )
    refused(
        "application.relation",
        applications.require_guardian,
        child,
        today,
        _guardian(relation="neighbour"),
        rules,
    )
    refused(
        "application.guardian_minor",
        applications.require_guardian,
        child,
        today,
        _guardian(birth="2010-01-01"),
        rules,
    )
    # an adult needs none; the 18th birthday is the day
    applications.require_guardian(D("2008-11-25"), today, None, rules)
    refused(
        "application.guardian", applications.require_guardian, D("2008-11-26"), today, None, rules
    )


@pytest.mark.parametrize(
    "proof", ["household_register", "household_certificate", "police_certificate"]
)
def test_a_guardian_proves_the_relationship_with_a_police_document(proof: str) -> None:
    child, today = D("2018-06-01"), D("2026-11-25")
    applications.require_guardian(child, today, _guardian(proof=proof), POLICY.minors)


@pytest.mark.parametrize(
    ("proof", "issuer_zh", "issuer_en"),
    [
        ("birth_certificate", "医疗机构", "the hospital"),
        ("notarial_certificate", "公证机构", "a notary office"),
        ("court_judgment", "人民法院", "a court"),
        ("committee_certificate", "居（村）民委员会", "a neighbourhood or village committee"),
    ],
)
def test_any_other_document_is_refused_naming_its_issuer(
    proof: str, issuer_zh: str, issuer_en: str
) -> None:
    r = refused(
        "application.proof",
        applications.require_guardian,
        D("2018-06-01"),
        D("2026-11-25"),
        _guardian(proof=proof),
        POLICY.minors,
    )
    assert issuer_zh in r.zh and "公安机关" in r.zh and "户口簿" in r.zh
    assert f"issued by {issuer_en}, not by the public security department" in r.en
    assert "household register" in r.en


def test_an_unknown_document_is_refused_with_the_accepted_ones() -> None:
    r = refused(
        "application.proof",
        applications.require_guardian,
        D("2018-06-01"),
        D("2026-11-25"),
        _guardian(proof="school letter"),
        POLICY.minors,
    )
    assert "'school letter'" in r.en and "police certificate of the relationship" in r.en


def test_first_card_pays_half() -> None:
    assert applications.card_fee(True, POLICY.cards) == Decimal("25.00")
    assert applications.card_fee(False, POLICY.cards) == Decimal("50.00")


# -- k -----------------------------------------------------------------------------
def test_id_numbers_are_checked() -> None:
    ident = identity.check_id_number("330203199001011236", birth_date=D("1990-01-01"), sex="1")
    assert ident.value == "330203199001011236"
    r = refused("id.invalid", identity.check_id_number, "330203199001011235")
    assert "校验位" in r.zh and "330203********1235" in r.zh and "199001" not in r.en
    refused("id.invalid", identity.check_id_number, "330203199002301236")  # 30 February
    refused("id.invalid", identity.check_id_number, "33020319900101123")
    refused(
        "id.birth_date", identity.check_id_number, "330203199001011236", birth_date=D("1990-01-02")
    )
    refused("id.sex", identity.check_id_number, "330203199001011236", sex="2")
    assert identity.check_id_number("11010519491231002x").value.endswith("X")
