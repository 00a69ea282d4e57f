"""Where the shipped card profiles and test key sets are found.

Bare names (``ningbo-gen2``, ``ningbo-test-keys``) are looked up in
``sscard_terminal/card_profiles`` of an installed wheel, then in
``card_profiles/`` of the source tree; key sets sit in their ``keys/``
subdirectory. Below both the virtual card (profiles) and the terminal side
(key sets), so that neither has to ask the other where its files are.

:data:`DEFAULT_KEY_SET` is the one setting naming the test key set used
wherever none is given (the shipped profiles name it as their ``key_set``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

#: the test key set used wherever none is named (the shipped profiles' ``key_set``)
DEFAULT_KEY_SET = "ningbo-test-keys"


def _source_profiles_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "card_profiles"


def profile_dirs() -> list[Path]:
    """Where bare profile names are looked up: the installed package, then the source tree."""
    dirs: list[Path] = []
    packaged = resources.files("sscard_terminal") / "card_profiles"
    if packaged.is_dir():
        dirs.append(Path(str(packaged)))
    src = _source_profiles_dir()
    if src.is_dir():
        dirs.append(src)
    return dirs
