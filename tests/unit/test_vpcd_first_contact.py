"""The bridge's bounded first contact: a card served by hand says why
vpcd did not take it, instead of "serving" forever. A plain TCP listener stands
in for vpcd here; the real vpcd is in tests/e2e/test_serve_errors_pcsc.py."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from sscard_terminal.errors import ExitCode, VpcdSlotTakenError, VpcdUnreachableError
from sscard_terminal.vcard.factory import card_from_profile
from sscard_terminal.vpcd import bridge


@pytest.fixture
def silent_vpcd() -> Iterator[int]:
    """A listener that accepts and never speaks: vpcd with its slot taken."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


def closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as server:
        return int(server.getsockname()[1])


def test_unreachable_vpcd_ends_after_the_bound() -> None:
    port = closed_port()
    start = time.monotonic()
    with pytest.raises(VpcdUnreachableError) as err:
        bridge.serve_card(card_from_profile("ningbo-gen2"), port=port, first_contact=0.5)
    assert time.monotonic() - start < 5
    assert f"127.0.0.1:{port}" in str(err.value) and err.value.exit_code == ExitCode.NO_READER


def test_silent_vpcd_means_the_slot_is_taken(silent_vpcd: int) -> None:
    start = time.monotonic()
    with pytest.raises(VpcdSlotTakenError) as err:
        bridge.serve_card(card_from_profile("ningbo-gen2"), port=silent_vpcd, first_contact=0.5)
    assert time.monotonic() - start < 5
    assert "taken" in str(err.value) and err.value.exit_code == ExitCode.NO_READER


def test_card_serve_says_which_and_exits_3(
    monkeypatch: pytest.MonkeyPatch, silent_vpcd: int
) -> None:
    from sscard_terminal.cli import main

    monkeypatch.setattr(main, "FIRST_CONTACT_SECONDS", 0.5)
    for port, said in ((silent_vpcd, "is taken"), (closed_port(), "cannot be reached")):
        monkeypatch.setattr(bridge, "slot_port", lambda slot, port=port: port)
        result = CliRunner().invoke(main.cli, ["card", "serve", "--profile", "ningbo-gen2"])
        assert result.exit_code == 3, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and said in lines[0] and "serving" not in result.output
