"""The virtual card's operating system: ``process(command) -> response``.

A pure function of the card's state and one command APDU (the seam of
jCardSim and vsmartcard's vicc): in-process calls, the vpcd bridge and the
tests all end here. Instructions dispatch through one table; handlers raise
:class:`CardStatus`, which is turned into SW1-SW2 in exactly one place
(:meth:`CardOS.process`). No command, however malformed, raises out of
``process`` or leaves the card half-written.

Implemented (ISO/IEC 7816-4:2020 clause 11 unless noted):

- SELECT (A4) by FID, child DF, EF, parent, DF name/AID, path from MF or
  from the current DF; FCI like a real card (card-spec.md "FCI of SSSE");
- READ RECORD (B2) by record number or by data-item tag, with or without SFI
  (LD/T 32-2015 as in card-spec.md "Records");
- UPDATE RECORD (DC) by number or by tag (an unknown tag is appended),
  APPEND RECORD (E2) with cyclic files;
- READ BINARY (B0) and UPDATE BINARY (D6), with SFI or current EF;
- GET RESPONSE (C0) and GET CHALLENGE (84).

The card behaves like a T=0 card seen through a transparent reader
(ISO/IEC 7816-3 clause 10.3.4): a command with response data but without Le
gets 61xx and GET RESPONSE; a wrong Le (Le=00 included) gets 6Cxx.

The security commands (:mod:`sscard_terminal.vcard.security`) see the card
only through :class:`SecurityView`: the current DF's path and algorithm, the
persistent counters and flags, the last challenge (taken once), and the
security status of the current DF.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sscard_terminal.apdu.command import CommandApdu
from sscard_terminal.apdu.status import SW, bytes_available, wrong_le
from sscard_terminal.errors import MalformedApduError
from sscard_terminal.vcard import security
from sscard_terminal.vcard.card_status import CardStatus
from sscard_terminal.vcard.filesystem import (
    DFSpec,
    EFSpec,
    FileSpec,
    RecordEFSpec,
    RecordStructure,
    TransparentEFSpec,
)
from sscard_terminal.vcard.image import CardImage, Content, ImageStore, VolatileStore

log = logging.getLogger(__name__)

_SW_OK = b"\x90\x00"


@dataclass
class VolatileState:
    """What a card forgets on power off and reset (ISO/IEC 7816-4 clause 5.3.3)."""

    current_df: DFSpec
    current_ef: EFSpec | None = None
    #: security conditions met: (path of the DF where met, "pin" or "key:XX").
    #: A PIN holds in its DF's subtree; a key only in the DF whose key file holds it.
    security: set[tuple[str, str]] = field(default_factory=set)
    #: the last GET CHALLENGE random, usable once
    challenge: bytes | None = None
    #: response bytes waiting for GET RESPONSE after 61xx
    pending: bytes = b""


Handler = Callable[["CardOS", CommandApdu], bytes]

#: CLA bytes: ISO interindustry (00), proprietary (80), proprietary with MAC (84)
_ISO = frozenset({0x00})


class CardOS:
    """A social security card built from a card image.

    ``dispatch`` (INS -> handler and the CLA bytes it accepts) and ``known_cla``
    are class attributes, so a card OS built on this one (the PSAM,
    :mod:`sscard_terminal.vcard.psam`) brings its own instruction table.
    """

    dispatch: ClassVar[dict[int, tuple[Handler, frozenset[int]]]]
    known_cla: ClassVar[frozenset[int]]

    def __init__(
        self,
        image: CardImage,
        store: ImageStore | None = None,
        rng: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._image = image
        self._store: ImageStore = store or VolatileStore()
        self._rng = rng
        self._tree = image.tree
        self._state = VolatileState(self._tree.mf)
        self._security_view = SecurityView(self)
        self.powered = True

    # -- the SimulatedCard protocol ------------------------------------------
    @property
    def atr(self) -> bytes:
        return self._image.atr

    @property
    def image(self) -> CardImage:
        return self._image

    @property
    def security_view(self) -> SecurityView:
        """What the security commands may see and change of this card."""
        return self._security_view

    def power_on(self) -> bytes:
        self._state = VolatileState(self._tree.mf)
        self.powered = True
        return self._image.atr

    def power_off(self) -> None:
        self._state = VolatileState(self._tree.mf)
        self.powered = False

    def reset(self) -> bytes:
        return self.power_on()

    def process(self, command: bytes) -> bytes:
        """Answer one command APDU. The only place SW errors become bytes."""
        try:
            apdu = CommandApdu.from_bytes(command)
        except MalformedApduError:
            return SW.WRONG_LENGTH.raw
        state = self._state
        pending, state.pending = state.pending, b""
        persistent = self._image.persistent
        if persistent.get("card_blocked"):
            return SW.FUNCTION_NOT_SUPPORTED.raw  # card-spec.md: 6A81 after CARD BLOCK
        if persistent.get("application_blocked") and state.current_df.path.startswith(_SSSE):
            return SW.APPLICATION_BLOCKED.raw
        try:
            if apdu.ins == 0xC0:
                if apdu.cla != 0x00:
                    raise CardStatus(SW.CLA_NOT_SUPPORTED)
                return self._get_response(apdu, pending)
            entry = self.dispatch.get(apdu.ins)
            if apdu.cla not in self.known_cla:
                raise CardStatus(SW.CLA_NOT_SUPPORTED)
            if apdu.cla & 0x03 and not apdu.cla & 0x80:  # channels of interindustry CLAs
                raise CardStatus(SW.LOGICAL_CHANNEL_NOT_SUPPORTED)
            if entry is None:
                raise CardStatus(SW.INS_NOT_SUPPORTED)
            handler, classes = entry
            if apdu.cla not in classes:
                if apdu.cla & 0x0C and (apdu.cla & 0xF3) in classes:
                    raise CardStatus(SW.SECURE_MESSAGING_NOT_SUPPORTED)
                raise CardStatus(SW.CLA_NOT_SUPPORTED)
            data = handler(self, apdu)
        except CardStatus as status:
            return int(status.sw).to_bytes(2, "big")
        except Exception:  # a bug must not kill the card: answer 6F00
            log.exception("card OS error on INS %02X", apdu.ins)
            return SW.NO_PRECISE_DIAGNOSIS.raw
        return self._respond(apdu, data)

    # -- response shaping (ISO/IEC 7816-3 clause 10.3.4, T=0) -------------------
    def _respond(self, apdu: CommandApdu, data: bytes) -> bytes:
        if not data:
            return _SW_OK
        if apdu.ne is None:
            self._state.pending = data
            return bytes_available(min(len(data), 256)).to_bytes(2, "big")
        if apdu.ne == len(data) or (apdu.extended and apdu.ne >= len(data)):
            return data + _SW_OK
        if len(data) > 256 and apdu.le_field_zero:
            self._state.pending = data[256:]
            return data[:256] + bytes_available(min(len(data) - 256, 256)).to_bytes(2, "big")
        return wrong_le(len(data)).to_bytes(2, "big")

    def _get_response(self, apdu: CommandApdu, pending: bytes) -> bytes:
        if apdu.p1 or apdu.p2:
            return SW.INCORRECT_P1_P2.raw
        if apdu.data:
            return SW.WRONG_LENGTH.raw
        if not pending:
            return SW.CONDITIONS_NOT_SATISFIED.raw
        ne = apdu.ne if apdu.ne is not None else 256
        chunk = min(len(pending), 256)
        if ne != chunk and not (apdu.le_field_zero and len(pending) > 256):
            self._state.pending = pending
            return wrong_le(chunk).to_bytes(2, "big")
        rest = pending[chunk:]
        if rest:
            self._state.pending = rest
            return pending[:chunk] + bytes_available(min(len(rest), 256)).to_bytes(2, "big")
        return pending[:chunk] + _SW_OK

    # -- helpers -----------------------------------------------------------------
    def _select_df(self, df: DFSpec) -> None:
        state = self._state
        if df is not state.current_df:
            # ISO/IEC 7816-4 clause 5.4: a DF's security status holds in its subtree
            state.security = {
                (where, token)
                for where, token in state.security
                if df.path == where or df.path.startswith(where + "/")
            }
            state.challenge = None
        state.current_df = df
        state.current_ef = None

    def _grant(self, token: str) -> None:
        """Record a met security condition ("pin", "key:XX") in the current DF."""
        self._state.security.add((self._state.current_df.path, token))

    def _met_here(self) -> set[str]:
        """The conditions that hold in the current DF."""
        here = self._state.current_df.path
        met = set()
        for where, token in self._state.security:
            if where == here or (token == "pin" and here.startswith(where + "/")):
                met.add(token)
        return met

    def _check_access(self, ef: EFSpec, write: bool) -> None:
        rule = ef.write if write else ef.read
        if rule.free:
            return
        if not rule.satisfied_by(self._met_here()):
            raise CardStatus(SW.SECURITY_STATUS_NOT_SATISFIED)

    def _ef_for(self, sfi: int) -> EFSpec:
        """The EF an SFI names in the current DF (0 = the current EF)."""
        state = self._state
        if sfi == 0:
            if state.current_ef is None:
                raise CardStatus(SW.COMMAND_NOT_ALLOWED_NO_EF)
            return state.current_ef
        if sfi == 31:
            raise CardStatus(SW.INCORRECT_P1_P2)
        ef = state.current_df.ef_by_sfi(sfi)
        if ef is None:
            raise CardStatus(SW.FILE_NOT_FOUND)
        state.current_ef = ef  # ISO 7816-4 clause 7.2.2: an SFI reference selects the EF
        return ef

    def _records(self, ef: RecordEFSpec) -> tuple[bytes, ...]:
        content = self._image.contents.get(ef.path, ())
        assert isinstance(content, tuple)
        return content

    def _binary(self, ef: TransparentEFSpec) -> bytes:
        content = self._image.contents.get(ef.path)
        if content is None:
            return b"\x00" * ef.size
        assert isinstance(content, bytes)
        return content

    def _commit(self, path: str, content: Content) -> None:
        """Save a write atomically, then make it the card's state (all or nothing)."""
        self._save(self._image.copy_with(path, content))

    def _commit_persistent(self, **updates: Any) -> None:
        """Save persistent counters and flags atomically (PIN tries, key errors ...)."""
        persistent = dict(self._image.persistent)
        persistent.update(updates)
        self._save(self._image.copy_with(persistent=persistent))

    def _save(self, new_image: CardImage) -> None:
        try:
            self._store.save(new_image)
        except OSError:
            log.exception("card image could not be saved")
            raise CardStatus(SW.MEMORY_FAILURE) from None
        self._image = new_image

    # -- SELECT ------------------------------------------------------------------
    def _select(self, apdu: CommandApdu) -> bytes:
        p1, p2, data = apdu.p1, apdu.p2, apdu.data
        if p2 not in (0x00, 0x0C):
            raise CardStatus(SW.INCORRECT_P1_P2)
        state = self._state
        target: FileSpec | None
        if p1 == 0x00:
            if not data or data == b"\x3f\x00":
                target = self._tree.mf
            elif len(data) != 2:
                raise CardStatus(SW.LC_INCONSISTENT_WITH_P1_P2)
            else:
                target = self._find_fid(int.from_bytes(data, "big"))
        elif p1 in (0x01, 0x02):
            if len(data) != 2:
                raise CardStatus(SW.LC_INCONSISTENT_WITH_P1_P2)
            child = state.current_df.child_by_fid(int.from_bytes(data, "big"))
            want_df = p1 == 0x01
            target = child if child is not None and isinstance(child, DFSpec) == want_df else None
        elif p1 == 0x03:
            if data:
                raise CardStatus(SW.LC_INCONSISTENT_WITH_P1_P2)
            target = state.current_df.parent
        elif p1 == 0x04:
            if not data:
                raise CardStatus(SW.WRONG_LENGTH)
            target = self._tree.by_name.get(bytes(data))
        elif p1 in (0x08, 0x09):
            target = self._select_path(data, from_mf=p1 == 0x08)
        else:
            raise CardStatus(SW.INCORRECT_P1_P2)
        if target is None:
            raise CardStatus(SW.FILE_NOT_FOUND)
        if self._image.persistent.get("application_blocked") and target.path.startswith(_SSSE):
            raise CardStatus(SW.APPLICATION_BLOCKED)
        if isinstance(target, DFSpec):
            self._select_df(target)
            return target.fci if p2 == 0x00 else b""
        assert isinstance(target, EFSpec) and target.parent is not None
        self._select_df(target.parent)
        state.current_ef = target
        return b""

    def _find_fid(self, fid: int) -> FileSpec | None:
        df = self._state.current_df
        if df.fid == fid:
            return df
        child = df.child_by_fid(fid)
        if child is not None:
            return child
        parent = df.parent
        if parent is not None:
            if parent.fid == fid:
                return parent
            sibling = parent.child_by_fid(fid)
            if isinstance(sibling, DFSpec):
                return sibling
        return None

    def _select_path(self, data: bytes, *, from_mf: bool) -> FileSpec | None:
        if not data or len(data) % 2:
            raise CardStatus(SW.LC_INCONSISTENT_WITH_P1_P2)
        node: FileSpec | None = self._tree.mf if from_mf else self._state.current_df
        fids = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
        if from_mf and fids[0] == 0x3F00:
            fids = fids[1:]
        for fid in fids:
            if not isinstance(node, DFSpec):
                return None
            node = node.child_by_fid(fid)
        return node

    # -- records -----------------------------------------------------------------
    def _record_target(self, apdu: CommandApdu) -> tuple[RecordEFSpec, bool]:
        """(EF, by_tag) from P2 = SFI << 3 | mode (card-spec.md "Records")."""
        mode = apdu.p2 & 0x07
        if mode not in (0x04, 0x00):
            raise CardStatus(SW.INCORRECT_P1_P2)
        ef = self._ef_for(apdu.p2 >> 3)
        if not isinstance(ef, RecordEFSpec):
            raise CardStatus(SW.COMMAND_INCOMPATIBLE_WITH_FILE)
        by_tag = mode == 0x00
        if by_tag and not ef.tlv:
            raise CardStatus(SW.COMMAND_INCOMPATIBLE_WITH_FILE)
        if apdu.p1 == 0x00 or (by_tag and apdu.p1 == 0xFF):
            raise CardStatus(SW.INCORRECT_P1_P2)
        return ef, by_tag

    @staticmethod
    def _index(records: tuple[bytes, ...], p1: int, by_tag: bool) -> int | None:
        if by_tag:
            for i, rec in enumerate(records):
                if rec[0] == p1:
                    return i
            return None
        return p1 - 1 if p1 <= len(records) else None

    def _read_record(self, apdu: CommandApdu) -> bytes:
        if apdu.data:
            raise CardStatus(SW.WRONG_LENGTH)
        ef, by_tag = self._record_target(apdu)
        self._check_access(ef, write=False)
        records = self._records(ef)
        i = self._index(records, apdu.p1, by_tag)
        if i is None:
            raise CardStatus(SW.RECORD_NOT_FOUND)
        record = records[i]
        if apdu.ne is None or apdu.ne != len(record):
            raise CardStatus(wrong_le(len(record)))
        return record

    @staticmethod
    def _check_tlv(record: bytes) -> None:
        if len(record) < 2 or record[1] != len(record) - 2:
            raise CardStatus(SW.LC_INCONSISTENT_WITH_TLV)
        if record[0] in (0x00, 0xFF):
            raise CardStatus(SW.INCORRECT_DATA)

    def _update_record(self, apdu: CommandApdu) -> bytes:
        if not apdu.data:
            raise CardStatus(SW.WRONG_LENGTH)
        if apdu.ne is not None:
            raise CardStatus(SW.WRONG_LENGTH)
        ef, by_tag = self._record_target(apdu)
        self._check_access(ef, write=True)
        data = bytes(apdu.data)
        self._check_record_shape(ef, data)
        if by_tag and data[0] != apdu.p1:
            raise CardStatus(SW.INCORRECT_DATA)
        records = list(self._records(ef))
        i = self._index(tuple(records), apdu.p1, by_tag)
        if i is None:
            if not by_tag:
                raise CardStatus(SW.RECORD_NOT_FOUND)
            if len(records) >= ef.max_records:
                raise CardStatus(SW.NOT_ENOUGH_MEMORY)
            records.append(data)
        else:
            records[i] = data
        self._commit(ef.path, tuple(records))
        return b""

    def _check_record_shape(self, ef: RecordEFSpec, data: bytes) -> None:
        if ef.structure is RecordStructure.CYCLIC:
            if len(data) != ef.record_size:
                raise CardStatus(SW.WRONG_LENGTH)
        elif len(data) > ef.record_size:
            raise CardStatus(SW.NOT_ENOUGH_MEMORY)
        if ef.tlv:
            self._check_tlv(data)

    def _append_record(self, apdu: CommandApdu) -> bytes:
        if not apdu.data or apdu.ne is not None:
            raise CardStatus(SW.WRONG_LENGTH)
        if apdu.p1 != 0x00 or apdu.p2 & 0x07:
            raise CardStatus(SW.INCORRECT_P1_P2)
        ef = self._ef_for(apdu.p2 >> 3)
        if not isinstance(ef, RecordEFSpec):
            raise CardStatus(SW.COMMAND_INCOMPATIBLE_WITH_FILE)
        self._check_access(ef, write=True)
        data = bytes(apdu.data)
        self._check_record_shape(ef, data)
        records = self._records(ef)
        if ef.structure is RecordStructure.CYCLIC:
            # ISO/IEC 7816-4 clause 11.3.6: the new record becomes record 1
            new = (data, *records)[: ef.max_records]
        else:
            if len(records) >= ef.max_records:
                raise CardStatus(SW.NOT_ENOUGH_MEMORY)
            new = (*records, data)
        self._commit(ef.path, new)
        return b""

    # -- binary ------------------------------------------------------------------
    def _binary_target(self, apdu: CommandApdu) -> tuple[TransparentEFSpec, int]:
        if apdu.p1 & 0x80:
            if apdu.p1 & 0x60:
                raise CardStatus(SW.INCORRECT_P1_P2)
            ef = self._ef_for(apdu.p1 & 0x1F)
            offset = apdu.p2
        else:
            ef = self._ef_for(0)
            offset = (apdu.p1 << 8) | apdu.p2
        if not isinstance(ef, TransparentEFSpec):
            raise CardStatus(SW.COMMAND_INCOMPATIBLE_WITH_FILE)
        return ef, offset

    def _read_binary(self, apdu: CommandApdu) -> bytes:
        if apdu.data:
            raise CardStatus(SW.WRONG_LENGTH)
        ef, offset = self._binary_target(apdu)
        self._check_access(ef, write=False)
        if offset >= ef.size:
            raise CardStatus(SW.WRONG_P1_P2)
        available = ef.size - offset
        ne = apdu.ne if apdu.ne is not None else 256
        if ne > available:
            raise CardStatus(wrong_le(min(available, 256)))
        return self._binary(ef)[offset : offset + ne]

    def _update_binary(self, apdu: CommandApdu) -> bytes:
        if not apdu.data or apdu.ne is not None:
            raise CardStatus(SW.WRONG_LENGTH)
        ef, offset = self._binary_target(apdu)
        self._check_access(ef, write=True)
        if offset >= ef.size:
            raise CardStatus(SW.WRONG_P1_P2)
        if offset + len(apdu.data) > ef.size:
            raise CardStatus(SW.WRONG_LENGTH)
        old = self._binary(ef)
        new = old[:offset] + bytes(apdu.data) + old[offset + len(apdu.data) :]
        self._commit(ef.path, new)
        return b""

    # -- GET CHALLENGE (ISO/IEC 7816-4 clause 11.6.3) ----------------------------
    def _get_challenge(self, apdu: CommandApdu) -> bytes:
        if apdu.p1 or apdu.p2:
            raise CardStatus(SW.INCORRECT_P1_P2)
        if apdu.data or apdu.ne is None:
            raise CardStatus(SW.WRONG_LENGTH)
        if apdu.ne not in (4, 8, 16):
            raise CardStatus(wrong_le(8) if apdu.le_field_zero else SW.WRONG_LENGTH)
        challenge = self._rng(apdu.ne)
        self._state.challenge = challenge
        return challenge


class SecurityView:
    """The card's state as the security commands see it
    (:class:`sscard_terminal.vcard.security.SecuredCard`): nothing of the file
    system beyond the current DF, no volatile state beyond the challenge and
    the security status."""

    __slots__ = ("_card",)

    def __init__(self, card: CardOS) -> None:
        self._card = card

    @property
    def df_path(self) -> str:
        """The path of the current DF (``MF/SSSE`` ...)."""
        return self._card._state.current_df.path

    @property
    def df_algorithm(self) -> int | None:
        """The algorithm code the current DF announces in its FCI (01 3DES, 03 SM4)."""
        return self._card._state.current_df.algorithm

    @property
    def persistent(self) -> Mapping[str, Any]:
        """The persistent counters, flags and keys of the card image."""
        return self._card.image.persistent

    def take_challenge(self) -> bytes | None:
        """The last GET CHALLENGE random, forgotten as it is taken (usable once)."""
        state = self._card._state
        challenge, state.challenge = state.challenge, None
        return challenge

    def commit_persistent(self, **updates: Any) -> None:
        """Save persistent counters and flags atomically (or answer 6581)."""
        self._card._commit_persistent(**updates)

    def grant(self, token: str) -> None:
        """Record a met security condition ("pin", "key:XX") in the current DF."""
        self._card._grant(token)

    def met_here(self) -> set[str]:
        """The security conditions that hold in the current DF."""
        return self._card._met_here()


def _secured(command: Callable[[security.SecuredCard, CommandApdu], bytes]) -> Handler:
    """A security command as a handler: it runs on the card's :class:`SecurityView`."""

    def handler(card: CardOS, apdu: CommandApdu) -> bytes:
        return command(card.security_view, apdu)

    return handler


_SSSE = "MF/SSSE"
_KNOWN_CLA = frozenset({0x00, 0x04, 0x0C, 0x80, 0x84, 0x01, 0x02, 0x03})

_PROPRIETARY = frozenset({0x80})
_MACED = frozenset({0x84})

_DISPATCH: dict[int, tuple[Handler, frozenset[int]]] = {
    0x20: (_secured(security.verify), _ISO),
    0x5E: (_secured(security.change_pin), _PROPRIETARY),
    0x24: (_secured(security.reload_pin), _MACED),
    0x82: (_secured(security.external_authenticate), _ISO),
    0x88: (_secured(security.internal_authenticate), _ISO),
    0x1E: (_secured(security.application_block), _MACED),
    0x16: (_secured(security.card_block), _MACED),
    0xA4: (CardOS._select, _ISO),
    0xB2: (CardOS._read_record, _ISO),
    0xDC: (CardOS._update_record, _ISO),
    0xE2: (CardOS._append_record, _ISO),
    0xB0: (CardOS._read_binary, _ISO),
    0xD6: (CardOS._update_binary, _ISO),
    0x84: (CardOS._get_challenge, _ISO),
}

CardOS.dispatch = _DISPATCH
CardOS.known_cla = _KNOWN_CLA
