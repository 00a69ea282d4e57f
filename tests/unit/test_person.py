"""Unit and property tests of sscard_terminal.person (EF06, LD/T 32-2015)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sscard_terminal.codecs.id_number import make_id_number
from sscard_terminal.codecs.records import EF06_ITEMS, decode_value, encode_value
from sscard_terminal.errors import PersonDataError
from sscard_terminal.person import Person, normalise_name, split_name_gbk

MALE_ID = "330203199001011236"  # card-spec.md; 17th digit 3: male, born 1990-01-01
FEMALE_ID = make_id_number("330212", dt.date(1985, 6, 30), "042")


def _person(**overrides: object) -> Person:
    data: dict[str, object] = {
        "name": "张三",
        "id_number": MALE_ID,
        "ethnic_group": "01",
        "birthplace": "330203",
    }
    data.update(overrides)
    return Person.from_mapping(data)


def test_create_derives_sex_and_birth_date() -> None:
    person = Person.create("张三", MALE_ID, ethnic_group="01", birthplace="330203")
    assert person.sex == "1"
    assert person.birth_date == dt.date(1990, 1, 1)
    female = Person.create("李四", FEMALE_ID, ethnic_group=1, birthplace="330212")
    assert female.sex == "2"
    assert female.birth_date == dt.date(1985, 6, 30)
    assert female.ethnic_group == "01"


def test_create_normalises_id_number_and_name() -> None:
    person = Person.create(
        "  张三\u3000", " 11010519491231002x", ethnic_group="01", birthplace="110105"
    )
    assert person.name == "张三"
    assert person.id_number == "11010519491231002X"


@pytest.mark.parametrize("sex", ["1", "male", "Male", "男", 1])
def test_sex_forms_male(sex: object) -> None:
    assert _person(sex=sex).sex == "1"


@pytest.mark.parametrize("sex", ["2", "female", "FEMALE", "女"])
def test_sex_forms_female(sex: object) -> None:
    assert _person(id_number=FEMALE_ID, birthplace="330212", sex=sex).sex == "2"


def test_sex_disagreement_refused() -> None:
    with pytest.raises(PersonDataError, match="sex does not agree") as info:
        _person(sex="female")
    assert MALE_ID not in str(info.value)
    assert "330203********1236" in str(info.value)


def test_sex_unknown_value_refused() -> None:
    with pytest.raises(PersonDataError, match="sex: 'x'"):
        _person(sex="x")


@pytest.mark.parametrize("born", ["1990-01-01", "19900101", dt.date(1990, 1, 1)])
def test_birth_date_forms(born: object) -> None:
    assert _person(birth_date=born).birth_date == dt.date(1990, 1, 1)


def test_birth_date_disagreement_refused() -> None:
    with pytest.raises(PersonDataError, match="birth_date does not agree") as info:
        _person(birth_date="1990-01-02")
    assert MALE_ID not in str(info.value)


@pytest.mark.parametrize("born", ["1990-02-30", "1990/01/01", "1990-1-1", "199001011"])
def test_birth_date_bad_text_refused(born: str) -> None:
    with pytest.raises(PersonDataError, match="birth_date"):
        _person(birth_date=born)


@pytest.mark.parametrize(
    "bad_id",
    ["330203199001011235", "330203199002301230", "33020329990101123X", "12345"],
)
def test_bad_id_number_refused(bad_id: str) -> None:
    with pytest.raises(PersonDataError, match="ID number") as info:
        _person(id_number=bad_id)
    assert bad_id not in str(info.value)


@pytest.mark.parametrize("dot", ["\u30fb", "\u2022", "\u2027", "\u2219", "\u22c5", "\uff65"])
def test_middle_dot_look_alikes_normalised(dot: str) -> None:
    person = _person(name=f"阿依古丽{dot}买买提")
    assert person.name == "阿依古丽\u00b7买买提"
    assert encode_value("name", person.name)[8:10] == b"\xa1\xa4"


def test_other_dots_not_normalised() -> None:
    assert normalise_name("A．B") == "A．B"  # full-width full stop is not a middle dot


@pytest.mark.parametrize(
    ("name", "char", "code"),
    [("张\U00020000", "\U00020000", "U+20000"), ("张三\U0001f600", "\U0001f600", "U+1F600")],
)
def test_name_not_gbk_refused_naming_the_character(name: str, char: str, code: str) -> None:
    with pytest.raises(PersonDataError, match=re.escape(code)) as info:
        _person(name=name)
    message = str(info.value)
    assert char in message
    assert name not in message


@pytest.mark.parametrize("name", ["", "   ", "\u3000"])
def test_empty_name_refused(name: str) -> None:
    with pytest.raises(PersonDataError, match="name: must not be empty"):
        _person(name=name)


def test_control_character_in_name_refused() -> None:
    with pytest.raises(PersonDataError, match="U\\+0000"):
        _person(name="张\x00三")


def test_double_byte_character_straddling_30_bytes_goes_to_4e() -> None:
    name = "a" + "张" * 15  # 31 bytes: the 15th 张 would take bytes 30 and 31
    head, rest = split_name_gbk(name)
    assert (head, rest) == ("a" + "张" * 14, "张")
    assert len(head.encode("gbk")) == 29
    raw09 = encode_value("name", head)
    assert raw09[-1:] == b"\x00"
    assert (
        decode_value("name", raw09) + decode_value("name_ext", encode_value("name_ext", rest))
        == name
    )


def test_name_exactly_50_bytes() -> None:
    assert split_name_gbk("张" * 25) == ("张" * 15, "张" * 10)
    assert _person(name="张" * 25).name == "张" * 25


def test_name_too_long_refused() -> None:
    # 50 bytes, but the straddling character pushes 21 bytes into tag 4E
    with pytest.raises(PersonDataError, match="too long") as info:
        _person(name="a" + "张" * 24 + "b")
    assert "张" * 2 not in str(info.value)
    with pytest.raises(PersonDataError, match="too long"):
        _person(name="张" * 26)


@pytest.mark.parametrize("code", ["01", "56", "97", "98", 7, "7"])
def test_ethnic_group_accepted(code: object) -> None:
    assert _person(ethnic_group=code).ethnic_group == str(code).zfill(2)


@pytest.mark.parametrize("code", ["00", "57", "96", "99", "abc", "001", True])
def test_ethnic_group_refused(code: object) -> None:
    with pytest.raises(PersonDataError, match="ethnic_group"):
        _person(ethnic_group=code)


@pytest.mark.parametrize("place", ["33020", "3302031", "990203", "abcdef", 330203])
def test_birthplace_refused(place: object) -> None:
    with pytest.raises(PersonDataError, match="birthplace"):
        _person(birthplace=place)


def test_from_mapping_unknown_keys_named() -> None:
    with pytest.raises(PersonDataError, match="unknown keys nickname, zodiac"):
        _person(nickname="x", zodiac="horse")


def test_from_mapping_missing_keys_named() -> None:
    with pytest.raises(PersonDataError, match="missing keys birthplace, name"):
        Person.from_mapping({"id_number": MALE_ID, "ethnic_group": "01"})


def test_mapping_round_trip() -> None:
    person = _person(birth_date="19900101", sex="男")
    mapping = person.to_mapping()
    assert mapping == {
        "name": "张三",
        "id_number": MALE_ID,
        "sex": "1",
        "ethnic_group": "01",
        "birth_date": "1990-01-01",
        "birthplace": "330203",
    }
    assert Person.from_mapping(mapping) == person


def test_direct_construction_validates() -> None:
    with pytest.raises(PersonDataError, match="sex does not agree"):
        Person("张三", MALE_ID, "2", "01", dt.date(1990, 1, 1), "330203")
    person = Person("张三", MALE_ID, "male", "01", dt.date(1990, 1, 1), "330203")
    assert person.sex == "1"


def test_repr_and_str_are_masked() -> None:
    person = _person(name="张三丰")
    for text in (repr(person), str(person)):
        assert MALE_ID not in text
        assert "张三丰" not in text
        assert "19900101" not in text and "1990-01-01" not in text
        assert "330203********1236" in text
        assert "张**" in text


def test_ef06_texts_encode_into_every_item() -> None:
    person = _person(name="a" + "张" * 15)
    texts = person.ef06_texts()
    assert set(texts) == {spec.key for spec in EF06_ITEMS}
    assert texts["name_ext"] == "张"
    assert texts["birth_date"] == "19900101"
    for spec in EF06_ITEMS:
        raw = encode_value(spec, texts[spec.key])
        assert decode_value(spec, raw) == texts[spec.key]


def _gbk_char(char: str) -> bool:
    try:
        return char != "\x00" and char.encode("gbk").decode("gbk") == char
    except UnicodeError:
        return False


@given(st.text(st.characters().filter(_gbk_char), min_size=1, max_size=30))
def test_split_name_never_splits_a_character(name: str) -> None:
    size = len(name.encode("gbk"))
    try:
        head, rest = split_name_gbk(name)
    except PersonDataError:
        assert size > 30 + 20 - 1  # only names of 50 bytes or more can fail
        return
    assert head + rest == name
    assert len(head.encode("gbk")) <= 30
    assert len(rest.encode("gbk")) <= 20
    if rest:
        assert len(head.encode("gbk")) >= 29
