"""A settlement end to end with SM2 signatures and gateway headers:
the terminal's configuration names an SM2 private key file and a gateway
paasid; the center (real uvicorn server, SQLite) has the institution's public
key registered and its gateway option "also". The client's SM2 code and the
center's share nothing but the wire format."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest

from sscard_terminal.settlement import CenterRefused, Status
from sscard_terminal.settlement.config import TerminalConfig
from sscard_terminal.settlement.errors import ConfigError
from sscard_terminal.settlement.inputs import OutpatientSettlement
from sscard_terminal.settlement.models import FeeDetail
from sscard_terminal.settlement.sm2 import SM2Signer, generate_private_key
from tests.settlement.settlement_fixtures import (
    CLASS_A_DRUG,
    CLASS_A_SERVICE,
    HOSPITAL,
    RunningCenter,
    insured,
    shanghai_now,
)


def _private(path: Path, text: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return path


def terminal_config(center: RunningCenter, where: Path, *, gateway: bool) -> TerminalConfig:
    inst = center.institution(HOSPITAL)
    _private(where / "hospital.secret", inst["secret"] + "\n")
    raw = {
        "center": center.base_url,
        "journal": "journal.db",
        "msgid_slot": 7,
        "institution": {
            "fixmedins_code": HOSPITAL,
            "fixmedins_name": inst["fixmedins_name"],
            "mdtrtarea_admvs": inst["admdvs"],
            "secret_file": "hospital.secret",
            "sm2_private_key_file": "hospital.sm2",
        },
        "operator": {"opter_type": "1", "opter": "0042", "opter_name": "收费员乙"},
    }
    if gateway:
        raw["gateway"] = {"paasid": HOSPITAL}
    return TerminalConfig.from_mapping(raw).relative_to(where)


def test_an_outpatient_settlement_signed_with_sm2_behind_a_gateway(
    center: RunningCenter, tmp_path: Path
) -> None:
    private = generate_private_key()
    _private(tmp_path / "hospital.sm2", private + "\n")
    public = SM2Signer(private).public_key_hex
    config = terminal_config(center, tmp_path, gateway=True)
    # the center knows no SM2 key yet: refused, with what to do
    with config.client() as client, pytest.raises(CenterRefused, match="no SM2 public key"):
        client.sign_in()
    center.admin.request("PUT", f"/institutions/{HOSPITAL}/sm2-key", {"public_key": public})
    center.admin.request("PUT", f"/institutions/{HOSPITAL}/gateway", {"mode": "also"})
    try:
        with config.client() as client:
            person, ref = insured(center, balance="80.00")
            info = client.person_by_card(person.card_no or "", person.card_sn or "")
            assert info.ref.psn_no == ref.psn_no
            visit = client.register(
                info.ref,
                insutype="310",
                mdtrt_cert_type="03",
                mdtrt_cert_no=person.card_no or "",
                card_sn=person.card_sn,
                ipt_otp_no="OP-SM2",
                dept_code="A01",
                dept_name="内科",
                dr_name="李医生",
            )
            now = shanghai_now()
            lines = [
                FeeDetail(
                    "1",
                    CLASS_A_SERVICE,
                    "S-1",
                    Decimal("1"),
                    Decimal("20.00"),
                    Decimal("20.00"),
                    now,
                ),
                FeeDetail(
                    "2", CLASS_A_DRUG, "S-2", Decimal("2"), Decimal("40.00"), Decimal("80.00"), now
                ),
            ]
            client.upload_fees(info.ref, visit.mdtrt_id, lines)
            settled = client.settle(
                OutpatientSettlement(
                    info.ref,
                    mdtrt_id=visit.mdtrt_id,
                    mdtrt_cert_type="03",
                    mdtrt_cert_no=person.card_no or "",
                    medfee_sumamt=Decimal("100.00"),
                    insutype="310",
                )
            )
            setl = settled.setlinfo
            assert setl.setl_id and setl.medfee_sumamt == Decimal("100.00")
            assert setl.medfee_sumamt == setl.fund_pay_sumamt + setl.psn_part_amt + (
                setl.hosp_part_amt
            )
            assert center.balance(ref.psn_no) == Decimal("80.00") - setl.acct_pay
            entries = client.journal.entries()
            assert entries and all(e.request["signtype"] == "SM2" for e in entries)
            entry = client.journal.get(client.last_msgid or "")
            assert entry is not None and entry.status is Status.SUCCESS
            found = client.settlement_query(info.ref, setl_id=setl.setl_id)
            assert found.setlinfo is not None and found.setlinfo.setl_stas == "valid"
            refund = client.cancel_settlement(
                info.ref, setl_id=setl.setl_id, mdtrt_id=visit.mdtrt_id
            )
            assert refund.setlinfo.is_refund
            assert center.balance(ref.psn_no) == Decimal("80.00")
        # without the gateway headers the same terminal is refused now
        bare = terminal_config(center, tmp_path, gateway=False)
        with bare.client() as client, pytest.raises(CenterRefused, match="x-tif-paasid"):
            client.person_by_card(person.card_no or "", person.card_sn or "")
    finally:
        center.admin.request("PUT", f"/institutions/{HOSPITAL}/gateway", {"mode": "off"})
        center.admin.request("PUT", f"/institutions/{HOSPITAL}/sm2-key", {"public_key": None})


def test_a_private_key_file_others_can_read_is_refused(
    center: RunningCenter, tmp_path: Path
) -> None:
    key = _private(tmp_path / "hospital.sm2", generate_private_key() + "\n")
    key.chmod(0o640)
    with pytest.raises(ConfigError, match="readable by others"):
        terminal_config(center, tmp_path, gateway=False).client()
