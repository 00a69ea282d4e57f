"""The electronic voucher at the center (center/voucher.py): issue,
ec.query exchange, mdtrt_cert_type 01 in 1101, 2201, 2206/2207, 2101/2102,
and the refusals of expired, reused, forged and misused codes and tokens.
Through a real uvicorn server, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, hmac
from sqlalchemy import text

from tests.center.center_helpers import (
    CLASS_A_DRUG,
    CLASS_A_SERVICE,
    Center,
    Insured,
    Terminal,
    fee,
    new_insured,
    stamp,
)

EXCHANGE = "/localcfc/api/hsecfc/localQrCodeQuery"


def _sign(secret: str, body: bytes) -> str:
    mac = hmac.HMAC(secret.encode(), hashes.SM3())
    mac.update(body)
    return mac.finalize().hex()


def exchange(t: Terminal, code: str, *, secret: str | None = None) -> dict[str, Any]:
    body = json.dumps(
        {
            "data": {"businessType": "01101", "operatorId": t.opter, "orgId": t.code,
                     "ecQrCode": code},
            "orgId": t.code,
            "transType": "ec.query",
        }
    ).encode()  # fmt: skip
    answer = t.http.post(
        EXCHANGE,
        content=body,
        headers={"x-sscard-signature": _sign(secret or t.secret, body)},
    )
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def refused_exchange(t: Terminal, code: str, err_code: str, **kw: Any) -> str:
    answer = exchange(t, code, **kw)
    assert answer["code"] == -1, answer
    assert answer["data"]["errCode"] == err_code, answer
    zh, _, en = answer["message"].partition(" / ")
    assert zh and en
    return str(answer["message"])


def new_code(center: Center, p: Insured, **kw: Any) -> str:
    issued = center.admin.post("/vouchers", {"psn_no": p.psn_no, **kw})
    assert issued["psn_no"] == p.psn_no
    return str(issued["ecQrCode"])


def token_for(center: Center, t: Terminal, p: Insured, **kw: Any) -> str:
    answer = exchange(t, new_code(center, p, **kw))
    assert answer["code"] == 0, answer
    assert answer["data"]["psnNo"] == p.psn_no
    return str(answer["data"]["ecToken"])


def register_01(t: Terminal, p: Insured, token: str) -> dict[str, Any]:
    data = {
        "psn_no": p.psn_no, "insutype": "310", "begntime": stamp(),
        "mdtrt_cert_type": "01", "mdtrt_cert_no": token, "ipt_otp_no": "OPV1",
    }  # fmt: skip
    return t.call("2201", {"data": data})


def settle_01(p: Insured, mdtrt_id: str, token: str, total: str) -> dict[str, Any]:
    return {
        "data": {
            "psn_no": p.psn_no, "mdtrt_cert_type": "01", "mdtrt_cert_no": token,
            "med_type": "11", "medfee_sumamt": total, "psn_setlway": "01",
            "mdtrt_id": mdtrt_id, "chrg_bchno": "0000", "acct_used_flag": "1", "insutype": "310",
        }
    }  # fmt: skip


def test_a_voucher_visit_from_code_to_settlement(center: Center, hospital: Terminal) -> None:
    p = new_insured(center.admin)
    code = new_code(center, p)
    answer = exchange(hospital, code)
    assert answer["code"] == 0, answer
    data = answer["data"]
    assert data["ecQrCode"] == code and data["idNo"] == p.id_number and data["authNo"]
    token = data["ecToken"]
    # the code is spent by the exchange
    assert "used" in refused_exchange(hospital, code, "voucher.used")

    info = hospital.ok("1101", {"data": {"mdtrt_cert_type": "01", "mdtrt_cert_no": token}})
    assert info["baseinfo"]["psn_no"] == p.psn_no
    registered = register_01(hospital, p, token)
    assert registered["infcode"] == 0, registered
    mdtrt_id = registered["output"]["data"]["mdtrt_id"]
    hospital.ok("2204", {"feedetail": [fee(mdtrt_id, p.psn_no, "1", CLASS_A_SERVICE, "20.00")]})
    pre = hospital.ok("2206", settle_01(p, mdtrt_id, token, "20.00"))
    settled = hospital.ok("2207", settle_01(p, mdtrt_id, token, "20.00"))
    assert settled["setlinfo"]["medfee_sumamt"] == pre["setlinfo"]["medfee_sumamt"]
    assert Decimal(str(settled["setlinfo"]["medfee_sumamt"])) == Decimal("20.00")
    settlement_msgid = hospital.last_msgid
    with center.db.engine.connect() as conn:
        visit = conn.execute(
            text("SELECT mdtrt_cert_type, card_no FROM visits WHERE mdtrt_id = :m"),
            {"m": mdtrt_id},
        ).one()
        spent = conn.execute(
            text("SELECT spent_msgid, token_digest FROM vouchers WHERE psn_no = :p"),
            {"p": p.psn_no},
        ).one()
    assert visit.mdtrt_cert_type == "01" and visit.card_no == p.card_no
    assert spent.spent_msgid == settlement_msgid
    assert token not in spent.token_digest  # a digest, not the token

    # the token served one settlement: a second visit with it is refused
    again = register_01(hospital, p, token)
    assert again["infcode"] == -1 and again["err_code"] == "voucher.token_used", again
    assert "refresh" in again["err_msg"]


def test_expired_code_and_expired_token_are_refused(center: Center, hospital: Terminal) -> None:
    p = new_insured(center.admin)
    code = new_code(center, p, valid_seconds=1)
    token = token_for(center, hospital, p, token_seconds=1)
    time.sleep(1.2)
    assert "expired" in refused_exchange(hospital, code, "voucher.expired")
    hospital.refused(
        "1101", {"data": {"mdtrt_cert_type": "01", "mdtrt_cert_no": token}},
        "voucher.token_expired",
    )  # fmt: skip


def test_forged_codes_tokens_and_signatures_are_refused(center: Center, hospital: Terminal) -> None:
    p = new_insured(center.admin)
    code = new_code(center, p)
    forged = code[:-4] + ("0000" if not code.endswith("0000") else "1111")
    refused_exchange(hospital, forged, "voucher.forged")
    refused_exchange(hospital, code, "voucher.signature", secret="not-the-secret")
    hospital.refused(
        "1101", {"data": {"mdtrt_cert_type": "01", "mdtrt_cert_no": "ET" + "0" * 40}},
        "voucher.token_forged",
    )  # fmt: skip
    # the refused exchange with a bad signature did not spend the code
    assert exchange(hospital, code)["code"] == 0


def test_a_token_is_bound_to_its_person_and_institution(center: Center, hospital: Terminal) -> None:
    p, other = new_insured(center.admin), new_insured(center.admin)
    token = token_for(center, hospital, p)
    answer = register_01(hospital, other, token)
    assert answer["err_code"] == "voucher.token_person", answer
    pharmacy = center.terminal("P33020300003")
    pharmacy.refused(
        "1101", {"data": {"mdtrt_cert_type": "01", "mdtrt_cert_no": token}},
        "voucher.token_institution",
    )  # fmt: skip


def test_no_card_no_voucher_and_a_lost_card_stops_its_voucher(
    center: Center, hospital: Terminal
) -> None:
    without = new_insured(center.admin, card=False)
    answer = center.admin.post("/vouchers", {"psn_no": without.psn_no}, expect=409)
    assert answer["err_code"] == "voucher.no_card"
    p = new_insured(center.admin)
    code = new_code(center, p)
    center.admin.post(f"/cards/{p.card_no}/loss", {"kind": "temporary"})
    refused_exchange(hospital, code, "card.temporarily_lost")


def test_pharmacy_settles_with_the_voucher(center: Center) -> None:
    pharmacy = center.terminal("P33020300003")
    p = new_insured(center.admin)
    token = token_for(center, pharmacy, p)
    druginfo = {
        "psn_no": p.psn_no, "mdtrt_cert_type": "01", "mdtrt_cert_no": token,
        "med_type": "41", "medfee_sumamt": "12.00", "insutype": "310", "acct_used_flag": "1",
    }  # fmt: skip
    line = {
        "feedetl_sn": "1", "rxno": "", "med_list_codg": CLASS_A_DRUG,
        "medins_list_codg": "P-1", "det_item_fee_sumamt": "12.00", "cnt": "1", "pric": "12.00",
    }  # fmt: skip
    payload = {"druginfo": druginfo, "drugdetail": [line]}
    pharmacy.ok("2101", payload)
    sold = pharmacy.ok("2102", payload)
    with center.db.engine.connect() as conn:
        card_no = conn.execute(
            text("SELECT card_no FROM visits WHERE mdtrt_id = :m"),
            {"m": sold["setlinfo"]["mdtrt_id"]},
        ).scalar()
    assert card_no == p.card_no
    pharmacy.refused("2102", payload, "voucher.token_used")


@pytest.mark.parametrize("who", ["id_number", "nobody"])
def test_issue_by_id_number(center: Center, who: str) -> None:
    p = new_insured(center.admin)
    if who == "id_number":
        issued = center.admin.post("/vouchers", {"id_number": p.id_number})
        assert issued["psn_no"] == p.psn_no and issued["ecQrCode"].startswith("EC")
    else:
        answer = center.admin.post("/vouchers", {"psn_no": "NOBODY"}, expect=404)
        assert answer["err_code"] == "person.unknown"
