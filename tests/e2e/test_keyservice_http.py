"""The key service over real HTTP: a uvicorn server on a real socket, the
:class:`KeyServiceSam` client, and a virtual card in-process (card-spec.md
"Reading without a PSAM: the key-service (HSM) mode").

No pcscd is needed here (the directory's ``pcsc`` mark notwithstanding); a PC/SC
variant of the read belongs beside the other PC/SC tests.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sscard_terminal.codecs.atr import Atr
from sscard_terminal.crypto.keyset import load_key_set, resolve_key_set_path
from sscard_terminal.driver.keyservice_client import (
    KeyServiceError,
    KeyServiceRefused,
    KeyServiceSam,
    KeyServiceUnavailable,
    step1_line,
)
from sscard_terminal.driver.sam import AuthCard, CardContext, SecurityModule
from sscard_terminal.driver.sscard import SocialSecurityCard
from sscard_terminal.errors import ExitCode, SecurityStatusNotSatisfiedError, TransportError
from sscard_terminal.keyservice.core import KeyService
from sscard_terminal.keyservice.registry import (
    TerminalEntry,
    TerminalRegistry,
    load_terminals,
    token_digest,
)
from sscard_terminal.keyservice.server import STEP1_PATH, serve_in_thread
from sscard_terminal.transport.base import Transport
from sscard_terminal.vcard.profile import load_profile
from tests.virtual_cards import VirtualCards

TERMINAL = "330200000001"
#: the published test token of TERMINAL in the shipped registry (terminals.yaml)
TOKEN = "test-token-330200000001"
UNKNOWN_TERMINAL = "330200000099"


def new_service(registry: TerminalRegistry | None = None) -> KeyService:
    key_set = load_key_set(resolve_key_set_path("ningbo-test-keys"))
    return KeyService(key_set, registry or load_terminals())


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serve_in_thread(new_service()) as base:
        yield base


@pytest.fixture
def gen3(virtual_card: VirtualCards) -> Transport:
    return virtual_card("ningbo-gen3").transport


def auth_card(transport: Transport) -> tuple[SocialSecurityCard, AuthCard]:
    """The driver and AuthCard of a connected card: SSSE selected, EF05 read."""
    driver = SocialSecurityCard(transport)
    driver.select_ssse()
    iss = driver.read_issuer()
    atr = Atr.parse(transport.atr)
    assert iss.card_id_code and iss.spec_version
    ctx = CardContext(
        atr.raw,
        atr.diversification_factor,
        iss.region,
        iss.card_id_code,
        "sm4" if iss.spec_version.startswith("3") else "3des",
    )
    return driver, AuthCard(driver.session, ctx)


def free_port() -> int:
    """A port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- the read ---------------------------------------------------------------------
def test_keyservice_sam_opens_ef06(url: str, gen3: Transport) -> None:
    driver, card = auth_card(gen3)
    with pytest.raises(SecurityStatusNotSatisfiedError):
        driver.read_holder()
    with KeyServiceSam(url, TERMINAL, token=TOKEN) as sam:
        assert isinstance(sam, SecurityModule)
        sam.authenticate(card, 0x0A)
    holder = driver.read_holder()
    person = load_profile("ningbo-gen3").test_person
    assert holder.id_number == person["id_number"]
    assert holder.name == person["name"]


def test_each_read_uses_fresh_randoms(url: str, gen3: Transport) -> None:
    with KeyServiceSam(url, TERMINAL, token=TOKEN) as sam:
        for _ in range(3):
            gen3.reset()
            driver, card = auth_card(gen3)
            sam.authenticate(card, 0x0A)
            assert driver.read_holder().id_number


def test_unknown_terminal_is_refused_and_the_card_keeps_ef06_closed(
    url: str, gen3: Transport
) -> None:
    driver, card = auth_card(gen3)
    with KeyServiceSam(url, UNKNOWN_TERMINAL) as sam, pytest.raises(KeyServiceRefused) as info:
        sam.authenticate(card, 0x0A)
    refused = info.value
    assert refused.reason == "unknown terminal"
    assert refused.code == "unknown-terminal" and refused.status == 403
    assert refused.exit_code == ExitCode.CARD_REFUSED
    assert "register" in refused.one_line()
    # refused by the card itself, not just by our driver
    with pytest.raises(SecurityStatusNotSatisfiedError) as card_refusal:
        driver.read_holder()
    assert card_refusal.value.sw == 0x6982


# -- the service unreachable ---------------------------------------------------------
def test_a_server_that_is_down_is_a_clear_transport_error(gen3: Transport) -> None:
    _, card = auth_card(gen3)
    down = f"http://127.0.0.1:{free_port()}"
    with (
        KeyServiceSam(down, TERMINAL, token=TOKEN, timeout=2.0) as sam,
        pytest.raises(KeyServiceUnavailable) as info,
    ):
        sam.authenticate(card, 0x0A)
    err = info.value
    assert isinstance(err, TransportError) and isinstance(err, KeyServiceError)
    assert err.exit_code == ExitCode.NO_READER
    assert f"cannot reach the key service at {down}" in str(err)
    assert "sscard keyservice serve" in err.one_line()


def test_a_server_that_never_answers_times_out(gen3: Transport) -> None:
    _, card = auth_card(gen3)
    with socket.create_server(("127.0.0.1", 0)) as mute:  # listens, never answers
        port = mute.getsockname()[1]
        started = time.monotonic()
        too_slow = pytest.raises(KeyServiceUnavailable, match=r"did not answer within 0\.5 s")
        with (
            KeyServiceSam(f"http://127.0.0.1:{port}", TERMINAL, token=TOKEN, timeout=0.5) as sam,
            too_slow,
        ):
            sam.authenticate(card, 0x0A)
        assert time.monotonic() - started < 5


def test_a_url_that_is_no_key_service(url: str, gen3: Transport) -> None:
    _, card = auth_card(gen3)
    not_found = pytest.raises(KeyServiceUnavailable, match="answered HTTP 404")
    with KeyServiceSam(url + "/elsewhere", TERMINAL, token=TOKEN) as sam, not_found:
        sam.authenticate(card, 0x0A)


# -- the HTTP API itself ---------------------------------------------------------------
def _valid_body(transport: Transport, terminal: str = TERMINAL) -> dict[str, str]:
    _, card = auth_card(transport)
    r1, r2 = card.get_challenge(8), card.get_challenge(8)
    answer = card.internal_authenticate(r2, r1)  # the IA process is R2 (the binding)
    line = step1_line(card.context, r2, r1, r2, r2, terminal)
    return {"line": line, "ia_answer": answer.hex().upper()}


def test_http_statuses_and_bodies(url: str, gen3: Transport) -> None:
    endpoint = url + STEP1_PATH
    with httpx.Client(trust_env=False, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        assert http.get(url + "/keyservice/v1/health").json() == {"status": "ok"}
        body = _valid_body(gen3)
        ok = http.post(endpoint, json=body)
        assert ok.status_code == 200
        assert ok.headers["cache-control"] == "no-store"
        assert re.fullmatch(r"[0-9A-F]{16}", ok.json()["cryptogram"])

        replay = http.post(endpoint, json=body)
        assert replay.status_code == 409 and replay.json()["code"] == "replayed"

        secret = "DEADBEEF0BADF00D"
        bad_json = http.post(
            endpoint,
            content=b'{"line": 1, "ia_answer": "' + secret.encode() + b'"',
            headers={"Content-Type": "application/json"},
        )
        assert bad_json.status_code == 400 and bad_json.json()["code"] == "malformed"
        extra = http.post(endpoint, json={**body, "ia_answer": secret, "pin": "123456"})
        assert extra.status_code == 400
        for answer in (bad_json, extra):
            assert secret not in answer.text and "123456" not in answer.text

        fresh = _valid_body(gen3)
        bad_field = http.post(endpoint, json={**fresh, "ia_answer": "XYZ"})
        assert bad_field.status_code == 400
        assert bad_field.json() == {"error": "IA answer: not hex digits", "code": "malformed"}

        wrong = _valid_body(gen3)
        wrong["ia_answer"] = "00" * 8
        refused = http.post(endpoint, json=wrong)
        assert refused.status_code == 403
        assert refused.json() == {
            "error": "card answer does not verify",
            "code": "card-not-verified",
        }

        unknown = http.post(endpoint, json=_valid_body(gen3, UNKNOWN_TERMINAL))
        assert unknown.status_code == 403
        assert unknown.json() == {"error": "unknown terminal", "code": "unknown-terminal"}

        assert http.get(url + "/docs").status_code == 404
        assert http.get(url + "/openapi.json").status_code == 404


def test_a_terminal_with_a_bearer_token(gen3: Transport) -> None:
    registry = TerminalRegistry.of(
        [TerminalEntry(number=TERMINAL, token_sha256=token_digest("kiosk-1-token"))]
    )
    with serve_in_thread(new_service(registry)) as base:
        driver, card = auth_card(gen3)
        with (
            KeyServiceSam(base, TERMINAL, token=TOKEN) as sam,
            pytest.raises(KeyServiceRefused) as info,
        ):
            sam.authenticate(card, 0x0A)
        assert info.value.status == 401 and info.value.code == "not-authorised"
        with KeyServiceSam(base, TERMINAL, token="kiosk-1-token") as sam:
            sam.authenticate(card, 0x0A)
        assert driver.read_holder().id_number


# -- the CLI -----------------------------------------------------------------------------
_SERVE = "from sscard_terminal.cli.keyservice import keyservice; keyservice()"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_cli_serve_answers_and_stops_cleanly_on_a_signal(
    signum: signal.Signals, gen3: Transport
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVE, "serve", "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        port = None
        deadline = time.monotonic() + 20
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            found = re.search(r"key service on http://127\.0\.0\.1:(\d+)", line)
            port = int(found.group(1)) if found else None
        assert port, "the key service did not say where it listens"
        driver, card = auth_card(gen3)
        for _ in range(100):  # uvicorn accepts once its startup is done
            try:
                httpx.get(f"http://127.0.0.1:{port}/keyservice/v1/health", trust_env=False)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        with KeyServiceSam(f"http://127.0.0.1:{port}", TERMINAL, token=TOKEN) as sam:
            sam.authenticate(card, 0x0A)
        assert driver.read_holder().id_number
        proc.send_signal(signum)
        _, rest = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, rest
    assert rest.rstrip().endswith("stopped")
    assert "step 1 answered: terminal 330200000001" in rest


def test_cli_serve_refuses_a_busy_port() -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        out = subprocess.run(
            [sys.executable, "-c", _SERVE, "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert out.returncode == ExitCode.USAGE
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr


def test_cli_read_needs_the_terminals_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SSCARD_KEYSERVICE_TOKEN"}
    out = subprocess.run(
        [
            str(Path(sys.executable).parent / "sscard"),
            "read",
            "--sam",
            "keyservice",
            "--keyservice",
            "http://127.0.0.1:9",
            "--terminal",
            TERMINAL,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert out.returncode == ExitCode.USAGE
    assert "SSCARD_KEYSERVICE_TOKEN" in out.stderr and "Traceback" not in out.stderr


def test_cli_token_makes_a_token_and_its_digest() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _SERVE, "token"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(":", 1) for line in out.stdout.splitlines())
    made, digest = lines["token"].strip(), lines["token_sha256"].strip()
    assert len(made) >= 40 and digest == token_digest(made)
