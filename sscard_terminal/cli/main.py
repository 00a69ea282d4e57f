"""The ``sscard`` command line: thin calls into the library, no business logic.

Every error is one line with the cause and what to do, and ends the command
with the exit code of :class:`sscard_terminal.errors.ExitCode`.
"""

from __future__ import annotations

import functools
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import click

from sscard_terminal.errors import SscardError, UsageError

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str, code: int) -> None:
    click.echo(f"sscard: {message}", err=True)
    sys.exit(code)


def handle_errors(func: F) -> F:
    """Turn our errors into one line and an exit code; never show a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SscardError as exc:
            _fail(exc.one_line(), int(exc.exit_code))
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except OSError as exc:
            _fail(f"{exc.strerror or exc} ({getattr(exc, 'filename', '') or 'system'})", 1)
        except Exception as exc:  # a bug: still one line, and say where to look
            logging.getLogger(__name__).debug("internal error", exc_info=True)
            _fail(f"internal error ({type(exc).__name__}); run with -vv for details", 1)

    return wrapper  # type: ignore[return-value]


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(name)s: %(message)s", stream=sys.stderr)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """Terminal simulator and PC/SC reader driver for the social security card."""
    _setup_logging(verbose)


# -- readers / read / apdu -----------------------------------------------------
@cli.command()
@handle_errors
def readers() -> None:
    """List the PC/SC readers and what is in each."""
    from sscard_terminal.transport.pcsc import list_readers

    found = list_readers()
    if not found:
        raise SscardError("pcscd runs but sees no reader", hint="plug in a reader or install vpcd")
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
@_trace_opt
@_reveal_opt
@handle_errors
def read(
    reader: str | None, as_json: bool, as_line: bool, device_number: str, trace: bool, reveal: bool
) -> None:
    """Read the cardholder record of the card in a reader."""
    from sscard_terminal.driver.discovery import open_reader
    from sscard_terminal.driver.national import read_national_line
    from sscard_terminal.driver.sscard import SocialSecurityCard

    if as_json and as_line:
        raise UsageError("choose one of --json and --line")
    if trace:
        logging.getLogger("sscard_terminal.trace").setLevel(logging.INFO)
        if not logging.getLogger().handlers:
            _setup_logging(1)
        logging.getLogger().setLevel(logging.INFO)
    transport = open_reader(reader, trace=trace, reveal=reveal)
    try:
        card = SocialSecurityCard(transport)
        if as_line:
            click.echo(str(read_national_line(card, device_number=device_number)))
            return
        record = card.read()
    finally:
        transport.close()
    if as_json:
        click.echo(json.dumps(record.to_json(reveal=True), ensure_ascii=False, indent=2))
        return
    from sscard_terminal.cli.render import record_table

    click.echo(record_table(record))


@cli.command()
@click.option("--reader", help="Reader name (or a unique part of it).")
@click.argument("apdus", nargs=-1, required=True)
@_trace_opt
@handle_errors
def apdu(reader: str | None, apdus: tuple[str, ...], trace: bool) -> None:
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
    transport = open_transport("pcsc", reader=reader)
    if trace:
        _setup_logging(1)
        transport = TracingTransport(transport)
    with transport:
        session = CardSession(transport)
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

    image = write_new_image(out, profile_ref, person_file)
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


@card.command("serve")
@click.option("--profile", "profile_ref", help="Serve the profile's test card (kept in memory).")
@click.option(
    "--image", type=click.Path(dir_okay=False), help="Serve a card image (writes are saved)."
)
@click.option("--slot", type=click.IntRange(0, 1), default=0, show_default=True, help="vpcd slot.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Where vpcd (pcscd) runs.")
@handle_errors
def card_serve(profile_ref: str | None, image: str | None, slot: int, host: str) -> None:
    """Connect a virtual card to pcscd's vpcd reader until SIGINT/SIGTERM."""
    from sscard_terminal.vcard.factory import card_from_image, card_from_profile
    from sscard_terminal.vpcd.bridge import serve_card, slot_port

    if (profile_ref is None) == (image is None):
        raise UsageError("give exactly one of --profile and --image")
    vcard = card_from_image(image) if image else card_from_profile(profile_ref or "")
    stop = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    click.echo(
        f"serving {'image ' + str(image) if image else 'profile ' + str(profile_ref)} "
        f"on vpcd slot {slot} ({host}:{slot_port(slot)}); Ctrl-C stops",
        err=True,
    )
    serve_card(vcard, host=host, port=slot_port(slot), stop=stop)
    click.echo("stopped", err=True)


# -- demo ------------------------------------------------------------------------
@cli.command()
@handle_errors
def demo() -> None:
    """Start pcscd if needed, serve virtual cards through vpcd and read them over PC/SC."""
    from sscard_terminal.demo import run_demo

    run_demo(click.echo)


def main() -> None:
    try:
        cli.main(prog_name="sscard", standalone_mode=True)
    except SystemExit:
        raise


if __name__ == "__main__":  # pragma: no cover
    main()
