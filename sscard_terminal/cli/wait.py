"""``sscard wait``: wait until cards are in readers and services answer.

For scripts and the documentation's examples, which start a card or a
service in the background (``sscard card serve ... &``) and must not talk to
it before it is there. Exit 0 once everything is ready; 4 when a card is not
in its reader in time, 3 when pcscd or a URL cannot be reached in time.
"""

from __future__ import annotations

import time

import click

from sscard_terminal.cli.options import handle_errors
from sscard_terminal.errors import (
    NoCardError,
    ReaderError,
    ServiceUnreachableError,
    SscardError,
)

_POLL = 0.1
#: how long a card must stay in its reader to count (pcscd polls readers every 0.4 s)
_STEADY = 0.6


def _card_present(wanted: str) -> bool:
    from sscard_terminal.transport.base import list_readers, match_reader

    found = list_readers()
    try:
        name = match_reader([r.name for r in found], wanted)
    except ReaderError:
        return False
    return any(r.name == name and r.card_present and r.atr for r in found)


def _answers(url: str) -> bool:
    import httpx

    try:
        httpx.get(url, timeout=2.0)
    except httpx.HTTPError:
        return False
    return True


@click.command()
@click.option(
    "--card",
    "readers",
    multiple=True,
    metavar="READER",
    help="Wait until this reader (name or unique part) holds a card; repeatable.",
)
@click.option("--url", "urls", multiple=True, help="Wait until this URL answers HTTP; repeatable.")
@click.option(
    "--timeout",
    type=click.FloatRange(0, 600),
    default=20.0,
    show_default=True,
    help="Give up after this many seconds.",
)
@handle_errors
def wait(readers: tuple[str, ...], urls: tuple[str, ...], timeout: float) -> None:
    """Wait until cards are in their readers and URLs answer (for scripts that
    start `sscard card serve` or a server in the background)."""
    deadline = time.monotonic() + timeout
    pending_readers, pending_urls = list(readers), list(urls)
    last: SscardError | None = None
    #: when each reader was first seen holding a card, in this run of presence
    since: dict[str, float] = {}
    while True:
        try:
            now = time.monotonic()
            for r in pending_readers:
                if _card_present(r):
                    since.setdefault(r, now)
                else:
                    since.pop(r, None)
            # a card that was just pulled shows for up to one pcscd poll (0.4 s):
            # only a card present for longer counts
            pending_readers = [
                r for r in pending_readers if now - since.get(r, now) < _STEADY or r not in since
            ]
            last = None
        except ReaderError as exc:  # pcscd not (yet) running
            last = exc
        pending_urls = [u for u in pending_urls if not _answers(u)]
        if not pending_readers and not pending_urls and last is None:
            return
        if time.monotonic() >= deadline:
            break
        time.sleep(_POLL)
    if last is not None:
        raise last
    if pending_urls:
        raise ServiceUnreachableError(
            f"no answer from {', '.join(pending_urls)} within {timeout:g} s",
            hint="check that the server runs and listens there",
        )
    raise NoCardError(
        f"no card in {', '.join(map(repr, pending_readers))} within {timeout:g} s",
        hint="check `sscard readers` and the output of `sscard card serve`",
    )
