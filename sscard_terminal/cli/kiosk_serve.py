"""``sscard kiosk serve``: the self-service kiosk's web page
(:mod:`sscard_terminal.kiosk`).

Composes the station (card reader, security module, settlement client from
terminal.yaml), the kiosk session (its PIN pad is the simulated device
panel of the page) and the web app, and serves it on 127.0.0.1 until
SIGINT/SIGTERM. Open ``http://127.0.0.1:PORT/`` in the kiosk's browser.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import click
import httpx

from sscard_terminal.cli.flows import _TERMINAL_KEYS, kiosk
from sscard_terminal.cli.journal import _config_option, _journal_option, _terminal_config
from sscard_terminal.cli.options import (
    _sam_options,
    _station_spec,
    _transport_option,
    handle_errors,
)
from sscard_terminal.errors import UsageError
from sscard_terminal.settlement.errors import CenterRefused, CenterUnavailable

__all__ = ["kiosk_serve"]

ENV_TOKEN = "SSCARD_CENTER_ADMIN_TOKEN"


def _loss_service(center_url: str, token: str | None) -> Any:
    """The card service's temporary loss report (the center's admin API)."""
    if token is None:
        return None

    def report(card_no: str) -> None:
        try:
            answer = httpx.post(
                f"{center_url.rstrip('/')}/admin/cards/{card_no}/loss",
                json={"kind": "temporary", "channel": "kiosk"},
                headers={"authorization": f"Bearer {token}"},
                timeout=15.0,
                trust_env=False,
            )
        except httpx.TransportError as exc:
            raise CenterUnavailable(
                f"the card service cannot be reached ({type(exc).__name__})"
            ) from None
        if answer.status_code != 200:
            try:
                body = answer.json()
            except ValueError:
                body = {}
            raise CenterRefused(
                str(body.get("err_msg") or f"HTTP {answer.status_code}"),
                infno="loss",
                err_code=body.get("err_code"),
            )

    return report


@kiosk.command("serve")
@click.option("--reader", help="The card reader (name or a unique part of it).")
@click.option("--center", "center_url", default=None, help="The center's base URL.")
@_config_option
@_journal_option
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=8600,
    show_default=True,
    help="TCP port of the kiosk's page.",
)
@click.option(
    "--schedule",
    "schedule_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The hospital's schedule (default: the demo schedule).",
)
@click.option(
    "--orders",
    "orders_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The desk's open visits (JSON, kiosk/orders.py), for outpatient fees.",
)
@click.option(
    "--queue",
    "queue_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Queue-number file (default: next to the journal).",
)
@click.option(
    "--idle-seconds",
    type=click.FloatRange(1, 3600),
    default=60.0,
    show_default=True,
    help="Back to welcome, clearing the page, after this long without a touch.",
)
@click.option(
    "--admin-token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"The card service's token for loss reports (or ${ENV_TOKEN}); none: no loss reports.",
)
@click.option("--quiet", "-q", is_flag=True, help="Log only warnings.")
@_sam_options
@_transport_option
@handle_errors
def kiosk_serve(
    port: int,
    schedule_file: Path | None,
    orders_file: Path | None,
    queue_file: Path | None,
    idle_seconds: float,
    admin_token_file: Path | None,
    quiet: bool,
    **kw: Any,
) -> None:
    """Serve the kiosk's page on http://127.0.0.1:PORT/ (loopback only)."""
    import uvicorn

    from sscard_terminal.kiosk.app import create_app
    from sscard_terminal.kiosk.orders import OrdersBook
    from sscard_terminal.kiosk.session import KioskSession
    from sscard_terminal.terminal.flows import QueueBook
    from sscard_terminal.terminal.payment import SimulatedPayments
    from sscard_terminal.terminal.schedule import load_schedule
    from sscard_terminal.terminal.station import Station

    overrides: dict[str, Any] = {key: None for key in _TERMINAL_KEYS}
    overrides["opter_type"] = "2"
    config = _terminal_config(kw.pop("config_path"), kw.pop("journal_path"), overrides)
    center_url = kw.pop("center_url")
    schedule = load_schedule(schedule_file)
    token = os.environ.get(ENV_TOKEN)
    if token is None and admin_token_file is not None:
        try:
            token = admin_token_file.read_text(encoding="utf-8").strip()
        except OSError:
            raise UsageError(f"--admin-token-file {admin_token_file} cannot be read") from None
    spec = _station_spec(kw)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("sscard kiosk: %(message)s"))
    kiosk_log = logging.getLogger("sscard_terminal.kiosk")
    kiosk_log.addHandler(handler)
    kiosk_log.setLevel(logging.WARNING if quiet else logging.INFO)
    kiosk_log.propagate = False
    journal = config.journal_path
    queue = QueueBook(queue_file or journal.with_name(journal.stem + "-queue.db"))
    # shared: the worker and the page threads; a PSAM that was reset is opened again
    station = Station(spec, client=lambda: config.client(center_url), shared=True)
    with station:
        if schedule.fixmedins_code != station.client.institution.fixmedins_code:
            raise UsageError(
                f"the schedule is {schedule.fixmedins_code}'s, the terminal is "
                f"{station.client.institution.fixmedins_code}'s"
            )
        session = KioskSession(
            station,
            schedule,
            SimulatedPayments(),
            queue=queue,
            orders=OrdersBook(orders_file) if orders_file else None,
            loss=_loss_service(station.client.url.split("/fsi/", 1)[0], token),
            idle_seconds=idle_seconds,
        )
        session.start()
        try:
            app = create_app(session, port)
            server = uvicorn.Server(
                uvicorn.Config(
                    app,
                    host="127.0.0.1",
                    port=port,
                    log_level="warning",
                    access_log=False,
                    # a page's long poll must not hold the shutdown (and the card reader)
                    timeout_graceful_shutdown=1,
                )
            )
            click.echo(f"sscard kiosk: serving http://127.0.0.1:{port}/", err=True)
            server.run()
        finally:
            session.stop()
    click.echo("sscard kiosk: stopped", err=True)
