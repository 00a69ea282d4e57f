"""Test key sets and key diversification factors (card-spec.md "PSAM").

A key set file (``card_profiles/keys/<name>.yaml``) holds the master keys a
PSAM would hold, one per card key ID, with the PSAM key ID that stands for
each. A card's own keys are derived from them at personalisation:

    card key = diversify(diversify(master, card factor), city factor)

with the card factor = ATR historical bytes 6..13 and the city factor of the
card's region (Zhejiang rule included), in the order DELIVERY SESSION KEY
lists them. The published test keys in ``card_profiles/keys`` are the only
keys this project knows; real keys never appear anywhere.

Key-set files are found here, for every user (the virtual card's profiles, the
software SAM, the PSAM's key IDs, the key service, the native library): a bare
name is looked up in the shipped ``keys/`` directories, and
``shipped.DEFAULT_KEY_SET`` is the one key set used wherever none is named.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sscard_terminal.crypto.ciphers import BlockCipher
from sscard_terminal.crypto.computations import diversify_levels
from sscard_terminal.errors import ProfileError
from sscard_terminal.shipped import DEFAULT_KEY_SET, profile_dirs
from sscard_terminal.yaml_syntax import describe_yaml_error

#: card key IDs of the SSSE (card-spec.md "Security commands")
IRK, STK, UK, BK, PUK, RK = 0x00, 0x02, 0x04, 0x05, 0x06, 0x0A


class KeyEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[0-9A-Fa-f]{2}$")
    name: str
    psam_key_id: str = Field(pattern=r"^[0-9A-Fa-f]{2}$")
    use: str
    value: str = Field(pattern=r"^[0-9A-Fa-f]{32}$")

    @field_validator("value")
    @classmethod
    def _not_weak(cls, value: str) -> str:
        raw = bytes.fromhex(value)
        if raw[:8] == raw[8:]:
            raise ValueError("the two halves of a test key must differ (not single DES)")
        return value


class KeySet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_: Literal["sscard-keyset/1"] = Field(alias="schema")
    name: str
    keys: list[KeyEntry]

    def master(self, key_id: int) -> bytes:
        for entry in self.keys:
            if int(entry.id, 16) == key_id:
                return bytes.fromhex(entry.value)
        raise KeyError(f"key set {self.name} has no key {key_id:02X}")

    def by_psam_id(self, psam_key_id: int) -> KeyEntry:
        for entry in self.keys:
            if int(entry.psam_key_id, 16) == psam_key_id:
                return entry
        raise KeyError(f"key set {self.name} has no PSAM key {psam_key_id:02X}")

    def card_key_ids(self) -> list[int]:
        return [int(e.id, 16) for e in self.keys]


def load_key_set(path: Path) -> KeySet:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return KeySet.model_validate(data)
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read key set: {exc}") from None
    except yaml.YAMLError as exc:
        raise ProfileError(describe_yaml_error(path, exc)) from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ProfileError(f"{path}: {problems}") from None


def resolve_key_set_path(name: str, relative_to: Path | None = None) -> Path:
    """The test key-set file of a bare name (``card_profiles/keys/<name>.yaml``),
    looked up first beside ``relative_to`` (a profile's directory), then in the
    shipped profile directories."""
    dirs = ([relative_to] if relative_to is not None else []) + profile_dirs()
    for d in dirs:
        candidate = d / "keys" / f"{name}.yaml"
        if candidate.is_file():
            return candidate
    raise ProfileError(f"key set {name!r} not found in {', '.join(str(d / 'keys') for d in dirs)}")


def key_set_file(ref: str | None) -> Path:
    """The key-set file an option names: a path when it has a ``/`` or ends in
    ``.yaml``, else the bare name of a shipped key set; the default key
    set (``shipped.DEFAULT_KEY_SET``) when none is given."""
    if ref is not None and ("/" in ref or ref.endswith(".yaml")):
        return Path(ref)
    return resolve_key_set_path(ref or DEFAULT_KEY_SET)


def province_factor(region: str) -> bytes:
    """Level 1: ASCII of the 2-digit province code + "0000" + "sh"."""
    return region[:2].encode("ascii") + b"0000sh"


def city_factor(region: str) -> bytes:
    """Level 2: ASCII of the 6-digit city code + "sx"; for Zhejiang (33xxxx) the
    first 4 digits + "00" + "sx", so every Ningbo card (3302xx) uses "330200sx"."""
    if len(region) != 6 or not region.isdigit():
        raise ValueError("a region code has 6 digits")
    if region.startswith("33"):
        return region[:4].encode("ascii") + b"00sx"
    return region.encode("ascii") + b"sx"


def card_key(cipher: BlockCipher, master: bytes, card_factor: bytes, region: str) -> bytes:
    """A card's key from a master key (card factor, then city factor)."""
    return diversify_levels(cipher, master, [card_factor, city_factor(region)])
