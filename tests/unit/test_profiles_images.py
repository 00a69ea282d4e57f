"""Card profiles (schema, clear errors, lookup by name) and card images (atomic saves)."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from sscard_terminal.codecs.id_number import make_id_number
from sscard_terminal.errors import PersonDataError, ProfileError
from sscard_terminal.shipped import profile_dirs
from sscard_terminal.vcard.cardos import CardOS
from sscard_terminal.vcard.factory import card_from_image, new_image, write_new_image
from sscard_terminal.vcard.image import CardImage, ImageFile
from sscard_terminal.vcard.profile import load_profile, resolve_profile_path

SHIPPED = Path(__file__).resolve().parents[2] / "card_profiles"


def profile_data(name: str = "ningbo-gen2") -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((SHIPPED / f"{name}.yaml").read_text(encoding="utf-8"))
    return data


def write_profile(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "custom.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    (tmp_path / "keys").mkdir(exist_ok=True)
    (tmp_path / "keys" / "ningbo-test-keys.yaml").write_text(
        (SHIPPED / "keys" / "ningbo-test-keys.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    return path


@pytest.mark.parametrize("name", ["ningbo-gen2", "ningbo-gen3"])
def test_shipped_profiles_load_by_name_and_path(name: str) -> None:
    by_name = load_profile(name)
    by_path = load_profile(SHIPPED / f"{name}.yaml")
    assert by_name == by_path
    assert by_name.issuer.region == "330200"
    assert by_name.generation == (2 if name.endswith("2") else 3)


def test_unknown_profile_names_the_choices() -> None:
    with pytest.raises(ProfileError) as err:
        resolve_profile_path("ningbo-gen9")
    assert "ningbo-gen2" in err.value.one_line() and "ningbo-gen3" in err.value.one_line()
    assert profile_dirs()


def mutate(data: dict[str, Any], path: list[str | int], value: object) -> dict[str, Any]:
    node: Any = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


# (mutation path, value, text the error must hold)
BROKEN = [
    (["files", "children", 1, "children", 1, "sfi"], 40, "files.children.1.children.1.sfi"),
    (["files", "children", 1, "children", 2, "read"], "sometimes", "unknown access condition"),
    (["atr", "prefix"], "3A 00", "TS = 3B or 3F"),
    (["pin", "tries"], 0, "pin.tries"),
    (["issuer", "region"], "33020", "issuer.region"),
    (["files", "fid"], "3F01", "the root must be the MF"),
    (["contents", "MF/SSSE/NOPE"], ["00"], "no file 'MF/SSSE/NOPE'"),
    (["files", "children", 1, "children", 1, "kind"], "transparent", "needs a size"),
    (["generation"], 4, "generation"),
    (["surprise"], True, "surprise"),
]


@pytest.mark.parametrize(("path", "value", "expected"), BROKEN, ids=[b[2] for b in BROKEN])
def test_broken_profiles_name_file_and_field(
    tmp_path: Path, path: list[str | int], value: object, expected: str
) -> None:
    file = write_profile(tmp_path, mutate(profile_data(), path, value))
    with pytest.raises(ProfileError) as err:
        load_profile(file)
    message = str(err.value)
    assert str(file) in message
    assert expected in message


def test_profile_test_person_is_validated(tmp_path: Path) -> None:
    data = profile_data()
    data["test_person"]["id_number"] = data["test_person"]["id_number"][:-1] + "0"
    file = write_profile(tmp_path, data)
    with pytest.raises(ProfileError) as err:
        load_profile(file)
    assert "test_person" in str(err.value) and str(file) in str(err.value)


def test_missing_key_set_is_refused(tmp_path: Path) -> None:
    file = write_profile(tmp_path, mutate(profile_data(), ["key_set"], "no-such-keys"))
    with pytest.raises(ProfileError, match="no-such-keys"):
        load_profile(file)


def test_not_yaml(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("files: [unclosed", encoding="utf-8")
    with pytest.raises(ProfileError, match="line 1, column 17: YAML syntax error"):
        load_profile(bad)


def person_file(tmp_path: Path, **overrides: object) -> Path:
    data: dict[str, object] = {
        "name": "马・丽",  # a look-alike dot (U+30FB)
        "id_number": make_id_number("330206", dt.date(2001, 1, 31), "362"),
        "ethnic_group": "04",
        "birthplace": "330206",
        "card": {"serial": "0BADCAFE", "issue_date": "2025-01-02"},
    }
    data.update(overrides)
    path = tmp_path / "person.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_person_file_builds_a_card(tmp_path: Path) -> None:
    image = new_image("ningbo-gen3", person_file(tmp_path))
    records = cast(tuple[bytes, ...], image.contents["MF/SSSE/EF06"])  # EF06 is a record EF
    ef06 = dict((rec[0], rec) for rec in records)
    assert ef06[0x09][2:].rstrip(b"\x00").decode("gbk") == "马·丽"  # normalised dot
    assert image.atr.endswith(bytes.fromhex("0BADCAFE"))


@pytest.mark.parametrize(
    ("override", "text"),
    [
        ({"sex": "1"}, "sex"),  # the ID number's 17th digit is even: female
        ({"birth_date": "2001-02-01"}, "birth"),
        ({"name": "王\U0001f600"}, "U+1F600"),
        ({"id_number": "33020620010131362X"}, "check"),
        ({"nickname": "x"}, "nickname"),
    ],
)
def test_bad_person_files_are_refused(
    tmp_path: Path, override: dict[str, object], text: str
) -> None:
    path = person_file(tmp_path, **override)
    with pytest.raises(PersonDataError) as err:
        new_image("ningbo-gen2", path)
    assert text.lower() in str(err.value).lower()
    assert str(path) in str(err.value)


def test_image_round_trip_and_persistent_writes(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    write_new_image(path, "ningbo-gen2", person_file(tmp_path))
    card = card_from_image(path)
    card.process(bytes.fromhex("00A4040C0F7378312E73682EC9E7BBE1B1A3D5CF"))
    card._grant("key:04")  # card security is its own layer
    assert card.process(bytes.fromhex("00DC0B3003" + "0B0105")) == b"\x90\x00"
    # a new process (a restart of the serving process) sees the write
    again = card_from_image(path)
    again.process(bytes.fromhex("00A4040C0F7378312E73682EC9E7BBE1B1A3D5CF"))
    assert again.process(bytes.fromhex("00B20B3003")) == bytes.fromhex("0B01059000")
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_serving_removes_temporaries_of_killed_saves(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    write_new_image(path, "ningbo-gen2", person_file(tmp_path))
    stale = tmp_path / ".card.json.abc123.tmp"
    stale.write_text("half a save", encoding="utf-8")
    other = tmp_path / ".other.json.abc123.tmp"
    other.write_text("not ours", encoding="utf-8")
    card_from_image(path)
    assert not stale.exists() and other.exists()


def test_failed_save_leaves_card_and_file_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    write_new_image(path, "ningbo-gen2", person_file(tmp_path))
    before = path.read_bytes()

    class FullDisk(ImageFile):
        def save(self, image: CardImage) -> None:
            raise OSError(28, "No space left on device")

    card = CardOS(ImageFile(path).load(), FullDisk(path))
    card.process(bytes.fromhex("00A4040C0F7378312E73682EC9E7BBE1B1A3D5CF"))
    card._grant("key:04")
    assert card.process(bytes.fromhex("00DC0B3003" + "0B0105")) == b"\x65\x81"
    assert card.process(bytes.fromhex("00B20B3003")) == bytes.fromhex("0B01049000")  # old value
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d.update(format="something-else"),
        lambda d: d["contents"].update({"MF/SSSE/EF06": {"records": ["zz"]}}),
        lambda d: d["contents"].update({"MF/NOPE": {"records": []}}),
        lambda d: d["profile"].pop("files"),
    ],
    ids=["format", "hex", "path", "profile"],
)
def test_damaged_images_are_refused(tmp_path: Path, damage: Callable[[Any], object]) -> None:
    path = tmp_path / "card.json"
    write_new_image(path, "ningbo-gen2", person_file(tmp_path))
    data = json.loads(path.read_text(encoding="utf-8"))
    damage(data)
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ProfileError) as err:
        ImageFile(path).load()
    assert str(path) in str(err.value)


def test_truncated_image_file(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    write_new_image(path, "ningbo-gen2", person_file(tmp_path))
    with open(path, "r+b") as fh:
        fh.truncate(os.path.getsize(path) // 2)
    with pytest.raises(ProfileError, match="damaged"):
        ImageFile(path).load()


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (lambda d: d["contents"]["MF/SSSE/EF05"].update(records=[]), "card number (tag 07)"),
        (
            lambda d: d["contents"]["MF/SSSE/EF06"].update(
                records=[r for r in d["contents"]["MF/SSSE/EF06"]["records"] if r[:2] != "08"]
            ),
            "social security number (tag 08)",
        ),
        (
            lambda d: d["contents"]["MF/SSSE/EF05"]["records"].__setitem__(0, "0103AABBCC"),
            "card identification code",
        ),
        (lambda d: d["persistent"].pop("pin_digest"), "pin_digest"),
    ],
    ids=["ef05-removed", "id-number-removed", "short-item", "no-pin"],
)
def test_images_that_do_not_match_their_profile_are_refused(
    tmp_path: Path, damage: Callable[[Any], object], said: str
) -> None:
    from click.testing import CliRunner

    from sscard_terminal.cli.main import cli

    path = tmp_path / "card.json"
    write_new_image(path, "ningbo-gen3", person_file(tmp_path))
    data = json.loads(path.read_text(encoding="utf-8"))
    damage(data)
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ProfileError) as err:
        ImageFile(path).load()
    assert str(path) in str(err.value) and said in str(err.value)
    # `card serve` refuses it before it connects to anything: exit 2, one line
    result = CliRunner().invoke(cli, ["card", "serve", "--image", str(path)])
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1 and said in result.output
    assert "serving" not in result.output
