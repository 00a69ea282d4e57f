"""End-to-end tests of the terminal flows: the real center
(SQLite, the demo seed, uvicorn on a free port), the demo persons' cards made
from the center's person files and run in-process (virtual transport), the
software SAM and a simulated PIN pad."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from sscard_terminal.center.api import create_app  # noqa: E402
from sscard_terminal.center.clock import system_clock  # noqa: E402
from sscard_terminal.center.db import Database, migrate  # noqa: E402
from sscard_terminal.center.policy import load_policy  # noqa: E402
from sscard_terminal.center.seed.demo import seed_demo  # noqa: E402
from sscard_terminal.codecs.transaction import TransactionType  # noqa: E402
from sscard_terminal.driver.pin import Pin, SimulatedPinPad  # noqa: E402
from sscard_terminal.driver.security_modules import open_security_module  # noqa: E402
from sscard_terminal.driver.sscard import SocialSecurityCard  # noqa: E402
from sscard_terminal.errors import CardRemovedError, PinError, WrongPinError  # noqa: E402
from sscard_terminal.settlement import (  # noqa: E402
    InstitutionConfig,
    Operator,
    SettlementClient,
)
from sscard_terminal.settlement.envelope import OpterType  # noqa: E402
from sscard_terminal.settlement.errors import CenterRefused  # noqa: E402
from sscard_terminal.settlement.journal import CardRecordState, Status  # noqa: E402
from sscard_terminal.settlement.resolution import reverse  # noqa: E402
from sscard_terminal.terminal.card_records import catch_up, record_for  # noqa: E402
from sscard_terminal.terminal.flows import (  # noqa: E402
    Declined,
    Item,
    NotEligible,
    QueueBook,
    hospital_refund,
    hospital_swipe,
    kiosk_register,
    load_items,
    parse_item,
    pharmacy_cancel,
    pharmacy_purchase,
)
from sscard_terminal.terminal.payment import PaymentFailed, SimulatedPayments  # noqa: E402
from sscard_terminal.terminal.schedule import load_schedule  # noqa: E402
from tests.center.center_helpers import Admin, new_insured  # noqa: E402
from tests.virtual_cards import insert, new_card

ADMIN_TOKEN = "flows-tests-admin-token-0123456789abcdef"
HOSPITAL = "H33020300001"
PHARMACY = "P33020300003"
PIN = "123456"  # ningbo-gen3's initial PIN
CLASS_A_SERVICE = "001102000010000"  # 普通门诊诊查费, cap 25.00
CLASS_A_DRUG = "XC10AAA005A001010100004"  # 阿托伐他汀钙片
CLASS_B_DRUG = "XR05CBA020E001010100002"  # 氨溴索口服溶液
CLASS_C = "310100001"  # 自费体检项目


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Center:
    db: Database
    base_url: str
    admin: Admin
    demo: dict[str, Any]
    server: uvicorn.Server
    thread: threading.Thread

    def institution(self, code: str) -> InstitutionConfig:
        inst = next(i for i in self.demo["institutions"] if i["fixmedins_code"] == code)
        return InstitutionConfig(code, inst["fixmedins_name"], inst["admdvs"], inst["secret"])

    def person(self, key: str) -> dict[str, Any]:
        person: dict[str, Any] = self.demo["persons"][key]
        return person

    def balance(self, psn_no: str) -> Decimal:
        view = self.admin.request("GET", f"/persons/{psn_no}")
        return Decimal(str(view["account_balance"]))


@pytest.fixture(scope="module")
def center(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Center]:
    tmp = tmp_path_factory.mktemp("center")
    policy = load_policy()
    db = Database(f"sqlite:///{tmp}/center.db")
    migrate(db)
    demo = seed_demo(db, policy, system_clock())
    app = create_app(db, policy, admin_token=ADMIN_TOKEN)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.01)
    base = f"http://127.0.0.1:{port}"
    admin = Admin(httpx.Client(base_url=base, timeout=30), ADMIN_TOKEN)
    try:
        yield Center(db, base, admin, demo, server, thread)
    finally:
        admin.http.close()
        server.should_exit = True
        thread.join(timeout=10)
        db.dispose()


_SLOTS: dict[str, int] = {}


@pytest.fixture
def make_client(center: Center, tmp_path: Path) -> Iterator[Any]:
    made: list[SettlementClient] = []

    def make(code: str = HOSPITAL, *, opter: str = "0001", kiosk: bool = False) -> SettlementClient:
        journal = tmp_path / f"journal-{code}-{opter}.db"
        # msgids are unique per institution: each journal (terminal) its own slot
        slot = _SLOTS.setdefault(str(journal), len(_SLOTS) % 100)
        client = SettlementClient(
            center.base_url,
            center.institution(code),
            Operator(
                OpterType.KIOSK if kiosk else OpterType.OPERATOR,
                opter,
                "自助机" if kiosk else "收费员甲",
            ),
            journal,
            10.0,
            msgid_slot=slot,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def card_of(center: Center, key: str, tmp_path: Path) -> SocialSecurityCard:
    """The demo person's card, personalised from the center's person file."""
    return insert(new_card("ningbo-gen3", person_file=center.person(key)["person_file"])).driver


@pytest.fixture
def sam() -> Iterator[Any]:
    module = open_security_module("software")
    yield module
    module.close()


def card_log(card: SocialSecurityCard) -> list[Any]:
    card.select_ssse()
    return card.read_log()


def hospital_items() -> list[Item]:
    return [
        Item(CLASS_A_SERVICE, Decimal(1), Decimal("30.00"), "诊查费"),
        Item(CLASS_B_DRUG, Decimal(2), Decimal("60.00"), "氨溴索口服溶液"),
        Item(CLASS_C, Decimal(1), Decimal("100.00"), "体检"),
    ]


# -- hospital --------------------------------------------------------------------------------
def test_hospital_swipe_and_refund(
    center: Center, make_client: Any, sam: Any, tmp_path: Path
) -> None:
    client = make_client()
    card = card_of(center, "normal", tmp_path)
    psn_no = center.person("normal")["psn_no"]
    before = center.balance(psn_no)
    shown = []

    def confirm(split: Any) -> bool:
        shown.append(split)
        return True

    steps: list[str] = []
    apdus: list[bytes] = []
    transmit = card.transport.transmit

    def counted(command: bytes) -> bytes:
        apdus.append(command)
        return transmit(command)

    card.transport.transmit = counted  # type: ignore[method-assign]
    receipt = hospital_swipe(
        card,
        sam,
        SimulatedPinPad([PIN]),
        client,
        hospital_items(),
        confirm=confirm,
        dise_codg="J06.900",
        dise_name="上呼吸道感染",
        progress=steps.append,
    )
    card.transport.transmit = transmit  # type: ignore[method-assign]
    print(f"card APDUs of a hospital swipe: {len(apdus)}")
    assert len(apdus) < 25  # a hospital swipe stays under 25 card APDUs
    assert receipt.total == Decimal("250.00")
    assert receipt.total == receipt.fund + receipt.account + receipt.cash
    assert shown and shown[0].psn_cash_pay == receipt.cash and shown[0].acct_pay == receipt.account
    assert receipt.setl_id and receipt.msgid and receipt.extra["card_record"] == "written"
    assert receipt.balance == before - receipt.account == center.balance(psn_no)
    assert [s.split()[0] for s in steps if s[0].isdigit()] == [
        "1101", "2201", "2203", "2204", "2206", "2207",
    ]  # fmt: skip
    entry = client.journal.get(receipt.msgid)
    assert entry is not None and entry.infno == "2207" and entry.status is Status.SUCCESS
    # the card's log
    [record] = card_log(card)
    assert record.type is TransactionType.HOSPITAL and record.institution == HOSPITAL
    assert record.amount == receipt.total and record.balance == receipt.balance
    assert record.serial == entry.id
    # text and JSON
    assert receipt.setl_id in receipt.to_text()
    as_json = receipt.to_json()
    assert as_json["total"] == "250.00" and "张三" not in json.dumps(as_json, ensure_ascii=False)
    # the refund (2208), a REFUND record
    refund = hospital_refund(
        card_of_same(card),
        sam,
        SimulatedPinPad([PIN]),
        client,
        setl_id=receipt.setl_id,
        mdtrt_id=receipt.extra["mdtrt_id"],
    )
    assert refund.total == -receipt.total and refund.extra["card_record"] == "written"
    assert "visit" not in refund.extra
    assert center.balance(psn_no) == before
    found = client.settlement_query(
        client.person_by_card(card_number(card), card_sn(card)).ref, setl_id=receipt.setl_id
    )
    assert found.setlinfo is not None and found.setlinfo.setl_stas == "cancelled"
    kinds = [r.type for r in card_log(card)]
    assert kinds == [TransactionType.REFUND, TransactionType.HOSPITAL]


def card_of_same(card: SocialSecurityCard) -> SocialSecurityCard:
    """The same card, taken out and put back (a new session: the PIN is asked again)."""
    card.transport.reset()
    return card


def card_number(card: SocialSecurityCard) -> str:
    card.select_ssse()
    return card.read_issuer(("card_number",)).card_number or ""


def card_sn(card: SocialSecurityCard) -> str:
    card.select_ssse()
    return card.read_issuer(("card_id_code",)).card_id_code or ""


def test_declined_split_books_nothing(
    center: Center, make_client: Any, sam: Any, tmp_path: Path
) -> None:
    client = make_client(opter="0002")
    card = card_of(center, "normal", tmp_path)
    with pytest.raises(Declined):
        hospital_swipe(
            card, sam, SimulatedPinPad([PIN]), client, hospital_items(), confirm=lambda s: False
        )
    infnos = [e.infno for e in client.journal.entries() if e.status is Status.SUCCESS]
    assert "2207" not in infnos and infnos[-2:] == ["2205", "2202"]


class _Stopped(BaseException):
    """Stands for Ctrl-C (KeyboardInterrupt) or any other way a flow is stopped."""


def _stop(_: Any) -> bool:
    raise _Stopped


@pytest.mark.parametrize("flow", ["hospital", "kiosk"])
def test_a_flow_stopped_at_its_confirmation_rolls_back(
    flow: str, center: Center, make_client: Any, sam: Any, tmp_path: Path
) -> None:
    """Whatever stops the flow after its 2201 (here: at the confirmation), the
    visit is rolled back with 2205 and 2202 and the exception goes on."""
    client = make_client(opter=f"S{flow[:3].upper()}", kiosk=flow == "kiosk")
    card = card_of(center, "normal", tmp_path)
    with pytest.raises(_Stopped):
        if flow == "hospital":
            hospital_swipe(
                card, sam, SimulatedPinPad([PIN]), client, hospital_items(), confirm=_stop
            )
        else:
            kiosk_register(
                card, sam, SimulatedPinPad([PIN]), client, load_schedule(), "内科", "李医生",
                SimulatedPayments(), queue=QueueBook(), confirm=_stop,
            )  # fmt: skip
    ok = [e.infno for e in client.journal.entries() if e.status is Status.SUCCESS]
    assert "2207" not in ok and ok[-2:] == ["2205", "2202"]
    assert client.journal.open_entries() == [] and client.journal.abandoned_visits() == []


def test_a_flow_stopped_inside_a_center_message_leaves_the_visit_to_resolve(
    center: Center, make_client: Any, sam: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped while its 2206 is on the wire and then again in the rollback's
    2205: nothing could be rolled back, so the registration stays held by
    this process; once the process is gone, resolution reverses it."""
    from sscard_terminal.settlement import resolution
    from sscard_terminal.settlement.journal import store as journal_module

    client = make_client(opter="S0IN")
    card = card_of(center, "normal", tmp_path)
    real = client._http.post
    calls = {"n": 0}

    def post(*args: Any, **kwargs: Any) -> Any:
        body = kwargs.get("content", b"")
        if b'"infno":"2206"' in body or b'"infno":"2205"' in body:
            calls["n"] += 1
            raise _Stopped
        return real(*args, **kwargs)

    monkeypatch.setattr(client._http, "post", post)
    with pytest.raises(_Stopped):
        hospital_swipe(card, sam, SimulatedPinPad([PIN]), client, hospital_items())
    monkeypatch.setattr(client._http, "post", real)
    assert calls["n"] == 2
    [visit] = client.journal.entries(infno="2201")
    # the process that holds it (this one) is alive: not abandoned yet
    assert client.journal.abandoned_visits() == []
    # the process is gone: a PID of another boot is nobody's
    monkeypatch.setattr(journal_module, "_BOOT_ID", "another-boot")
    with client.journal._transaction() as c:
        c.execute("UPDATE messages SET boot_id = 'earlier-boot' WHERE msgid = ?", (visit.msgid,))
    assert [e.msgid for e in client.journal.abandoned_visits()] == []  # 2206, 2205 still open
    report = resolution.resolve(client)
    assert any(o.msgid == visit.msgid and o.action == "reversed" for o in report.outcomes), report
    assert client.journal.open_entries() == [] and client.journal.abandoned_visits() == []


def test_card_removed_before_the_record_keeps_the_settlement(
    center: Center, make_client: Any, sam: Any, tmp_path: Path
) -> None:
    client = make_client(opter="0003")
    card = card_of(center, "normal", tmp_path)
    real = card.append_transaction

    def removed(record: Any) -> None:
        card.transport.close()
        real(record)

    card.append_transaction = removed  # type: ignore[method-assign]
    receipt = hospital_swipe(card, sam, SimulatedPinPad([PIN]), client, hospital_items()[:1])
    assert receipt.extra["card_record"].startswith("missing")
    assert receipt.msgid in receipt.extra["card_record"]
    entry = client.journal.get(receipt.msgid)
    assert entry is not None and entry.booked


def test_a_missing_card_record_is_written_at_the_cards_next_use(
    center: Center, make_client: Any, sam: Any, tmp_path: Path
) -> None:
    client = make_client(opter="0013")
    card = card_of(center, "normal", tmp_path)
    real = card.append_transaction

    def removed(record: Any) -> None:
        card.transport.close()
        real(record)

    card.append_transaction = removed  # type: ignore[method-assign]
    first = hospital_swipe(card, sam, SimulatedPinPad([PIN]), client, hospital_items()[:1])
    card.append_transaction = real  # type: ignore[method-assign]
    assert first.extra["card_record"].startswith("missing")
    card.transport.connect()  # put back
    [owed] = client.journal.card_records_owed(card_number(card))
    assert owed.msgid == first.msgid and owed.card_record is CardRecordState.OWED
    card.verify_pin(Pin(PIN))
    assert card_log(card) == []
    # the same card at the next swipe: the owed record first, then the new one
    second = hospital_swipe(
        card_of_same(card), sam, SimulatedPinPad([PIN]), client, hospital_items()[:1]
    )
    # each card has its own: another card's swipe does not write this one's
    assert second.extra["earlier_card_records"] == f"{first.msgid}: written"
    assert second.extra["card_record"] == "written"
    assert client.journal.card_records_owed() == []
    log = card_log(card)
    assert [r.serial for r in log] == [
        client.journal.get(second.msgid).id,
        owed.id,
    ]
    assert log[1].amount == first.total and log[1].balance == first.balance


def test_a_record_written_before_a_crash_is_not_written_twice(
    center: Center, make_client: Any, sam: Any, tmp_path: Path
) -> None:
    """The terminal died after the APPEND RECORD but before the journal's
    mark: the record is on the card and still owed in the journal."""
    client = make_client(opter="0014")
    card = card_of(center, "normal", tmp_path)
    real = card.append_transaction
    written: list[Any] = []

    def dies_after_the_write(record: Any) -> None:
        real(record)
        written.append(record)
        raise CardRemovedError("the terminal died here")

    card.append_transaction = dies_after_the_write  # type: ignore[method-assign]
    first = hospital_swipe(card, sam, SimulatedPinPad([PIN]), client, hospital_items()[:1])
    card.append_transaction = real  # type: ignore[method-assign]
    assert first.extra["card_record"].startswith("missing") and len(written) == 1
    assert [r.to_bytes() for r in card_log(card)] == [written[0].to_bytes()]
    card_of_same(card)
    card.read(sam=sam)
    card.verify_pin(Pin(PIN))
    done = catch_up(card, client.journal, card_number(card))
    assert done == {first.msgid: "already on the card"}
    assert len(card_log(card)) == 1 and client.journal.card_records_owed() == []
    entry = client.journal.get(first.msgid)
    assert entry is not None and entry.card_record is CardRecordState.WRITTEN


def test_card_records_come_from_the_journal_entry_alone(
    center: Center, make_client: Any, sam: Any, tmp_path: Path
) -> None:
    client = make_client(opter="0015", kiosk=True)
    card = card_of(center, "normal", tmp_path)
    receipt = hospital_swipe(card, sam, SimulatedPinPad([PIN]), client, hospital_items()[:2])
    entry = client.journal.get(receipt.msgid)
    assert entry is not None
    record = record_for(entry)
    assert record == record_for(client.journal.get(receipt.msgid))
    assert record.type is TransactionType.HOSPITAL and record.serial == entry.id
    assert record.amount == receipt.total and record.balance == receipt.balance
    assert f"{record.when:%Y-%m-%d %H:%M:%S}" == receipt.time
    assert card_log(card)[0] == record
    # a refund inherits the card of the settlement it refunds
    refund = client.cancel_settlement(
        entry_person(client, receipt.msgid), setl_id=receipt.setl_id,
        mdtrt_id=receipt.extra["mdtrt_id"],
    )  # fmt: skip
    refunded = client.journal.get(refund.msgid or "")
    assert refunded is not None and refunded.card_no == entry.card_no
    assert refunded.card_record is CardRecordState.OWED
    assert record_for(refunded).type is TransactionType.REFUND
    # a reversed settlement owes nothing
    reverse(client, refund.msgid or "")
    assert client.journal.card_records_owed() == []


def entry_person(client: SettlementClient, msgid: str) -> Any:
    from sscard_terminal.settlement.models import PersonRef

    entry = client.journal.get(msgid)
    assert entry is not None and entry.psn_no and entry.insuplc_admdvs
    return PersonRef(entry.psn_no, entry.insuplc_admdvs)


def test_wrong_pin_sends_nothing(
    center: Center, make_client: Any, sam: Any, tmp_path: Path
) -> None:
    client = make_client(opter="0004")
    card = card_of(center, "normal", tmp_path)
    with pytest.raises(WrongPinError) as caught:
        hospital_swipe(card, sam, SimulatedPinPad(["000000"]), client, hospital_items())
    assert isinstance(caught.value, PinError) and caught.value.tries_left == 2
    assert client.journal.entries() == []


def test_lapsed_person_is_refused_with_the_centers_reason(
    center: Center, make_client: Any, sam: Any, tmp_path: Path
) -> None:
    client = make_client(opter="0005")
    card = card_of(center, "lapsed", tmp_path)
    with pytest.raises(NotEligible, match=r"310 suspended since \d{4}-\d\d-01"):
        hospital_swipe(card, sam, SimulatedPinPad([PIN]), client, hospital_items())
    assert [e.infno for e in client.journal.entries() if e.infno != "9001"] == ["1101"]


def test_lost_card_is_refused_by_the_center(
    center: Center, make_client: Any, sam: Any, tmp_path: Path
) -> None:
    client = make_client(opter="0006")
    card = card_of(center, "lost_card", tmp_path)
    with pytest.raises(CenterRefused) as caught:
        hospital_swipe(card, sam, SimulatedPinPad([PIN]), client, hospital_items())
    assert caught.value.infno == "1101" and caught.value.err_msg


# -- pharmacy --------------------------------------------------------------------------------
def test_pharmacy_purchase_and_cancel(
    center: Center, make_client: Any, sam: Any, tmp_path: Path
) -> None:
    client = make_client(PHARMACY)
    card = card_of(center, "normal", tmp_path)
    psn_no = center.person("normal")["psn_no"]
    before = center.balance(psn_no)
    payments = SimulatedPayments()
    items = [
        Item(CLASS_A_DRUG, Decimal(3), Decimal("10.00"), "阿托伐他汀钙片"),
        Item("ZA00AAA0001000000000005", Decimal(1), Decimal("8.50"), "维生素C（保健）"),
    ]
    receipt = pharmacy_purchase(card, sam, SimulatedPinPad([PIN]), client, items, payments)
    assert receipt.total == Decimal("38.50")
    assert receipt.total == receipt.fund + receipt.account + receipt.cash
    assert center.balance(psn_no) == before - receipt.account
    if receipt.cash > 0:
        [payment] = payments.payments.values()
        assert payment.amount == receipt.cash and receipt.extra["payment"] == payment.reference
    [record] = card_log(card)
    assert record.type is TransactionType.PHARMACY and record.institution == PHARMACY
    assert record.amount == Decimal("38.50")
    cancel = pharmacy_cancel(
        card_of_same(card),
        sam,
        SimulatedPinPad([PIN]),
        client,
        setl_id=receipt.setl_id,
        mdtrt_id=receipt.extra["mdtrt_id"],
    )
    assert cancel.total == -receipt.total
    assert center.balance(psn_no) == before
    assert [r.type for r in card_log(card)][0] is TransactionType.CANCELLATION


def test_pharmacy_payment_failure_books_nothing(
    center: Center, make_client: Any, sam: Any, tmp_path: Path
) -> None:
    client = make_client(PHARMACY, opter="0002")
    card = card_of(center, "normal", tmp_path)
    items = [Item(CLASS_C, Decimal(1), Decimal("50.00"), "自费")]
    with pytest.raises(PaymentFailed):
        pharmacy_purchase(
            card, sam, SimulatedPinPad([PIN]), client, items, SimulatedPayments(fail_next=1),
            acct_used=False,  # all cash
        )  # fmt: skip
    assert "2102" not in [e.infno for e in client.journal.entries()]


def test_a_payment_is_refunded_when_the_center_refuses_the_settlement(
    center: Center, make_client: Any, sam: Any, tmp_path: Path
) -> None:
    """The card is reported lost by phone (12333) while the patient looks at
    the split: the cash part is paid, 2102 is refused, the payment is given back."""
    client = make_client(PHARMACY, opter="0003")
    person = new_insured(center.admin, balance="100.00")
    person_file = center.admin.request("GET", f"/cards/{person.card_no}/person-file")
    card = insert(new_card("ningbo-gen3", person_file=person_file)).driver
    payments = SimulatedPayments()

    def reported_lost_meanwhile(split: Any) -> bool:
        center.admin.post(f"/cards/{person.card_no}/loss", {"kind": "temporary"})
        return True

    items = [Item(CLASS_C, Decimal(1), Decimal("50.00"), "自费")]
    with pytest.raises(CenterRefused) as caught:
        pharmacy_purchase(
            card, sam, SimulatedPinPad([PIN]), client, items, payments,
            confirm=reported_lost_meanwhile, acct_used=False,
        )  # fmt: skip
    assert caught.value.infno == "2102"
    [paid] = payments.payments.values()
    assert paid.amount == Decimal("50.00") and payments.refunds == {paid.reference: paid}
    assert payments.net == 0 and "refunded" in (caught.value.hint or "")
    assert not [e for e in client.journal.entries() if e.booked and e.infno == "2102"]


# -- kiosk -----------------------------------------------------------------------------------
def test_kiosk_registration_with_a_queue_number(
    center: Center, make_client: Any, sam: Any, tmp_path: Path
) -> None:
    kiosk = make_client(opter="K001", kiosk=True)
    schedule = load_schedule()
    queue = QueueBook(tmp_path / "queue.db")
    payments = SimulatedPayments()
    numbers = []
    for _ in range(2):
        card = card_of(center, "normal", tmp_path)
        receipt = kiosk_register(
            card, sam, SimulatedPinPad([PIN]), kiosk, schedule, "0301", "D001", payments,
            queue=queue,
        )  # fmt: skip
        assert receipt.total == Decimal("10.00")
        assert receipt.total == receipt.fund + receipt.account + receipt.cash
        assert (
            receipt.extra["doctor"] == "D001 王医生" and receipt.extra["card_record"] == "written"
        )
        numbers.append(receipt.extra["queue_number"])
        [record] = card_log(card)
        assert record.type is TransactionType.REGISTRATION
        entry = kiosk.journal.get(receipt.msgid)
        assert entry is not None and entry.request["opter_type"] == "2"
        assert "排队" in receipt.to_text() or "queue_number" in receipt.to_text()
    assert numbers == ["1", "2"]


def test_kiosk_payment_failure_rolls_back(
    center: Center, make_client: Any, sam: Any, tmp_path: Path
) -> None:
    kiosk = make_client(opter="K002", kiosk=True)
    # a person with nothing in the account, so the fee is cash: the demo resident
    key = "resident"
    card = card_of(center, key, tmp_path)
    psn_no = center.person(key)["psn_no"]
    before = center.balance(psn_no) if _has_account(center, psn_no) else None
    queue = QueueBook()
    with pytest.raises(PaymentFailed):
        kiosk_register(
            card, sam, SimulatedPinPad([PIN]), kiosk, load_schedule(), "内科", "李医生",
            SimulatedPayments(fail_next=1), queue=queue,
        )  # fmt: skip
    entries = kiosk.journal.entries()
    ok = [e.infno for e in entries if e.status is Status.SUCCESS and e.infno != "9001"]
    assert ok == ["1101", "2201", "2204", "2206", "2205", "2202"]
    assert not [e for e in entries if e.is_open]
    [visit] = [e for e in entries if e.infno == "2201"]
    ref = kiosk.person_by_card(card_number(card), card_sn(card)).ref
    try:
        found = kiosk.settlement_query(ref, mdtrt_id=visit.mdtrt_id)
    except CenterRefused:
        pass  # the center knows no settlement of that visit
    else:
        assert found.setlinfo is None or found.setlinfo.setl_stas != "valid"
    if before is not None:
        assert center.balance(psn_no) == before
    # the queue number was not used up
    receipt = kiosk_register(
        card_of_same(card), sam, SimulatedPinPad([PIN]), kiosk, load_schedule(), "内科", "李医生",
        SimulatedPayments(), queue=queue,
    )  # fmt: skip
    assert receipt.extra["queue_number"] == "1"


def _has_account(center: Center, psn_no: str) -> bool:
    view = center.admin.request("GET", f"/persons/{psn_no}")
    return view.get("account_balance") is not None


# -- items -----------------------------------------------------------------------------------
def test_items_from_a_file_and_arguments(tmp_path: Path) -> None:
    path = tmp_path / "items.json"
    path.write_text(
        json.dumps({"items": [{"code": CLASS_A_DRUG, "count": 3, "price": "10.00", "name": "x"}]}),
        encoding="utf-8",
    )
    [item] = load_items(path)
    assert item.amount == Decimal("30.00") and item.name == "x"
    parsed = parse_item(f"{CLASS_C}:2:12.5:体检")
    assert parsed.amount == Decimal("25.00") and parsed.name == "体检"


# -- the CLI ---------------------------------------------------------------------------------
def test_cli_hospital_swipe_and_kiosk_register(
    center: Center, sam: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import click
    from click.testing import CliRunner

    from sscard_terminal.cli import flows as cli_flows

    inst = center.institution(HOSPITAL)
    secret = tmp_path / "secret"
    secret.write_text(inst.secret, encoding="utf-8")
    secret.chmod(0o600)
    config = tmp_path / "terminal.yaml"
    config.write_text(
        json.dumps(
            {
                "center": center.base_url,
                "msgid_slot": 90,
                "institution": {
                    "fixmedins_code": HOSPITAL,
                    "fixmedins_name": inst.fixmedins_name,
                    "mdtrtarea_admvs": inst.mdtrtarea_admvs,
                    "secret_file": str(secret),
                },
                "operator": {"opter": "C090", "opter_name": "收费员乙"},
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    pad = tmp_path / "pad"
    pad.write_text(f"{PIN}\n", encoding="utf-8")
    items = tmp_path / "items.json"
    items.write_text(
        json.dumps([{"code": CLASS_A_SERVICE, "count": "1", "price": "20.00", "name": "诊查费"}]),
        encoding="utf-8",
    )
    card = card_of(center, "normal", tmp_path)

    def reinsert(reader: str | None) -> Any:  # each command takes the card out at the end
        card.transport.connect()
        return card.transport

    monkeypatch.setattr(cli_flows, "_open_card", reinsert)
    root = click.Group("sscard", commands={c.name or "": c for c in cli_flows.COMMANDS})
    common = ["--config", str(config), "--sam", "software", "--pin-pad", str(pad), "--json"]
    runner = CliRunner()
    done = runner.invoke(root, ["hospital", "swipe", *common, "--items", str(items), "--yes"])
    assert done.exit_code == 0, done.output
    receipt = json.loads(done.stdout)
    assert receipt["total"] == "20.00" and receipt["extra"]["card_record"] == "written"
    assert "total 20.00" in done.stderr  # the split, shown before settling
    # --quiet --yes: the receipt alone, not a word on stderr
    done = runner.invoke(
        root, ["hospital", "swipe", *common, "--items", str(items), "--yes", "--quiet"]
    )
    assert done.exit_code == 0, done.output
    assert done.stderr == "" and json.loads(done.stdout)["total"] == "20.00"
    kiosk_config = ["--opter", "K090", "--opter-name", "自助机"]
    done = runner.invoke(
        root,
        ["kiosk", "register", *common, *kiosk_config, "--department", "0701", "--doctor",
         "D010", "--yes"],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    receipt = json.loads(done.stdout)
    assert receipt["extra"]["queue_number"] == "1" and receipt["total"] == "9.00"
    # a wrong PIN: exit code 6, nothing sent
    pad.write_text("000000\n", encoding="utf-8")
    done = runner.invoke(root, ["hospital", "swipe", *common, "--items", str(items), "--yes"])
    assert done.exit_code == 6, done.output
