"""The card image: the virtual card's EEPROM, and how it is saved.

An image holds everything a card keeps across power cycles: its profile (so
an image is self-contained and can be served without the profile file), the
contents of every EF, and persistent counters (PIN tries and the like). It is
stored as JSON with hex strings (hex only at the edges). The profile is a
social security card's (:class:`~sscard_terminal.vcard.profile.Profile`) or a
PSAM's (:class:`~sscard_terminal.vcard.psam_profile.PsamProfile`); the image
format is the same for both.

Every write the card accepts is saved atomically (:class:`ImageFile`): the
whole image goes to a temporary file in the same directory, which is flushed,
fsynced and renamed over the old one, so a process killed at any moment
leaves either the old image or the new one on disk, never a mix.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sscard_terminal.errors import ProfileError
from sscard_terminal.vcard.filesystem import FileTree, RecordEFSpec, TransparentEFSpec
from sscard_terminal.vcard.image_check import check_personalised
from sscard_terminal.vcard.profile import Profile, build_tree, profile_from_mapping
from sscard_terminal.vcard.psam_profile import (
    PsamProfile,
    build_psam_tree,
    is_psam_profile_data,
    psam_profile_from_mapping,
)

IMAGE_FORMAT = "sscard-card-image/1"

#: what an image is built from: a social security card's profile, or a PSAM's
AnyProfile = Profile | PsamProfile


def tree_of(profile: AnyProfile) -> FileTree:
    """The file specification of either kind of profile."""
    if isinstance(profile, PsamProfile):
        return build_psam_tree(profile)
    return build_tree(profile)


#: the contents of one EF: bytes for a transparent EF, a tuple of records otherwise
Content = bytes | tuple[bytes, ...]


@dataclass
class CardImage:
    profile: AnyProfile
    atr: bytes
    contents: dict[str, Content]
    #: persistent counters and flags (e.g. PIN tries left); plain JSON values
    persistent: dict[str, Any] = field(default_factory=dict)
    tree: FileTree = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.tree = tree_of(self.profile)
        self._check()

    def _check(self) -> None:
        for path, content in self.contents.items():
            node = self.tree.by_path.get(path)
            if isinstance(node, RecordEFSpec):
                if not isinstance(content, tuple) or len(content) > node.max_records:
                    raise ProfileError(f"{path}: bad records")
                for rec in content:
                    if not 1 <= len(rec) <= node.record_size:
                        raise ProfileError(f"{path}: record of {len(rec)} bytes")
            elif isinstance(node, TransparentEFSpec):
                if not isinstance(content, bytes) or len(content) != node.size:
                    raise ProfileError(f"{path}: transparent EF of wrong size")
            else:
                raise ProfileError(f"no EF {path!r} in the profile's tree")

    def to_json(self) -> dict[str, Any]:
        contents: dict[str, Any] = {}
        for path, content in sorted(self.contents.items()):
            if isinstance(content, bytes):
                contents[path] = {"binary": content.hex().upper()}
            else:
                contents[path] = {"records": [r.hex().upper() for r in content]}
        return {
            "format": IMAGE_FORMAT,
            "profile": self.profile.model_dump(mode="json", by_alias=True),
            "atr": self.atr.hex().upper(),
            "contents": contents,
            # a deep copy: a saved state must not change with the card afterwards
            "persistent": json.loads(json.dumps(self.persistent)),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], source: str = "image") -> CardImage:
        if not isinstance(data, Mapping) or data.get("format") != IMAGE_FORMAT:
            raise ProfileError(f"{source}: not a card image (format {IMAGE_FORMAT} expected)")
        raw_profile = data.get("profile")
        profile: AnyProfile
        if is_psam_profile_data(raw_profile):
            profile = psam_profile_from_mapping(raw_profile, f"{source}: profile")
        else:
            profile = profile_from_mapping(raw_profile, f"{source}: profile")
        try:
            atr = bytes.fromhex(data["atr"])
            contents: dict[str, Content] = {}
            for path, entry in dict(data["contents"]).items():
                if "binary" in entry:
                    contents[path] = bytes.fromhex(entry["binary"])
                else:
                    contents[path] = tuple(bytes.fromhex(r) for r in entry["records"])
            persistent = dict(data.get("persistent", {}))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ProfileError(
                f"{source}: damaged card image ({type(exc).__name__}: {exc})"
            ) from None
        try:
            return cls(profile, atr, contents, persistent)
        except ProfileError as exc:
            raise ProfileError(f"{source}: {exc}") from None

    def copy_with(
        self,
        path: str | None = None,
        content: Content | None = None,
        persistent: Mapping[str, Any] | None = None,
    ) -> CardImage:
        """A new image with one EF's contents or the persistent state replaced."""
        contents = dict(self.contents)
        if path is not None:
            assert content is not None
            contents[path] = content
        new = object.__new__(CardImage)
        new.profile, new.atr, new.contents = self.profile, self.atr, contents
        new.persistent = dict(persistent) if persistent is not None else dict(self.persistent)
        new.tree = self.tree
        return new


class ImageStore(Protocol):
    """Where a card saves its image after every accepted write."""

    def save(self, image: CardImage) -> None: ...


class VolatileStore:
    """Keeps nothing: for in-process cards that need no persistence."""

    def save(self, image: CardImage) -> None:
        return None


class ImageFile:
    """A card image on disk, saved atomically (temporary file, fsync, rename)."""

    #: the points of :meth:`save` where :meth:`_step` is called, in order: before
    #: writing the temporary file, before its flush and fsync, before the rename,
    #: before the directory's fsync, and after the save
    SAVE_STEPS = ("write", "fsync", "replace", "sync-dir", "saved")

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def _step(self, name: str) -> None:
        """Called at each of :attr:`SAVE_STEPS` of a save; does nothing.

        The anti-tearing tests override it to cut the power at that point (by
        raising a ``BaseException``, which no card code catches).
        """

    def remove_stale_temporaries(self) -> int:
        """Remove temporary files that a killed save left behind (they never hold
        the card's state: the rename is what makes a save count)."""
        removed = 0
        for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
                removed += 1
        return removed

    def load(self) -> CardImage:
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ProfileError(f"{self.path}: cannot read card image: {exc.strerror}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ProfileError(f"{self.path}: damaged card image: {exc}") from None
        image = CardImage.from_json(data, str(self.path))
        # a file someone may have edited: it must still be a personalised card (the
        # in-memory round trip above is not checked, since a card may write anything
        # its access rules allow, e.g. UPDATE RECORD by number with another tag)
        check_personalised(image.profile, image.contents, image.persistent, str(self.path))
        return image

    def save(self, image: CardImage) -> None:
        payload = json.dumps(image.to_json(), ensure_ascii=False, indent=1).encode("utf-8")
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as fh:
                self._step("write")
                fh.write(payload)
                self._step("fsync")
                fh.flush()
                os.fsync(fh.fileno())
            self._step("replace")
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        self._step("sync-dir")
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self._step("saved")
