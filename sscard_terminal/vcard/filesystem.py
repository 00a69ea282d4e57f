"""The specification of a card's files, apart from what they hold.

ISO/IEC 7816-4:2020 clause 7 (files and file structures): a master file (MF),
dedicated files (DF, DDF/ADF) that are selected by file identifier or by name
(clause 7.2.2 / 11.2.2), transparent elementary files and record-structured
elementary files (variable-length and cyclic). This module says what a file
*is* (identifier, structure, access rules); :mod:`sscard_terminal.vcard.image`
says what it *holds*. The tree is built from a validated card profile and is
never changed by the card OS.

Every file has a ``path``: the names of the files from the MF down, joined
with ``/`` (``MF/SSSE/EF05``). Paths key the contents in the card image.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum

from sscard_terminal.vcard.access import AccessRule


class RecordStructure(Enum):
    """ISO/IEC 7816-4 clause 7.3.3: the record structures this card uses."""

    VARIABLE = "variable"  # linear variable-length records (EF05, EF06 of SSSE)
    CYCLIC = "cyclic"  # cyclic fixed-size records (DF04 EF08 transaction log)


@dataclass(eq=False)
class FileSpec:
    name: str
    fid: int | None
    parent: DFSpec | None = field(default=None, repr=False)

    @property
    def path(self) -> str:
        parts: list[str] = []
        node: FileSpec | None = self
        while node is not None:
            parts.append(node.name)
            node = node.parent
        return "/".join(reversed(parts))


@dataclass(eq=False)
class EFSpec(FileSpec):
    sfi: int | None = None
    read: AccessRule = field(default_factory=AccessRule.always)
    write: AccessRule = field(default_factory=AccessRule.never)
    label: str = ""


@dataclass(eq=False)
class TransparentEFSpec(EFSpec):
    size: int = 0


@dataclass(eq=False)
class RecordEFSpec(EFSpec):
    structure: RecordStructure = RecordStructure.VARIABLE
    max_records: int = 16
    #: variable: the longest record; cyclic: the exact record size
    record_size: int = 255
    #: records are SIMPLE-TLV data items addressed by tag (LD/T 32-2015, EF05/EF06)
    tlv: bool = False


@dataclass(eq=False)
class DFSpec(FileSpec):
    """A dedicated file. ``df_name`` is its DF name or AID (bytes), if any.

    ``algorithm`` is the code announced in the FCI proprietary template under
    tag 9F0C (86 01 xx; 01 DES/3DES, 02 SSF33, 03 SM4), when the DF has one.
    """

    df_name: bytes | None = None
    algorithm: int | None = None
    children: list[FileSpec] = field(default_factory=list)
    label: str = ""
    #: precomputed FCI (ISO 7816-4 clause 7.4.1), built once by :meth:`finish`
    fci: bytes = b""

    def child_by_fid(self, fid: int) -> FileSpec | None:
        for child in self.children:
            if child.fid == fid:
                return child
        return None

    def ef_by_sfi(self, sfi: int) -> EFSpec | None:
        for child in self.children:
            if isinstance(child, EFSpec) and child.sfi == sfi:
                return child
        return None

    def walk(self) -> Iterator[FileSpec]:
        yield self
        for child in self.children:
            if isinstance(child, DFSpec):
                yield from child.walk()
            else:
                yield child

    def dfs_by_name(self) -> dict[bytes, DFSpec]:
        return {f.df_name: f for f in self.walk() if isinstance(f, DFSpec) and f.df_name}

    def finish(self) -> None:
        """Link parents and precompute FCIs for this subtree."""
        for child in self.children:
            child.parent = self
            if isinstance(child, DFSpec):
                child.finish()
        self.fci = build_fci(self)


def _tlv(tag: bytes, value: bytes) -> bytes:
    if len(value) > 0x7F:
        raise ValueError("FCI template too long")
    return tag + bytes((len(value),)) + value


def build_fci(df: DFSpec) -> bytes:
    """The FCI of a DF, shaped like a real card's (card-spec.md, FCI of SSSE):

    ``6F L 84 L <DF name> A5 L [88 01 <SFI of the directory EF>] [9F0C 03 86 01 <alg>]``.

    ISO/IEC 7816-4 clause 7.4.1 (FCI template 6F, DF name 84, proprietary
    A5); EMV Book 1 clause 11.3.4 for tag 88 (SFI of the directory EF).
    The MF without a name answers its FID in tag 83.
    """
    body = b""
    if df.df_name:
        body += _tlv(b"\x84", df.df_name)
    elif df.fid is not None:
        body += _tlv(b"\x83", df.fid.to_bytes(2, "big"))
    prop = b""
    dir_ef = next((c for c in df.children if isinstance(c, RecordEFSpec) and c.name == "DIR"), None)
    if dir_ef is not None and dir_ef.sfi is not None:
        prop += _tlv(b"\x88", bytes((dir_ef.sfi,)))
    if df.algorithm is not None:
        prop += _tlv(b"\x9f\x0c", _tlv(b"\x86", bytes((df.algorithm,))))
    if prop:
        body += _tlv(b"\xa5", prop)
    return _tlv(b"\x6f", body)


@dataclass(eq=False)
class FileTree:
    """The whole file system of a card, rooted at the MF."""

    mf: DFSpec
    by_path: dict[str, FileSpec] = field(default_factory=dict)
    by_name: dict[bytes, DFSpec] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.mf.parent = None
        self.mf.finish()
        self.by_path = {f.path: f for f in self.mf.walk()}
        self.by_name = self.mf.dfs_by_name()

    def efs(self) -> Iterator[EFSpec]:
        for f in self.mf.walk():
            if isinstance(f, EFSpec):
                yield f

    def df_of(self, path: str) -> DFSpec:
        node = self.by_path[path]
        assert isinstance(node, DFSpec)
        return node
