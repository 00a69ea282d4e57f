"""Fault injection through the real stack: pyscard -> pcscd ->
vpcd -> the bridge -> a faulty card. Each fault must reach the driver as one
clear error, and the ``sscard`` CLI must end with its exit code.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

try:
    import smartcard.scard  # noqa: F401  (pyscard needs libpcsclite at import)
except ImportError as exc:  # pragma: no cover - depends on the machine
    if os.environ.get("CI") == "true":
        raise
    pytest.skip(f"pyscard cannot be imported: {exc}", allow_module_level=True)

from sscard_terminal.driver.sscard import SocialSecurityCard
from sscard_terminal.errors import (
    CardRemovedError,
    CorruptResponseError,
    ExitCode,
    MuteCardError,
    NoCardError,
)
from sscard_terminal.transport.pcsc import PcscTransport, list_readers
from sscard_terminal.vcard.faults import FaultyCard
from sscard_terminal.vpcd.bridge import CardServer
from tests.virtual_cards import new_card

pytestmark = pytest.mark.pcsc

ServeCard = Callable[..., Any]
CLI = [sys.executable, "-m", "sscard_terminal.cli.main"]
READER = "Virtual PCD 00 00"


def test_removed_after_n_apdus(served_card: ServeCard) -> None:
    card = FaultyCard(new_card(), "remove-after=5")
    served = served_card(card)
    with PcscTransport(served.reader) as transport, pytest.raises(CardRemovedError) as info:
        SocialSecurityCard(transport).read()
    assert info.value.exit_code == ExitCode.NO_CARD
    assert card.answered == 5
    served.server.stop()
    assert not any(r.card_present for r in list_readers() if r.name == served.reader)


def test_garbage_status_word(served_card: ServeCard) -> None:
    served = served_card(FaultyCard(new_card(), "corrupt=4:sw"))
    with PcscTransport(served.reader) as transport, pytest.raises(CorruptResponseError):
        SocialSecurityCard(transport).read()


def test_slow_card_is_slow_not_wrong(served_card: ServeCard) -> None:
    card = FaultyCard(new_card(), "slow=9600")
    served = served_card(card)
    with PcscTransport(served.reader) as transport:
        driver = SocialSecurityCard(transport)
        wire_before = card.wire_time
        t0 = time.perf_counter()
        record = driver.read()
        elapsed = time.perf_counter() - t0
        stats = driver.session.stats
        spent = card.wire_time - wire_before  # before close() resets the card (an ATR)
    modelled = stats.bytes_total * 12 / 9600
    assert spent == pytest.approx(modelled)
    assert modelled <= elapsed < modelled + 0.5
    assert record.holder is not None and record.holder.name == "李四"


def test_mute_card_is_no_usable_card(reader_empty: Callable[[int], str]) -> None:
    """vpcd drops a card that gives an empty ATR, so pcscd shows no card: connect
    fails with NoCardError (in-process, the same fault is a MuteCardError)."""
    reader = reader_empty(0)
    with CardServer(FaultyCard(new_card(), "mute"), slot=0) as server:
        deadline = time.monotonic() + 5
        while not server.connected.is_set() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.connected.is_set()
        time.sleep(1.0)  # several presence polls of pcscd
        assert not any(r.card_present for r in list_readers() if r.name == reader)
        with pytest.raises((NoCardError, MuteCardError)) as info:
            PcscTransport(reader).connect()
        assert info.value.exit_code == ExitCode.NO_CARD


# -- the CLI end to end: `sscard card serve --fault` and `sscard read` -----------------
@pytest.fixture
def cli_server(reader_empty: Callable[[int], str], tmp_path: Path) -> Iterator[Callable[..., Any]]:
    started: list[subprocess.Popen[str]] = []

    def start(*faults: str) -> subprocess.Popen[str]:
        reader_empty(0)
        args = [*CLI, "card", "serve", "--profile", "ningbo-gen2", "--slot", "0"]
        for fault in faults:
            args += ["--fault", fault]
        process = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
        started.append(process)
        if any("mute" in f for f in faults):
            time.sleep(1.5)  # nothing to see in the reader: give the bridge time to connect
            return process
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            info = {r.name: r for r in list_readers()}[READER]
            if info.card_present and info.atr:
                return process
            time.sleep(0.02)
        raise TimeoutError("the served card did not appear")

    yield start
    for process in started:
        if process.poll() is None:
            process.terminate()
        process.wait(10)
    reader_empty(0)


def sscard_read() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "read", "--reader", READER], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("faults", "code", "message"),
    [
        (("remove-after=6",), ExitCode.NO_CARD, "was removed"),
        (("remove-during=3",), ExitCode.NO_CARD, "was removed"),
        (("mute",), ExitCode.NO_CARD, "no card in reader"),
        (("corrupt=2:sw",), ExitCode.NO_CARD, "invalid status word"),
        (("corrupt=every:sw", "slow"), ExitCode.NO_CARD, "invalid status word"),
        (("slow=9600",), ExitCode.OK, ""),
    ],
)
def test_cli_exit_codes(
    cli_server: Callable[..., subprocess.Popen[str]],
    faults: tuple[str, ...],
    code: int,
    message: str,
) -> None:
    server = cli_server(*faults)
    result = sscard_read()
    assert result.returncode == code, result.stderr
    if code:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("sscard: ") and message in lines[0]
        assert "Traceback" not in result.stderr
    else:
        assert "李四" in result.stdout
    if any(f.startswith("remove") for f in faults):
        assert server.wait(10) == 0  # the card is gone: the server ends by itself
        assert server.stderr is not None and "card pulled after" in server.stderr.read()


def test_cli_rejects_a_bad_fault(tmp_path: Path) -> None:
    result = subprocess.run(
        [*CLI, "card", "serve", "--profile", "ningbo-gen2", "--fault", "explode"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == ExitCode.USAGE
    assert "unknown fault 'explode'" in result.stderr
