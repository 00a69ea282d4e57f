"""What the end-to-end flow tests share: the real center (SQLite, the demo
seed, uvicorn on a free port) behind a fault-injecting TCP proxy, terminals
with their own journals, and the cards of the center's demo persons served
through vpcd, read back through pcscd with pyscard.

Imported by name from the e2e tests (``tests/settlement`` is put on the path
for the center and proxy helpers)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sscard_terminal.driver.sscard import SocialSecurityCard  # noqa: E402
from sscard_terminal.settlement import Operator, SettlementClient  # noqa: E402
from sscard_terminal.settlement.envelope import OpterType  # noqa: E402
from sscard_terminal.settlement.journal import Journal  # noqa: E402
from sscard_terminal.terminal.flows import Item  # noqa: E402
from sscard_terminal.transport.base import open_transport  # noqa: E402
from sscard_terminal.vcard.cardos import CardOS  # noqa: E402
from tests.settlement.fault_proxy import FaultProxy  # noqa: E402
from tests.settlement.settlement_fixtures import (  # noqa: E402
    CLASS_A_DRUG,
    CLASS_A_SERVICE,
    CLASS_C,
    HOSPITAL,
    PHARMACY,
    RunningCenter,
    shanghai_now,
)
from tests.virtual_cards import new_card

__all__ = [
    "CLASS_A_DRUG",
    "CLASS_A_SERVICE",
    "CLASS_C",
    "HOSPITAL",
    "PHARMACY",
    "PIN",
    "Blocker",
    "FaultProxy",
    "Terminals",
    "card_for",
    "items_hospital",
    "items_pharmacy",
    "open_card",
    "person_card",
    "records_of",
    "shanghai_now",
    "terminal_config",
]

PIN = "123456"  # ningbo-gen3's initial PIN


def person_card(center: RunningCenter, key: str, card_no: str | None = None) -> CardOS:
    """The card of demo person ``key`` (its active card, or ``card_no``),
    personalised from the center's person file."""
    if card_no is None:
        data = center.person(key)["person_file"]
    else:
        data = center.admin.request("GET", f"/cards/{card_no}/person-file")
    return card_for(data)


def card_for(person_file: dict[str, Any]) -> CardOS:
    """A ningbo-gen3 card from a person file (what ``sscard card new`` does)."""
    return new_card("ningbo-gen3", person_file=person_file)


def terminal_config(
    center: RunningCenter,
    directory: Path,
    code: str,
    opter: str,
    slot: int,
    *,
    kiosk: bool = False,
) -> Path:
    """A terminal.yaml (JSON is YAML) for the CLI, with the institution's
    secret in a file of its own and the terminal's own journal and msgid slot."""
    inst = center.institution_config(code)
    secret = directory / f"{code}.secret"
    secret.write_text(inst.secret, encoding="utf-8")
    secret.chmod(0o600)
    path = directory / f"terminal-{code}-{opter}.yaml"
    config = {
        "center": center.base_url,
        "journal": str(directory / f"journal-{code}-{opter}.db"),
        "msgid_slot": slot,
        "institution": {
            "fixmedins_code": code,
            "fixmedins_name": inst.fixmedins_name,
            "mdtrtarea_admvs": inst.mdtrtarea_admvs,
            "secret_file": str(secret),
        },
        "operator": {
            "opter_type": 2 if kiosk else 1,
            "opter": opter,
            "opter_name": "自助机" if kiosk else "收费员",
        },
    }
    path.write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
    return path


def open_card(reader: str) -> SocialSecurityCard:
    """The card in ``reader`` through pyscard and pcscd."""
    transport = open_transport(reader=reader)
    transport.connect()
    return SocialSecurityCard(transport)


@dataclass
class Terminals:
    """The terminals of a test module: one journal each (each its own msgid
    slot), all of them kept so that 3201 can be checked per institution."""

    center: RunningCenter
    base: Path
    url: str
    clients: list[SettlementClient] = field(default_factory=list)
    journals: dict[str, list[Path]] = field(default_factory=dict)

    def make(
        self, code: str, opter: str, *, kiosk: bool = False, timeout: float = 10.0
    ) -> SettlementClient:
        path = self.base / f"journal-{code}-{opter}.db"
        slot = sum(len(v) for v in self.journals.values())
        self.journals.setdefault(code, []).append(path)
        client = SettlementClient(
            self.url,
            self.center.institution_config(code),
            Operator(
                OpterType.KIOSK if kiosk else OpterType.OPERATOR,
                opter,
                "自助机" if kiosk else "收费员甲",
            ),
            path,
            timeout,
            msgid_slot=slot,
            clock=shanghai_now,
        )
        self.clients.append(client)
        return client

    def books_agree(self, client: SettlementClient, insutype: str = "310") -> None:
        """3201 of the institution with every journal of its terminals:
        balanced, and nothing open in any of them."""
        today = shanghai_now().date()
        code = client.institution.fixmedins_code
        others = [Journal(p) for p in self.journals[code] if p != client.journal.path]
        try:
            for journal in [client.journal, *others]:
                assert journal.open_entries() == [], f"{journal.path} has open entries"
            totals = client.reconcile_journal(
                insutype=insutype, begin=today, end=today, others=others
            )
        finally:
            for journal in others:
                journal.close()
        assert totals.stmtinfo.balanced, totals.stmtinfo.stmt_rslt_dscr

    def close(self) -> None:
        for client in self.clients:
            client.close()


class Blocker:
    """A card whose APPEND RECORD (the transaction record) waits: ``before``
    the card executes it (the card never writes) or ``after`` (written, the
    answer never leaves), until :meth:`release`. ``reached`` is set when the
    APDU arrives. Everything else goes straight to the card."""

    def __init__(self, card: CardOS, when: str) -> None:
        self.card = card
        self.when = when
        self.reached = threading.Event()
        self._release = threading.Event()
        self.armed = True

    @property
    def atr(self) -> bytes:
        return self.card.atr

    def power_on(self) -> bytes:
        return self.card.power_on()

    def power_off(self) -> None:
        self.card.power_off()

    def reset(self) -> bytes:
        return self.card.reset()

    def release(self) -> None:
        self._release.set()

    def process(self, command: bytes) -> bytes:
        if not (self.armed and len(command) >= 4 and command[1] == 0xE2):
            return self.card.process(command)
        self.armed = False
        answer = self.card.process(command) if self.when == "after" else b"\x6f\x00"
        self.reached.set()
        self._release.wait(30)
        return answer


def items_hospital() -> list[Item]:
    return [Item(CLASS_A_SERVICE, Decimal(1), Decimal("20.00"), "诊查费")]


def items_pharmacy() -> list[Item]:
    return [
        Item(CLASS_A_DRUG, Decimal(2), Decimal("10.00"), "阿托伐他汀钙片"),
        Item(CLASS_C, Decimal(1), Decimal("5.00"), "自费"),
    ]


def records_of(card: SocialSecurityCard) -> list[Any]:
    """DF04 EF08 (the PIN must be verified)."""
    card.select_ssse()
    return card.read_log()
