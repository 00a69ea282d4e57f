"""The wire format (Decimal JSON, canonical JSON, envelopes) and the policy file
as validated data."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from sscard_terminal.center import wire
from sscard_terminal.center.envelope import parse_envelope
from sscard_terminal.center.policy import PolicyError, load_policy
from sscard_terminal.center.refusals import Refusal


def test_numbers_are_decimals_never_floats() -> None:
    data = wire.loads(b'{"a": 12.30, "b": 7, "c": "1.10", "d": 1e2}')
    assert data["a"] == Decimal("12.30") and isinstance(data["a"], Decimal)
    assert data["b"] == 7 and data["d"] == Decimal("100")
    with pytest.raises(wire.WireError):
        wire.loads(b'{"a": NaN}')
    with pytest.raises(wire.WireError):
        wire.loads(b'{"a": Infinity}')
    assert wire.dumps({"x": Decimal("12.30"), "y": Decimal("-0.05")}) == b'{"x":12.30,"y":-0.05}'


def test_decimal_markers_cannot_be_forged_by_text() -> None:
    forged = "\x00" + "0" * 12 + "1.00" + "\x00" + "0" * 12
    out = wire.dumps({"s": forged, "n": Decimal("1.00")})
    assert wire.loads(out) == {"s": forged, "n": Decimal("1.00")}


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.text()
        | st.decimals(allow_nan=False, allow_infinity=False),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
        max_leaves=15,
    )
)
def test_dumps_and_loads_round_trip(value: object) -> None:
    assert wire.loads(wire.dumps(value)) == value


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (Decimal("12.30"), "12.3"),
        (Decimal("1E+2"), "100"),
        (Decimal("-0.0"), "0"),
        (Decimal("0.10"), "0.1"),
        (5, "5"),
        (Decimal("123456789.01"), "123456789.01"),
    ],
)
def test_canonical_numbers(number: Decimal | int, text: str) -> None:
    assert wire.canonical_number(number) == text


def test_canonical_json_sorts_keys_and_keeps_non_ascii() -> None:
    assert wire.canonical({"b": [1, "中"], "a": {"d": None, "c": True}}) == (
        '{"a":{"c":true,"d":null},"b":[1,"中"]}'
    )


def test_envelope_refusals_name_the_field() -> None:
    with pytest.raises(Refusal) as caught:
        parse_envelope({"infno": "1101"})
    assert caught.value.code == "envelope.invalid" and "msgid" in caught.value.en
    with pytest.raises(Refusal) as caught:
        parse_envelope([])
    assert caught.value.code == "envelope.invalid"


def test_the_ningbo_policy_is_valid_data() -> None:
    policy = load_policy("330200")
    assert policy.admdvs == "330200" and policy.cards.first_card_fee == Decimal("25.00")
    assert policy.money.insutypes["310"].pool_ratio["3"] == Decimal("0.80")
    assert load_policy() is policy


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("cards", "fee"), 50.0, "quoted text"),
        (("cards", "first_card_fee"), "60.00", "cannot exceed"),
        (("money", "class_b_selfpay_prop"), "1.5", "between 0 and 1"),
        (("benefits", "max_gap_months"), -1, "greater than or equal"),
        (("admdvs",), "310100", "city_prefix"),
        (("money", "insutypes", "310", "deductible"), "10.001", "2 decimals"),
        (
            ("minors", "relationship_proofs"),
            ["household_register", "birth_certificate"],
            "birth_certificate is not issued by the public security department",
        ),
        (("minors", "relationship_proofs"), ["a letter"], "unknown document"),
        (("calendar", "schedules"), "xx", "no holiday schedules 'xx'"),
    ],
)
def test_a_bad_policy_file_is_refused_naming_the_field(
    tmp_path: Path, path: tuple[str, ...], value: object, message: str
) -> None:
    shipped = Path(__file__).parents[2] / "sscard_terminal/center/policies/330200.yaml"
    data = yaml.safe_load(shipped.read_text(encoding="utf-8"))
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(PolicyError, match=message):
        load_policy(bad)


def test_unknown_policy_area() -> None:
    with pytest.raises(PolicyError, match="999999"):
        load_policy("999999")
