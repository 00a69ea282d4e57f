"""The demo data file (policies/demo/ningbo.yaml): shipped, validated on load,
and a broken file is refused with the file and the field named."""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from sscard_terminal.center.seed.demo_data import (
    SITUATIONS,
    DemoDataError,
    load_demo_data,
)


def _shipped() -> dict[str, Any]:
    text = (
        resources.files("sscard_terminal.center") / "policies" / "demo" / "ningbo.yaml"
    ).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def test_the_shipped_demo_data_loads() -> None:
    data = load_demo_data()
    assert [p.key for p in data.persons] == list(SITUATIONS)
    assert data.institutions[0].fixmedins_code == "H33020300001"
    assert all(i.secret is None for i in data.institutions)
    normal = data.persons[0]
    assert (normal.name, normal.region, normal.seq) == ("张三", "330203", 123)
    assert len({c.list_code for c in data.catalogue}) == len(data.catalogue) > 0


def _set(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    node: Any = data
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("persons", 3, "birth"), "1982-13-05", r"persons\.3\.birth"),
        (("persons", 0, "seq"), 1000, r"persons\.0\.seq"),
        (("persons", 1, "region"), "3302", r"persons\.1\.region"),
        (("persons", 2, "nickname"), "x", r"persons\.2\.nickname"),
        (("persons", 4, "key"), "nobody", r"persons\.4\.key: 'nobody' is not one of"),
        (("persons", 12), _DELETE, r"persons: no person for special_disease"),
        (("institutions", 0, "secret"), "ab" * 32, r"institutions\.0\.secret"),
        (("institutions", 1, "kind"), "clinic", r"institutions\.1\.kind"),
        (("catalogue", 0, "price_cap"), "1.234", r"catalogue\.0\.price_cap"),
        (
            ("catalogue", 1, "list_code"),
            "XJ01CAA040A001010100001",
            r"catalogue\.1\.list_code: .* twice",
        ),
        (("institutions",), [], r"institutions"),
    ],
)
def test_a_broken_demo_data_file_names_the_file_and_field(
    tmp_path: Path, path: tuple[Any, ...], value: Any, message: str
) -> None:
    data = copy.deepcopy(_shipped())
    _set(data, path, value)
    bad = tmp_path / "demo.yaml"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(DemoDataError, match=message) as err:
        load_demo_data(bad)
    assert str(err.value).startswith(f"{bad}: ")


def test_two_demo_persons_with_one_id_number(tmp_path: Path) -> None:
    data = copy.deepcopy(_shipped())
    first, later = data["persons"][0], data["persons"][5]
    later.update(region=first["region"], birth=first["birth"], seq=first["seq"])
    bad = tmp_path / "demo.yaml"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(DemoDataError, match=r"demo\.yaml: persons\.5\.seq: .* twice"):
        load_demo_data(bad)


def test_a_demo_data_file_that_is_not_yaml_or_missing(tmp_path: Path) -> None:
    bad = tmp_path / "demo.yaml"
    bad.write_text("persons:\n  - key: normal\n   name: [\n", encoding="utf-8")
    with pytest.raises(DemoDataError, match=r"demo\.yaml line \d+, column \d+: YAML syntax"):
        load_demo_data(bad)
    with pytest.raises(DemoDataError, match="cannot read"):
        load_demo_data(tmp_path / "missing.yaml")
