"""A real browser against the agent: Debian's headless Chromium,
driven by Playwright for Python through ``executable_path`` (no browser is
downloaded), loads a kiosk page from a local web server; the page connects to
the agent, reads the card served through pcscd/vpcd and shows the line.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sscard_terminal.driver.national import read_national_line
from sscard_terminal.terminal.station import Station, StationSpec
from sscard_terminal.vcard.factory import card_from_image, write_new_image
from tests.e2e.agent_rig import start_agent
from tests.e2e.conftest import ServeCard, unavailable

PAGE_DIR = Path(__file__).parent / "agent_page"
CARD_READER = "Virtual PCD 00 00"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture
def page_server() -> Iterator[str]:
    """The test page over HTTP on a free loopback port; yields its origin."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(PAGE_DIR))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        unavailable("Debian's chromium is not installed (./run setup installs it)")
    return found


def test_a_kiosk_page_in_chromium_reads_the_card(
    served_card: ServeCard, page_server: str, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    executable = chromium()
    image = tmp_path / "card.json"
    write_new_image(image, "ningbo-gen2")
    served_card(card_from_image(image), 0)
    with Station(StationSpec(reader=CARD_READER)) as station, station.card() as card:
        want = str(read_national_line(card, check_expiry=True))
    agent = start_agent(
        tmp_path / "agent.log", "--reader", CARD_READER, "--allow-origin", page_server
    )
    try:
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"),
                executable_path=executable,
                headless=True,
                args=CHROMIUM_ARGS,
            )
            try:
                page = context.new_page()
                page.goto(f"{page_server}/index.html?agent={agent.port}")
                page.wait_for_function(
                    "document.getElementById('status').textContent !== 'connecting' &&"
                    " document.getElementById('status').textContent !== 'reading'",
                    timeout=20_000,
                )
                status = page.text_content("#status")
                line = page.text_content("#line")
                name = page.text_content("#name")
            finally:
                context.close()
    finally:
        agent.stop()
    assert status == "done", status
    assert line == want
    assert name == want.split("|")[4] and name
    assert f"Origin '{page_server}'" not in agent.log()  # not refused
