"""Helpers for the center's tests: a terminal that signs its messages, the
admin API, and making fresh insured persons through it (no direct DB access:
everything goes through HTTP)."""

from __future__ import annotations

import datetime as dt
import itertools
import socket
import threading
import time
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import uvicorn

from sscard_terminal.center import signature, wire
from sscard_terminal.center.api import CALL_SERVICE
from sscard_terminal.center.clock import SHANGHAI, Month
from sscard_terminal.center.db import Database
from sscard_terminal.center.policy import Policy
from sscard_terminal.codecs.id_number import make_id_number

_SEQ = itertools.count(1)
_SEQ_LOCK = threading.Lock()
_IDS = itertools.count(1)


def shanghai_now() -> dt.datetime:
    return dt.datetime.now(SHANGHAI).replace(tzinfo=None, microsecond=0)


def stamp(moment: dt.datetime | None = None) -> str:
    return f"{moment or shanghai_now():%Y-%m-%d %H:%M:%S}"


_START = shanghai_now()


def next_msgid(code: str) -> str:
    """Unique within the run: each block of 10,000 sequence numbers one second
    before the run's start."""
    with _SEQ_LOCK:
        n = next(_SEQ)
    stamp = _START - dt.timedelta(seconds=n // 10000)
    return f"{code}{stamp:%Y%m%d%H%M%S}{n % 10000:04d}"


@dataclass
class Terminal:
    """A hospital or pharmacy system speaking the national interface."""

    http: httpx.Client
    code: str
    name: str
    secret: str
    admdvs: str
    opter: str = "0001"
    sign_no: str | None = None
    last_msgid: str = field(default="", init=False)

    def envelope(self, infno: str, payload: dict[str, Any], **over: Any) -> dict[str, Any]:
        env: dict[str, Any] = {
            "infno": infno,
            "msgid": next_msgid(self.code),
            "mdtrtarea_admvs": self.admdvs,
            "insuplc_admdvs": "",
            "recer_sys_code": "FSI_LOCAL",
            "dev_no": "",
            "dev_safe_info": "",
            "signtype": "HMAC-SM3",
            "infver": "V1.0",
            "opter_type": "1",
            "opter": self.opter,
            "opter_name": "收费员甲",
            "inf_time": stamp(),
            "fixmedins_code": self.code,
            "fixmedins_name": self.name,
            "sign_no": self.sign_no or "",
            "input": payload,
        }
        if "psn_no" in str(payload):
            env["insuplc_admdvs"] = "330200"
        env.update(over)
        if "cainfo" not in over:
            env["cainfo"] = signature.sign(env, self.secret)
        return env

    def post(self, env: dict[str, Any] | bytes) -> httpx.Response:
        body = env if isinstance(env, bytes) else wire.dumps(env)
        return self.http.post(
            CALL_SERVICE, content=body, headers={"content-type": "application/json"}
        )

    def send(self, env: dict[str, Any]) -> dict[str, Any]:
        """POST a prepared envelope; the answer must be HTTP 200."""
        response = self.post(env)
        assert response.status_code == 200, response.text
        self.last_msgid = env["msgid"]
        answer: dict[str, Any] = wire.loads(response.content)
        return answer

    def call(self, infno: str, payload: dict[str, Any], **over: Any) -> dict[str, Any]:
        return self.send(self.envelope(infno, payload, **over))

    def ok(self, infno: str, payload: dict[str, Any], **over: Any) -> dict[str, Any]:
        """call and require infcode 0; returns the output."""
        answer = self.call(infno, payload, **over)
        assert answer["infcode"] == 0, answer
        output: dict[str, Any] = answer["output"]
        return output

    def refused(
        self, infno: str, payload: dict[str, Any], code: str, **over: Any
    ) -> dict[str, Any]:
        """call and require infcode -1 with ``err_code`` (a Chinese + English text)."""
        answer = self.call(infno, payload, **over)
        assert answer["infcode"] == -1, answer
        assert answer["err_code"] == code, answer
        zh, _, en = answer["err_msg"].partition(" / ")
        assert zh and en and any("\u4e00" <= ch <= "\u9fff" for ch in zh), answer["err_msg"]
        return answer

    def sign_in(self) -> str:
        out = self.ok("9001", {"signIn": {"opter_no": self.opter, "mac": "", "ip": "127.0.0.1"}})
        self.sign_no = out["signinoutb"]["sign_no"]
        return self.sign_no


@dataclass
class Admin:
    http: httpx.Client
    token: str

    def _headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}

    def request(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        response = self.http.request(
            method,
            f"/admin{path}",
            content=None if body is None else wire.dumps(body),
            headers={**self._headers(), "content-type": "application/json"},
        )
        assert response.status_code == expect, (response.status_code, response.text)
        return wire.loads(response.content)

    def post(self, path: str, body: Any = None, expect: int = 200) -> Any:
        return self.request("POST", path, body if body is not None else {}, expect)


@dataclass
class Insured:
    psn_no: str
    id_number: str
    card_no: str | None = None
    card_sn: str | None = None


def unique_id_number(birth: dt.date = dt.date(1980, 5, 17), region: str = "330203") -> str:
    """A valid ID number no other test uses (sequence codes 000..899 of varying days)."""
    n = next(_IDS)
    day = birth + dt.timedelta(days=n // 800)
    return make_id_number(region, day, 100 + n % 800)


def new_insured(
    admin: Admin,
    *,
    insutype: str = "310",
    paid: tuple[Month, Month] | None = None,
    balance: str | None = "1000.00",
    card: bool = True,
    birth: dt.date = dt.date(1980, 5, 17),
    insuplc: str | None = None,
    legacy_scheme: str | None = None,
) -> Insured:
    """A fresh person through the admin API: enrolled, paid in time (default:
    2015-01 up to this month; ``paid_on`` the first day of the first month),
    account credited, with a first card."""
    month = Month.of(shanghai_now().date())
    id_number = unique_id_number(birth)
    person: dict[str, Any] = {"id_number": id_number, "name": "测试人"}
    if insuplc:
        person["insuplc_admdvs"] = insuplc
    if legacy_scheme:
        person["legacy_scheme"] = legacy_scheme
    psn_no = admin.post("/persons", person)["psn_no"]
    if insutype:
        admin.post(f"/persons/{psn_no}/enrolments", {"insutype": insutype})
        first, last = paid or (Month(2015, 1), month)
        admin.post(
            f"/persons/{psn_no}/contributions",
            {
                "insutype": insutype,
                "first_month": str(first),
                "last_month": str(last),
                "paid_on": str(first.first_day),
            },
        )
        if balance is not None and insutype == "310":
            admin.post(f"/persons/{psn_no}/account/credit", {"amount": balance})
    insured = Insured(psn_no, id_number)
    if card:
        issued = admin.post(f"/persons/{psn_no}/cards", {"bank": "宁波银行"})
        insured.card_no, insured.card_sn = issued["card_no"], issued["card_sn"]
    return insured


def fee(
    mdtrt_id: str,
    psn_no: str,
    sn: str,
    code: str,
    pric: str,
    cnt: str = "1",
    batch: str = "B1",
    when: str | None = None,
) -> dict[str, Any]:
    total = (Decimal(pric) * Decimal(cnt)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return {
        "feedetl_sn": sn,
        "mdtrt_id": mdtrt_id,
        "psn_no": psn_no,
        "chrg_bchno": batch,
        "rxno": "",
        "fee_ocur_time": when or stamp(),
        "med_list_codg": code,
        "medins_list_codg": f"H-{code}",
        "det_item_fee_sumamt": str(total),
        "cnt": cnt,
        "pric": pric,
    }


def settle_input(
    p: Insured,
    mdtrt_id: str,
    total: str,
    *,
    insutype: str = "310",
    acct: str = "1",
    med_type: str = "11",
    batch: str = "0000",
) -> dict[str, Any]:
    return {
        "data": {
            "psn_no": p.psn_no,
            "mdtrt_cert_type": "03",
            "mdtrt_cert_no": p.card_no,
            "med_type": med_type,
            "medfee_sumamt": total,
            "psn_setlway": "01",
            "mdtrt_id": mdtrt_id,
            "chrg_bchno": batch,
            "acct_used_flag": acct,
            "insutype": insutype,
        }
    }


def register(t: Terminal, p: Insured, *, insutype: str = "310", **extra: Any) -> str:
    data = {
        "psn_no": p.psn_no,
        "insutype": insutype,
        "begntime": stamp(),
        "mdtrt_cert_type": "03",
        "mdtrt_cert_no": p.card_no,
        "ipt_otp_no": "OP1",
    }
    data.update(extra)
    mdtrt_id: str = t.ok("2201", {"data": data})["data"]["mdtrt_id"]
    return mdtrt_id


#: catalogue codes of the demo seed
CLASS_A_SERVICE = "001102000010000"  # cap 25.00
CLASS_A_DRUG = "XC10AAA005A001010100004"  # no cap
CLASS_B_DRUG = "XR05CBA020E001010100002"  # policy share 10%
CLASS_B_OWN = "XC09AAA007A001010100003"  # own share 20%, cap 5.00
CLASS_C = "310100001"


def visit_with_fees(
    t: Terminal, p: Insured, items: list[tuple[str, str, str]], **kw: Any
) -> tuple[str, str]:
    """Register and upload ``items`` (code, pric, cnt); returns mdtrt_id and the total."""
    mdtrt_id = register(t, p, **kw)
    lines = [
        fee(mdtrt_id, p.psn_no, str(i + 1), code, pric, cnt)
        for i, (code, pric, cnt) in enumerate(items)
    ]
    t.ok("2204", {"feedetail": lines})
    total = sum((Decimal(line["det_item_fee_sumamt"]) for line in lines), Decimal(0))
    return mdtrt_id, str(total.quantize(Decimal("0.01")))


def check_identities(info: dict[str, Any]) -> None:
    """settlement-interface.md, "Money", on a setlinfo."""
    d = {
        k: Decimal(str(v))
        for k, v in info.items()
        if k
        in (
            "medfee_sumamt",
            "fulamt_ownpay_amt",
            "overlmt_selfpay",
            "preselfpay_amt",
            "inscp_scp_amt",
            "act_pay_dedc",
            "hifp_pay",
            "pool_prop_selfpay",
            "fund_pay_sumamt",
            "psn_part_amt",
            "acct_pay",
            "psn_cash_pay",
            "balc",
            "hosp_part_amt",
        )
    }
    assert d["medfee_sumamt"] == (
        d["fulamt_ownpay_amt"] + d["overlmt_selfpay"] + d["preselfpay_amt"] + d["inscp_scp_amt"]
    )
    assert d["medfee_sumamt"] == d["fund_pay_sumamt"] + d["psn_part_amt"] + d["hosp_part_amt"]
    assert d["psn_part_amt"] == d["acct_pay"] + d["psn_cash_pay"]
    assert d["inscp_scp_amt"] == d["act_pay_dedc"] + d["hifp_pay"] + d["pool_prop_selfpay"]
    for value in d.values():
        assert value == value.quantize(Decimal("0.01"))


ADMIN_TOKEN = "test-admin-token-0123456789abcdef"
BACKENDS = ("sqlite", "postgresql")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    base_url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start_server(app: Any, **kwargs: Any) -> Server:
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", **kwargs
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    scheme = "https" if kwargs.get("ssl_certfile") else "http"
    return Server(f"{scheme}://127.0.0.1:{port}", server, thread)


@dataclass
class Center:
    """A running center with the demo data: terminals per institution, admin."""

    backend: str
    db: Database
    base_url: str
    http: httpx.Client
    admin: Admin
    demo: dict[str, Any]
    policy: Policy

    def institution(self, code: str) -> dict[str, Any]:
        return next(i for i in self.demo["institutions"] if i["fixmedins_code"] == code)

    def terminal(
        self, code: str = "H33020300001", *, opter: str = "0001", sign_in: bool = True
    ) -> Terminal:
        inst = self.institution(code)
        t = Terminal(
            self.http, code, inst["fixmedins_name"], inst["secret"], inst["admdvs"], opter=opter
        )
        if sign_in:
            t.sign_in()
        return t

    def person(self, key: str) -> dict[str, Any]:
        person: dict[str, Any] = self.demo["persons"][key]
        return person


class SettableClock:
    """The center's clock, set by the test (Asia/Shanghai)."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def set(self, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> None:
        self.now = dt.datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class ClockedCenter:
    """A center of its own whose clock the tests set, to judge rules at date edges."""

    center: Center
    clock: SettableClock

    def at(self, *parts: int) -> None:
        """Set the clock (year, month, day, hour, minute[, second])."""
        self.clock.set(*parts)

    def terminal(self, code: str = "H33020300001") -> Terminal:
        """A terminal signed in on the clock's day (sign-ins last a day)."""
        return self.center.terminal(code)
