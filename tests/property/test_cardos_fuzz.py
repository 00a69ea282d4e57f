"""Property tests: random and mutated APDUs against the virtual card OS.

At least 10,000 APDUs per run (400 examples x at least 25 APDUs, for each
of two security situations). Every answer must be a well-formed response
APDU with a valid status word, and the card's state must stay consistent:

- without security conditions met, nothing on the card may change at all;
- with every security condition met, every record EF still holds records of
  a legal size, TLV EFs hold well-formed TLV items, transparent EFs keep their
  size, and the image still validates and survives a JSON round trip.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sscard_terminal.apdu.status import is_valid_sw
from sscard_terminal.vcard.cardos import CardOS
from sscard_terminal.vcard.filesystem import RecordEFSpec, TransparentEFSpec
from sscard_terminal.vcard.image import CardImage
from tests.virtual_cards import stock_card

#: where a sequence starts: MF, SSSE or DF04 selected
PREFIXES = [
    [],
    [bytes.fromhex("00A4040C0F7378312E73682EC9E7BBE1B1A3D5CF")],
    [
        bytes.fromhex("00A4040C0F7378312E73682EC9E7BBE1B1A3D5CF"),
        bytes.fromhex("00A4040C06D15600000503"),
    ],
]
PROFILES = ("ningbo-gen2", "ningbo-gen3")

SSSE = bytes.fromhex("7378312E73682EC9E7BBE1B1A3D5CF")
CORPUS = [
    bytes.fromhex("00A404000F") + SSSE,
    bytes.fromhex("00A404000F") + SSSE + b"\x00",
    bytes.fromhex("00C000001E"),
    bytes.fromhex("00A40000023F00"),
    bytes.fromhex("00A4020002EF05"),
    bytes.fromhex("00A4020002EF06"),
    bytes.fromhex("00A4040006D15600000503"),
    bytes.fromhex("00A40800043F00DF04"),
    bytes.fromhex("00B2083014"),
    bytes.fromhex("00B2013414"),
    bytes.fromhex("00B2093020"),
    bytes.fromhex("00B2012C12"),
    bytes.fromhex("00B2080000"),
    bytes.fromhex("00B0870010"),
    bytes.fromhex("00D68700020102"),
    bytes.fromhex("00DC0A30030A0132"),
    bytes.fromhex("00DC4E3004" + "4E024142"),
    bytes.fromhex("00DC01340A0108" + "3132333435363738"),
    bytes.fromhex("00E200401C") + bytes(28),
    bytes.fromhex("00B201441C"),
    bytes.fromhex("0084000008"),
    bytes.fromhex("0084000004"),
    bytes.fromhex("00B0000000012C"),
    bytes.fromhex("00D60000000003AABBCC"),
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    base = bytearray(draw(st.sampled_from(CORPUS)))
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["flip", "set", "truncate", "extend", "lc"]))
        if op == "flip" and base:
            i = draw(st.integers(0, len(base) - 1))
            base[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and base:
            i = draw(st.integers(0, len(base) - 1))
            base[i] = draw(st.integers(0, 255))
        elif op == "truncate" and base:
            del base[draw(st.integers(0, len(base) - 1)) :]
        elif op == "extend":
            base += draw(st.binary(min_size=1, max_size=8))
        elif op == "lc" and len(base) > 4:
            base[4] = draw(st.sampled_from([0x00, 0x01, 0xFF, max(0, len(base) - 6)]))
    return bytes(base)


def apdu_strategy() -> st.SearchStrategy[bytes]:
    random_apdus = st.binary(min_size=2, max_size=40)
    structured = st.builds(
        lambda cla, ins, p1, p2, tail: bytes([cla, ins, p1, p2]) + tail,
        st.sampled_from([0x00, 0x80, 0x84, 0x0C, 0xFF, 0x01]),
        st.sampled_from([0xA4, 0xB0, 0xB2, 0xC0, 0xD6, 0xDC, 0xE2, 0x84, 0x20, 0x82, 0x88]),
        st.integers(0, 255),
        st.integers(0, 255),
        st.binary(max_size=60),
    )
    # mutated known commands dominate: they reach deep into the handlers
    return st.one_of(random_apdus, structured, mutated(), mutated(), mutated(), mutated())


def check_consistent(card: CardOS) -> None:
    image = card.image
    for ef in image.tree.efs():
        content = image.contents.get(ef.path)
        if isinstance(ef, RecordEFSpec):
            records = content or ()
            assert isinstance(records, tuple) and len(records) <= ef.max_records
            for rec in records:
                assert 1 <= len(rec) <= ef.record_size
                if ef.tlv:
                    assert rec[1] == len(rec) - 2 and rec[0] not in (0x00, 0xFF)
        elif isinstance(ef, TransparentEFSpec) and content is not None:
            assert isinstance(content, bytes) and len(content) == ef.size
    again = CardImage.from_json(image.to_json())
    assert again.contents == image.contents


def answer_ok(response: bytes) -> None:
    assert len(response) >= 2
    assert is_valid_sw(int.from_bytes(response[-2:], "big")), response.hex()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    profile=st.sampled_from(PROFILES),
    prefix=st.sampled_from(PREFIXES),
    apdus=st.lists(apdu_strategy(), min_size=25, max_size=40),
)
def test_without_security_nothing_changes(
    profile: str, prefix: list[bytes], apdus: list[bytes]
) -> None:
    card = stock_card(profile)
    before = dict(card.image.contents)
    for apdu in prefix + apdus:
        answer_ok(card.process(apdu))
    assert card.image.contents == before


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    profile=st.sampled_from(PROFILES),
    prefix=st.sampled_from(PREFIXES),
    apdus=st.lists(apdu_strategy(), min_size=25, max_size=40),
)
def test_with_all_security_state_stays_consistent(
    profile: str, prefix: list[bytes], apdus: list[bytes]
) -> None:
    card = stock_card(profile)
    for apdu in prefix + apdus:
        # every condition met, in whatever DF is current
        for token in ("pin", "key:04", "key:0A", "key:06"):
            card._grant(token)
        answer_ok(card.process(apdu))
    check_consistent(card)
