"""Anti-tearing: every accepted write is all or nothing.

Every write path of the card OS is torn at every step of every save it makes.
:class:`TearingImageFile` hooks :meth:`ImageFile._step` (``write``, ``fsync``,
``replace``, ``sync-dir``, ``saved``); at the chosen step it copies what is on
disk at that instant (temporary files included) and cuts the power by raising a
``BaseException``, which no card code catches. The copy is then loaded afresh and
must parse and hold exactly the state before the torn save (tear before the
rename) or after it (tear after the rename): the whole image, contents and
persistent counters alike, is compared, so no mix can pass.

The write paths are run legitimately: keys are met with EXTERNAL AUTHENTICATE
and MACs computed by the software SAM from the test key set, the PIN is the
profile's test PIN.

What this covers is the death of the card's process at any step (a card pulled,
``kill -9``). Durability against a crash of the operating system rests on the
order of the steps (the temporary file is fsynced before the rename, the
directory after it), which :func:`test_save_steps_in_order` checks.
"""

from __future__ import annotations

import datetime as dt
import hmac
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sscard_terminal.apdu.command import CommandApdu
from sscard_terminal.codecs.atr import Atr
from sscard_terminal.codecs.id_number import make_id_number
from sscard_terminal.codecs.records import ITEMS_BY_TAG, decode_value, encode_value
from sscard_terminal.codecs.tlv import build_item
from sscard_terminal.crypto.computations import pin_to_bcd
from sscard_terminal.crypto.keyset import BK, PUK, UK, load_key_set, resolve_key_set_path
from sscard_terminal.driver.sam import AuthCard, CardContext, SoftwareSam
from sscard_terminal.driver.session import CardSession
from sscard_terminal.person import Person
from sscard_terminal.transport.virtual import VirtualTransport
from sscard_terminal.vcard import security
from sscard_terminal.vcard.cardos import CardOS
from sscard_terminal.vcard.image import CardImage, ImageFile
from sscard_terminal.vcard.personalise import CardParameters
from sscard_terminal.vcard.profile import Profile
from tests.virtual_cards import card_image

PIN = "123456"
WRONG_PIN = "999999"
NEW_PIN = "246810"
SSSE_NAME = bytes.fromhex("7378312E73682EC9E7BBE1B1A3D5CF")
DF04_AID = bytes.fromhex("D15600000503")
SAVE_STEPS = ImageFile.SAVE_STEPS
#: the steps after which the new image is in place (os.replace done)
_AFTER_RENAME = frozenset({"sync-dir", "saved"})

PERSON = Person.from_mapping(
    {
        "name": "司马·青云",
        "id_number": make_id_number("330206", dt.date(1969, 4, 30), "371"),
        "ethnic_group": "01",
        "birthplace": "330206",
    }
)
PARAMS = CardParameters(serial=0x7EA12345, issue_date=dt.date(2023, 3, 1))


class PowerCut(BaseException):
    """The power fails: not an ``Exception``, so the card OS cannot swallow it."""


class TearingImageFile(ImageFile):
    """An image file that records the steps of its saves while ``armed`` and cuts
    the power at step number ``tear_at`` (0-based, counted while armed), after
    copying the directory as it is at that instant to ``snapshot``."""

    def __init__(
        self, path: Path, *, tear_at: int | None = None, snapshot: Path | None = None
    ) -> None:
        super().__init__(path)
        self.tear_at = tear_at
        self.snapshot = snapshot
        self.armed = False
        self.steps: list[str] = []
        #: the image on disk after every completed save (while armed)
        self.saved_states: list[dict[str, Any]] = []

    def _step(self, name: str) -> None:
        if not self.armed:
            return
        index = len(self.steps)
        self.steps.append(name)
        if name == "saved":
            self.saved_states.append(ImageFile(self.path).load().to_json())
        if index == self.tear_at:
            assert self.snapshot is not None
            self.snapshot.mkdir()
            for entry in self.path.parent.iterdir():
                shutil.copy2(entry, self.snapshot / entry.name)
            raise PowerCut(name)


def card_context(image: CardImage) -> CardContext:
    """What the software SAM needs, from the image (all public data)."""
    atr = Atr.parse(image.atr)
    profile = image.profile
    assert isinstance(profile, Profile)
    ef05 = image.contents["MF/SSSE/EF05"]
    assert isinstance(ef05, tuple)
    id_code = next(r for r in ef05 if r[0] == 0x01)
    algorithm = "sm4" if profile.algorithm == "sm4" else "3des"
    return CardContext(
        image.atr,
        atr.diversification_factor,
        profile.issuer.region,
        decode_value(ITEMS_BY_TAG[0x01], id_code[2:]),
        algorithm,
    )


class Terminal:
    """The terminal's side of a write path, over the in-process transport."""

    def __init__(self, card: CardOS) -> None:
        self.card = card
        image = card.image
        transport = VirtualTransport(card)
        transport.connect()
        self.session = CardSession(transport)
        self.ctx = card_context(image)
        self.auth = AuthCard(self.session, self.ctx)
        self.sam = SoftwareSam(load_key_set(resolve_key_set_path(image.profile.key_set)))

    def sw(self, apdu: CommandApdu) -> int:
        return self.session.transmit(apdu).sw

    def ok(self, apdu: CommandApdu) -> None:
        sw = self.sw(apdu)
        assert sw == 0x9000, f"{apdu.to_bytes()[:4].hex()} answered {sw:04X}"

    def select_ssse(self) -> None:
        self.ok(CommandApdu(0x00, 0xA4, 0x04, 0x00, SSSE_NAME))

    def select_df04(self) -> None:
        self.ok(CommandApdu(0x00, 0xA4, 0x04, 0x00, DF04_AID))

    def verify(self, pin: str) -> int:
        return self.sw(CommandApdu(0x00, 0x20, 0x00, 0x00, pin_to_bcd(pin)))

    def authenticate(self, key_id: int) -> None:
        self.sam.authenticate(self.auth, key_id)

    def wrong_cryptogram(self, key_id: int) -> int:
        challenge = self.auth.get_challenge(8)
        data = bytes(8) + challenge + (b"\x01" if self.ctx.algorithm == "sm4" else b"")
        return self.sw(CommandApdu(0x00, 0x82, 0x00, key_id, data))

    def maced(self, header: str, body: bytes, key_id: int) -> None:
        self.sam.maced_command(self.auth, bytes.fromhex(header), body, key_id)


def item(tag: int, text: str) -> bytes:
    return build_item(tag, encode_value(ITEMS_BY_TAG[tag], text))


Step = Callable[[Terminal], None]


@dataclass
class WritePath:
    """``setup`` runs untorn; every save ``write`` makes is torn at every step."""

    name: str
    setup: Step
    write: Step
    saves: int
    profile: str = "ningbo-gen2"
    #: extra checks of each torn state: (state before, state on disk, tear index)
    checks: list[Callable[[dict[str, Any], dict[str, Any], int], None]] = field(
        default_factory=list
    )


# -- the write paths -------------------------------------------------------------
def _nothing(t: Terminal) -> None:
    return None


def _ssse_uk(t: Terminal) -> None:
    t.select_ssse()
    t.authenticate(UK)


def _df04_pin(t: Terminal) -> None:
    t.select_ssse()
    assert t.verify(PIN) == 0x9000
    t.select_df04()


def _df04_pin_full_log(t: Terminal) -> None:
    _df04_pin(t)
    for i in range(30):
        t.ok(CommandApdu(0x00, 0xE2, 0x00, 0x40, bytes([i]) * 0x1C))


def _ssse_one_wrong_pin(t: Terminal) -> None:
    t.select_ssse()
    assert t.verify(WRONG_PIN) == 0x63C2


def _ssse_last_try(t: Terminal) -> None:
    t.select_ssse()
    assert t.verify(WRONG_PIN) == 0x63C2
    assert t.verify(WRONG_PIN) == 0x63C1


def _ssse_blocked_pin(t: Terminal) -> None:
    _ssse_last_try(t)
    assert t.verify(WRONG_PIN) == 0x6983


def _ssse_one_auth_failure(t: Terminal) -> None:
    t.select_ssse()
    assert t.wrong_cryptogram(UK) == 0x63C4


def _expect(sw: int, apdu: Callable[[Terminal], int]) -> Step:
    def run(t: Terminal) -> None:
        got = apdu(t)
        assert got == sw, f"answered {got:04X}, expected {sw:04X}"

    return run


def _update_record_by_number(t: Terminal) -> None:
    # EF05 record 2 is the card class (tag 02)
    t.ok(CommandApdu(0x00, 0xDC, 0x02, (5 << 3) | 0x04, item(0x02, "9")))


def _update_record_by_tag(t: Terminal) -> None:
    t.ok(CommandApdu(0x00, 0xDC, 0x0A, 6 << 3, item(0x0A, "2")))


def _update_record_append_tag(t: Terminal) -> None:
    t.ok(CommandApdu(0x00, 0xDC, 0x4E, 6 << 3, item(0x4E, "延长姓名")))


def _append_record(t: Terminal) -> None:
    t.ok(CommandApdu(0x00, 0xE2, 0x00, 8 << 3, bytes.fromhex("A5" * 0x1C)))


def _update_binary(t: Terminal) -> None:
    t.ok(CommandApdu(0x00, 0xD6, 0x80 | 7, 0x10, bytes.fromhex("DEADBEEF" * 8)))


def _change_pin(t: Terminal) -> None:
    data = pin_to_bcd(PIN) + b"\xff" + pin_to_bcd(NEW_PIN)
    t.ok(CommandApdu(0x80, 0x5E, 0x01, 0x00, data))


def _pin_reload(t: Terminal) -> None:
    t.authenticate(PUK)
    t.maced("84240001", t.sam.encrypted_pin(t.ctx, PUK, NEW_PIN), PUK)


def _pin_unblock(t: Terminal) -> None:
    t.authenticate(PUK)
    t.maced("84240000", t.sam.encrypted_pin(t.ctx, PUK, PIN), PUK)


def _application_block(t: Terminal) -> None:
    t.maced("841E0001", b"", BK)


def _card_block(t: Terminal) -> None:
    t.maced("84160000", b"", BK)


def _tries(state: dict[str, Any]) -> int:
    return int(state["persistent"]["pin_tries_left"])


def _no_free_tries(before: dict[str, Any], torn: dict[str, Any], _k: int) -> None:
    """A wrong PIN torn anywhere never leaves more tries than before it."""
    assert _tries(torn) <= _tries(before)


WRITE_PATHS = [
    WritePath("UPDATE RECORD by number (EF05)", _ssse_uk, _update_record_by_number, 1),
    WritePath("UPDATE RECORD by tag (EF06 sex)", _ssse_uk, _update_record_by_tag, 1),
    WritePath(
        "UPDATE RECORD by tag, new tag appended (4E)", _ssse_uk, _update_record_append_tag, 1
    ),
    WritePath("APPEND RECORD, cyclic EF08", _df04_pin, _append_record, 1),
    WritePath("APPEND RECORD, cyclic EF08 full", _df04_pin_full_log, _append_record, 1),
    WritePath("UPDATE BINARY (EF07)", _ssse_uk, _update_binary, 1),
    WritePath(
        "VERIFY wrong PIN",
        lambda t: t.select_ssse(),
        _expect(0x63C2, lambda t: t.verify(WRONG_PIN)),
        1,
        checks=[_no_free_tries],
    ),
    WritePath(
        "VERIFY wrong PIN, last try",
        _ssse_last_try,
        _expect(0x6983, lambda t: t.verify(WRONG_PIN)),
        1,
        checks=[_no_free_tries],
    ),
    WritePath(
        "VERIFY right PIN", lambda t: t.select_ssse(), _expect(0x9000, lambda t: t.verify(PIN)), 2
    ),
    WritePath(
        "VERIFY right PIN after a wrong one",
        _ssse_one_wrong_pin,
        _expect(0x9000, lambda t: t.verify(PIN)),
        2,
    ),
    WritePath("CHANGE PIN", lambda t: t.select_ssse(), _change_pin, 3),
    WritePath(
        "EXTERNAL AUTHENTICATE failure",
        lambda t: t.select_ssse(),
        _expect(0x63C4, lambda t: t.wrong_cryptogram(UK)),
        1,
    ),
    WritePath(
        "EXTERNAL AUTHENTICATE success clears the failures",
        _ssse_one_auth_failure,
        lambda t: t.authenticate(UK),
        2,  # the attempt is counted first, then cleared
    ),
    WritePath(
        "EXTERNAL AUTHENTICATE success",
        lambda t: t.select_ssse(),
        lambda t: t.authenticate(UK),
        2,
    ),
    # PUK authentication (2 saves), then the reload or unblock itself
    WritePath("PIN RELOAD (84 24 00 01)", lambda t: t.select_ssse(), _pin_reload, 3),
    WritePath("PIN UNBLOCK (84 24 00 00)", _ssse_blocked_pin, _pin_unblock, 3),
    WritePath("APPLICATION BLOCK", lambda t: t.select_ssse(), _application_block, 1),
    WritePath("CARD BLOCK", lambda t: t.select_ssse(), _card_block, 1),
    # the same code on a 3.0 card: SM4 keys, 16-byte MAC blocks, key version byte
    WritePath(
        "gen3 UPDATE RECORD by tag", _ssse_uk, _update_record_by_tag, 1, profile="ningbo-gen3"
    ),
    WritePath("gen3 APPEND RECORD", _df04_pin, _append_record, 1, profile="ningbo-gen3"),
    WritePath(
        "gen3 VERIFY wrong PIN",
        lambda t: t.select_ssse(),
        _expect(0x63C2, lambda t: t.verify(WRONG_PIN)),
        1,
        profile="ningbo-gen3",
        checks=[_no_free_tries],
    ),
    WritePath("gen3 PIN RELOAD", lambda t: t.select_ssse(), _pin_reload, 3, profile="ningbo-gen3"),
    WritePath("gen3 CARD BLOCK", lambda t: t.select_ssse(), _card_block, 1, profile="ningbo-gen3"),
]

_BASE_IMAGES: dict[str, dict[str, Any]] = {}


def base_image(profile: str) -> dict[str, Any]:
    """One personalised image per profile for the whole module (the PIN salt is random)."""
    if profile not in _BASE_IMAGES:
        _BASE_IMAGES[profile] = card_image(profile, PERSON, PARAMS).to_json()
    return _BASE_IMAGES[profile]


def fresh_card(directory: Path, profile: str, **tearing: Any) -> tuple[CardOS, TearingImageFile]:
    directory.mkdir(parents=True)
    store = TearingImageFile(directory / "card.json", **tearing)
    ImageFile(store.path).save(CardImage.from_json(base_image(profile)))
    return CardOS(store.load(), store, rng=lambda n: bytes(range(1, n + 1))), store


@dataclass
class Reference:
    before: dict[str, Any]
    states: list[dict[str, Any]]
    steps: list[str]


def reference_run(tmp: Path, path: WritePath) -> Reference:
    """The write path without a tear: the states it saves, one per save."""
    card, store = fresh_card(tmp / "reference", path.profile)
    terminal = Terminal(card)
    path.setup(terminal)
    before = ImageFile(store.path).load().to_json()
    store.armed = True
    path.write(terminal)
    store.armed = False
    return Reference(before, [before, *store.saved_states], store.steps)


@pytest.mark.parametrize("path", WRITE_PATHS, ids=[p.name for p in WRITE_PATHS])
def test_every_tear_leaves_old_or_new(path: WritePath, tmp_path: Path) -> None:
    ref = reference_run(tmp_path, path)
    assert ref.steps == list(SAVE_STEPS) * path.saves, "unexpected number of saves"
    for older, newer in zip(ref.states, ref.states[1:], strict=False):
        assert older != newer, "a save that changed nothing"

    for k, step in enumerate(ref.steps):
        where = f"tear {k} ({step} of save {k // len(SAVE_STEPS) + 1}/{path.saves})"
        snapshot = tmp_path / f"snapshot-{k}"
        card, store = fresh_card(tmp_path / f"tear-{k}", path.profile, tear_at=k, snapshot=snapshot)
        terminal = Terminal(card)
        path.setup(terminal)
        store.armed = True
        with pytest.raises(PowerCut):
            path.write(terminal)

        # what was on disk when the power failed: it parses, and it is one whole state
        on_disk = ImageFile(snapshot / "card.json").load().to_json()
        save = k // len(SAVE_STEPS)
        expected = ref.states[save + 1] if step in _AFTER_RENAME else ref.states[save]
        assert on_disk == expected, f"{where}: the image is neither the old nor the new state"
        for check in path.checks:
            check(ref.before, on_disk, k)

        # power back: the card starts from what is on disk and works
        reloaded = ImageFile(store.path).load()
        assert reloaded.to_json() == expected, where
        again = CardOS(reloaded, ImageFile(store.path))
        assert again.process(bytes.fromhex("00A40000023F00"))[-2:] in (b"\x61\x06", b"\x6a\x81")


@contextmanager
def watch_pin_comparisons(image_path: Path) -> Iterator[list[int]]:
    """Record the PIN counter on disk each time the card compares a PIN."""
    seen: list[int] = []
    original = security.pin_digest

    def spy(salt: str, pin: str) -> str:
        seen.append(int(ImageFile(image_path).load().persistent["pin_tries_left"]))
        return original(salt, pin)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(security, "pin_digest", spy)
        yield seen


@pytest.mark.parametrize("pin", [WRONG_PIN, PIN])
def test_verify_counts_the_try_on_disk_before_comparing(pin: str, tmp_path: Path) -> None:
    """Counter first: when the card compares the PIN, the decremented counter is
    already saved, so pulling the card at any moment after it has looked at the
    PIN cannot give a free try."""
    card, store = fresh_card(tmp_path / "card", "ningbo-gen2")
    terminal = Terminal(card)
    terminal.select_ssse()
    for tries in (3, 2):
        with watch_pin_comparisons(store.path) as seen:
            terminal.verify(WRONG_PIN)
        assert seen == [tries - 1]
    with watch_pin_comparisons(store.path) as seen:
        terminal.verify(pin)
    assert seen == [0]


def test_brute_force_with_tears_gets_no_extra_tries(tmp_path: Path) -> None:
    """An attacker who cuts the power at every step of every wrong VERIFY still
    has the card blocked after the profile's number of PIN comparisons."""
    directory = tmp_path / "card"
    card, store = fresh_card(directory, "ningbo-gen2")
    comparisons = 0
    for k in range(50):
        # each attempt: power on, SELECT, VERIFY wrong, cut at one of the steps of
        # its save, or (every sixth attempt) not at all
        snapshot = tmp_path / f"snap-{k}"
        tear_at = k % (len(SAVE_STEPS) + 1)
        store = TearingImageFile(store.path, tear_at=tear_at, snapshot=snapshot)
        card = CardOS(store.load(), store)
        terminal = Terminal(card)
        terminal.select_ssse()
        store.armed = True
        with watch_pin_comparisons(store.path) as seen:
            try:
                sw = terminal.verify(WRONG_PIN)
            except PowerCut:
                sw = None
        comparisons += len(seen)
        if sw == 0x6983:
            break
    assert comparisons <= 3
    assert ImageFile(store.path).load().persistent["pin_tries_left"] == 0


def test_external_authenticate_counts_before_comparing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    card, store = fresh_card(tmp_path / "card", "ningbo-gen2")
    terminal = Terminal(card)
    terminal.select_ssse()
    seen: list[int] = []
    original = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        errors = ImageFile(store.path).load().persistent["key_errors"]
        seen.append(sum(int(v) for v in errors.values()))
        return original(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert terminal.wrong_cryptogram(UK) == 0x63C4
    assert seen == [1], "the failure was not counted on disk before the comparison"


def test_save_steps_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Data fsynced before the rename, directory fsynced after: the order that
    makes the rename durable only with complete data behind it."""
    calls: list[str] = []
    store = TearingImageFile(tmp_path / "card.json")
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append("fsync-dir" if "replace" in calls else "fsync-data")
        real_fsync(fd)

    def replace(a: Any, b: Any) -> None:
        calls.append("replace")
        real_replace(a, b)

    original_step = store._step

    def step(name: str) -> None:
        calls.append(f"step:{name}")
        original_step(name)

    monkeypatch.setattr(store, "_step", step)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    store.save(CardImage.from_json(base_image("ningbo-gen2")))
    assert calls == [
        "step:write",
        "step:fsync",
        "fsync-data",
        "step:replace",
        "replace",
        "step:sync-dir",
        "fsync-dir",
        "step:saved",
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["card.json"]


def test_tear_points_counted() -> None:
    """The number of tear points this module covers (reported in docs/faults-and-tearing.md)."""
    points = sum(p.saves * len(SAVE_STEPS) for p in WRITE_PATHS)
    assert points == 5 * sum(p.saves for p in WRITE_PATHS)
    assert len(WRITE_PATHS) >= 17
