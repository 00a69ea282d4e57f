"""The ``sscard`` command line: thin calls into the library, no business logic.

Every error is one line with the cause and what to do, and ends the command
with the exit code of :class:`sscard_terminal.errors.ExitCode`.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from sscard_terminal.cli.options import (
    _open_sam,
    _pin_options,
    _pin_source,
    _sam_options,
    _station_spec,
    _transport_option,
    handle_errors,
)
from sscard_terminal.errors import SscardError, UsageError
from sscard_terminal.shipped import DEFAULT_KEY_SET

F = TypeVar("F", bound=Callable[..., Any])


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(name)s: %(message)s", stream=sys.stderr)


def _enable_trace() -> None:
    """--trace: the APDU trace on stderr whatever -v says (the root logger keeps
    its level, so --trace alone shows the trace and nothing else)."""
    trace_log = logging.getLogger("sscard_terminal.trace")
    trace_log.setLevel(logging.INFO)
    if not logging.getLogger().handlers:
        _setup_logging(0)
    for handler in logging.getLogger().handlers:
        if handler.level > logging.INFO:
            handler.setLevel(logging.INFO)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(None, "--version", package_name="sscard-terminal", prog_name="sscard")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """Terminal simulator and PC/SC reader driver for the social security card."""
    _setup_logging(verbose)


# -- readers / read / apdu -----------------------------------------------------
@cli.command()
@_transport_option
@handle_errors
def readers(transport: str) -> None:
    """List the readers (PC/SC by default) and what is in each."""
    from sscard_terminal.transport.base import DEFAULT_TRANSPORT, list_readers

    found = list_readers(transport)
    if not found and transport == DEFAULT_TRANSPORT:
        raise SscardError("pcscd runs but sees no reader", hint="plug in a reader or install vpcd")
    if not found:
        raise SscardError(f"the {transport} transport has no reader")
    for info in found:
        if info.card_present and info.atr:
            what = f"card, ATR {info.atr.hex(' ').upper()}"
        elif info.card_present:
            what = "card (no ATR: mute?)"
        else:
            what = "empty"
        click.echo(f"{info.name}: {what}")


_trace_opt = click.option(
    "--trace", is_flag=True, help="Log every APDU with its meaning (PINs and keys redacted)."
)
_reveal_opt = click.option(
    "--reveal", is_flag=True, help="Show ID numbers and names in traces instead of masking them."
)


@cli.command()
@click.option("--reader", help="Reader name (or a unique part of it).")
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON.")
@click.option("--line", "as_line", is_flag=True, help="Print the national iReadCardBas line.")
@click.option("--device-number", default="", help="This terminal's device number for the line.")
@click.option("--allow-expired", is_flag=True, help="Read a card past its expiry date.")
@click.option(
    "--allow-partial",
    is_flag=True,
    help="Print what the card gave even when items are missing (named on stderr), exit 0.",
)
@_sam_options
@_transport_option
@_trace_opt
@_reveal_opt
@handle_errors
def read(
    as_json: bool,
    as_line: bool,
    device_number: str,
    allow_expired: bool,
    allow_partial: bool,
    trace: bool,
    reveal: bool,
    **kw: Any,
) -> None:
    """Read the cardholder record of the card in a reader.

    A 3.0 card's EF06 needs an authentication: give a security module with
    --sam (software test keys, a PSAM over PC/SC, or the key service). A read
    that cannot give every item asked for fails (exit 5) unless --allow-partial.
    """
    from sscard_terminal.driver.national import (
        LINE_HOLDER_KEYS,
        LINE_ISSUER_KEYS,
        line_from_record,
    )
    from sscard_terminal.driver.sscard import FULL_HOLDER_KEYS, FULL_ISSUER_KEYS
    from sscard_terminal.errors import IncompleteReadError
    from sscard_terminal.terminal.station import Station

    if as_json and as_line:
        raise UsageError("choose one of --json and --line")
    if trace:
        _enable_trace()
    if "|" in device_number + str(kw.get("terminal") or ""):
        raise UsageError("--device-number and --terminal cannot contain '|'")
    keys = (LINE_ISSUER_KEYS, LINE_HOLDER_KEYS) if as_line else (FULL_ISSUER_KEYS, FULL_HOLDER_KEYS)
    spec = _station_spec(kw, device_number=device_number, trace=trace, reveal=reveal)
    with Station(spec) as station, station.card() as card:
        record = card.read(*keys, sam=station.sam, check_expiry=not allow_expired)
        terminal_number = station.terminal_number
    missing = record.missing(*keys)
    if missing and not allow_partial:
        raise IncompleteReadError(missing, record.holder_unavailable)
    if missing:
        why = f" ({record.holder_unavailable})" if record.holder_unavailable else ""
        click.echo(f"sscard: partial read: no {', '.join(missing)}{why}", err=True)
    if as_line:
        click.echo(str(line_from_record(record, terminal_number, device_number)))
        return
    if as_json:
        click.echo(json.dumps(record.to_json(reveal=True), ensure_ascii=False, indent=2))
        return
    from sscard_terminal.driver.cardholder_table import record_table

    click.echo(record_table(record))


@cli.command()
@click.option("--reader", help="Reader name (or a unique part of it).")
@click.argument("apdus", nargs=-1, required=True)
@_transport_option
@_trace_opt
@handle_errors
def apdu(reader: str | None, apdus: tuple[str, ...], transport: str, trace: bool) -> None:
    """Send raw APDUs (hex, spaces allowed inside quotes) and print the decoded answers.

    61xx and 6Cxx are resolved; the answer of each command is printed with the
    meaning of its status word.
    """
    from sscard_terminal.apdu.command import CommandApdu
    from sscard_terminal.apdu.describe import describe_command
    from sscard_terminal.apdu.status import format_sw
    from sscard_terminal.driver.session import CardSession
    from sscard_terminal.transport.base import open_transport
    from sscard_terminal.transport.tracing import TracingTransport

    commands = []
    for text in apdus:
        compact = "".join(text.split())
        try:
            commands.append(CommandApdu.from_bytes(bytes.fromhex(compact)))
        except ValueError:
            raise UsageError(f"{text!r} is not hex") from None
    opened = open_transport(transport, reader=reader)
    if trace:
        _enable_trace()
        opened = TracingTransport(opened)
    with opened:
        session = CardSession(opened)
        for command in commands:
            response = session.transmit(command)
            body = response.data.hex(" ").upper()
            raw = command.to_bytes()
            click.echo(f"> {raw.hex(' ').upper()}   ({describe_command(raw)})")
            click.echo(f"< {body + ' ' if body else ''}{format_sw(response.sw)}")


# -- card ------------------------------------------------------------------------
@cli.group()
def card() -> None:
    """Virtual cards: make card images and serve them through vpcd."""


@card.command("new")
@click.option("--profile", "profile_ref", required=True, help="Profile path or name (ningbo-gen2).")
@click.option(
    "--person", "person_file", type=click.Path(dir_okay=False), help="Person file (YAML or JSON)."
)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Card image to write.")
@handle_errors
def card_new(profile_ref: str, person_file: str | None, out: str) -> None:
    """Personalise a new card and write its image."""
    from sscard_terminal.codecs.masking import mask_id_number
    from sscard_terminal.vcard.factory import write_new_image

    missing = next((p for p in reversed(Path(out).absolute().parents) if not p.exists()), None)
    image = write_new_image(out, profile_ref, person_file)
    if missing is not None:
        click.echo(f"created the directory {Path(out).parent} for the image", err=True)
    click.echo(
        f"wrote {out}: profile {image.profile.name}, ATR {image.atr.hex().upper()}, "
        f"holder {mask_id_number(_holder_id(image))}"
    )


def _holder_id(image: Any) -> str:
    from sscard_terminal.codecs.records import ITEMS_BY_TAG, decode_value

    for rec in image.contents.get("MF/SSSE/EF06", ()):
        if rec[0] == 0x08:
            return decode_value(ITEMS_BY_TAG[0x08], rec[2:])
    return ""


#: how long `card serve` waits for vpcd to take the card before it gives up (exit 3)
FIRST_CONTACT_SECONDS = 10.0


@card.command("serve")
@click.option("--profile", "profile_ref", help="Serve the profile's test card (kept in memory).")
@click.option(
    "--image", type=click.Path(dir_okay=False), help="Serve a card image (writes are saved)."
)
@click.option("--slot", type=click.IntRange(0, 1), default=0, show_default=True, help="vpcd slot.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Where vpcd (pcscd) runs.")
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="SPEC",
    help="Inject a fault (repeatable or comma-joined): remove-after=N, remove-during=N, "
    "slow[=BAUD], mute, corrupt=N|every[:byte|data|sw], seed=S.",
)
@handle_errors
def card_serve(
    profile_ref: str | None, image: str | None, slot: int, host: str, faults: tuple[str, ...]
) -> None:
    """Connect a virtual card to pcscd's vpcd reader until Ctrl-C or SIGTERM
    (or until a remove-after/remove-during fault pulls it).

    Exits 3 when vpcd cannot be reached, or its slot holds another card,
    within 10 s."""
    from sscard_terminal.vcard.factory import card_from_image, card_from_profile
    from sscard_terminal.vcard.faults import FaultyCard, parse_faults
    from sscard_terminal.vcard.interface import SimulatedCard
    from sscard_terminal.vpcd.bridge import Connected, Disconnected, serve_card, slot_port

    if (profile_ref is None) == (image is None):
        raise UsageError("give exactly one of --profile and --image")
    fault_spec = parse_faults(faults)
    vcard: SimulatedCard = card_from_image(image) if image else card_from_profile(profile_ref or "")
    if fault_spec:
        vcard = FaultyCard(vcard, fault_spec)
    stop = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    with_faults = f" with faults {fault_spec}" if fault_spec else ""
    said: list[bool] = []

    def _serving(event: Any) -> None:
        # said once vpcd has spoken to the card: the slot is ours and the card is in
        if not said and not isinstance(event, (Connected, Disconnected)):
            said.append(True)
            click.echo(
                f"serving {'image ' + str(image) if image else 'profile ' + str(profile_ref)} "
                f"on vpcd slot {slot} ({host}:{slot_port(slot)}){with_faults}; Ctrl-C stops",
                err=True,
            )

    serve_card(
        vcard,
        host=host,
        port=slot_port(slot),
        stop=stop,
        on_event=_serving,
        first_contact=FIRST_CONTACT_SECONDS,
    )
    if isinstance(vcard, FaultyCard) and vcard.pulled:
        click.echo(f"card pulled after {vcard.answered} APDU(s) (fault {fault_spec})", err=True)
        return
    click.echo("stopped", err=True)


# -- PIN -------------------------------------------------------------------------
@cli.group()
def pin() -> None:
    """Verify, change or unblock the card's PIN."""


@pin.command("verify")
@click.option("--reader", help="Reader name (or a unique part of it).")
@_pin_options
@_transport_option
@handle_errors
def pin_verify(reader: str | None, pin_fd: int | None, pin_pad: str | None, transport: str) -> None:
    """Verify the PIN (shows the tries left when it is wrong)."""
    from sscard_terminal.driver.discovery import open_reader
    from sscard_terminal.driver.sscard import SocialSecurityCard

    source = _pin_source(pin_fd, pin_pad)
    with open_reader(reader, transport=transport) as card_transport:
        card = SocialSecurityCard(card_transport)
        card.select_ssse()
        card.verify_pin(source.get_pin("PIN"))
        click.echo(f"PIN correct ({card.pin_tries()} tries)")


@pin.command("change")
@click.option("--reader", help="Reader name (or a unique part of it).")
@_pin_options
@_transport_option
@handle_errors
def pin_change(reader: str | None, pin_fd: int | None, pin_pad: str | None, transport: str) -> None:
    """Change the PIN: asks for the old PIN, then the new one twice."""
    from sscard_terminal.driver.discovery import open_reader
    from sscard_terminal.driver.sscard import SocialSecurityCard

    source = _pin_source(pin_fd, pin_pad)
    old = source.get_pin("current PIN")
    new = source.get_pin("new PIN")
    if source.get_pin("new PIN again") != new:
        raise UsageError("the two new PINs differ; nothing was changed")
    with open_reader(reader, transport=transport) as card_transport:
        card = SocialSecurityCard(card_transport)
        card.select_ssse()
        card.change_pin(old, new)
    click.echo("PIN changed")


@pin.command("unblock")
@click.option("--reader", help="Reader name (or a unique part of it).")
@click.option(
    "--reload", "reload_", is_flag=True, help="Set a new PIN instead of unblocking the current one."
)
@click.option("--key-file", help=f"Test key-set file with the PUK [{DEFAULT_KEY_SET}].")
@_pin_options
@_transport_option
@handle_errors
def pin_unblock(
    reader: str | None,
    reload_: bool,
    key_file: str | None,
    pin_fd: int | None,
    pin_pad: str | None,
    transport: str,
) -> None:
    """Unblock the PIN (issuer operation: EXTERNAL AUTHENTICATE with the PUK, MAC'd 84 24)."""
    from sscard_terminal.driver.discovery import open_reader
    from sscard_terminal.driver.sscard import SocialSecurityCard

    source = _pin_source(pin_fd, pin_pad)
    new_pin = source.get_pin("new PIN" if reload_ else "current PIN")
    sam = _open_sam("software", None, key_file, None, "")
    with open_reader(reader, transport=transport) as card_transport:
        card = SocialSecurityCard(card_transport)
        card.select_ssse()
        issuer = card.read_issuer(("card_id_code", "spec_version"))
        card.unblock_pin(sam, new_pin, issuer, reload=reload_)
        click.echo(f"PIN {'reloaded' if reload_ else 'unblocked'} ({card.pin_tries()} tries)")


@card.command("log")
@click.option("--reader", help="Reader name (or a unique part of it).")
@click.option("--json", "as_json", is_flag=True, help="Print the records as JSON.")
@_pin_options
@_transport_option
@handle_errors
def card_log(
    reader: str | None, as_json: bool, pin_fd: int | None, pin_pad: str | None, transport: str
) -> None:
    """Read the medical transaction records (DF04 EF08) after the PIN."""
    from sscard_terminal.driver.discovery import open_reader
    from sscard_terminal.driver.sscard import SocialSecurityCard

    source = _pin_source(pin_fd, pin_pad)
    with open_reader(reader, transport=transport) as card_transport:
        card = SocialSecurityCard(card_transport)
        card.select_ssse()
        card.verify_pin(source.get_pin("PIN"))
        records = card.read_log()
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "type": r.type.name.lower(),
                        "time": r.when.isoformat(),
                        "institution": r.institution,
                        "amount": str(r.amount),
                        "balance": str(r.balance),
                        "serial": r.serial,
                        "flags": r.flags,
                    }
                    for r in records
                ],
                indent=2,
            )
        )
        return
    if not records:
        click.echo("no transaction records")
    for r in records:
        click.echo(
            f"{r.when:%Y-%m-%d %H:%M:%S}  {r.type.name.lower():<12} {r.institution:<13} "
            f"{r.amount:>10} yuan  balance {r.balance:>10}  #{r.serial}"
        )


# -- demo ------------------------------------------------------------------------
@cli.command()
@handle_errors
def demo() -> None:
    """Start pcscd if needed, serve virtual cards through vpcd and read them over PC/SC."""
    from sscard_terminal.demo import run_demo

    run_demo(click.echo)


from sscard_terminal.cli.keyservice import keyservice as _keyservice  # noqa: E402

cli.add_command(_keyservice)

from sscard_terminal.cli.center import center as _center  # noqa: E402

cli.add_command(_center)


from sscard_terminal.cli.journal import journal as _journal  # noqa: E402

cli.add_command(_journal)

from sscard_terminal.cli.native import native as _native  # noqa: E402

cli.add_command(_native)

from sscard_terminal.cli.agent import agent as _agent  # noqa: E402
from sscard_terminal.cli.kiosk_serve import kiosk_serve as _kiosk_serve  # noqa: E402,F401
from sscard_terminal.cli.terminal import terminal as _terminal  # noqa: E402
from sscard_terminal.cli.voucher import voucher as _voucher  # noqa: E402
from sscard_terminal.cli.wait import wait as _wait  # noqa: E402

cli.add_command(_agent)
cli.add_command(_voucher)
cli.add_command(_terminal)
cli.add_command(_wait)

# the flow commands import helpers from this module: registered last
from sscard_terminal.cli.flows import hospital, kiosk, pharmacy  # noqa: E402

for _group in (hospital, pharmacy, kiosk):
    cli.add_command(_group)


def main() -> None:
    try:
        cli.main(prog_name="sscard", standalone_mode=True)
    except SystemExit:
        raise


if __name__ == "__main__":  # pragma: no cover
    main()
