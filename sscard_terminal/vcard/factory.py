"""Building virtual cards from what a user names: a profile or a card image.

A profile or image of a PSAM (schema ``sscard-psam-profile/1``,
:mod:`sscard_terminal.vcard.psam_profile`) builds a :class:`~sscard_terminal.vcard.psam.PsamOS`,
so ``sscard card serve --profile psam-ningbo --slot 1`` serves the terminal's PSAM.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from sscard_terminal.crypto.keyset import load_key_set, resolve_key_set_path
from sscard_terminal.errors import PersonDataError
from sscard_terminal.vcard.cardos import CardOS
from sscard_terminal.vcard.image import CardImage, ImageFile
from sscard_terminal.vcard.personalise import person_file_parts, personalise
from sscard_terminal.vcard.profile import load_profile, resolve_profile_path
from sscard_terminal.vcard.psam import PsamOS, psam_image
from sscard_terminal.vcard.psam_profile import PsamProfile, is_psam_profile, load_psam_profile
from sscard_terminal.yaml_syntax import describe_yaml_error


def new_image(profile_ref: str | Path, person_file: str | Path | None = None) -> CardImage:
    """A freshly personalised card image (the profile's test person without a person file);
    for a PSAM profile, a new PSAM image (:func:`new_psam_image`)."""
    profile_path = resolve_profile_path(profile_ref)
    if is_psam_profile(profile_path):
        if person_file is not None:
            raise PersonDataError(f"{profile_path}: a PSAM has no cardholder: give no person file")
        return new_psam_image(profile_path)
    profile = load_profile(profile_path)
    key_set = load_key_set(resolve_key_set_path(profile.key_set, relative_to=profile_path.parent))
    if person_file is None:
        return personalise(profile, key_set=key_set)
    path = Path(person_file)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PersonDataError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise PersonDataError(describe_yaml_error(path, exc)) from None
    try:
        person, params = person_file_parts(data, str(path))
    except PersonDataError as exc:
        msg = str(exc)
        raise PersonDataError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None
    return personalise(profile, person, params, key_set)


def write_new_image(
    out: str | Path, profile_ref: str | Path, person_file: str | Path | None = None
) -> CardImage:
    image = new_image(profile_ref, person_file)
    ImageFile(out).save(image)
    return image


def card_from_profile(profile_ref: str | Path) -> CardOS:
    """A card personalised for the profile's test person, kept in memory only;
    for a PSAM profile, the PSAM (:func:`psam_from_profile`)."""
    if is_psam_profile(profile_ref):
        return psam_from_profile(profile_ref)
    return CardOS(personalise(load_profile(profile_ref)))


def new_psam_image(profile_ref: str | Path) -> CardImage:
    """A PSAM image: the profile's files and the master keys of its key set."""
    profile_path = resolve_profile_path(profile_ref)
    profile = load_psam_profile(profile_path)
    key_set = load_key_set(resolve_key_set_path(profile.key_set, relative_to=profile_path.parent))
    return psam_image(profile, key_set)


def psam_from_profile(profile_ref: str | Path) -> PsamOS:
    """A virtual PSAM from a PSAM profile (``psam-ningbo``), kept in memory only."""
    return PsamOS(new_psam_image(profile_ref))


def card_from_image(path: str | Path) -> CardOS:
    """A card (or PSAM) whose every accepted write is saved back to the image atomically."""
    store = ImageFile(path)
    image = store.load()
    store.remove_stale_temporaries()  # the card is served from here on: it owns the file
    if isinstance(image.profile, PsamProfile):
        return PsamOS(image, store)
    return CardOS(image, store)
