#!/usr/bin/env python3
"""What the envelope forms real clients send (text/plain, /callService, SM2
cainfo, x-tif headers) cost the center per message. Not a test.

In one process, over a fresh SQLite database with the demo seed, the
center's message pipeline (``CenterService.handle``, the code the HTTP server
runs for every message, without HTTP) answers 1101 person lookups of the demo
person 张三 by card, each with a new msgid, in these forms:

- ``reference``: JSON object, HMAC-SM3 (the form of the project's own client);
- ``text+null``: ``input`` as a JSON text, ``"null"`` in the empty fields and
  the transaction code in the URL;
- ``sm2``: signtype SM2, checked with the registered public key (gmssl);
- ``gateway``: HMAC-SM3 plus the x-tif gateway headers (option ``also``).

Each form runs ``--messages`` times, interleaved in rounds so that the
machine's load falls on all alike; the figures are CPU time per message and
the ratio to the reference of the same run.

Run: .venv/bin/python tools/bench_envelopes.py [--messages 300]
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sscard_terminal.center import signature, wire  # noqa: E402
from sscard_terminal.center.admin import institutions  # noqa: E402
from sscard_terminal.center.clock import SHANGHAI, system_clock  # noqa: E402
from sscard_terminal.center.db import Database, migrate  # noqa: E402
from sscard_terminal.center.envelope_forms import Delivery  # noqa: E402
from sscard_terminal.center.gateway import GatewayHeaders  # noqa: E402
from sscard_terminal.center.policy import load_policy  # noqa: E402
from sscard_terminal.center.seed.demo import seed_demo  # noqa: E402
from sscard_terminal.center.service import CenterService  # noqa: E402
from sscard_terminal.settlement.gateway import gateway_headers  # noqa: E402
from sscard_terminal.settlement.sm2 import SM2Signer, generate_private_key  # noqa: E402

CODE = "H33020300001"
_SEQ = itertools.count(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300, help="messages per form")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/bench.db")
        migrate(db)
        policy = load_policy()
        demo = seed_demo(db, policy, system_clock())
        secret = next(i["secret"] for i in demo["institutions"] if i["fixmedins_code"] == CODE)
        signer = SM2Signer(generate_private_key())
        with db.transaction() as session:
            institutions.set_sm2_key(
                session, CODE, institutions.SM2KeyIn(public_key=signer.public_key_hex)
            )
        service = CenterService(db, policy)
        card = demo["persons"]["normal"]["cards"][0]
        query = {
            "data": {
                "mdtrt_cert_type": "03",
                "mdtrt_cert_no": card["card_no"],
                "card_sn": card["card_sn"],
            }
        }
        start = dt.datetime.now(SHANGHAI).replace(tzinfo=None, microsecond=0)

        def envelope(sign_no: str = "", **over: Any) -> dict[str, Any]:
            n = next(_SEQ)
            moment = start - dt.timedelta(seconds=n // 10000)
            env: dict[str, Any] = {
                "infno": "1101",
                "msgid": f"{CODE}{moment:%Y%m%d%H%M%S}{n % 10000:04d}",
                "mdtrtarea_admvs": "330203",
                "insuplc_admdvs": "",
                "recer_sys_code": "FSI_LOCAL",
                "dev_no": "",
                "dev_safe_info": "",
                "signtype": "HMAC-SM3",
                "infver": "V1.0",
                "opter_type": "1",
                "opter": "0001",
                "opter_name": "收费员01",
                "inf_time": f"{moment:%Y-%m-%d %H:%M:%S}",
                "fixmedins_code": CODE,
                "fixmedins_name": "宁波市第一医院",
                "sign_no": sign_no,
                "input": query,
            }
            env.update(over)
            return env

        sign_in = envelope(
            infno="9001", input={"signIn": {"opter_no": "0001", "mac": "", "ip": "127.0.0.1"}}
        )
        sign_in["cainfo"] = signature.sign(sign_in, secret)
        status, body = service.handle(wire.dumps(sign_in))
        sign_no = wire.loads(body)["output"]["signinoutb"]["sign_no"]

        def reference() -> tuple[bytes, Delivery]:
            env = envelope(sign_no)
            env["cainfo"] = signature.sign(env, secret)
            return wire.dumps(env), Delivery(content_type="application/json")

        def text_null() -> tuple[bytes, Delivery]:
            env = envelope(sign_no, dev_no="null", dev_safe_info="null", insuplc_admdvs="null")
            env["cainfo"] = signature.sign(env, secret)
            env["input"] = json.dumps(query)
            return wire.dumps(env), Delivery(path_infno="1101", content_type="text/plain")

        def sm2() -> tuple[bytes, Delivery]:
            env = envelope(sign_no, signtype="SM2")
            env["cainfo"] = signer.sign(env)
            return wire.dumps(env), Delivery(content_type="application/json")

        def gateway() -> tuple[bytes, Delivery]:
            env = envelope(sign_no)
            env["cainfo"] = signature.sign(env, secret)
            headers = GatewayHeaders.from_headers(gateway_headers(CODE, secret))
            return wire.dumps(env), Delivery(content_type="application/json", gateway=headers)

        forms: dict[str, Callable[[], tuple[bytes, Delivery]]] = {
            "reference": reference,
            "text+null": text_null,
            "sm2": sm2,
        }
        # messages are made before the clock runs: only the center's work is timed
        prepared = {name: [make() for _ in range(args.messages)] for name, make in forms.items()}
        with db.transaction() as session:
            institutions.set_gateway(session, CODE, institutions.GatewayIn(mode="also"))
        service.forget_institution(CODE)
        prepared["gateway"] = [gateway() for _ in range(args.messages)]
        spent = dict.fromkeys(prepared, 0.0)
        rounds = 10
        per_round = args.messages // rounds
        for r in range(rounds):
            for name in prepared:
                if name != "gateway":
                    with db.transaction() as session:
                        institutions.set_gateway(session, CODE, institutions.GatewayIn(mode="off"))
                else:
                    with db.transaction() as session:
                        institutions.set_gateway(session, CODE, institutions.GatewayIn(mode="also"))
                service.forget_institution(CODE)
                batch = prepared[name][r * per_round : (r + 1) * per_round]
                began = time.process_time()
                for body, delivery in batch:
                    status, answer = service.handle(body, delivery)
                    if status != 200 or b'"infcode":0' not in answer:
                        raise SystemExit(f"{name}: {answer[:300]!r}")
                spent[name] += time.process_time() - began
        done = per_round * rounds
        reference_ms = spent["reference"] / done * 1000
        print(f"{done} messages per form (1101 by card, SQLite, in process)")
        print(f"{'form':<12} {'CPU ms/msg':>10} {'ratio':>7}")
        for name, seconds in spent.items():
            ms = seconds / done * 1000
            print(f"{name:<12} {ms:>10.3f} {ms / reference_ms:>7.2f}")
        db.dispose()


if __name__ == "__main__":
    main()
