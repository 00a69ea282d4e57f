"""Signing a request envelope with SM2 (``signtype`` "SM2"), as national clients do.

integration.md, "What national-interface clients send": ``cainfo`` is an SM2
signature (GB/T 32918.2-2016, digest SM3 per GB/T 32905-2016, Z computed with
the default user ID ``1234567812345678`` of GM/T 0009-2012) over the UTF-8 of

    name1=value1&name2=value2&...

for every member of the envelope except ``cainfo`` and ``input``, in ASCII
order of the names, each value as sent (None as the empty text). ``cainfo``
is written as 128 lower-case hex digits r || s. The institution's private key
is a file holding the scalar d as 64 hex digits (``sscard center sm2-keygen``
writes one); the center holds only the public key.

This module is written from that description alone: it shares no code with
the center. Signing is GmSSL's (``gmssl-pyx``, which draws the nonce from the
system's random source); the public key Q = [d]G is computed here once, when
the key is loaded (GB/T 32918.1-2016, clause A.3, affine double-and-add), and
checked by a signature that must verify with it.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gmssl_pyx import sm2_key_generate, sm2_sign, sm2_verify

from sscard_terminal.settlement.errors import ConfigError

__all__ = [
    "SIGNTYPE",
    "SM2Signer",
    "generate_private_key",
    "read_private_key",
    "signed_text",
]

SIGNTYPE = "SM2"
#: GM/T 0009-2012, clause 10: the user ID when none is agreed
USER_ID = b"1234567812345678"
# the curve (GB/T 32918.5-2017, clause 3)
_P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
_A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
_G = (
    0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7,
    0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0,
)
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")

Point = tuple[int, int] | None


def _add(p: Point, q: Point) -> Point:
    if p is None:
        return q
    if q is None:
        return p
    if p[0] == q[0] and (p[1] + q[1]) % _P == 0:
        return None
    if p == q:
        slope = (3 * p[0] * p[0] + _A) * pow(2 * p[1], -1, _P) % _P
    else:
        slope = (q[1] - p[1]) * pow(q[0] - p[0], -1, _P) % _P
    x = (slope * slope - p[0] - q[0]) % _P
    return x, (slope * (p[0] - x) - p[1]) % _P


def _multiply(k: int, point: Point) -> Point:
    result: Point = None
    while k:
        if k & 1:
            result = _add(result, point)
        point = _add(point, point)
        k >>= 1
    return result


def signed_text(envelope: Mapping[str, Any]) -> str:
    """``name=value`` of every member but ``cainfo`` and ``input``, ASCII order, ``&``."""
    parts = []
    for name in sorted(k for k in envelope if k not in ("cainfo", "input")):
        value = envelope[name]
        if value is not None and not isinstance(value, str):
            raise TypeError(f"envelope field {name} must be text to be signed")
        parts.append(f"{name}={value or ''}")
    return "&".join(parts)


def _rs(der: bytes) -> str:
    """r || s as 128 hex digits from GmSSL's DER ``SEQUENCE {r, s}``."""
    values = []
    at = 2
    for _ in range(2):
        length = der[at + 1]
        values.append(int.from_bytes(der[at + 2 : at + 2 + length], "big"))
        at += 2 + length
    return f"{values[0]:064x}{values[1]:064x}"


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
        point = _multiply(d, _G)
        assert point is not None  # d < n
        self._private = d.to_bytes(32, "big")
        self._public = point[0].to_bytes(32, "big") + point[1].to_bytes(32, "big")
        probe = b"sscard-terminal SM2 key check"
        if not sm2_verify(self._public, probe, sm2_sign(self._private, self._public, probe)):
            raise ValueError("the SM2 key pair does not verify")

    def __repr__(self) -> str:
        return "SM2Signer(<private key>)"

    @property
    def public_key_hex(self) -> str:
        """``04`` + X + Y: what the center registers (``sscard center sm2-key``)."""
        return "04" + self._public.hex()

    def sign(self, envelope: Mapping[str, Any]) -> str:
        """``cainfo`` for the envelope: r || s, 128 lower-case hex digits."""
        message = signed_text(envelope).encode("utf-8")
        return _rs(sm2_sign(self._private, self._public, message, USER_ID))


def generate_private_key() -> str:
    """A new private key d, 64 lower-case hex digits (GmSSL's key generation)."""
    _public, private = sm2_key_generate()
    return bytes(private).hex()


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
