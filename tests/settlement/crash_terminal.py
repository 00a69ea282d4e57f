"""A terminal process for the crash test: it sends one 2207 through the
settlement client and is killed by the test while it waits for the answer.

Usage: python crash_terminal.py ARGS.json  (the secret is read from a file)."""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path

from sscard_terminal.settlement import InstitutionConfig, Operator, SettlementClient
from sscard_terminal.settlement.config import read_secret
from sscard_terminal.settlement.envelope import OpterType
from sscard_terminal.settlement.inputs import OutpatientSettlement
from sscard_terminal.settlement.models import PersonRef


def main() -> None:
    args = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    client = SettlementClient(
        args["url"],
        InstitutionConfig(
            args["code"], args["name"], args["admvs"], read_secret(args["secret_file"])
        ),
        Operator(OpterType.OPERATOR, args["opter"], "收费员甲"),
        args["journal"],
        60.0,
        msgid_slot=args["slot"],
    )
    print("sending", flush=True)
    client.settle(
        OutpatientSettlement(
            PersonRef(args["psn_no"], args["insuplc_admdvs"]),
            mdtrt_id=args["mdtrt_id"],
            mdtrt_cert_type="03",
            mdtrt_cert_no=args["card_no"],
            medfee_sumamt=Decimal(args["total"]),
            insutype="310",
        )
    )
    print("answered", flush=True)  # never reached: the test kills this process first


if __name__ == "__main__":
    main()
