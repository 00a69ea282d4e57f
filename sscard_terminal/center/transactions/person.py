"""1101 person information (settlement-interface.md; rules c, e, k).

By social security card (mdtrt_cert_type 03: card number and card
identification code, both must match one card), by ID number (02, checked
as GB 11643, rule k) or by the electronic voucher's ecToken (01,
center/voucher.py: the token's person, who must hold a usable card). A card
that is not active is refused naming its status (rule c). The answer holds
baseinfo, insuinfo per enrolment with the benefit state of this month (rules
a and b) and the account balance.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import Field

from sscard_terminal.center import store, voucher
from sscard_terminal.center.clock import Month
from sscard_terminal.center.refusals import Refusal
from sscard_terminal.center.rules import cards, credentials, identity
from sscard_terminal.center.rules.applications import age_on
from sscard_terminal.center.transactions.common import benefit_status, enrolments_of
from sscard_terminal.center.transactions.context import MessageContext
from sscard_terminal.center.transactions.fields import (
    Code50,
    InputModel,
    Text6,
    Text19,
    Text32,
    Text50,
)
from sscard_terminal.center.transactions.registry import transaction


class PersonQuery(InputModel):
    mdtrt_cert_type: str = Field(pattern=r"^0[123]$")
    mdtrt_cert_no: Code50
    card_sn: Text32
    begntime: Text19
    psn_cert_type: Text6
    certno: Text50
    psn_name: Text50


class PersonQueryInput(InputModel):
    data: PersonQuery


def _by_card(ctx: MessageContext, data: PersonQuery) -> Any:
    card = ctx.conn.execute(store.CARD, {"card_no": data.mdtrt_cert_no.upper()}).first()
    if card is None:
        raise Refusal(
            "card.unknown",
            f"社保卡 {data.mdtrt_cert_no} 不存在",
            f"no card {data.mdtrt_cert_no}",
        )
    if not data.card_sn:
        raise Refusal(
            "card.sn_missing",
            "凭社保卡查询须提供卡识别码 card_sn",
            "card_sn (the card identification code) is required with mdtrt_cert_type 03",
        )
    if data.card_sn.upper() != card.card_sn:
        raise Refusal(
            "card.sn_mismatch",
            "卡识别码与卡号不符（非本卡）",
            "the card identification code does not match the card number",
        )
    cards.require_usable(cards.CardStatus(card.status), card.card_no)
    return ctx.conn.execute(store.PERSON, {"psn_no": card.psn_no}).one()


def _by_id(ctx: MessageContext, number: str) -> Any:
    ident = identity.check_id_number(number)
    person = ctx.conn.execute(store.PERSON_BY_ID, {"id_number": ident.value}).first()
    if person is None:
        raise Refusal(
            "person.unknown",
            f"未找到身份证号码为 {ident} 的参保人",
            f"no insured person with ID number {ident}",
        )
    return person


@transaction("1101", "person information", PersonQueryInput)
def person_information(ctx: MessageContext, inp: PersonQueryInput) -> dict[str, Any]:
    data = inp.data
    credentials.require_lookup_credential(data.mdtrt_cert_type, ctx.policy.cards.lookup_cert_types)
    if data.mdtrt_cert_type == "03":
        person = _by_card(ctx, data)
    elif data.mdtrt_cert_type == "01":
        psn_no, _card = voucher.person_of_token(
            ctx.conn, ctx.local_now, ctx.code, data.mdtrt_cert_no
        )
        person = ctx.conn.execute(store.PERSON, {"psn_no": psn_no}).one()
    else:
        person = _by_id(ctx, data.mdtrt_cert_no)
    if data.certno:
        if data.psn_cert_type not in (None, "", "01"):
            raise Refusal(
                "input.psn_cert_type",
                "仅支持居民身份证（psn_cert_type=01）",
                "only psn_cert_type 01 (resident ID card) is supported",
            )
        ident = identity.check_id_number(data.certno)
        if ident.value != person.id_number:
            raise Refusal(
                "person.certno_mismatch",
                "证件号码与持卡人不符",
                "certno is not the cardholder's ID number",
            )
    if data.psn_name and data.psn_name != person.name:
        raise Refusal(
            "person.name_mismatch", "姓名与持卡人不符", "psn_name is not the cardholder's"
        )
    ctx.psn_no = person.psn_no
    month = Month.of(ctx.today)
    account = ctx.conn.execute(store.ACCOUNT, {"psn_no": person.psn_no}).scalar()
    balance = account if account is not None else Decimal("0.00")
    insuinfo = []
    for enrolment in enrolments_of(ctx.conn, person.psn_no):
        status = benefit_status(ctx, enrolment, month)
        fund = ctx.policy.fund(enrolment.insutype)
        insuinfo.append(
            {
                "balc": balance if fund is not None and fund.personal_account else Decimal("0.00"),
                "insutype": enrolment.insutype,
                "psn_type": enrolment.psn_type,
                "psn_insu_stas": status.psn_insu_stas,
                "psn_insu_date": (
                    str(status.since.first_day)
                    if status.active and status.since
                    else (str(status.starts.first_day) if status.starts else None)
                ),
                "paus_insu_date": (
                    str(status.since.first_day)
                    if status.psn_insu_stas == "2" and status.since
                    else None
                ),
                "cvlserv_flag": "0",
                "insuplc_admdvs": person.insuplc_admdvs,
                "emp_name": enrolment.emp_name,
            }
        )
    if person.legacy_scheme and person.legacy_scheme in ctx.policy.legacy_schemes:
        scheme = ctx.policy.legacy_schemes[person.legacy_scheme]
        if scheme.requires_insutype not in {i["insutype"] for i in insuinfo}:
            ctx.warn(
                f"{scheme.name_zh}人员，参加城乡居民医保前不能就医结算",
                f"{scheme.name_en}: no medical use before enrolling in insutype "
                f"{scheme.requires_insutype}",
            )
    return {
        "baseinfo": {
            "psn_no": person.psn_no,
            "psn_cert_type": "01",
            "certno": person.id_number,
            "psn_name": person.name,
            "gend": person.sex,
            "naty": person.naty,
            "brdy": str(person.birth_date),
            "age": age_on(person.birth_date, ctx.today),
            "insuplc_admdvs": person.insuplc_admdvs,
        },
        "insuinfo": insuinfo,
        "idetinfo": [],
    }
