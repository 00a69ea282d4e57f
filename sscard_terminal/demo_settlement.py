"""The settlement part of the main job: the three flows against a local center.

Starts the center in-process on loopback with a fresh SQLite database and the
demo data, serves the demo person 张三's card (made from the center's person
file) on vpcd slot 0 and the virtual PSAM on slot 1, and runs one hospital
swipe, one pharmacy purchase and one kiosk registration through PC/SC with a
simulated PIN pad. After each step it prints the receipt, the center's view
(1101: insurance status and account balance) and the card's view (the newest
DF04 EF08 record).
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from sscard_terminal.driver.pin import SimulatedPinPad
from sscard_terminal.driver.psam import PsamSam
from sscard_terminal.driver.sscard import SocialSecurityCard
from sscard_terminal.errors import SscardError
from sscard_terminal.settlement import InstitutionConfig, Operator, SettlementClient
from sscard_terminal.settlement.envelope import OpterType
from sscard_terminal.terminal.flows import (
    Item,
    QueueBook,
    hospital_swipe,
    kiosk_register,
    pharmacy_purchase,
)
from sscard_terminal.terminal.payment import SimulatedPayments
from sscard_terminal.terminal.schedule import load_schedule
from sscard_terminal.transport.base import open_transport
from sscard_terminal.vcard.factory import card_from_image, card_from_profile
from sscard_terminal.vcard.image import ImageFile

HOSPITAL = "H33020300001"
PHARMACY = "P33020300003"
#: the published test PIN of the shipped profiles, typed by the simulated PIN pad
DEMO_PIN = "123456"


@contextmanager
def local_center(directory: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """The center on a free loopback port with a fresh SQLite database and the
    demo seed; yields its base URL and the seed's demo data."""
    import uvicorn

    from sscard_terminal.center.api import create_app
    from sscard_terminal.center.clock import system_clock
    from sscard_terminal.center.db import Database, migrate
    from sscard_terminal.center.policy import load_policy
    from sscard_terminal.center.seed.demo import seed_demo

    policy = load_policy()
    db = Database(f"sqlite:///{directory / 'center.db'}")
    migrate(db)
    demo = seed_demo(db, policy, system_clock())
    app = create_app(db, policy, admin_token=secrets.token_hex(24))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise SscardError("the demo center did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}", demo
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        db.dispose()


def _institution(demo: dict[str, Any], code: str) -> InstitutionConfig:
    inst = next(i for i in demo["institutions"] if i["fixmedins_code"] == code)
    return InstitutionConfig(code, inst["fixmedins_name"], inst["admdvs"], inst["secret"])


def run_settlement_demo(
    echo: Callable[[str], None], directory: Path, served: Callable[..., Any]
) -> None:
    """``served(card, slot)`` is the demo's context manager that serves a card."""
    with local_center(directory) as (url, demo):
        echo(f"== the settlement center on {url} (SQLite, demo data)")
        person = demo["persons"]["normal"]
        person_file = directory / "normal.json"
        person_file.write_text(json.dumps(person["person_file"], ensure_ascii=False), "utf-8")
        image = directory / "normal-card.json"
        from sscard_terminal.vcard.factory import new_image

        ImageFile(image).save(new_image("ningbo-gen3", person_file))
        clients = {
            "hospital": SettlementClient(
                url,
                _institution(demo, HOSPITAL),
                Operator(OpterType.OPERATOR, "0001", "收费员"),
                directory / "journal-hospital.db",
                10.0,
                msgid_slot=1,
            ),
            "pharmacy": SettlementClient(
                url,
                _institution(demo, PHARMACY),
                Operator(OpterType.OPERATOR, "0001", "店员"),
                directory / "journal-pharmacy.db",
                10.0,
                msgid_slot=2,
            ),
            "kiosk": SettlementClient(
                url,
                _institution(demo, HOSPITAL),
                Operator(OpterType.KIOSK, "K0001", "自助机"),
                directory / "journal-kiosk.db",
                10.0,
                msgid_slot=3,
            ),
        }
        payments = SimulatedPayments()
        card_sn = _card_sn(image)
        try:
            with (
                served(card_from_image(image), 0) as reader,
                served(card_from_profile("psam-ningbo"), 1) as psam_reader,
                PsamSam.open(psam_reader) as sam,
            ):

                def step(
                    title: str, run: Callable[[SocialSecurityCard, SimulatedPinPad], Any]
                ) -> None:
                    echo(f"-- {title}")
                    pad = SimulatedPinPad([DEMO_PIN, DEMO_PIN])
                    with open_transport(reader=reader) as transport:
                        card = SocialSecurityCard(transport)
                        receipt = run(card, pad)
                        apdus = card.session.stats.apdus
                        for line in receipt.to_text().splitlines():
                            echo("  " + line)
                        # the card's view: its newest transaction record
                        card.select_ssse()
                        card.verify_pin(pad.get_pin("PIN"))
                        newest = card.read_log()[:1]
                    info = clients["hospital"].person_by_card(receipt.card_number, card_sn)
                    balances = ", ".join(
                        f"{i.insutype} status {i.psn_insu_stas} balance {i.balc}"
                        for i in info.insuinfo
                    )
                    echo(f"  center: {balances}")
                    if newest:
                        r = newest[0]
                        echo(
                            f"  card: EF08 record 1 = {r.type.name.lower()} {r.amount} yuan at "
                            f"{r.institution}, balance {r.balance} ({apdus} card APDUs in the flow)"
                        )

                step(
                    "hospital swipe at 宁波市第一医院",
                    lambda card, pad: hospital_swipe(
                        card,
                        sam,
                        pad,
                        clients["hospital"],
                        [
                            Item("001102000010000", Decimal(1), Decimal("25.00"), "普通门诊诊查费"),
                            Item("250101001", Decimal(1), Decimal("20.00"), "血常规检查"),
                            Item(
                                "XJ01CAA040A001010100001",
                                Decimal(2),
                                Decimal("1.20"),
                                "阿莫西林胶囊",
                            ),
                        ],
                    ),
                )
                step(
                    "pharmacy purchase at 海曙区大药房",
                    lambda card, pad: pharmacy_purchase(
                        card,
                        sam,
                        pad,
                        clients["pharmacy"],
                        [
                            Item(
                                "XC10AAA005A001010100004",
                                Decimal(3),
                                Decimal("12.50"),
                                "阿托伐他汀钙片",
                            )
                        ],
                        payments,
                    ),
                )
                step(
                    "self-service registration at the kiosk (内科, 王医生)",
                    lambda card, pad: kiosk_register(
                        card,
                        sam,
                        pad,
                        clients["kiosk"],
                        load_schedule(),
                        "内科",
                        "王医生",
                        payments,
                        queue=QueueBook(directory / "queue.db"),
                    ),
                )
        finally:
            for client in clients.values():
                client.close()


def _card_sn(image: Path) -> str:
    from sscard_terminal.codecs.records import ITEMS_BY_TAG, decode_value

    records = ImageFile(image).load().contents["MF/SSSE/EF05"]
    assert isinstance(records, tuple)
    for rec in records:
        if rec[0] == 0x01:
            return decode_value(ITEMS_BY_TAG[0x01], rec[2:])
    raise SscardError("the demo card has no card identification code")
