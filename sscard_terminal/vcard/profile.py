"""Card profiles: validated data files that describe a kind of card.

A profile (``card_profiles/*.yaml``) holds the ATR template, the file tree
with its access rules, the issuer's personalisation data (EF05), the test
person the profile personalises for by default (EF06), the test PIN and the
name of the test key set. It is data, never code: this module validates it
against a schema and turns it into a :class:`~sscard_terminal.vcard.filesystem.FileTree`.

Every validation error names the file and the field, e.g.
``card_profiles/broken.yaml: files.children.2.sfi: Input should be less than or equal to 30``.

Wherever a profile is asked for, a path or a bare name of a shipped profile
(``ningbo-gen2``) is accepted; shipped profiles live in ``card_profiles/`` of
the source tree and in ``sscard_terminal/card_profiles`` of an installed wheel.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sscard_terminal.crypto.keyset import resolve_key_set_path
from sscard_terminal.errors import PersonDataError, ProfileError
from sscard_terminal.shipped import profile_dirs
from sscard_terminal.vcard.access import AccessRule
from sscard_terminal.vcard.filesystem import (
    DFSpec,
    FileSpec,
    FileTree,
    RecordEFSpec,
    RecordStructure,
    TransparentEFSpec,
)
from sscard_terminal.yaml_syntax import describe_yaml_error

SCHEMA_ID = "sscard-profile/1"

#: FCI tag 9F0C, 86 01 xx (card-spec.md "Generations")
ALGORITHM_CODES: dict[str, int] = {"3des": 0x01, "ssf33": 0x02, "sm4": 0x03}

_HEX = re.compile(r"^[0-9A-Fa-f]*$")


def _hex(text: str, what: str) -> bytes:
    compact = "".join(text.split())
    if not _HEX.match(compact) or len(compact) % 2:
        raise ValueError(f"{what} must be hex bytes, got {text!r}")
    return bytes.fromhex(compact)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileNode(_Model):
    """One file of the tree (ISO/IEC 7816-4 clause 7.1)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    kind: Literal["mf", "df", "transparent", "records", "cyclic"]
    fid: str | None = Field(default=None, pattern=r"^[0-9A-Fa-f]{4}$")
    #: DF name as text, encoded in GBK (``sx1.sh.社会保障``)
    df_name: str | None = None
    #: DF name as hex (an AID such as ``D156000005 03``)
    aid: str | None = None
    sfi: int | None = Field(default=None, ge=1, le=30)
    read: str = "always"
    write: str = "never"
    label: str = ""
    algorithm: Literal["3des", "ssf33", "sm4"] | None = None
    size: int | None = Field(default=None, ge=1, le=0x7FFF)
    max_records: int | None = Field(default=None, ge=1, le=254)
    record_size: int | None = Field(default=None, ge=1, le=255)
    tlv: bool = False
    children: list[FileNode] = Field(default_factory=list)

    @field_validator("read", "write")
    @classmethod
    def _rule(cls, value: str) -> str:
        AccessRule.parse(value)
        return value

    @field_validator("aid")
    @classmethod
    def _aid(cls, value: str | None) -> str | None:
        if value is not None:
            raw = _hex(value, "aid")
            if not 5 <= len(raw) <= 16:
                raise ValueError("an AID has 5 to 16 bytes (ISO/IEC 7816-4 clause 12.2.3)")
        return value

    @field_validator("df_name")
    @classmethod
    def _df_name(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                raw = value.encode("gbk")
            except UnicodeEncodeError as exc:
                raise ValueError(f"df_name {value!r} is not GBK-encodable") from exc
            if not 1 <= len(raw) <= 16:
                raise ValueError("a DF name has 1 to 16 bytes (ISO/IEC 7816-4 clause 8.2.1.1)")
        return value

    @model_validator(mode="after")
    def _shape(self) -> FileNode:
        is_df = self.kind in ("mf", "df")
        if is_df:
            for attr in ("sfi", "size", "max_records", "record_size"):
                if getattr(self, attr) is not None:
                    raise ValueError(f"{attr} is for elementary files, not a {self.kind}")
            if self.df_name and self.aid:
                raise ValueError("give either df_name or aid, not both")
            names = [c.name for c in self.children]
            dup = {n for n in names if names.count(n) > 1}
            if dup:
                raise ValueError(f"duplicate child names {sorted(dup)}")
            fids = [c.fid.upper() for c in self.children if c.fid]
            dupf = {f for f in fids if fids.count(f) > 1}
            if dupf:
                raise ValueError(f"duplicate child FIDs {sorted(dupf)}")
            sfis = [c.sfi for c in self.children if c.sfi is not None]
            dups = {s for s in sfis if sfis.count(s) > 1}
            if dups:
                raise ValueError(f"duplicate child SFIs {sorted(dups)}")
        else:
            if self.children:
                raise ValueError("an elementary file has no children")
            if self.df_name or self.aid or self.algorithm:
                raise ValueError("df_name, aid and algorithm are for DFs")
            if self.kind == "transparent" and self.size is None:
                raise ValueError("a transparent EF needs a size")
            if self.kind in ("records", "cyclic") and (
                self.max_records is None or self.record_size is None
            ):
                raise ValueError("a record EF needs max_records and record_size")
            if self.kind == "cyclic" and self.tlv:
                raise ValueError("a cyclic EF holds fixed-size records, not TLV items")
        return self


class AtrTemplate(_Model):
    """ATR = prefix + chip (2 bytes) + region (2 BCD bytes) + serial (4 bytes).

    card-spec.md "ATR": historical bytes 6..13 are the card-level key
    diversification factor, bytes 8-9 carry the first four digits of the region.
    The prefix holds TS, T0 and the interface bytes, then historical bytes 1..5.
    """

    prefix: str
    chip: str = Field(pattern=r"^[0-9A-Fa-f]{4}$")

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        raw = _hex(value, "atr.prefix")
        if not raw or raw[0] not in (0x3B, 0x3F):
            raise ValueError("an ATR starts with TS = 3B or 3F (ISO/IEC 7816-3 clause 8.1)")
        return value


class PinSpec(_Model):
    initial: str = Field(pattern=r"^[0-9]{4,16}$")
    tries: int = Field(ge=1, le=15)


class IssuerSpec(_Model):
    """The issuer's part of EF05 (card-spec.md, EF05 tags 01..07)."""

    region: str = Field(pattern=r"^[0-9]{6}$")
    card_class: str = Field(pattern=r"^[0-9A-Za-z]$")
    spec_version: str = Field(pattern=r"^[0-9]\.[0-9]{2}$")
    init_org: str = Field(pattern=r"^[0-9A-Fa-f]{1,24}$")
    validity_years: int = Field(ge=1, le=50)
    #: first character of generated card numbers (LD/T 32: 8 characters + check)
    card_number_prefix: str = Field(default="A", pattern=r"^[A-Z]$")


class TestCard(_Model):
    """Card-level data for the profile's own test card."""

    serial: str = Field(pattern=r"^[0-9A-Fa-f]{8}$")
    issue_date: dt.date
    card_number: str | None = Field(default=None, pattern=r"^[0-9A-Z]{8,9}$")


class Profile(_Model):
    schema_: Literal["sscard-profile/1"] = Field(alias="schema")
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,40}$")
    description: str
    generation: Literal[2, 3]
    atr: AtrTemplate
    algorithm: Literal["3des", "ssf33", "sm4"]
    key_set: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,40}$")
    pin: PinSpec
    #: failed EXTERNAL AUTHENTICATEs before a key locks (6983)
    key_tries: int = Field(default=5, ge=1, le=15)
    issuer: IssuerSpec
    #: the profile's own test person (name, id_number, sex, ethnic_group, birth_date, birthplace)
    test_person: dict[str, Any]
    test_card: TestCard
    files: FileNode
    #: initial contents other than EF05/EF06: path -> list of hex records, or hex bytes
    contents: dict[str, list[str] | str] = Field(default_factory=dict)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _tree(self) -> Profile:
        if self.files.kind != "mf" or (self.files.fid or "").upper() != "3F00":
            raise ValueError("files: the root must be the MF with fid 3F00")
        tree = build_tree(self)
        for path, content in self.contents.items():
            node = tree.by_path.get(path)
            if node is None:
                raise ValueError(f"contents: no file {path!r} in the tree")
            if isinstance(node, RecordEFSpec):
                if not isinstance(content, list):
                    raise ValueError(f"contents.{path}: a record EF takes a list of records")
                for i, rec in enumerate(content):
                    raw = _hex(rec, f"contents.{path}.{i}")
                    if not 1 <= len(raw) <= node.record_size:
                        raise ValueError(f"contents.{path}.{i}: record of {len(raw)} bytes")
                if len(content) > node.max_records:
                    raise ValueError(f"contents.{path}: more than {node.max_records} records")
            elif isinstance(node, TransparentEFSpec):
                if not isinstance(content, str) or len(_hex(content, path)) > node.size:
                    raise ValueError(f"contents.{path}: hex bytes of at most {node.size}")
            else:
                raise ValueError(f"contents.{path}: a DF has no contents")
        for required in ("MF/SSSE/EF05", "MF/SSSE/EF06"):
            node = tree.by_path.get(required)
            if not isinstance(node, RecordEFSpec) or not node.tlv:
                raise ValueError(f"files: {required} must be a TLV record EF")
        return self

    @property
    def atr_prefix(self) -> bytes:
        return _hex(self.atr.prefix, "atr.prefix")


def _node_to_spec(node: FileNode) -> FileSpec:
    fid = int(node.fid, 16) if node.fid else None
    if node.kind in ("mf", "df"):
        if node.df_name is not None:
            name: bytes | None = node.df_name.encode("gbk")
        elif node.aid is not None:
            name = _hex(node.aid, "aid")
        else:
            name = None
        df = DFSpec(
            name=node.name,
            fid=fid,
            df_name=name,
            algorithm=ALGORITHM_CODES[node.algorithm] if node.algorithm else None,
            label=node.label,
        )
        df.children = [_node_to_spec(c) for c in node.children]
        return df
    read, write = AccessRule.parse(node.read), AccessRule.parse(node.write)
    if node.kind == "transparent":
        assert node.size is not None
        return TransparentEFSpec(
            name=node.name,
            fid=fid,
            sfi=node.sfi,
            read=read,
            write=write,
            label=node.label,
            size=node.size,
        )
    assert node.max_records is not None and node.record_size is not None
    return RecordEFSpec(
        name=node.name,
        fid=fid,
        sfi=node.sfi,
        read=read,
        write=write,
        label=node.label,
        structure=RecordStructure.CYCLIC if node.kind == "cyclic" else RecordStructure.VARIABLE,
        max_records=node.max_records,
        record_size=node.record_size,
        tlv=node.tlv,
    )


def build_tree(profile: Profile) -> FileTree:
    """The file specification of a profile's card."""
    mf = _node_to_spec(profile.files)
    assert isinstance(mf, DFSpec)
    return FileTree(mf)


# -- loading ---------------------------------------------------------------
def resolve_profile_path(ref: str | Path) -> Path:
    """A path as given, or a bare name of a shipped profile (``ningbo-gen2``)."""
    path = Path(ref)
    if path.is_file():
        return path
    name = str(ref)
    if "/" not in name and not name.endswith((".yaml", ".yml")):
        for d in profile_dirs():
            candidate = d / f"{name}.yaml"
            if candidate.is_file():
                return candidate
    known = sorted({p.stem for d in profile_dirs() for p in d.glob("*.yaml")})
    raise ProfileError(
        f"no card profile {name!r}",
        hint=f"give a path or one of: {', '.join(known) or '(none shipped)'}",
    )


def format_validation_error(source: str, exc: ValidationError) -> str:
    """One line per problem: ``file: field.path: message``."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{source}: {loc}: {msg}")
    return "; ".join(lines)


def profile_from_mapping(data: Any, source: str) -> Profile:
    if not isinstance(data, dict):
        raise ProfileError(f"{source}: a profile is a mapping, got {type(data).__name__}")
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(format_validation_error(source, exc)) from None


def load_profile(ref: str | Path) -> Profile:
    """Load and validate a profile by path or bare name."""
    path = resolve_profile_path(ref)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{path}: cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        raise ProfileError(describe_yaml_error(path, exc)) from None
    profile = profile_from_mapping(data, str(path))
    check_test_person(profile, str(path))
    resolve_key_set_path(profile.key_set, relative_to=path.parent)
    return profile


def check_test_person(profile: Profile, source: str) -> None:
    """The profile's test person must pass the same checks as any person."""
    from sscard_terminal.person import Person

    try:
        Person.from_mapping(profile.test_person)
    except PersonDataError as exc:
        raise ProfileError(f"{source}: test_person: {exc}") from None


# -- generic helpers, shared with other kinds of profile (vcard.psam_profile) --------
def tree_from_node(root: FileNode) -> FileTree:
    """The file specification described by a validated root :class:`FileNode`,
    whatever kind of card it belongs to (ISO/IEC 7816-4 clause 7.1)."""
    mf = _node_to_spec(root)
    assert isinstance(mf, DFSpec)
    return FileTree(mf)


def parse_hex(text: str, what: str) -> bytes:
    """Hex bytes from a profile field (spaces allowed); ValueError names ``what``."""
    return _hex(text, what)


def read_yaml(path: Path) -> Any:
    """The data of a YAML file; read and syntax errors become a :class:`ProfileError`
    that names the file."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{path}: cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        raise ProfileError(describe_yaml_error(path, exc)) from None
