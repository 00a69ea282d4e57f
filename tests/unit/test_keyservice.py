"""The key service's sans-IO core (card-spec.md "Reading without a PSAM: the
key-service (HSM) mode") and the parts of the client that need no network.

Requests are computed from virtual cards, and the returned cryptogram is checked
twice: the card itself accepts it, and it equals a computation made here from
the cipher primitives of ``cryptography`` with the published test keys. Every
request is bound the way the service requires: its IA process is its EA process
(the card's EA random R2), and the card's IA answer is computed over it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from sscard_terminal.codecs.atr import Atr
from sscard_terminal.codecs.card_id_code import make_card_id_code
from sscard_terminal.crypto.keyset import KeySet, load_key_set, resolve_key_set_path
from sscard_terminal.driver.keyservice_client import KeyServiceSam, step1_line
from sscard_terminal.driver.sam import AuthCard, CardContext
from sscard_terminal.driver.sscard import SocialSecurityCard
from sscard_terminal.errors import (
    SecurityStatusNotSatisfiedError,
    StatusWordError,
    UsageError,
)
from sscard_terminal.keyservice.core import (
    CardNotVerified,
    KeyService,
    MalformedRequest,
    Refusal,
    ReplayedRequest,
    ServiceBusy,
    Step1Request,
    TerminalNotAuthorised,
    UnknownTerminal,
)
from sscard_terminal.keyservice.registry import (
    DEFAULT_TERMINALS_FILE,
    TerminalEntry,
    TerminalRegistry,
    load_terminals,
    token_digest,
)
from sscard_terminal.transport.base import Transport
from tests.virtual_cards import VirtualCards

TERMINAL = "330200000001"
TERMINAL_2 = "330200000002"
#: the published test tokens of the shipped registry (terminals.yaml)
TOKEN = "test-token-330200000001"
TOKEN_2 = "test-token-330200000002"
KEY_SET_PATH = resolve_key_set_path("ningbo-test-keys")
#: the refusal of a request whose IA process is not its EA process
BINDING = "IA process: must be the EA process random (binding)"


# -- fixtures ---------------------------------------------------------------------
class Clock:
    """A clock the tests move by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def key_set() -> KeySet:
    return load_key_set(KEY_SET_PATH)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(key_set: KeySet, clock: Clock) -> KeyService:
    return KeyService(key_set, load_terminals(), replay_window=300.0, clock=clock)


@dataclass
class CardRequest:
    """A step-1 request computed from a virtual card, and the card to finish on."""

    fields: list[str]
    ia_answer: str
    card: AuthCard
    driver: SocialSecurityCard
    r2: bytes

    @property
    def line(self) -> str:
        return "|".join(self.fields) + "|"

    def with_field(self, index: int, value: str) -> str:
        return self.with_fields({index: value})

    def with_fields(self, changes: dict[int, str]) -> str:
        fields = list(self.fields)
        for index, value in changes.items():
            fields[index] = value
        return "|".join(fields) + "|"

    def bound_to(self, process: bytes, ea_source: bytes | None = None) -> tuple[str, str]:
        """The line with IA process = EA process = ``process`` (and EA source
        ``ea_source`` when given), and the card's own IA answer over ``process``
        and the request's IA source: a genuine, bound request for another EA random."""
        changes = {4: process.hex().upper(), 6: process.hex().upper()}
        if ea_source is not None:
            changes[7] = ea_source.hex().upper()
        answer = self.card.internal_authenticate(process, bytes.fromhex(self.fields[5]))
        return self.with_fields(changes), answer.hex().upper()


def auth_card(transport: Transport) -> tuple[SocialSecurityCard, AuthCard]:
    """The driver and the AuthCard of a connected card, SSSE selected, EF05 read."""
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


def card_request(transport: Transport, terminal: str = TERMINAL) -> CardRequest:
    """The client's step 1 up to the HTTP request (card-spec.md flow), bound as the
    service requires: the IA process is the EA random R2."""
    driver, card = auth_card(transport)
    r1 = card.get_challenge(8)
    r2 = card.get_challenge(8)
    answer = card.internal_authenticate(r2, r1)
    line = step1_line(card.context, r2, r1, r2, r2, terminal)
    return CardRequest(line[:-1].split("|"), answer.hex().upper(), card, driver, r2)


@pytest.fixture(params=["ningbo-gen3", "ningbo-gen2"])
def connected(request: pytest.FixtureRequest, virtual_card: VirtualCards) -> Transport:
    return virtual_card(request.param).transport


@pytest.fixture
def gen3(virtual_card: VirtualCards) -> Transport:
    return virtual_card("ningbo-gen3").transport


# -- the good path --------------------------------------------------------------
def test_shipped_registry_lists_the_test_terminals() -> None:
    registry = load_terminals(DEFAULT_TERMINALS_FILE)
    assert "330200000001" in registry and "330200000002" in registry


def test_accepts_a_card_request_and_the_card_accepts_the_cryptogram(
    service: KeyService, connected: Transport
) -> None:
    req = card_request(connected)
    cryptogram = service.step1(req.line, req.ia_answer, token=TOKEN)
    assert len(cryptogram) == 8
    req.card.external_authenticate(0x0A, cryptogram, req.r2)
    holder = req.driver.read_holder()
    assert holder.id_number and holder.name


def test_gen3_ef06_is_refused_without_the_service(gen3: Transport) -> None:
    driver, _ = auth_card(gen3)
    with pytest.raises(SecurityStatusNotSatisfiedError) as info:
        driver.read_holder()
    assert info.value.sw == 0x6982


def test_accepts_lower_case_hex_and_fci_algorithm_codes(
    service: KeyService, gen3: Transport
) -> None:
    req = card_request(gen3)
    line = req.line.lower().replace("|sm4|", "|03|")
    cryptogram = service.step1(line, req.ia_answer.lower(), token=TOKEN)
    req.card.external_authenticate(0x0A, cryptogram, req.r2)


# -- known answers, computed independently ------------------------------------------
def _ecb(algorithm: algorithms.SM4 | TripleDES, data: bytes) -> bytes:
    enc = Cipher(algorithm, modes.ECB()).encryptor()
    return enc.update(data) + enc.finalize()


def _not(data: bytes) -> bytes:
    return bytes(b ^ 0xFF for b in data)


def _sm4_auth(master: bytes, factors: list[bytes], process: bytes, source: bytes) -> bytes:
    key = master
    for f in factors:
        key = _ecb(algorithms.SM4(key), f + _not(f))
    sk = _ecb(algorithms.SM4(key), process + bytes(8))
    block = _ecb(algorithms.SM4(sk), source + bytes(8))
    return bytes(a ^ b for a, b in zip(block[:8], block[8:], strict=True))


def _tdes_auth(master: bytes, factors: list[bytes], process: bytes, source: bytes) -> bytes:
    key = master
    for f in factors:
        k3 = key + key[:8]  # two-key 3DES: K1 K2 K1
        key = _ecb(TripleDES(k3), f) + _ecb(TripleDES(k3), _not(f))
    sk = _ecb(TripleDES(key + key[:8]), process)
    return _ecb(TripleDES(sk * 3), source)


Compute = Callable[[bytes, list[bytes], bytes, bytes], bytes]


@pytest.mark.parametrize(
    ("algorithm", "compute"), [("sm4", _sm4_auth), ("3des", _tdes_auth)], ids=["sm4", "3des"]
)
def test_cryptogram_known_answer(service: KeyService, algorithm: str, compute: Compute) -> None:
    data = yaml.safe_load(KEY_SET_PATH.read_text(encoding="utf-8"))
    keys = {k["id"]: bytes.fromhex(k["value"]) for k in data["keys"]}
    atr = bytes.fromhex("3B6D000000814A444686603302C38275EE")
    card_factor = atr[-8:]  # historical bytes 6..13 (the ATR has no TCK)
    city = b"330200sx"  # Zhejiang rule (card-spec.md "PSAM")
    # the EA process is also the IA process (the binding); both sources differ from it
    process = bytes.fromhex("0F1E2D3C4B5A6978")
    ia_source, ea_source = bytes.fromhex("A1A2A3A4A5A6A7A8"), bytes.fromhex("1122334455667788")
    ia_answer = compute(keys["00"], [card_factor, city], process, ia_source)
    expected = compute(keys["0A"], [card_factor, city], process, ea_source)
    line = (
        f"330200|{atr.hex().upper()}|{algorithm}|{make_card_id_code('330200', 0xC38275EE)}|"
        f"{process.hex()}|{ia_source.hex()}|{process.hex()}|{ea_source.hex()}|{TERMINAL}|"
    )
    assert service.step1(line, ia_answer.hex(), token=TOKEN) == expected


# -- refusals -------------------------------------------------------------------------
def _refusal(service: KeyService, line: str, ia_answer: str, token: str | None = TOKEN) -> Refusal:
    with pytest.raises(Refusal) as info:
        service.step1(line, ia_answer, token=token)
    return info.value


def test_refuses_an_unknown_terminal_before_looking_at_anything_else(
    service: KeyService, gen3: Transport
) -> None:
    req = card_request(gen3, terminal="330200000099")
    refusal = _refusal(service, req.line, req.ia_answer)
    assert isinstance(refusal, UnknownTerminal)
    assert refusal.reason == "unknown terminal"
    garbage = "x|y|z|w|v|u|t|s|330200000099|"
    assert isinstance(_refusal(service, garbage, "nothex"), UnknownTerminal)


def test_refuses_a_tampered_ia_answer(service: KeyService, gen3: Transport) -> None:
    req = card_request(gen3)
    tampered = bytearray(bytes.fromhex(req.ia_answer))
    tampered[0] ^= 0x01
    refusal = _refusal(service, req.line, tampered.hex())
    assert isinstance(refusal, CardNotVerified)
    assert refusal.reason == "card answer does not verify"


def _flip_hex(text: str, at: int = -1) -> str:
    digits = list(text)
    digits[at] = "0" if digits[at] != "0" else "1"
    return "".join(digits)


@pytest.mark.parametrize(
    ("index", "change", "kind", "reason"),
    [
        (4, _flip_hex, MalformedRequest, BINDING),  # IA process: no longer the EA process
        (6, _flip_hex, MalformedRequest, BINDING),  # EA process: no longer the IA process
        (5, _flip_hex, CardNotVerified, "card answer does not verify"),  # IA source
        (1, _flip_hex, CardNotVerified, "card answer does not verify"),  # ATR card factor
        (2, lambda a: "3des" if a == "sm4" else "sm4", CardNotVerified, "does not verify"),
        (0, lambda r: "330100", MalformedRequest, "region does not match the card identification"),
        (3, lambda c: "330100" + c[6:], MalformedRequest, "region does not match"),
        (1, lambda a: a[:-12] + "3301" + a[-8:], MalformedRequest, "ATR historical bytes 8-9"),
    ],
    ids=[
        "ia-process",
        "ea-process",
        "ia-source",
        "atr-factor",
        "algorithm",
        "region",
        "card-id",
        "atr-region",
    ],
)
def test_refuses_tampered_line_fields(
    service: KeyService,
    connected: Transport,
    index: int,
    change: Callable[[str], str],
    kind: type[Refusal],
    reason: str,
) -> None:
    req = card_request(connected)
    refusal = _refusal(service, req.with_field(index, change(req.fields[index])), req.ia_answer)
    assert isinstance(refusal, kind)
    assert reason in refusal.reason


def test_refuses_an_ia_process_changed_together_with_the_ea_process(
    service: KeyService, connected: Transport
) -> None:
    # changed consistently, the binding holds, and the card's answer does not verify
    req = card_request(connected)
    other = _flip_hex(req.fields[4])
    refusal = _refusal(service, req.with_fields({4: other, 6: other}), req.ia_answer)
    assert isinstance(refusal, CardNotVerified)
    assert refusal.reason == "card answer does not verify"


def test_refuses_an_ia_process_that_is_not_the_ea_process_and_spends_no_randoms(
    service: KeyService, gen3: Transport
) -> None:
    req = card_request(gen3)
    other = bytes.fromhex(_flip_hex(req.fields[4]))
    # the card's own answer over another IA process: only the binding is wrong
    answer = req.card.internal_authenticate(other, bytes.fromhex(req.fields[5]))
    refusal = _refusal(service, req.with_field(4, other.hex().upper()), answer.hex())
    assert isinstance(refusal, MalformedRequest)
    assert refusal.reason == BINDING
    assert len(service.replay_guard) == 0
    # R1 and R2 are still unspent: the bound request is answered and opens the card
    req.card.external_authenticate(
        0x0A, service.step1(req.line, req.ia_answer, token=TOKEN), req.r2
    )
    assert req.driver.read_holder().id_number


def test_a_cryptogram_for_another_ea_random_does_not_open_the_card(
    service: KeyService, gen3: Transport
) -> None:
    req = card_request(gen3)
    # a genuine request bound to another EA random (the EA source stays R2)
    line, answer = req.bound_to(bytes.fromhex(_flip_hex(req.fields[6])))
    cryptogram = service.step1(line, answer, token=TOKEN)
    with pytest.raises(StatusWordError):
        req.card.external_authenticate(0x0A, cryptogram, req.r2)
    with pytest.raises(SecurityStatusNotSatisfiedError):
        req.driver.read_holder()


def test_refuses_a_replayed_ea_process(service: KeyService, gen3: Transport) -> None:
    req = card_request(gen3)
    service.step1(req.line, req.ia_answer, token=TOKEN)
    # the very same request again
    assert isinstance(_refusal(service, req.line, req.ia_answer), ReplayedRequest)
    # a fresh, valid request for the same card (fresh IA source, the card's own
    # answer), bound to the old EA process
    fresh = card_request(gen3)
    line, answer = fresh.bound_to(req.r2, ea_source=req.r2)
    refusal = _refusal(service, line, answer)
    assert isinstance(refusal, ReplayedRequest)
    assert "replayed" in refusal.reason


def test_refuses_a_replayed_ia_triple(service: KeyService, gen3: Transport) -> None:
    req = card_request(gen3)
    service.step1(req.line, req.ia_answer, token=TOKEN)
    # the recorded IA process, IA source and IA answer with another EA source
    line = req.with_field(7, "00112233445566FF")
    assert isinstance(_refusal(service, line, req.ia_answer), ReplayedRequest)


def test_a_recorded_ia_exchange_is_worthless_after_the_window(
    service: KeyService, clock: Clock, gen3: Transport
) -> None:
    req = card_request(gen3)
    service.step1(req.line, req.ia_answer, token=TOKEN)
    new_ea = "00112233445566FF"

    def forget() -> None:
        clock.now += 301.0
        assert len(service.replay_guard) == 0

    # the replay guard has forgotten the randoms; the binding still refuses the
    # recorded IA triple with a new EA random ...
    forget()
    refusal = _refusal(service, req.with_fields({6: new_ea, 7: new_ea}), req.ia_answer)
    assert isinstance(refusal, MalformedRequest)
    assert refusal.reason == BINDING
    # ... and with its IA process moved along too, the recorded answer does not verify
    forget()
    moved = req.with_fields({4: new_ea, 6: new_ea, 7: new_ea})
    refusal = _refusal(service, moved, req.ia_answer)
    assert isinstance(refusal, CardNotVerified)
    # the whole recorded request is answered again, but only for the old R2: a card
    # that has issued a new challenge since does not accept it
    forget()
    cryptogram = service.step1(req.line, req.ia_answer, token=TOKEN)
    new_r2 = req.card.get_challenge(8)
    with pytest.raises(StatusWordError):
        req.card.external_authenticate(0x0A, cryptogram, new_r2)
    with pytest.raises(SecurityStatusNotSatisfiedError):
        req.driver.read_holder()


def test_a_request_no_card_answered_spends_no_randoms(service: KeyService, gen3: Transport) -> None:
    """The card's answer is checked before a random is spent: a made-up
    answer cannot use up a genuine request's randoms."""
    req = card_request(gen3)
    assert isinstance(_refusal(service, req.line, "00" * 8), CardNotVerified)
    assert len(service.replay_guard) == 0
    req.card.external_authenticate(
        0x0A, service.step1(req.line, req.ia_answer, token=TOKEN), req.r2
    )


def test_randoms_are_forgotten_after_the_window(
    service: KeyService, clock: Clock, gen3: Transport
) -> None:
    req = card_request(gen3)
    service.step1(req.line, req.ia_answer, token=TOKEN)
    clock.now += 299.0
    assert isinstance(_refusal(service, req.line, req.ia_answer), ReplayedRequest)
    clock.now += 2.0
    assert len(service.replay_guard) == 0
    service.step1(req.line, req.ia_answer, token=TOKEN)


def test_a_terminal_that_fills_its_share_makes_only_itself_busy(
    key_set: KeySet, gen3: Transport
) -> None:
    service = KeyService(key_set, load_terminals(), max_per_terminal=3)
    req = card_request(gen3)
    service.step1(req.line, req.ia_answer, token=TOKEN)
    assert service.replay_guard.remembered(TERMINAL) == 2  # R1, and R2 (IA = EA) once
    other = card_request(gen3)
    assert isinstance(_refusal(service, other.line, other.ia_answer), ServiceBusy)
    # the busy terminal's refused request spent nothing; another terminal is served
    assert service.replay_guard.remembered(TERMINAL) == 2
    second = card_request(gen3, terminal=TERMINAL_2)
    second.card.external_authenticate(
        0x0A, service.step1(second.line, second.ia_answer, token=TOKEN_2), second.r2
    )
    assert service.replay_guard.remembered(TERMINAL_2) == 2


def test_a_random_spent_by_one_terminal_is_spent_for_all(
    service: KeyService, gen3: Transport
) -> None:
    req = card_request(gen3)
    service.step1(req.line, req.ia_answer, token=TOKEN)
    as_other = req.with_field(8, TERMINAL_2)
    refusal = _refusal(service, as_other, req.ia_answer, token=TOKEN_2)
    assert isinstance(refusal, ReplayedRequest)


def test_nobody_but_the_terminal_reaches_the_replay_guard(
    service: KeyService, gen3: Transport
) -> None:
    """Unknown terminals, wrong tokens, malformed lines and made-up answers spend
    nothing, however many of them come."""
    for _ in range(50):
        req = card_request(gen3)
        _refusal(service, req.line, req.ia_answer, token=TOKEN_2)
        _refusal(service, req.line, req.ia_answer, token=None)
        _refusal(service, req.with_field(8, "330200000099"), req.ia_answer)
        _refusal(service, req.line, "00" * 8)
        _refusal(service, req.with_field(2, "aes"), req.ia_answer)
    assert len(service.replay_guard) == 0


@pytest.mark.parametrize(
    ("index", "value", "reason"),
    [
        (4, "01234567890ABCDZ", "IA process: not hex digits"),
        (4, "0123456789ABCDE", "IA process: odd number of hex digits"),
        (5, "0123456789ABCD", "IA source: must be 8 bytes"),
        (6, "", "EA process: empty"),
        (7, "01 23 45 67 89 AB CD EF", "EA source: not hex digits"),
        (1, "3B", "ATR: "),
        (1, "3B6D000000814A4446866033", "ATR: ATR announces 13 historical bytes"),
        (1, "3B6500000081334302", "ATR: the ATR has fewer than 13 historical bytes"),
        (1, "zz", "ATR: not hex digits"),
        (2, "aes", "algorithm: unknown"),
        (2, "ssf33", "algorithm: SSF33 is not supported"),
        (3, "330200D156000005C38275EE1D6A10A", "card id code: must be 32 hex digits"),
        (3, "330200D156000006C38275EE1D6A10A0", "digits 7-16 must be D156000005"),
        (0, "33020", "region: must be 6 digits"),
        (8, "3302000001", "terminal no: must be 12 digits"),
    ],
)
def test_refuses_malformed_fields_with_the_field_named(
    service: KeyService, gen3: Transport, index: int, value: str, reason: str
) -> None:
    req = card_request(gen3)
    refusal = _refusal(service, req.with_field(index, value), req.ia_answer)
    assert isinstance(refusal, MalformedRequest)
    assert reason in refusal.reason


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("nothexat", "IA answer: not hex digits"),
        ("0011", "IA answer: must be 8 bytes"),
        ("", "IA answer: empty"),
    ],
)
def test_refuses_a_malformed_ia_answer(
    service: KeyService, gen3: Transport, answer: str, reason: str
) -> None:
    req = card_request(gen3)
    refusal = _refusal(service, req.line, answer)
    assert isinstance(refusal, MalformedRequest)
    assert reason in refusal.reason


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("330200|3B|sm4|x|1|2|3|4|330200000001", "must end with '|'"),
        ("330200|3B|sm4|x|1|2|3|330200000001|", "has 8 fields, expected 9"),
        ("|" * 500, "longer than"),
    ],
)
def test_refuses_a_line_of_the_wrong_shape(service: KeyService, line: str, reason: str) -> None:
    refusal = _refusal(service, line, "00" * 8)
    assert isinstance(refusal, MalformedRequest)
    assert reason in refusal.reason


def test_a_malformed_request_spends_no_randoms(service: KeyService, gen3: Transport) -> None:
    req = card_request(gen3)
    _refusal(service, req.with_field(2, "aes"), req.ia_answer)
    service.step1(req.line, req.ia_answer, token=TOKEN)


# -- bearer tokens ------------------------------------------------------------------
def test_a_terminal_with_a_token_must_present_it(key_set: KeySet, gen3: Transport) -> None:
    registry = TerminalRegistry.of(
        [TerminalEntry(number=TERMINAL, token_sha256=token_digest("s3cret-kiosk-1"))]
    )
    service = KeyService(key_set, registry)
    req = card_request(gen3)
    for token in (None, "wrong", TOKEN, "s3cret-kiosk-1 "):
        refusal = _refusal(service, req.line, req.ia_answer, token=token)
        assert isinstance(refusal, TerminalNotAuthorised)
    req.card.external_authenticate(
        0x0A, service.step1(req.line, req.ia_answer, token="s3cret-kiosk-1"), req.r2
    )


# -- nothing secret in reasons and logs -----------------------------------------------
def test_reasons_and_logs_hold_no_key_cryptogram_or_ia_answer(
    service: KeyService, key_set: KeySet, gen3: Transport, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = {k.value.upper() for k in key_set.keys}
    req = card_request(gen3)
    secrets.add(req.ia_answer.upper())
    cryptogram = service.step1(req.line, req.ia_answer, token=TOKEN)
    secrets.add(cryptogram.hex().upper())
    bad = bytearray(bytes.fromhex(req.ia_answer))
    bad[7] ^= 0x80
    secrets.add(bad.hex().upper())
    other = card_request(gen3)
    reasons = [
        _refusal(service, req.line, req.ia_answer).reason,
        _refusal(service, other.line, bad.hex()).reason,
        _refusal(service, other.with_field(8, "330200000099"), other.ia_answer).reason,
    ]
    text = ("\n".join(reasons) + "\n" + caplog.text).upper()
    assert "STEP 1 ANSWERED" in text and "STEP 1 REFUSED" in text
    for secret in secrets:
        assert secret not in text


# -- configuration ------------------------------------------------------------------
def test_registry_errors_name_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "terminals.yaml"
    path.write_text(
        "schema: sscard-terminals/1\nterminals:\n"
        f"  - {{number: '330200000001', token_sha256: '{'a' * 64}'}}\n"
        f"  - {{number: '330200000001', token_sha256: '{'b' * 64}'}}\n"
    )
    with pytest.raises(UsageError, match="listed twice"):
        load_terminals(path)
    path.write_text(
        "schema: sscard-terminals/1\nterminals:\n"
        f"  - {{number: '330200000001', token_sha256: '{'a' * 64}'}}\n"
        f"  - {{number: '330200000002', token_sha256: '{'A' * 64}'}}\n"
    )
    with pytest.raises(UsageError, match="same token: each terminal needs a token of its own"):
        load_terminals(path)
    path.write_text("schema: sscard-terminals/1\nterminals:\n  - {number: '330200000001'}\n")
    with pytest.raises(UsageError, match=r"terminals\.0\.token_sha256: Field required"):
        load_terminals(path)
    path.write_text(
        "schema: sscard-terminals/1\nterminals:\n"
        f"  - {{number: '3302', token_sha256: '{'a' * 64}'}}\n"
    )
    with pytest.raises(UsageError, match=r"terminals\.yaml: terminals\.0\.number"):
        load_terminals(path)
    with pytest.raises(UsageError, match="cannot read"):
        load_terminals(tmp_path / "missing.yaml")


def test_request_parse_exposes_the_card_factor(gen3: Transport) -> None:
    req = card_request(gen3)
    parsed = Step1Request.parse(req.line, req.ia_answer)
    assert parsed.card_factor == Atr.parse(gen3.atr).diversification_factor
    assert parsed.algorithm == "sm4" and parsed.terminal == TERMINAL
    assert parsed.ia_process == parsed.ea_process


# -- the client, without a network ----------------------------------------------------
def test_client_authenticates_for_rksse_only(gen3: Transport) -> None:
    _, card = auth_card(gen3)
    with KeyServiceSam("http://127.0.0.1:9", TERMINAL) as sam:
        assert sam.name == "keyservice" and sam.terminal_number == TERMINAL
        with pytest.raises(UsageError, match="RKSSSE"):
            sam.authenticate(card, 0x04)


@pytest.mark.parametrize(
    ("url", "terminal", "token", "match"),
    [
        ("ftp://127.0.0.1", TERMINAL, None, "not a key-service URL"),
        ("127.0.0.1:8765", TERMINAL, None, "not a key-service URL"),
        ("http://127.0.0.1:8765", "1234", None, "12 digits"),
        ("http://keys.example.org", TERMINAL, "t", "HTTPS only"),
    ],
)
def test_client_checks_its_settings(url: str, terminal: str, token: str | None, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        KeyServiceSam(url, terminal, token=token)


def test_client_endpoint_from_base_url() -> None:
    with KeyServiceSam("http://127.0.0.1:8765/", TERMINAL) as sam:
        assert sam.endpoint == "http://127.0.0.1:8765/keyservice/v1/step1"
    with KeyServiceSam("https://keys.example.org/keyservice/v1/step1", TERMINAL, token="t") as sam:
        assert sam.endpoint == "https://keys.example.org/keyservice/v1/step1"
