"""``sscard agent serve``: the reader agent for kiosk pages and checkouts.

A thin call into :mod:`sscard_terminal.agent`: the options become a
:class:`~sscard_terminal.terminal.station.StationSpec`, the agent serves it
until SIGINT/SIGTERM. See docs/agent.md.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from sscard_terminal.cli.options import (
    _pin_options,
    _sam_options,
    _station_spec,
    _transport_option,
    handle_errors,
)
from sscard_terminal.errors import UsageError

#: the field's port (integration.md "The browser agents")
DEFAULT_PORT = 12342
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


@click.group()
def agent() -> None:
    """The reader agent: the card for web pages and checkout programs on this machine."""


@agent.command("serve")
@click.option(
    "--reader",
    "readers",
    multiple=True,
    required=True,
    help="A card reader the agent serves (name or unique part; repeat for several).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="TCP port of the agent (0: any free port).",
)
@click.option(
    "--allow-origin",
    "allow_origins",
    multiple=True,
    metavar="ORIGIN",
    help="A web page origin allowed to call (e.g. http://kiosk.local:8080); repeatable.",
)
@click.option(
    "--allow-file-origin", is_flag=True, help="Also serve pages opened from files (Origin null)."
)
@click.option("--device-number", default="", help="This terminal's device number for the line.")
@click.option("--allow-expired", is_flag=True, help="Read cards past their expiry date.")
@click.option(
    "--call-timeout",
    type=click.FloatRange(0.5, 300),
    default=15.0,
    show_default=True,
    help="Seconds a card call may take before the client gets a timeout answer.",
)
@click.option(
    "--busy-wait",
    type=click.FloatRange(0, 60),
    default=3.0,
    show_default=True,
    help="Seconds a call waits for a reader another client holds before answering busy.",
)
@click.option("--quiet", "-q", is_flag=True, help="Log only warnings.")
@_sam_options
@_pin_options
@_transport_option
@handle_errors
def agent_serve(
    readers: tuple[str, ...],
    host: str,
    port: int,
    allow_origins: tuple[str, ...],
    allow_file_origin: bool,
    device_number: str,
    allow_expired: bool,
    call_timeout: float,
    busy_wait: float,
    quiet: bool,
    pin_fd: int | None,
    pin_pad: str | None,
    **kw: Any,
) -> None:
    """Serve the card over WebSocket and HTTP POST (JSON, the field's iReadCardBas
    convention) on 127.0.0.1:12342 until SIGINT/SIGTERM."""
    from sscard_terminal.agent.card_calls import CardCalls
    from sscard_terminal.agent.server import Agent, AgentConfig, run_agent
    from sscard_terminal.terminal.station import Station

    for origin in allow_origins:
        if origin in ("null", "file://") or "://" not in origin:
            raise UsageError(
                f"--allow-origin {origin!r} is not a web origin",
                hint="give scheme://host[:port]; use --allow-file-origin for pages from files",
            )
    if host not in _LOOPBACK:
        click.echo(
            f"sscard agent: WARNING: listening on {host}, not on loopback: other machines "
            "can reach the card reader through this agent",
            err=True,
        )
    pins = _agent_pins(pin_fd, pin_pad)
    kw["reader"] = None
    spec = _station_spec(kw, device_number=device_number, transaction=True)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("sscard agent: %(message)s"))
    agent_log = logging.getLogger("sscard_terminal.agent")
    agent_log.addHandler(handler)
    agent_log.setLevel(logging.WARNING if quiet else logging.INFO)
    agent_log.propagate = False
    config = AgentConfig(
        allow_origins=tuple(allow_origins),
        allow_file_origin=allow_file_origin,
        call_timeout=call_timeout,
        busy_wait=busy_wait,
    )
    with Station(spec, pins=pins, shared=True) as station:
        calls = CardCalls(station, readers, check_expiry=not allow_expired)
        run_agent(Agent(calls, config), host, port, lambda line: click.echo(line, err=True))
    click.echo("sscard agent: stopped", err=True)


def _agent_pins(pin_fd: int | None, pin_pad: str | None) -> Any:
    """The PIN pad of the agent: --pin-pad FILE (simulated) or --pin-fd N; none means
    the PIN functions answer that no PIN pad is configured (never a prompt)."""
    from sscard_terminal.driver.pin import FdPin, SimulatedPinPad

    if pin_fd is not None and pin_pad is not None:
        raise UsageError("choose one of --pin-fd and --pin-pad")
    if pin_fd is not None:
        return FdPin(pin_fd)
    if pin_pad is not None:
        return SimulatedPinPad.from_file(pin_pad)
    return None
