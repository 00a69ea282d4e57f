"""The reader agent end to end: ``sscard agent serve`` in its own
process, the card and the PSAM served through pcscd/vpcd, clients speaking the
field's JSON over WebSocket (the ``websockets`` library) and HTTP POST.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from sscard_terminal.crypto.keyset import load_key_set, resolve_key_set_path
from sscard_terminal.driver.national import NationalLine, read_national_line
from sscard_terminal.keyservice.core import KeyService
from sscard_terminal.keyservice.registry import load_terminals
from sscard_terminal.keyservice.server import STEP1_PATH, serve_in_thread
from sscard_terminal.system.pcscd import PcscdHandle
from sscard_terminal.terminal.station import SamKind, Station, StationSpec
from sscard_terminal.vcard.factory import card_from_image, card_from_profile, write_new_image
from sscard_terminal.vcard.faults import FaultyCard, parse_faults
from sscard_terminal.vpcd.bridge import CardServer
from tests.e2e.agent_rig import AgentProcess, call, connect, next_event, start_agent
from tests.e2e.conftest import ServeCard

CARD_READER = "Virtual PCD 00 00"
PSAM_READER = "Virtual PCD 00 01"
PIN = "123456"
NEW_PIN = "654321"
TERMINAL = "330200000001"
DEVICE = "K0001"
ID_NUMBER = "330203199001011236"
NAME = "张三"


@pytest.fixture
def gen3_image(tmp_path: Path) -> Path:
    image = tmp_path / "gen3.json"
    write_new_image(image, "ningbo-gen3")
    return image


@pytest.fixture
def agents(tmp_path: Path) -> Any:
    """``agents(*args)`` starts an agent; every one is stopped at the end."""
    started: list[AgentProcess] = []

    def start(*args: str, port: int = 0) -> AgentProcess:
        agent = start_agent(tmp_path / f"agent-{len(started)}.log", *args, port=port)
        started.append(agent)
        return agent

    yield start
    for agent in started:
        if agent.process.poll() is None:
            agent.stop()


def expected_line(sam: SamKind = "pcsc") -> str:
    """The line read directly through the driver (the station), no agent."""
    spec = StationSpec(
        reader=CARD_READER, sam=sam, sam_reader=PSAM_READER, terminal=TERMINAL, device_number=DEVICE
    )
    with Station(spec) as station, station.card() as card:
        line = read_national_line(
            card, station.terminal_number, DEVICE, sam=station.sam, check_expiry=True
        )
    return str(line)


def test_each_function_over_websocket_and_http(
    served_card: ServeCard, agents: Any, gen3_image: Path, tmp_path: Path
) -> None:
    served_card(card_from_image(gen3_image), 0)
    served_card(card_from_profile("psam-ningbo"), 1)
    want = expected_line()
    assert NationalLine.parse(want).as_dict()["name"] == NAME
    pad = tmp_path / "pad"
    # iVerifyPIN, iChangePIN (old, new, new again), iReadTransRecords, iVerifyPIN (wrong)
    pad.write_text(f"{PIN}\n{PIN}\n{NEW_PIN}\n{NEW_PIN}\n{NEW_PIN}\n000000\n", encoding="ascii")
    agent = agents(
        "--reader", CARD_READER, "--sam", "pcsc", "--sam-reader", PSAM_READER,
        "--pin-pad", str(pad), "--device-number", DEVICE,
    )  # fmt: skip

    async def session() -> None:
        async with connect(agent.ws_url) as ws:
            read = await call(ws, "iReadCardBas", iType=3)
            assert read["success"] == 0 and read["pOutInfo"] == want
            assert read["pOutInfo"].split("|")[1] == ID_NUMBER  # the field's [1]
            assert read["pOutInfo"].split("|")[4] == NAME  # and [4]
            assert (await call(ws, "iReadCardBas", iType=1))["pOutInfo"] == want
            contactless = await call(ws, "iReadCardBas", iType=2)
            assert contactless["success"] == -10 and "contactless" in contactless["message"]
            status = await call(ws, "iReadCardStatus")
            assert status["success"] == 0 and status["pOutInfo"] == "1"
            readers = await call(ws, "iGetReaders")
            assert readers["pOutInfo"] == f"{CARD_READER}|"
            assert readers["readers"][0]["cardPresent"] is True
            verify = await call(ws, "iVerifyPIN", iType=1)
            assert verify == {
                "success": 0, "pOutInfo": "", "requestId": verify["requestId"], "triesLeft": 3
            }  # fmt: skip
            assert (await call(ws, "iChangePIN", iType=1))["success"] == 0
            records = await call(ws, "iReadTransRecords", iType=1)
            assert records["success"] == 0 and records["records"] == []
            wrong = await call(ws, "iVerifyPIN", iType=1)
            assert wrong["success"] == -6 and wrong["triesLeft"] == 2
            assert "wrong PIN, 2 tries left" in wrong["message"]

    asyncio.run(session())
    # the same call as an HTTP POST, as pharmacy checkouts make it
    answer = httpx.post(agent.http_url, json={"function": "iReadCardBas", "iType": 3}).json()
    assert answer == {"success": 0, "pOutInfo": want}
    log = agent.log()
    assert "iReadCardBas" in log and "iChangePIN" in log
    for secret in (PIN, NEW_PIN, ID_NUMBER, NAME):
        assert secret not in log


def test_key_service_two_step_read(served_card: ServeCard, agents: Any, gen3_image: Path) -> None:
    """Step 1 gives the key service's line; the page asks the key service; step 2
    takes the cryptogram and answers the full line."""
    served_card(card_from_image(gen3_image), 0)
    want = NationalLine.parse(expected_line(sam="none"))
    agent = agents("--reader", CARD_READER, "--terminal", TERMINAL)
    key_set = load_key_set(resolve_key_set_path("ningbo-test-keys"))

    async def session(base: str) -> None:
        async with connect(agent.ws_url) as ws:
            plain = await call(ws, "iReadCardBas", iType=3)
            assert plain["success"] == 0 and plain["pOutInfo"].split("|")[4] == ""  # EF06 locked
            step1 = await call(ws, "iReadCardBas_HSM_Step1", iType=3)
            assert step1["success"] == 0, step1
            assert step1["pOutInfo"].split("|")[2] == "sm4"  # the algorithm, field 3
            async with httpx.AsyncClient() as http:
                reply = await http.post(
                    base + STEP1_PATH,
                    json={"line": step1["pOutInfo"], "ia_answer": step1["iaAnswer"]},
                    # the shipped test registry's token of terminal 330200000001
                    headers={"Authorization": "Bearer test-token-330200000001"},
                )
            assert reply.status_code == 200, reply.text
            step2 = await call(ws, "iReadCardBas_HSM_Step2", pKey=reply.json()["cryptogram"])
            assert step2["success"] == 0, step2
            items = NationalLine.parse(step2["pOutInfo"]).items
            assert items[1] == ID_NUMBER and items[4] == NAME
            assert (
                items[:9]
                == want.items[:1] + (ID_NUMBER,) + want.items[2:4] + (NAME,) + want.items[5:9]
            )
            again = await call(ws, "iReadCardBas_HSM_Step2", pKey="00" * 8)
            assert again["success"] == -10 and "no step 1 is pending" in again["message"]

    with serve_in_thread(KeyService(key_set, load_terminals())) as base:
        asyncio.run(session(base))
    assert ID_NUMBER not in agent.log() and NAME not in agent.log()


def test_card_pulled_mute_and_slow_card_answer_errors_not_hangs(
    served_card: ServeCard, reader_empty: Any, agents: Any, gen3_image: Path
) -> None:
    agent = agents("--reader", CARD_READER, "--call-timeout", "1", "--busy-wait", "5")

    async def read(ws: Any) -> tuple[dict[str, Any], float]:
        started = time.monotonic()
        body = await call(ws, "iReadCardBas", iType=3)
        return body, time.monotonic() - started

    async def session() -> None:
        async with connect(agent.ws_url) as ws:
            empty, _ = await read(ws)
            assert empty["success"] == -2 and "no card" in empty["message"]  # the field's -2
            pulled = served_card(
                FaultyCard(card_from_image(gen3_image), parse_faults("remove-during=4")), 0
            )
            gone, took = await read(ws)
            assert gone["success"] == -4 and "removed" in gone["message"], gone
            assert took < 5
            await asyncio.to_thread(pulled.stop)
            mute_card = FaultyCard(card_from_image(gen3_image), parse_faults("mute"))
            with CardServer(mute_card, slot=0) as server:
                while not server.connected.is_set():
                    await asyncio.sleep(0.02)
                await asyncio.sleep(1.0)  # vpcd drops a card without ATR: pcscd shows none
                mute, took = await read(ws)
                assert mute["success"] == -2 and took < 5, mute
            await asyncio.to_thread(reader_empty, 0)
            served = served_card(
                FaultyCard(card_from_image(gen3_image), parse_faults("slow=1200")), 0
            )
            slow, took = await read(ws)
            assert slow["success"] == -8 and "within 1 s" in slow["message"], slow
            assert took < 3
            # pulled while the timed-out call still runs: the reader is free again after it
            await asyncio.to_thread(served.stop)
            served_card(card_from_image(gen3_image), 0)
            ok, _ = await read(ws)
            assert ok["success"] == 0, ok

    asyncio.run(session())


def test_two_clients_at_once_never_interleave(
    served_card: ServeCard, agents: Any, gen3_image: Path
) -> None:
    served_card(card_from_image(gen3_image), 0)
    want = expected_line(sam="none")
    agent = agents(
        "--reader", CARD_READER, "--terminal", TERMINAL, "--device-number", DEVICE,
        "--busy-wait", "0.3",
    )  # fmt: skip

    async def many(n: int) -> list[dict[str, Any]]:
        async with connect(agent.ws_url) as ws:
            return [await call(ws, "iReadCardBas", iType=3) for _ in range(n)]

    async def session() -> None:
        results = await asyncio.gather(many(15), many(15))
        lines = [b["pOutInfo"] for r in results for b in r if b["success"] == 0]
        busy = [b for r in results for b in r if b["success"] == -7]
        assert len(lines) + len(busy) == 30 and len(lines) >= 15
        assert set(lines) == {want}  # whole lines only: never a mix of two calls
        # a client holding the card between the two key-service steps: the other is busy
        async with connect(agent.ws_url) as a, connect(agent.ws_url) as b:
            step1 = await call(a, "iReadCardBas_HSM_Step1", iType=3)
            assert step1["success"] == 0
            refused = await call(b, "iReadCardBas", iType=3)
            assert refused["success"] == -7 and "in use by another client" in refused["message"]
        # a closes without step 2: the card is released
        async with connect(agent.ws_url) as b:
            assert (await call(b, "iReadCardBas", iType=3))["pOutInfo"] == want

    asyncio.run(session())


def test_origins_are_checked(served_card: ServeCard, agents: Any, gen3_image: Path) -> None:
    served_card(card_from_image(gen3_image), 0)
    kiosk = "http://kiosk.example:8080"
    agent = agents("--reader", CARD_READER, "--allow-origin", kiosk)

    async def session() -> None:
        for origin in ("http://evil.example", "null"):
            with pytest.raises(websockets.InvalidStatus) as refused:
                async with connect(agent.ws_url, origin=origin):
                    pass
            assert refused.value.response.status_code == 403
        async with connect(agent.ws_url, origin=kiosk) as ws:
            assert (await call(ws, "iReadCardBas", iType=3))["success"] == 0

    asyncio.run(session())
    refused_post = httpx.post(
        agent.http_url, json={"function": "iReadCardBas"}, headers={"Origin": "http://evil.example"}
    )
    assert refused_post.status_code == 403
    allowed = httpx.post(
        agent.http_url, json={"function": "iReadCardBas"}, headers={"Origin": kiosk}
    )
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == kiosk
    assert "Origin 'http://evil.example' is not allowed" in agent.log()
    file_agent = agents("--reader", CARD_READER, "--allow-file-origin")

    async def from_file() -> None:
        async with connect(file_agent.ws_url, origin="null") as ws:
            assert (await call(ws, "iReadCardStatus"))["pOutInfo"] == "1"

    asyncio.run(from_file())


def test_bad_input_gets_answers_and_others_are_still_served(
    served_card: ServeCard, agents: Any, gen3_image: Path
) -> None:
    served_card(card_from_image(gen3_image), 0)
    agent = agents("--reader", CARD_READER)

    async def session() -> None:
        async with connect(agent.ws_url) as bad, connect(agent.ws_url) as good:
            for raw, fragment in (
                ("not json", "not JSON"),
                ("[1, 2]", "JSON object"),
                ('{"function": "iFormatCard"}', "unknown function 'iFormatCard'"),
                ('{"function": "iReadCardBas", "iType": "3"}', "'iType' must be an integer"),
                ('{"function": "iReadCardBas", "iType": 9}', "'iType' must be one of 1, 2, 3, 4"),
                ('{"function": "iReadCardBas", "pin": "123456"}', "takes no argument 'pin'"),
                ('{"function": "iReadCardBas_HSM_Step2"}', "needs 'pKey'"),
            ):
                await bad.send(raw)
                body = json.loads(await bad.recv())
                assert body["success"] == -10 and fragment in body["message"], (raw, body)
            await bad.send(json.dumps({"function": "iReadCardBas", "pad": "x" * 1_000_000}))
            body = json.loads(await bad.recv())
            assert body["success"] == -11
            # a flood of 1,000 messages in one go: the excess is refused, the rest answered
            for _ in range(1000):
                await bad.send('{"function": "iGetReaders"}')
            codes = [json.loads(await bad.recv())["success"] for _ in range(1000)]
            assert codes.count(-12) >= 500 and set(codes) <= {0, -7, -12}
            # meanwhile the other client is served as usual
            assert (await call(good, "iReadCardBas", iType=3))["success"] == 0

    asyncio.run(session())
    too_big = httpx.post(agent.http_url, content=b"{" + b" " * 100_000 + b"}")
    assert too_big.status_code == 413 and too_big.json()["success"] == -11
    assert httpx.get(agent.http_url).status_code == 405


def test_events_when_a_card_is_served_and_stopped(
    served_card: ServeCard, reader_empty: Any, agents: Any, gen3_image: Path
) -> None:
    reader_empty(0)
    agent = agents("--reader", CARD_READER)

    async def session() -> None:
        async with connect(agent.ws_url) as ws:
            assert (await call(ws, "subscribe"))["subscribed"] is True
            served = served_card(card_from_image(gen3_image), 0)
            inserted = await next_event(ws)
            assert inserted["event"] == "cardInserted" and inserted["reader"] == CARD_READER
            assert inserted["atr"] == served.card.atr.hex().upper()
            await asyncio.to_thread(served.stop)
            removed = await next_event(ws)
            assert removed == {
                "event": "cardRemoved", "reader": CARD_READER, "readerName": CARD_READER
            }  # fmt: skip

    asyncio.run(session())
    # the PSAM's reader is not the agent's: no event for it reached the client
    assert "cardInserted in 'Virtual PCD 00 00'" in agent.log()


def test_agent_restarted_while_a_client_is_connected(
    served_card: ServeCard, agents: Any, gen3_image: Path
) -> None:
    served_card(card_from_image(gen3_image), 0)
    first = agents("--reader", CARD_READER)
    port = first.port

    async def session() -> None:
        async with connect(first.ws_url) as ws:
            assert (await call(ws, "iReadCardBas", iType=3))["success"] == 0
            assert await asyncio.to_thread(first.stop, signal.SIGTERM) == 0
            with pytest.raises(websockets.ConnectionClosed):
                await call(ws, "iReadCardBas", iType=3)
        second = agents("--reader", CARD_READER, port=port)
        async with connect(second.ws_url) as ws:  # the page reconnects, as ws.js does
            assert (await call(ws, "iReadCardBas", iType=3))["success"] == 0
        assert await asyncio.to_thread(second.stop, signal.SIGINT) == 0

    asyncio.run(session())
    assert "sscard agent: stopped" in first.log()


def test_agent_survives_a_pcscd_restart(
    pcscd: PcscdHandle, served_card: ServeCard, agents: Any, gen3_image: Path
) -> None:
    if not pcscd.started_by_us:
        reason = "pcscd was already running: this session may not restart it"
        if os.environ.get("CI") == "true":  # CI starts its own pcscd: this must run there
            pytest.fail(reason)
        pytest.skip(reason)
    served = served_card(card_from_image(gen3_image), 0)
    psam = served_card(card_from_profile("psam-ningbo"), 1)
    agent = agents("--reader", CARD_READER, "--sam", "pcsc", "--sam-reader", PSAM_READER)

    async def session() -> None:
        async with connect(agent.ws_url) as ws:
            await call(ws, "subscribe")
            before = await call(ws, "iReadCardBas", iType=3)
            assert before["success"] == 0
            await asyncio.to_thread(pcscd.restart)
            await asyncio.to_thread(served.wait_inserted)
            await asyncio.to_thread(psam.wait_inserted)
            events = [await next_event(ws), await next_event(ws)]
            assert [e["event"] for e in events] == ["cardRemoved", "cardInserted"]
            after: dict[str, Any] = {}
            for _ in range(3):  # the first call may find the PSAM's old link dead
                after = await call(ws, "iReadCardBas", iType=3)
                if after["success"] == 0:
                    break
            assert after["pOutInfo"] == before["pOutInfo"]

    asyncio.run(session())


def test_another_program_in_a_pcsc_transaction_is_never_interleaved(
    served_card: ServeCard, agents: Any, gen3_image: Path
) -> None:
    """The agent holds a PC/SC transaction per call: while another program holds
    one on the card, the agent's call waits (and answers timeout), then works."""
    from sscard_terminal.transport.base import open_transport

    served_card(card_from_image(gen3_image), 0)
    agent = agents("--reader", CARD_READER, "--call-timeout", "1")

    async def session() -> None:
        async with connect(agent.ws_url) as ws:
            other = open_transport(reader=CARD_READER, transaction=True)
            await asyncio.to_thread(other.connect)
            try:
                started = time.monotonic()
                waited = await call(ws, "iReadCardBas", iType=3)
                assert waited["success"] == -8 and time.monotonic() - started < 3, waited
            finally:
                await asyncio.to_thread(other.close)
            for _ in range(20):  # the agent's waiting call finishes, then the reader is free
                done = await call(ws, "iReadCardBas", iType=3)
                if done["success"] != -7:
                    break
            assert done["success"] == 0, done

    asyncio.run(session())
