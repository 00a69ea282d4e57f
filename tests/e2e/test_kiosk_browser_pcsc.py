"""The kiosk as a patient uses it: Debian's headless Chromium
driven by Playwright, the kiosk (``sscard kiosk serve``) and the center
(``sscard center serve``) each in a process of its own, the card served
through vpcd into "Virtual PCD 00 00" and the PSAM into "Virtual PCD 00 01",
read through pcscd. Each test asserts what the page shows and what the
center booked: registration by card and by voucher, outpatient fees
registered at the desk, the refusals (suspended, lost card, benefits not
started, blocked PIN, center down), the card pulled at the confirmation,
the idle timeout, and that the PIN is in no request and no page."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect, sync_playwright

from sscard_terminal.codecs.masking import mask_id_number
from sscard_terminal.settlement.models import PersonRef
from sscard_terminal.vcard.factory import psam_from_profile
from sscard_terminal.vpcd.bridge import CardServer
from tests.e2e.conftest import reader_name, wait_for_reader
from tests.e2e.flow_rig import CLASS_A_DRUG, PIN, card_for
from tests.e2e.kiosk_rig import CenterProcess, KioskProcess, launch_browser, terminal_yaml

IDLE_SECONDS = 10.0
WAIT_MS = 20_000


@pytest.fixture(scope="module")
def center(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CenterProcess]:
    running = CenterProcess(tmp_path_factory.mktemp("kiosk-center"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def psam(pcscd: Any) -> Iterator[None]:
    """The PSAM in "Virtual PCD 00 01" for the whole module, as in a kiosk."""
    wait_for_reader(reader_name(1), atr=None)
    card = psam_from_profile("psam-ningbo")
    server = CardServer(card, slot=1)
    server.start()
    wait_for_reader(reader_name(1), atr=card.atr)
    yield
    server.stop()
    wait_for_reader(reader_name(1), atr=None)


@pytest.fixture(scope="module")
def kiosk(
    center: CenterProcess, psam: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KioskProcess]:
    base = tmp_path_factory.mktemp("kiosk")
    process = KioskProcess(terminal_yaml(center, base), base / "orders.json", IDLE_SECONDS)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_playwright() as playwright:
        context = launch_browser(playwright)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(kiosk: KioskProcess, browser: Any, served_card: Any) -> Iterator[tuple[Any, list[str]]]:
    """The kiosk's page; every request body recorded."""
    if kiosk.proc is None or kiosk.proc.poll() is not None:
        kiosk.start()
    tab = browser.new_page()
    sent: list[str] = []
    tab.on("request", lambda r: sent.append(f"{r.method} {r.url} {r.post_data or ''}"))
    tab.goto(kiosk.url + "/")
    screen(tab, "welcome")
    yield tab, sent
    tab.close()
    # nothing of the PIN left the PIN pad: no request, no log line
    assert not any(PIN in line for line in sent)
    assert PIN not in kiosk.log_text()


def screen(tab: Any, name: str, timeout: float = WAIT_MS) -> None:
    expect(tab.locator("body")).to_have_attribute("data-screen", name, timeout=timeout)


def click(tab: Any, action: str, arg: str | None = None) -> None:
    selector = f'#screen button[data-action="{action}"]'
    if arg is not None:
        selector += f'[data-arg="{arg}"]'
    tab.locator(selector).click()


def enter_pin(tab: Any, pin: str) -> None:
    expect(tab.locator("#pin-keys button.digit")).to_have_count(10, timeout=WAIT_MS)
    for digit in pin:
        tab.locator(f'#pin-keys button.digit:text-is("{digit}")').click()
    expect(tab.locator("#pin-display")).to_contain_text("●" * len(pin))
    assert pin not in tab.content()
    tab.locator('#pin-keys button[data-key="ok"]').click()


def insert(served_card: Any, center: CenterProcess, key: str) -> Any:
    return served_card(card_for(center.person_file(key)), 0)


def text(tab: Any) -> str:
    return str(tab.locator("#screen").inner_text())


def query(center: CenterProcess, sql: str, *params: str) -> list[tuple[Any, ...]]:
    """Rows of the center's books (its SQLite file, read-only)."""
    path = center.db.removeprefix("sqlite:///")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def visits(center: CenterProcess, psn_no: str) -> list[tuple[Any, ...]]:
    """(mdtrt_id, status, mdtrt_cert_type) of the person's visits."""
    return query(
        center,
        "SELECT mdtrt_id, status, mdtrt_cert_type FROM visits WHERE psn_no = ? ORDER BY rowid",
        psn_no,
    )


def settlement(center: CenterProcess, setl_id: str) -> tuple[Any, ...]:
    """(psn_no, status, kind, mdtrt_id, mdtrt_cert_type) of a settlement."""
    rows = query(
        center,
        "SELECT s.psn_no, s.status, s.kind, s.mdtrt_id, v.mdtrt_cert_type FROM settlements s "
        "JOIN visits v ON v.mdtrt_id = s.mdtrt_id WHERE s.setl_id = ?",
        setl_id,
    )
    assert len(rows) == 1, (setl_id, rows)
    return rows[0]


def setl_id_on(page_text: str) -> str:
    found = re.search(r"(?:结算号|Settlement)\s+(\w{30})", page_text)
    assert found, page_text
    return found.group(1)


def register(tab: Any) -> str:
    """menu -> 内科 -> 王医生 -> confirm -> pay -> receipt; the page's text."""
    click(tab, "register")
    screen(tab, "departments")
    click(tab, "dept", "0301")
    screen(tab, "doctors")
    expect(tab.locator("#screen")).to_contain_text("08:00-11:30")
    click(tab, "doctor", "D001")
    screen(tab, "confirm")
    confirm = text(tab)
    assert "10.00" in confirm and "统筹基金支付" in confirm and "需自付现金" in confirm
    click(tab, "pay")
    screen(tab, "receipt")
    return text(tab)


def test_registration_by_card(
    center: CenterProcess, page: tuple[Any, list[str]], served_card: Any
) -> None:
    tab, _ = page
    person = center.person("normal")
    before = center.account_balance(person["psn_no"])
    served = insert(served_card, center, "normal")
    screen(tab, "pin")
    shown = text(tab)
    id_number = center.person_file("normal")["id_number"]
    assert "张*" in shown and mask_id_number(id_number) in shown
    assert "张三" not in tab.content() and id_number not in tab.content()
    expect(tab.locator("aside.device")).to_contain_text("密码键盘（模拟设备）")
    enter_pin(tab, PIN)
    screen(tab, "menu")
    receipt = register(tab)
    assert re.search(r"就诊序号\s+\d+", receipt), receipt
    account = Decimal(re.search(r"个人账户支付\s+([\d.]+)", receipt).group(1))  # type: ignore[union-attr]
    assert account > 0
    assert center.balance(person["psn_no"]) == before - account
    assert settlement(center, setl_id_on(receipt)) == (
        person["psn_no"],
        "valid",
        "settle",
        visits(center, person["psn_no"])[-1][0],
        "03",
    )
    click(tab, "finish")
    screen(tab, "take_card")
    served.stop()
    screen(tab, "welcome")


def test_registration_by_voucher_in_english(
    center: CenterProcess, page: tuple[Any, list[str]]
) -> None:
    tab, _ = page
    person = center.person("normal")
    before = center.account_balance(person["psn_no"])
    code = center.admin("POST", "/vouchers", {"psn_no": person["psn_no"]})["ecQrCode"]
    tab.locator("#lang").click()
    expect(tab.locator("#title")).to_have_text("Welcome")
    tab.keyboard.type(code)  # the keyboard-wedge scanner
    tab.keyboard.press("Enter")
    screen(tab, "menu")
    assert "e-voucher" in text(tab) and tab.locator("aside.device").is_hidden()
    click(tab, "register")
    click(tab, "dept", "0301")
    click(tab, "doctor", "D001")
    screen(tab, "confirm")
    assert "Paid by the fund" in text(tab)
    click(tab, "pay")
    screen(tab, "receipt")
    receipt = text(tab)
    assert "Queue number" in receipt
    account = Decimal(re.search(r"Paid from your account\s+([\d.]+)", receipt).group(1))  # type: ignore[union-attr]
    assert center.balance(person["psn_no"]) == before - account
    booked = settlement(center, setl_id_on(receipt))
    assert booked[:3] == (person["psn_no"], "valid", "settle") and booked[4] == "01"
    click(tab, "finish")
    screen(tab, "goodbye")
    screen(tab, "welcome", timeout=10_000)
    expect(tab.locator("#title")).to_have_text("欢迎使用自助服务")  # the language resets too
    # the same code again: refused in one sentence
    tab.keyboard.type(code)
    tab.keyboard.press("Enter")
    screen(tab, "refused")
    assert "刷新" in text(tab)
    click(tab, "home")
    screen(tab, "welcome")


def test_paying_fees_registered_at_the_desk(
    center: CenterProcess,
    kiosk: KioskProcess,
    page: tuple[Any, list[str]],
    served_card: Any,
    tmp_path: Path,
) -> None:
    tab, _ = page
    person = center.person("normal")
    card = person["cards"][0]
    with center.desk_client(tmp_path / "desk.db") as desk:
        visit = desk.register(
            PersonRef(person["psn_no"], "330200"), insutype="310", mdtrt_cert_type="03",
            mdtrt_cert_no=card["card_no"], card_sn=card["card_sn"], ipt_otp_no="OPDESK1",
            dept_name="内科", dr_name="王医生",
        )  # fmt: skip
    kiosk.orders.write_text(
        f'[{{"psn_no": "{person["psn_no"]}", "mdtrt_id": "{visit.mdtrt_id}", '
        f'"dept_name": "内科", "dr_name": "王医生", "dise_codg": "J06.900", '
        f'"dise_name": "急性上呼吸道感染", '
        f'"items": [{{"code": "{CLASS_A_DRUG}", "count": "2", "price": "6.00", "name": "药"}}]}}]',
        encoding="utf-8",
    )
    before = center.account_balance(person["psn_no"])
    served = insert(served_card, center, "normal")
    screen(tab, "pin")
    enter_pin(tab, PIN)
    screen(tab, "menu")
    click(tab, "outstanding")
    screen(tab, "outstanding")
    click(tab, "settle", visit.mdtrt_id)
    screen(tab, "confirm")
    assert "12.00" in text(tab)
    click(tab, "pay")
    screen(tab, "receipt")
    receipt = text(tab)
    account = Decimal(re.search(r"个人账户支付\s+([\d.]+)", receipt).group(1))  # type: ignore[union-attr]
    assert center.balance(person["psn_no"]) == before - account
    booked = settlement(center, setl_id_on(receipt))
    assert booked[:4] == (person["psn_no"], "valid", "settle", visit.mdtrt_id)
    click(tab, "menu")
    click(tab, "outstanding")
    screen(tab, "outstanding")
    assert "没有待缴的门诊费用" in text(tab)
    served.stop()
    screen(tab, "welcome")


@pytest.mark.parametrize(
    ("key", "card_status", "sentence"),
    [
        ("lapsed", "active", "医保待遇已暂停"),
        ("lost_card", "lost", "此卡已挂失停用"),
        ("temp_lost", "temporarily_lost", "此卡已临时挂失"),
        ("replaced_card", "replaced", "此卡已被新卡替换"),
        ("new_household", "active", "医保待遇尚未开始"),
    ],
)
def test_refusals_are_one_sentence_with_what_to_do(
    center: CenterProcess,
    page: tuple[Any, list[str]],
    served_card: Any,
    key: str,
    card_status: str,
    sentence: str,
) -> None:
    tab, _ = page
    person = center.person(key)
    psn_no = person["psn_no"]
    (card,) = [c for c in person["cards"] if c["status"] == card_status]
    visits_before = visits(center, psn_no)
    served = served_card(card_for(center.admin("GET", f"/cards/{card['card_no']}/person-file")), 0)
    screen(tab, "pin")
    enter_pin(tab, PIN)
    screen(tab, "refused")
    message = tab.locator("#message").inner_text()
    assert sentence in message and "；" in message, message  # the cause; what to do
    assert visits(center, psn_no) == visits_before  # nothing booked
    served.stop()
    screen(tab, "welcome")


def test_a_blocked_pin(
    center: CenterProcess, page: tuple[Any, list[str]], served_card: Any
) -> None:
    tab, _ = page
    served = insert(served_card, center, "offsite_filed")
    screen(tab, "pin")
    for _ in range(10):
        enter_pin(tab, "000000")
        screen(tab, "refused")
        message = tab.locator("#message").inner_text()
        if "密码已锁定" in message:
            break
        assert "密码错误" in message and "还可再试" in message
        click(tab, "retry_pin")
        screen(tab, "pin")
    assert "密码已锁定" in message and "解锁" in message
    served.stop()
    screen(tab, "welcome")


def test_the_center_down(
    center: CenterProcess, page: tuple[Any, list[str]], served_card: Any
) -> None:
    tab, _ = page
    center.stop()
    try:
        served = insert(served_card, center, "normal")
        screen(tab, "pin")
        enter_pin(tab, PIN)
        screen(tab, "refused")
        assert "暂时无法连接医保中心" in tab.locator("#message").inner_text()
        served.stop()
        screen(tab, "welcome")
    finally:
        center.start()


def test_the_card_pulled_at_the_confirmation(
    center: CenterProcess, page: tuple[Any, list[str]], served_card: Any
) -> None:
    tab, _ = page
    person = center.person("resident")
    before = center.balance(person["psn_no"])
    served = insert(served_card, center, "resident")
    screen(tab, "pin")
    enter_pin(tab, PIN)
    screen(tab, "menu")
    click(tab, "register")
    click(tab, "dept", "0301")
    click(tab, "doctor", "D002")
    screen(tab, "confirm")
    served.stop()
    screen(tab, "refused")
    assert "社保卡已拔出" in tab.locator("#message").inner_text()
    assert "张" not in text(tab) and person["name"] not in tab.content()
    # the registration was rolled back: the visit is cancelled, nothing settled
    last = visits(center, person["psn_no"])[-1]
    assert last[1] == "cancelled", last
    assert query(center, "SELECT setl_id FROM settlements WHERE mdtrt_id = ?", last[0]) == []
    assert center.balance(person["psn_no"]) == before
    click(tab, "home")
    screen(tab, "welcome")


def test_idle_returns_to_welcome_and_clears_the_page(
    center: CenterProcess, page: tuple[Any, list[str]], served_card: Any
) -> None:
    tab, _ = page
    served = insert(served_card, center, "normal")
    screen(tab, "pin")
    enter_pin(tab, PIN)
    screen(tab, "menu")
    card_no = center.person("normal")["cards"][0]["card_no"]
    assert card_no in tab.content()
    screen(tab, "welcome", timeout=(IDLE_SECONDS + 8) * 1000)
    page_now = tab.content()
    assert card_no not in page_now and "张*" not in page_now
    served.stop()


def test_out_of_area_without_a_filing(
    center: CenterProcess,
    kiosk: KioskProcess,
    browser: Any,
    served_card: Any,
    tmp_path: Path,
) -> None:
    """A Ningbo-insured patient at a Hangzhou hospital's kiosk, without the
    out-of-area filing: refused at the registration, nothing booked."""
    kiosk.stop()  # one reader: the Hangzhou kiosk has it for this test
    schedule = tmp_path / "hangzhou.yaml"
    schedule.write_text(
        "schema: sscard-schedule/1\nhospital: 浙江大学医学院附属第一医院\n"
        "fixmedins_code: H33010600001\ndepartments:\n"
        '  - {code: "0301", name: 内科, caty: "A03", doctors: [{code: D101, name: 赵医生, '
        'fee: "10.00", fee_code: "001101000010000", places: 10}]}\n',
        encoding="utf-8",
    )
    hangzhou = KioskProcess(
        terminal_yaml(center, tmp_path, code="H33010600001"),
        tmp_path / "orders.json",
        IDLE_SECONDS,
        schedule=schedule,
    )
    hangzhou.start()
    tab = browser.new_page()
    try:
        tab.goto(hangzhou.url + "/")
        screen(tab, "welcome")
        psn_no = center.person("offsite_unfiled")["psn_no"]
        before = visits(center, psn_no)
        served = insert(served_card, center, "offsite_unfiled")
        screen(tab, "pin")
        enter_pin(tab, PIN)
        screen(tab, "menu")
        click(tab, "register")
        click(tab, "dept", "0301")
        click(tab, "doctor", "D101")
        screen(tab, "refused")
        message = tab.locator("#message").inner_text()
        assert "异地就医备案" in message and "；" in message, message
        assert visits(center, psn_no) == before
        served.stop()
        screen(tab, "welcome")
    finally:
        tab.close()
        hangzhou.stop()
    assert PIN not in hangzhou.log_text()
