"""Signing a request envelope with SM2 (``signtype`` "SM2"), as national clients do.

integration.md, "What national-interface clients send": ``cainfo`` is an SM2
signature (GB/T 32918.2-2016, digest SM3 per GB/T 32905-2016, Z computed with
the default user ID ``1234567812345678`` of GM/T 0009-2012) over the UTF-8 of

    name1=value1&name2=value2&...

for every member of the envelope except ``cainfo`` and ``input``, in ASCII
order of the names, each value as sent (None as the empty text). ``cainfo``
is written as 128 lower-case hex digits r || s. The institution's private key
is a file holding the scalar d as 64 hex digits (``sscard settlement
sm2-keygen`` writes one); the center holds only the public key.

This module is written from that description alone: it shares no code with
the center. The curve arithmetic is gmssl's; the nonce k is drawn here from
:mod:`secrets` (gmssl's default draws it from :mod:`random`).
"""

from __future__ import annotations

import os
import re
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gmssl import sm2

from sscard_terminal.settlement.errors import ConfigError

__all__ = [
    "SIGNTYPE",
    "SM2Signer",
    "generate_private_key",
    "read_private_key",
    "signed_text",
]

SIGNTYPE = "SM2"
_TABLE = sm2.default_ecc_table
_N = int(_TABLE["n"], 16)
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def signed_text(envelope: Mapping[str, Any]) -> str:
    """``name=value`` of every member but ``cainfo`` and ``input``, ASCII order, ``&``."""
    parts = []
    for name in sorted(k for k in envelope if k not in ("cainfo", "input")):
        value = envelope[name]
        if value is not None and not isinstance(value, str):
            raise TypeError(f"envelope field {name} must be text to be signed")
        parts.append(f"{name}={value or ''}")
    return "&".join(parts)


class SM2Signer:
    """An institution's SM2 private key; signs envelopes. The key never appears
    in its ``repr`` or in any message."""

    def __init__(self, private_key_hex: str) -> None:
        text = private_key_hex.strip()
        if not _HEX64.fullmatch(text):
            raise ValueError("an SM2 private key is 64 hex digits")
        d = int(text, 16)
        if not 1 <= d <= _N - 2:
            raise ValueError("the SM2 private key is out of range [1, n-2]")
        self._d = d
        crypt = sm2.CryptSM2(private_key=f"{d:064x}", public_key="")
        point = crypt._kg(d, _TABLE["g"])
        # gmssl's constructor strips leading '0'/'4' digits of the public key
        # (str.lstrip): it is set afterwards, as X || Y
        crypt.public_key = point[:128]
        self._crypt = crypt

    def __repr__(self) -> str:
        return "SM2Signer(<private key>)"

    @property
    def public_key_hex(self) -> str:
        """``04`` + X + Y: what the center registers (``sscard center institution sm2-key``)."""
        return "04" + str(self._crypt.public_key)

    def sign(self, envelope: Mapping[str, Any]) -> str:
        """``cainfo`` for the envelope: r || s, 128 lower-case hex digits."""
        message = signed_text(envelope).encode("utf-8")
        while True:
            k = secrets.randbelow(_N - 1) + 1
            result = self._crypt.sign_with_sm3(message, f"{k:064x}")
            if result is not None:
                return str(result)


def generate_private_key() -> str:
    """A new private key d, 64 lower-case hex digits, from :mod:`secrets`."""
    return f"{secrets.randbelow(_N - 2) + 1:064x}"


def read_private_key(path: str | os.PathLike[str]) -> SM2Signer:
    """The signer of a private-key file (64 hex digits on the first line).
    Refuses a file that others can read."""
    where = Path(path)
    try:
        mode = where.stat().st_mode
        text = where.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read the SM2 private key file {where}: {exc.strerror or exc}"
        ) from None
    if os.name == "posix" and mode & (stat.S_IRGRP | stat.S_IROTH):
        raise ConfigError(
            f"the SM2 private key file {where} is readable by others", hint=f"chmod 600 {where}"
        )
    first = text.strip().splitlines()[0].strip() if text.strip() else ""
    try:
        return SM2Signer(first)
    except ValueError as exc:
        raise ConfigError(f"the SM2 private key file {where}: {exc}") from None
