"""``sscard keyservice``: run the key service of the two-step (HSM) mode.

Registered by :mod:`sscard_terminal.cli.main` with::

    from sscard_terminal.cli.keyservice import keyservice
    cli.add_command(keyservice)

A thin layer: the service is :class:`sscard_terminal.keyservice.core.KeyService`
behind :mod:`sscard_terminal.keyservice.server`.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import Any

import click

from sscard_terminal.shipped import DEFAULT_KEY_SET


@click.group()
def keyservice() -> None:
    """The key service: answers RKSSSE cryptograms to registered terminals."""


def _key_set_path(ref: str) -> Path:
    """A key-set file as given, or a bare name of a shipped one (``DEFAULT_KEY_SET``)."""
    path = Path(ref)
    if path.is_file():
        return path
    from sscard_terminal.crypto.keyset import resolve_key_set_path

    return resolve_key_set_path(ref)


@keyservice.command("token")
def token() -> None:
    """Make a bearer token for one terminal: the token (for the terminal's
    SSCARD_KEYSERVICE_TOKEN) and its SHA-256 (the registry's token_sha256)."""
    import secrets

    from sscard_terminal.keyservice.registry import token_digest

    made = secrets.token_urlsafe(32)
    click.echo(f"token:        {made}")
    click.echo(f"token_sha256: {token_digest(made)}")


@keyservice.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="TCP port (0: any free port, printed at start).",
)
@click.option(
    "--key-set",
    "key_set_ref",
    default=DEFAULT_KEY_SET,
    show_default=True,
    help="Key-set file, or the name of a shipped one.",
)
@click.option(
    "--terminals",
    "terminals_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Terminal registry file (default: the shipped test registry).",
)
@click.option(
    "--replay-window",
    type=click.FloatRange(min=1.0),
    default=600.0,
    show_default=True,
    help="Seconds during which a random may not be used again.",
)
def serve(
    host: str,
    port: int,
    key_set_ref: str,
    terminals_file: Path | None,
    replay_window: float,
) -> None:
    """Serve POST /keyservice/v1/step1 until SIGINT/SIGTERM."""
    from sscard_terminal.cli.options import handle_errors

    handle_errors(run_serve)(host, port, key_set_ref, terminals_file, replay_window)


def run_serve(
    host: str,
    port: int,
    key_set_ref: str,
    terminals_file: Path | None,
    replay_window: float,
) -> None:
    """Load the key set and the registry, listen, serve; return after a signal."""
    from sscard_terminal.crypto.keyset import load_key_set
    from sscard_terminal.errors import UsageError
    from sscard_terminal.keyservice.core import KeyService
    from sscard_terminal.keyservice.registry import DEFAULT_TERMINALS_FILE, load_terminals
    from sscard_terminal.keyservice.server import bind_socket, is_loopback, make_server

    key_set = load_key_set(_key_set_path(key_set_ref))
    registry_path = terminals_file or DEFAULT_TERMINALS_FILE
    terminals = load_terminals(registry_path)
    service = KeyService(key_set, terminals, replay_window=replay_window)
    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="choose another --port or --host",
        ) from None
    bound_port = sock.getsockname()[1]

    audit = logging.getLogger("sscard_terminal.keyservice")
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(name)s: %(message)s", stream=sys.stderr)
    if audit.getEffectiveLevel() > logging.INFO:
        audit.setLevel(logging.INFO)

    # uvicorn catches SIGINT/SIGTERM while it runs and raises them again once it
    # has stopped; these handlers take that second delivery, so the command ends
    # normally instead of dying of the signal
    def _after_stop(signum: int, frame: Any) -> None:
        return None

    previous = {sig: signal.signal(sig, _after_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    if not is_loopback(host):
        click.echo(
            "warning: listening beyond this machine over plain HTTP; put a TLS proxy in front",
            err=True,
        )
    click.echo(
        f"key service on http://{host}:{bound_port} (key set {key_set.name}, "
        f"{len(terminals)} terminal(s) from {registry_path}); Ctrl-C stops",
        err=True,
    )
    try:
        make_server(service, host=host, port=bound_port).run(sockets=[sock])
    finally:
        sock.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("stopped", err=True)
