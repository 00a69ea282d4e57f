"""PSAM profiles: validated data files that describe a virtual PSAM.

A PSAM is the terminal's secure access module, a second card in the SAM slot
(card-spec.md "PSAM"). Its profile (``card_profiles/psam-*.yaml``) holds the
ATR, the file tree (reusing :class:`~sscard_terminal.vcard.profile.FileNode`),
the contents of its three public files, and the name of the test key set whose
*master* keys the PSAM holds (the PSAM is the holder of the masters; each card
holds only keys diversified from them, :mod:`sscard_terminal.crypto.keyset`).
Which PSAM key ID stands for which card key is the ``psam_key_id`` of each key
in the key set, so card profiles and PSAM profiles share one source.

The files (card-spec.md "PSAM", and the file layout of PBOC-style PSAMs as
public terminal code creates them: EF 0015 and EF 0016 in the MF, EF 0019 in
the application DF):

- MF, selected after reset, named ``sx1.sh.社会保障`` (DES) or
  ``sx2.sh.社会保障`` (SSF33/SM4) in GBK;
- ADF ``DF01``, AID ``D1 56 00 00 05 90`` (``00 A4 04 00 06 D15600000590``),
  which holds the keys;
- EF 0015 (SFI 15, 14 bytes), the public information file. card-spec.md reads
  "issuer + PSAM serial" as 10 bytes at offset 1 (``00 B0 95 01 0A``); the
  financial PSAM's public information file has 14 bytes. Our layout (the
  project's definition, reconciling both):

  ====== ======================================================================
  offset content
  ====== ======================================================================
  0      application type (1 byte)
  1..10  PSAM number, 20 BCD digits: issuer (6-digit region code) + serial (14)
  11     PSAM version
  12     key card type
  13     instruction set version
  ====== ======================================================================

- EF 0016 (SFI 16, 6 bytes): the terminal number, cn 6 (12 BCD digits, right
  padded with F), read with ``00 B0 96 00 06``;
- EF 0019 (SFI 19, 4 bytes) in the ADF: the terminal transaction sequence
  number, big-endian.

Every validation error names the file and the field, as card profiles do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sscard_terminal.codecs.atr import Atr, AtrError
from sscard_terminal.crypto.keyset import resolve_key_set_path
from sscard_terminal.errors import ProfileError
from sscard_terminal.vcard.filesystem import DFSpec, FileTree, TransparentEFSpec
from sscard_terminal.vcard.profile import (
    FileNode,
    format_validation_error,
    parse_hex,
    read_yaml,
    resolve_profile_path,
    tree_from_node,
)

SCHEMA_ID = "sscard-psam-profile/1"

#: the PSAM application's AID (card-spec.md "PSAM")
PSAM_AID = bytes.fromhex("D15600000590")
#: file identifiers and sizes of the PSAM's public files (module docstring)
FID_PUBLIC_INFO, SIZE_PUBLIC_INFO = 0x0015, 14
FID_TERMINAL_NUMBER, SIZE_TERMINAL_NUMBER = 0x0016, 6
FID_SEQUENCE_NUMBER, SIZE_SEQUENCE_NUMBER = 0x0019, 4

_BYTE = r"^[0-9A-Fa-f]{2}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PublicInfo(_Model):
    """The contents of EF 0015, field by field (layout in the module docstring)."""

    application_type: str = Field(default="01", pattern=_BYTE)
    #: the issuing city's 6-digit region code: the first digits of the PSAM number
    issuer: str = Field(pattern=r"^[0-9]{6}$")
    #: the PSAM's own serial: the last 14 digits of the PSAM number
    serial: str = Field(pattern=r"^[0-9]{14}$")
    version: str = Field(default="01", pattern=_BYTE)
    key_card_type: str = Field(default="00", pattern=_BYTE)
    instruction_set: str = Field(default="01", pattern=_BYTE)

    def encode(self) -> bytes:
        """The 14 bytes of EF 0015."""
        return (
            bytes.fromhex(self.application_type)
            + bytes.fromhex(self.issuer + self.serial)
            + bytes.fromhex(self.version + self.key_card_type + self.instruction_set)
        )


class PsamProfile(_Model):
    """A virtual PSAM (card-spec.md "PSAM")."""

    schema_: Literal["sscard-psam-profile/1"] = Field(alias="schema")
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,40}$")
    description: str
    #: the whole ATR as hex (ISO/IEC 7816-3 clause 8)
    atr: str
    #: the test key set whose master keys this PSAM holds
    key_set: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,40}$")
    #: the key type of those keys (DELIVERY SESSION KEY P1 b5-b1; 08 = MAC and
    #: encryption key, the type the card-spec.md flow asks for with P1 = 48)
    key_type: str = Field(default="08", pattern=_BYTE)
    #: path of the application DF (the ADF with AID D15600000590) that holds the keys
    application: str = "MF/DF01"
    public_info: PublicInfo
    #: EF 0016: up to 12 digits (cn 6)
    terminal_number: str = Field(pattern=r"^[0-9]{1,12}$")
    #: EF 0019: the terminal transaction sequence number
    sequence_number: int = Field(default=0, ge=0, le=0xFFFFFFFF)
    files: FileNode

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("atr")
    @classmethod
    def _atr(cls, value: str) -> str:
        raw = parse_hex(value, "atr")
        try:
            Atr.parse(raw)
        except AtrError as exc:
            raise ValueError(f"not a valid ATR: {exc}") from None
        return value

    @field_validator("key_type")
    @classmethod
    def _key_type(cls, value: str) -> str:
        if not 0 < int(value, 16) <= 0x1F:
            raise ValueError("a key type has 5 bits (01..1F): P1 b5-b1 of DELIVERY SESSION KEY")
        return value

    @model_validator(mode="after")
    def _tree(self) -> PsamProfile:
        if self.files.kind != "mf" or (self.files.fid or "").upper() != "3F00":
            raise ValueError("files: the root must be the MF with fid 3F00")
        tree = tree_from_node(self.files)
        adf = tree.by_path.get(self.application)
        if not isinstance(adf, DFSpec) or adf is tree.mf:
            raise ValueError(f"application: no DF {self.application!r} in the tree")
        if adf.df_name != PSAM_AID:
            raise ValueError(f"application: the ADF's aid must be {PSAM_AID.hex().upper()}")
        for df, fid, size in (
            (tree.mf, FID_PUBLIC_INFO, SIZE_PUBLIC_INFO),
            (tree.mf, FID_TERMINAL_NUMBER, SIZE_TERMINAL_NUMBER),
            (adf, FID_SEQUENCE_NUMBER, SIZE_SEQUENCE_NUMBER),
        ):
            ef = df.child_by_fid(fid)
            if not isinstance(ef, TransparentEFSpec) or ef.size != size or ef.sfi != fid & 0x1F:
                raise ValueError(
                    f"files: {df.path} needs a transparent EF {fid:04X} with sfi "
                    f"{fid & 0x1F} and size {size}"
                )
        return self

    # -- derived values -------------------------------------------------------
    @property
    def atr_bytes(self) -> bytes:
        return parse_hex(self.atr, "atr")

    @property
    def key_type_code(self) -> int:
        return int(self.key_type, 16)

    def contents(self) -> dict[str, bytes]:
        """The initial contents of EF 0015, EF 0016 and EF 0019, by path."""
        tree = build_psam_tree(self)
        adf = tree.df_of(self.application)
        digits = self.terminal_number + "F" * (2 * SIZE_TERMINAL_NUMBER - len(self.terminal_number))
        values = (
            (tree.mf, FID_PUBLIC_INFO, self.public_info.encode()),
            (tree.mf, FID_TERMINAL_NUMBER, bytes.fromhex(digits)),
            (adf, FID_SEQUENCE_NUMBER, self.sequence_number.to_bytes(4, "big")),
        )
        out: dict[str, bytes] = {}
        for df, fid, value in values:
            ef = df.child_by_fid(fid)
            assert ef is not None
            out[ef.path] = value
        return out


def build_psam_tree(profile: PsamProfile) -> FileTree:
    """The file specification of a PSAM profile's card."""
    return tree_from_node(profile.files)


# -- loading ---------------------------------------------------------------
def is_psam_profile_data(data: Any) -> bool:
    """Whether parsed profile data claims the PSAM profile schema."""
    return isinstance(data, dict) and data.get("schema") == SCHEMA_ID


def psam_profile_from_mapping(data: Any, source: str) -> PsamProfile:
    """Validate PSAM profile data; errors name ``source`` and the field."""
    if not isinstance(data, dict):
        raise ProfileError(f"{source}: a profile is a mapping, got {type(data).__name__}")
    try:
        return PsamProfile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(format_validation_error(source, exc)) from None


def load_psam_profile(ref: str | Path) -> PsamProfile:
    """Load and validate a PSAM profile by path or bare name (``psam-ningbo``);
    its key set must exist."""
    path = resolve_profile_path(ref)
    profile = psam_profile_from_mapping(read_yaml(path), str(path))
    try:
        resolve_key_set_path(profile.key_set, relative_to=path.parent)
    except ProfileError as exc:
        raise ProfileError(f"{path}: key_set: {exc}") from None
    return profile


def is_psam_profile(ref: str | Path) -> bool:
    """Whether the profile file ``ref`` (a path or a bare name) claims the PSAM schema."""
    return is_psam_profile_data(read_yaml(resolve_profile_path(ref)))
