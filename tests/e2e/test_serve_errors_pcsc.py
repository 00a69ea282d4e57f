"""A card served by hand where vpcd's slot is already taken: `sscard
card serve` and `sscard demo` say which slot, and exit 3 after a bounded wait,
through the real pcscd and vpcd."""

from __future__ import annotations

import subprocess
import sys
import time

from sscard_terminal.vcard.factory import card_from_profile
from tests.e2e.conftest import ServeCard

CLI = [sys.executable, "-m", "sscard_terminal.cli.main"]


def test_card_serve_on_a_taken_slot_says_so(served_card: ServeCard) -> None:
    first = served_card(card_from_profile("ningbo-gen2"), slot=0)
    start = time.monotonic()
    result = subprocess.run(
        [*CLI, "card", "serve", "--profile", "ningbo-gen3", "--slot", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "slot 0" in lines[0] and "taken" in lines[0]
    assert "serving" not in result.stderr
    assert time.monotonic() - start < 30
    # the first card is still the one in the reader
    from sscard_terminal.transport.pcsc import list_readers

    info = {r.name: r for r in list_readers()}[first.reader]
    assert info.card_present and info.atr == first.card.atr


def test_demo_with_a_card_in_slot_0_names_the_slot(served_card: ServeCard) -> None:
    served_card(card_from_profile("ningbo-gen2"), slot=0)
    result = subprocess.run([*CLI, "demo"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 3, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "slot 0" in lines[0] and "already holds a card" in lines[0]
