"""The vpcd framer, fed bytes without any socket."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sscard_terminal.vcard.echo import ECHO_ATR, EchoCard
from sscard_terminal.vpcd.framing import (
    Apdu,
    GetAtr,
    PowerOff,
    PowerOn,
    Reset,
    UnknownControl,
    VpcdEvent,
    VpcdFramer,
    frame,
    handle,
    parse_message,
)

SELECT_MF = bytes.fromhex("00A40000023F00")


def events_of(*chunks: bytes) -> list[VpcdEvent]:
    framer = VpcdFramer()
    events: list[VpcdEvent] = []
    for chunk in chunks:
        framer.feed(chunk)
        events.extend(framer)
    return events


@pytest.mark.parametrize(
    ("code", "event"),
    [(0x00, PowerOff()), (0x01, PowerOn()), (0x02, Reset()), (0x04, GetAtr())],
)
def test_control_codes(code: int, event: VpcdEvent) -> None:
    assert events_of(bytes([0x00, 0x01, code])) == [event]


@pytest.mark.parametrize("code", [0x03, 0x05, 0x7F, 0xFF])
def test_unknown_control_code(code: int) -> None:
    assert events_of(bytes([0x00, 0x01, code])) == [UnknownControl(code)]


def test_apdu() -> None:
    assert events_of(b"\x00\x07" + SELECT_MF) == [Apdu(SELECT_MF)]


def test_two_byte_message_is_an_apdu_not_a_control_code() -> None:
    assert events_of(b"\x00\x02\x00\x01") == [Apdu(b"\x00\x01")]


def test_empty_message_is_an_empty_apdu() -> None:
    assert parse_message(b"") == Apdu(b"")


def test_several_messages_in_one_chunk() -> None:
    stream = frame(b"\x01") + frame(b"\x04") + frame(SELECT_MF) + frame(b"\x02") + frame(b"\x00")
    assert events_of(stream) == [PowerOn(), GetAtr(), Apdu(SELECT_MF), Reset(), PowerOff()]


def test_partial_message_waits_for_the_rest() -> None:
    framer = VpcdFramer()
    framer.feed(b"\x00")
    assert framer.next_event() is None
    framer.feed(b"\x07\x00\xa4")
    assert list(framer) == []
    assert framer.pending == 4
    framer.feed(SELECT_MF[2:] + b"\x00\x01")
    assert list(framer) == [Apdu(SELECT_MF)]
    assert framer.pending == 2
    framer.feed(b"\x04")
    assert list(framer) == [GetAtr()]
    assert framer.pending == 0


def test_longest_message() -> None:
    command = bytes(range(256)) * 255 + bytes(255)  # 65535 bytes
    assert events_of(frame(command)) == [Apdu(command)]


def test_frame() -> None:
    assert frame(b"\x90\x00") == b"\x00\x02\x90\x00"
    assert frame(b"") == b"\x00\x00"
    assert frame(bytes(300))[:2] == b"\x01\x2c"


def test_frame_refuses_an_oversize_payload() -> None:
    with pytest.raises(ValueError, match="65535"):
        frame(bytes(0x10000))


def test_apdu_repr_hides_the_data() -> None:
    verify = bytes.fromhex("0020000003123456")
    assert "123456" not in repr(Apdu(verify))


messages = st.lists(
    st.one_of(
        st.integers(0, 255).map(lambda code: bytes([code])),
        st.binary(min_size=2, max_size=300),
    ),
    max_size=20,
)


@given(payloads=messages, data=st.data())
def test_arbitrary_split_yields_the_same_events(payloads: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(frame(p) for p in payloads)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=30)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    assert events_of(*chunks) == [parse_message(p) for p in payloads]


@given(payloads=messages)
def test_byte_by_byte(payloads: list[bytes]) -> None:
    stream = b"".join(frame(p) for p in payloads)
    assert events_of(*(stream[i : i + 1] for i in range(len(stream)))) == [
        parse_message(p) for p in payloads
    ]


class CountingCard(EchoCard):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def power_on(self) -> bytes:
        self.calls.append("on")
        return super().power_on()

    def power_off(self) -> None:
        self.calls.append("off")

    def reset(self) -> bytes:
        self.calls.append("reset")
        return super().reset()

    def process(self, command: bytes) -> bytes:
        self.calls.append(command.hex())
        return super().process(command)


def test_handle_against_echo_card() -> None:
    card = EchoCard()
    assert handle(card, GetAtr()) == frame(ECHO_ATR)
    assert handle(card, Apdu(SELECT_MF)) == b"\x00\x02\x90\x00"
    for silent in (PowerOn(), PowerOff(), Reset(), UnknownControl(0x42)):
        assert handle(card, silent) is None


def test_handle_applies_power_events() -> None:
    card = CountingCard()
    replies = [handle(card, e) for e in events_of(b"\x00\x01\x01\x00\x01\x02\x00\x01\x00")]
    assert replies == [None, None, None]
    assert card.calls == ["on", "reset", "off"]


def test_handle_leaves_the_card_alone_on_unknown_codes() -> None:
    card = CountingCard()
    assert handle(card, UnknownControl(0x03)) is None
    assert card.calls == []
