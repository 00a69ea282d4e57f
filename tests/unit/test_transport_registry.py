"""The transport registry (python-can style) and the station built on it."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from sscard_terminal.cli.main import cli
from sscard_terminal.driver.national import NationalLine, read_national_line
from sscard_terminal.driver.pin import SimulatedPinPad
from sscard_terminal.errors import NoCardError, ReaderNotFoundError, UsageError
from sscard_terminal.terminal.station import Station, StationSpec
from sscard_terminal.transport import virtual
from sscard_terminal.transport.base import (
    BACKENDS,
    DEFAULT_TRANSPORT,
    ReaderEvent,
    backend,
    list_readers,
    open_transport,
    transport_names,
    watch_readers,
)
from sscard_terminal.vcard.factory import card_from_profile

PACKAGE = Path(__file__).resolve().parents[2] / "sscard_terminal"


@pytest.fixture(autouse=True)
def _no_virtual_readers() -> Iterator[None]:
    virtual.forget_readers()
    yield
    virtual.forget_readers()


def test_the_table_names_each_backend_once_and_pcsc_is_the_default() -> None:
    assert transport_names() == ["pcsc", "virtual"]
    assert DEFAULT_TRANSPORT == "pcsc"
    for name, (module, cls) in BACKENDS.items():
        found = backend(name)
        assert found.__module__ == module and found.__name__ == cls  # type: ignore[attr-defined]
        assert callable(found.list_readers) and callable(found.watch_readers)


def test_an_unknown_transport_is_one_usage_error_naming_the_choices() -> None:
    with pytest.raises(UsageError) as err:
        open_transport("serial", reader="COM1")
    assert "'serial'" in str(err.value) and "pcsc, virtual" in err.value.hint


def test_virtual_readers_are_listed_watched_and_read() -> None:
    watcher = watch_readers("virtual")
    assert watcher.wait(0) == []
    virtual.insert_card("Kiosk 0", card_from_profile("ningbo-gen2"))
    assert watcher.wait(1) == [ReaderEvent("Kiosk 0", True, None)]
    assert [(r.name, r.card_present) for r in list_readers("virtual")] == [("Kiosk 0", True)]
    with open_transport("virtual", reader="Kiosk 0") as transport:
        from sscard_terminal.driver.sscard import SocialSecurityCard

        line = read_national_line(SocialSecurityCard(transport))
    assert NationalLine.parse(str(line)).items[0] == "330200"
    virtual.remove_card("Kiosk 0")
    assert watcher.wait(1) == [ReaderEvent("Kiosk 0", False)]
    assert [(r.name, r.card_present) for r in list_readers("virtual")] == [("Kiosk 0", False)]
    with pytest.raises(NoCardError):
        open_transport("virtual", reader="Kiosk 0")
    with pytest.raises(ReaderNotFoundError):
        open_transport("virtual", reader="no-such-profile-or-reader")


def test_a_card_pulled_from_a_virtual_reader_fails_the_next_command() -> None:
    from sscard_terminal.errors import CardRemovedError

    virtual.insert_card("R", card_from_profile("ningbo-gen2"))
    with open_transport("virtual", reader="R") as transport:
        virtual.remove_card("R")
        with pytest.raises(CardRemovedError):
            transport.transmit(bytes.fromhex("00A4040000"))


def test_the_station_opens_sam_and_card_on_the_chosen_transport() -> None:
    virtual.insert_card("R", card_from_profile("ningbo-gen3"))
    spec = StationSpec(transport="virtual", reader="R", sam="software", terminal="330200000001")
    pad = SimulatedPinPad(["123456"])
    with Station(spec, pins=pad) as station:
        assert station.terminal_number == "330200000001"
        with station.card() as card:
            line = read_national_line(card, station.terminal_number, sam=station.sam)
            card.select_ssse()
            card.verify_pin(station.pin_source().get_pin("PIN"))
        assert line.as_dict()["name"] and line.items[9] == "330200000001"
        with pytest.raises(UsageError):
            _ = station.client  # no settlement client was asked for
    assert station.sam is None  # closed


def test_a_station_spec_refuses_bad_combinations() -> None:
    with pytest.raises(UsageError, match="--keyservice URL"):
        StationSpec(sam="keyservice")
    with pytest.raises(UsageError, match="unknown security module"):
        StationSpec(sam="hsm")  # type: ignore[arg-type]


def test_cli_read_takes_transport(tmp_path: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(
        cli, ["read", "--transport", "virtual", "--reader", "ningbo-gen2", "--line"]
    )
    assert done.exit_code == 0, done.output
    assert NationalLine.parse(done.output.strip()).items[0] == "330200"
    done = runner.invoke(cli, ["read", "--transport", "serial", "--line"])
    assert done.exit_code == 2
    for command in (["readers"], ["apdu", "00"], ["pin", "verify"], ["card", "log"]):
        help_text = runner.invoke(cli, [*command, "--help"]).output
        assert "--transport" in help_text, command


def _offences(path: Path) -> list[str]:
    """Imports of the pcsc backend module, and calls naming the backend "pcsc"."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "sscard_terminal.transport.pcsc":
            found.append(f"{path.name}:{node.lineno} imports transport.pcsc")
        if (
            isinstance(node, ast.ImportFrom)
            and node.module == "sscard_terminal.transport"
            and any(alias.name == "pcsc" for alias in node.names)
        ):
            found.append(f"{path.name}:{node.lineno} imports transport.pcsc")
        if isinstance(node, ast.Import) and any(
            a.name == "sscard_terminal.transport.pcsc" for a in node.names
        ):
            found.append(f"{path.name}:{node.lineno} imports transport.pcsc")
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in (
                "open_transport",
                "list_readers",
                "watch_readers",
                "backend",
                "open_reader",
            ):
                args = [*node.args, *(k.value for k in node.keywords if k.arg == "transport")]
                if any(isinstance(a, ast.Constant) and a.value == "pcsc" for a in args):
                    found.append(f"{path.name}:{node.lineno} names the pcsc backend")
    return found


def test_no_caller_outside_transport_names_the_pcsc_backend(tmp_path: Path) -> None:
    offences = [
        offence
        for path in sorted(PACKAGE.rglob("*.py"))
        if "transport" not in path.relative_to(PACKAGE).parts
        for offence in _offences(path)
    ]
    assert offences == []
    # the check itself finds what it looks for
    assert _offences(PACKAGE / "transport" / "base.py") == []
    probe = tmp_path / "probe.py"
    probe.write_text(
        'from sscard_terminal.transport.pcsc import list_readers\nopen_transport("pcsc")\n'
    )
    assert len(_offences(probe)) == 2
