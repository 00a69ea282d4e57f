"""A security module by name, for the station, the tests and the tools:

- ``software``: :class:`~sscard_terminal.driver.sam.SoftwareSam`, keys from a
  test key-set file (``key_file``; the default key set when none is given);
- ``pcsc``: :class:`~sscard_terminal.driver.psam.PsamSam`, a PSAM in a reader
  (``reader``, ``transport``);
- ``keyservice``: :class:`~sscard_terminal.driver.keyservice_client.KeyServiceSam`,
  the key service's two-step mode (``url``, ``terminal``, ``token``).

Apart from the interface (:mod:`sscard_terminal.driver.sam`), so that the
modules implementing it never import each other.
"""

from __future__ import annotations

from typing import Any

from sscard_terminal.crypto.keyset import key_set_file
from sscard_terminal.driver.sam import SecurityModule, SoftwareSam
from sscard_terminal.errors import UsageError
from sscard_terminal.transport.base import DEFAULT_TRANSPORT


def open_security_module(name: str, **options: Any) -> SecurityModule:
    """A security module by name: ``software`` (key_file=...), ``pcsc`` (reader=...)
    or ``keyservice`` (url=..., terminal=..., token=...)."""
    if name == "software":
        key_file = options.get("key_file")
        if key_file is None:
            key_file = key_set_file(None)
        return SoftwareSam.from_file(key_file, options.get("terminal_number", ""))
    if name == "pcsc":
        from sscard_terminal.driver.psam import PsamSam

        return PsamSam.open(
            options.get("reader"), transport=options.get("transport", DEFAULT_TRANSPORT)
        )
    if name == "keyservice":
        from sscard_terminal.driver.keyservice_client import KeyServiceSam

        return KeyServiceSam(options["url"], options["terminal"], token=options.get("token"))
    raise UsageError(
        f"unknown security module {name!r}", hint="choose software, pcsc or keyservice"
    )
