"""The main job end to end: `sscard demo` through real pcscd, vpcd, the PSAM and
the center on loopback (it starts what it needs; pcscd is shared if running)."""

from __future__ import annotations

import re
from decimal import Decimal

from sscard_terminal.demo import run_demo
from sscard_terminal.system.pcscd import PcscdHandle


def test_demo_runs_the_reads_and_the_three_flows(pcscd: PcscdHandle) -> None:
    lines: list[str] = []
    run_demo(lines.append)
    text = "\n".join(lines)
    assert "iReadCardBas line (10 APDUs through PC/SC)" in text
    assert "EF06 needs authentication first (6982)" in text
    assert "PIN verified on the simulated PIN pad (3 tries left)" in text
    for title in ("hospital swipe", "pharmacy purchase", "self-service registration"):
        assert f"-- {title}" in text
    assert text.count("card_record     written") == 3
    assert "queue_number    1" in text
    # every receipt: total = fund + account + cash, and the card shows the same balance
    totals = re.findall(
        r"合计 total\s+(\S+)\n\s+统筹 fund\s+(\S+)\n\s+个账 account\s+(\S+)\n\s+现金 cash\s+(\S+)"
        r"\n\s+余额 balance\s+(\S+)",
        text,
    )
    assert len(totals) == 3
    cards = re.findall(r"card: EF08 record 1 = \w+ (\S+) yuan .* balance (\S+) ", text)
    centers = re.findall(r"center: 310 status 1 balance (\S+)", text)
    for (total, fund, account, cash, balance), (amount, card_balance), center in zip(
        totals, cards, centers, strict=True
    ):
        assert Decimal(total) == Decimal(fund) + Decimal(account) + Decimal(cash)
        assert Decimal(amount) == Decimal(total)
        assert Decimal(card_balance) == Decimal(balance) == Decimal(center)
