"""Fault injection: each fault becomes one clear driver error.

In-process, through the virtual transport: the faulty card in front of the card
OS, the real driver behind. The same faults through PC/SC are in
``tests/e2e/test_faults_pcsc.py``.
"""

from __future__ import annotations

import random
import socket
import threading
from collections.abc import Iterator

import pytest

from sscard_terminal.driver.cardholder import CardholderRecord
from sscard_terminal.driver.security_modules import open_security_module
from sscard_terminal.driver.sscard import SocialSecurityCard
from sscard_terminal.errors import (
    CardRemovedError,
    CorruptResponseError,
    ExitCode,
    MuteCardError,
    SscardError,
    UsageError,
)
from sscard_terminal.transport.virtual import VirtualTransport
from sscard_terminal.vcard.cardos import CardOS
from sscard_terminal.vcard.faults import (
    CardMute,
    CardPulled,
    Corruption,
    FaultSpec,
    FaultyCard,
    damage,
    parse_faults,
    wire_seconds,
)
from sscard_terminal.vcard.interface import SimulatedCard
from sscard_terminal.vpcd.bridge import Connected, Disconnected, serve_card
from sscard_terminal.vpcd.framing import frame
from tests.virtual_cards import stock_card


def read(
    card: SimulatedCard, profile: str = "ningbo-gen2", *, verify_reads: bool = False
) -> CardholderRecord:
    with VirtualTransport(card) as transport:
        driver = SocialSecurityCard(transport, verify_reads=verify_reads)
        if profile == "ningbo-gen3":
            return driver.read(sam=open_security_module("software"))
        return driver.read()


def apdus_of_a_read(profile: str) -> int:
    counter = FaultyCard(stock_card(profile), "")
    read(counter, profile)
    return counter.apdus


# -- the spec ----------------------------------------------------------------------
def test_parse_combined_and_repeated() -> None:
    spec = parse_faults(["slow,remove-after=12", "corrupt=3:sw", "corrupt=every", "seed=7"])
    assert spec == FaultSpec(
        remove_after=12,
        baud=9600,
        corruptions=(Corruption(3, "sw"), Corruption(None, "byte")),
        seed=7,
    )
    assert str(spec) == "slow,remove-after=12,corrupt=3:sw,corrupt=every,seed=7"
    assert parse_faults("slow=115200 , mute").baud == 115200
    assert parse_faults("mute").mute
    assert parse_faults("remove-during=1").remove_during == 1
    assert not parse_faults("") and not parse_faults([])


@pytest.mark.parametrize(
    "text",
    [
        "explode",
        "remove-after",
        "remove-after=-1",
        "remove-after=x",
        "remove-during=0",
        "slow=0",
        "mute=1",
        "corrupt",
        "corrupt=0",
        "corrupt=2:bits",
        "corrupt=sometimes",
    ],
)
def test_bad_specs_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_faults(text)
    assert info.value.exit_code == ExitCode.USAGE


# -- each fault, through the driver -------------------------------------------------------
@pytest.mark.parametrize("profile", ["ningbo-gen2", "ningbo-gen3"])
def test_remove_after_every_apdu_is_card_removed(profile: str) -> None:
    total = apdus_of_a_read(profile)
    assert total > 10
    for n in range(total):
        card = FaultyCard(stock_card(profile), f"remove-after={n}")
        with pytest.raises(CardRemovedError) as info:
            read(card, profile)
        assert info.value.exit_code == ExitCode.NO_CARD
        assert card.answered == n and card.pulled
    assert read(FaultyCard(stock_card(profile), f"remove-after={total}"), profile).holder


@pytest.mark.parametrize("profile", ["ningbo-gen2", "ningbo-gen3"])
def test_remove_during_every_apdu_is_card_removed(profile: str) -> None:
    for n in range(1, apdus_of_a_read(profile) + 1):
        card = FaultyCard(stock_card(profile), f"remove-during={n}")
        with pytest.raises(CardRemovedError):
            read(card, profile)
        assert card.apdus == n and card.answered == n - 1


def test_a_pulled_card_stays_gone() -> None:
    card = FaultyCard(stock_card(), "remove-after=0")
    card.power_on()
    with pytest.raises(CardPulled):
        card.process(bytes.fromhex("00A40000023F00"))
    card.power_off()  # never raises: the bridge powers a card off after any disconnect
    with pytest.raises(CardPulled):
        _ = card.atr
    with pytest.raises(CardPulled):
        card.power_on()
    with pytest.raises(CardPulled):
        card.reset()


def test_remove_during_executes_the_command() -> None:
    """The write is made, but the terminal never hears the answer."""
    inner = stock_card()
    card = FaultyCard(inner, "remove-during=3")
    card.power_on()
    card.process(bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF"))
    card.process(bytes.fromhex("00A4040006D15600000503"))
    before = inner.image.persistent["pin_tries_left"]
    with pytest.raises(CardPulled):
        card.process(bytes.fromhex("0020000003999999"))  # a wrong PIN
    assert inner.image.persistent["pin_tries_left"] == before - 1


def test_mute_card_is_mute() -> None:
    card = FaultyCard(stock_card(), "mute")
    assert card.atr == b""  # what vpcd is told: no card there
    with pytest.raises(MuteCardError) as info:
        read(card)
    assert isinstance(info.value, CardMute)
    assert info.value.exit_code == ExitCode.NO_CARD


@pytest.mark.parametrize("profile", ["ningbo-gen2", "ningbo-gen3"])
@pytest.mark.parametrize("baud", [9600, 38400])
def test_slow_card_spends_12_etu_per_byte(profile: str, baud: int) -> None:
    slept: list[float] = []
    card = FaultyCard(stock_card(profile), f"slow={baud}", sleep=slept.append)
    with VirtualTransport(card) as transport:
        driver = SocialSecurityCard(transport)
        sam = open_security_module("software") if profile == "ningbo-gen3" else None
        record = driver.read(sam=sam)
        stats = driver.session.stats
    assert record == read(stock_card(profile), profile)  # slow, not wrong
    on_wire = stats.bytes_total + len(card.atr)
    assert sum(slept) == pytest.approx(on_wire * 12 / baud)
    assert card.wire_time == pytest.approx(sum(slept))
    assert len(slept) == stats.apdus + 1  # every APDU, and the ATR
    assert wire_seconds(1, 9600) == pytest.approx(0.00125)  # 1.25 ms a byte


@pytest.mark.parametrize("profile", ["ningbo-gen2", "ningbo-gen3"])
def test_garbage_status_word_on_any_response_is_corrupt(profile: str) -> None:
    for n in range(1, apdus_of_a_read(profile) + 1):
        for seed in range(3):
            card = FaultyCard(stock_card(profile), f"corrupt={n}:sw,seed={seed}")
            with pytest.raises(CorruptResponseError) as info:
                read(card, profile)
            assert info.value.exit_code == ExitCode.NO_CARD
    with pytest.raises(CorruptResponseError):
        read(FaultyCard(stock_card(profile), "corrupt=every:sw"), profile)


def test_damage_is_deterministic_and_changes_one_byte() -> None:
    response = bytes.fromhex("0A0131") + b"\x90\x00"
    for seed in range(50):
        one = damage(response, "byte", random.Random(seed))
        assert one == damage(response, "byte", random.Random(seed))
        assert sum(a != b for a, b in zip(one, response, strict=True)) == 1
        data = damage(response, "data", random.Random(seed))
        assert data[-2:] == b"\x90\x00" and data[:-2] != response[:-2]
        sw = damage(response, "sw", random.Random(seed))
        assert sw[:-2] == response[:-2] and sw[-2] >> 4 not in (6, 9)
    assert damage(b"\x90\x00", "data", random.Random(0))[0] >> 4 not in (6, 9)


class _FlipBit:
    """Flips one bit of one response: the smallest damage a response can take."""

    def __init__(self, card: CardOS, n: int, position: int, bit: int) -> None:
        self.card, self.n, self.position, self.mask = card, n, position, 1 << bit
        self.count = 0
        self.atr = card.atr

    def power_on(self) -> bytes:
        return self.card.power_on()

    def power_off(self) -> None:
        self.card.power_off()

    def reset(self) -> bytes:
        return self.card.reset()

    def process(self, command: bytes) -> bytes:
        response = bytearray(self.card.process(command))
        self.count += 1
        if self.count == self.n and self.position < len(response):
            response[self.position] ^= self.mask
        return bytes(response)


def _single_bit_outcomes(
    *, verify_reads: bool = False
) -> Iterator[tuple[str, int, int, int, CardholderRecord | None]]:
    """(outcome, APDU number, byte, bit, record) for every single-bit flip of every
    response of a full 2.0 read; outcome is an error class name, "same" or "WRONG"."""
    good = read(stock_card())
    lengths: list[int] = []

    class Lengths(_FlipBit):
        def process(self, command: bytes) -> bytes:
            response = self.card.process(command)
            lengths.append(len(response))
            return response

    read(Lengths(stock_card(), 0, 0, 0), verify_reads=verify_reads)
    for n, length in enumerate(lengths, 1):
        for position in range(length):
            for bit in range(8):
                try:
                    record = read(
                        _FlipBit(stock_card(), n, position, bit), verify_reads=verify_reads
                    )
                except SscardError as exc:
                    yield type(exc).__name__, n, position, bit, None
                    continue
                yield ("same" if record == good else "WRONG"), n, position, bit, record


def test_verified_reads_turn_every_single_bit_damage_into_an_error() -> None:
    """With verify_reads (every item read twice), no damaged byte gives a wrong record."""
    outcomes = list(_single_bit_outcomes(verify_reads=True))
    wrong = [(n, p, b) for outcome, n, p, b, _ in outcomes if outcome == "WRONG"]
    assert not wrong, f"{len(wrong)} single-bit flips read as a wrong record"
    assert sum(1 for o in outcomes if o[0] == "CorruptResponseError") > len(outcomes) // 2


IDENTITY = ("id_number", "name")
ISSUER_IDENTITY = ("card_id_code", "card_number")


def test_default_reads_never_give_a_wrong_identity() -> None:
    """Without verify_reads, the checks of the standards (check digits, code lists,
    real dates, cross-checks with the ATR and the ID number) and the double read
    of the name leave no damaged byte that changes who the card belongs to: the
    ID number, the name, the card number and the card identification code. What
    can still pass unnoticed is a damaged byte that keeps a valid date or code
    in an item without redundancy (see docs/faults-and-tearing.md)."""
    good = read(stock_card())
    assert good.holder is not None
    wrong_identity = []
    for outcome, n, p, b, record in _single_bit_outcomes():
        if outcome != "WRONG" or record is None:
            continue
        assert record.holder is not None
        if any(getattr(record.holder, k) != getattr(good.holder, k) for k in IDENTITY) or any(
            getattr(record.issuer, k) != getattr(good.issuer, k) for k in ISSUER_IDENTITY
        ):
            wrong_identity.append((n, p, b))
    assert not wrong_identity, f"{len(wrong_identity)} flips changed the holder's identity"


# -- the bridge drops a pulled card --------------------------------------------------
def test_bridge_drops_a_pulled_card_and_does_not_reconnect() -> None:
    """A fake vpcd: the card answers one APDU, then is pulled at the second; the
    bridge closes the connection and serve_card returns instead of reconnecting."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.settimeout(5)
    events: list[object] = []
    card = FaultyCard(stock_card(), "remove-after=1")
    thread = threading.Thread(
        target=serve_card,
        args=(card,),
        kwargs={"port": port, "reconnect_delay": 0.05, "on_event": events.append},
        daemon=True,
    )
    thread.start()
    try:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(5)
            conn.sendall(frame(b"\x01"))  # power on
            conn.sendall(frame(bytes.fromhex("00A40000023F00")))
            answer = conn.recv(64)
            assert answer[2:][-2:] == b"\x61\x06"
            conn.sendall(frame(bytes.fromhex("00A40000023F00")))
            assert conn.recv(64) == b""  # no answer: the card has gone
        thread.join(5)
        assert not thread.is_alive(), "serve_card kept serving a pulled card"
        listener.settimeout(0.3)
        with pytest.raises(TimeoutError):
            listener.accept()  # and it did not come back
    finally:
        listener.close()
    assert isinstance(events[0], Connected)
    assert isinstance(events[-1], Disconnected) and "pulled" in events[-1].reason
