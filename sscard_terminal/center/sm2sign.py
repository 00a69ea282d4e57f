"""``signtype`` SM2: ``cainfo`` as an SM2 signature checked with the
institution's registered public key.

integration.md, "What national-interface clients send": national clients sign
the envelope with SM2 (GB/T 32918.2-2016, the signature algorithm; SM3,
GB/T 32905-2016, as its digest) over the envelope's fields in ASCII order,
without ``cainfo`` and ``input``. The digest is SM3(Z || M) with Z computed
from the default user ID ``1234567812345678`` (GM/T 0009-2012, clause 10), as
the public clients and OpenSSL (``-pkeyopt distid:1234567812345678``) do.

The signed text M is the UTF-8 of::

    name1=value1&name2=value2&...

over every member of the envelope object except ``cainfo`` and ``input``,
sorted by name in ASCII (code point) order, each value as it was sent (a JSON
``null`` as the empty text: the literal ``"null"`` and ``""`` are signed as
sent). ``cainfo`` carries the signature (r, s) in any of the forms that
clients send: 128 hex digits r || s, the DER ``SEQUENCE {r, s}`` in hex, or
either of them in Base64.

The verification itself is GmSSL's (the C library of the GM/T standards,
through its Python binding ``gmssl-pyx``). Everything it is given is checked
here first: the public key is a point of the curve (when it is registered:
:func:`parse_public_key`), and r and s lie in [1, n-1]; the signature is
handed over re-encoded as DER. ``input`` is NOT covered by an SM2 signature:
that is how the national clients sign; docs/center.md says what follows.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gmssl_pyx import GmsslInnerError, sm2_verify

__all__ = [
    "DEFAULT_USER_ID",
    "SIGNTYPE",
    "SM2KeyError",
    "SM2SignatureError",
    "PublicKey",
    "decode_signature",
    "parse_public_key",
    "signed_text",
    "verify",
]

SIGNTYPE = "SM2"
#: GM/T 0009-2012, clause 10: the user ID when none is agreed.
DEFAULT_USER_ID = b"1234567812345678"

# the curve's parameters (GB/T 32918.5-2017, clause 3)
_P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
_A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
_B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
#: The DER of the OIDs id-ecPublicKey (1.2.840.10045.2.1) and SM2 (1.2.156.10197.1.301)
_OID_EC = bytes.fromhex("06072a8648ce3d0201")
_OID_SM2 = bytes.fromhex("06082a811ccf5501822d")
_HEX = re.compile(r"[0-9a-fA-F]+")


class SM2KeyError(ValueError):
    """A public or private key that is not one of the accepted forms."""


class SM2SignatureError(ValueError):
    """``cainfo`` is not an SM2 signature in one of the accepted forms."""


@dataclass(frozen=True)
class PublicKey:
    """A point of the SM2 curve (GB/T 32918.1-2016, clause 6.1)."""

    x: int
    y: int

    @property
    def hex(self) -> str:
        """The uncompressed form: ``04`` + X + Y, 130 lower-case hex digits."""
        return f"04{self.x:064x}{self.y:064x}"


def _on_curve(x: int, y: int) -> bool:
    return 0 <= x < _P and 0 <= y < _P and (y * y - (x * x * x + _A * x + _B)) % _P == 0


def parse_public_key(text: str) -> PublicKey:
    """An SM2 public key given as 130 hex digits ``04`` + X + Y, 128 hex digits
    X + Y, or a PEM ``PUBLIC KEY`` (SubjectPublicKeyInfo with id-ecPublicKey and
    the SM2 curve, as ``openssl pkey -pubout`` writes it). Refuses anything
    else, and a point that is not on the curve."""
    text = text.strip()
    if text.startswith("-----BEGIN PUBLIC KEY-----"):
        point = _point_from_pem(text)
    elif _HEX.fullmatch(text) and len(text) in (128, 130):
        if len(text) == 130 and not text.startswith("04"):
            raise SM2KeyError("an SM2 public key of 130 hex digits starts with 04 (uncompressed)")
        point = bytes.fromhex(text[-128:])
    else:
        raise SM2KeyError(
            "an SM2 public key is 04 + X + Y (130 hex digits), X + Y (128 hex digits) "
            "or a PEM PUBLIC KEY"
        )
    x, y = int.from_bytes(point[:32], "big"), int.from_bytes(point[32:], "big")
    if not _on_curve(x, y) or (x, y) == (0, 0):
        raise SM2KeyError("the SM2 public key is not a point of the SM2 curve")
    return PublicKey(x, y)


def _point_from_pem(text: str) -> bytes:
    body = "".join(line.strip() for line in text.splitlines() if not line.startswith("-----"))
    try:
        der = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise SM2KeyError("the PEM public key is not Base64") from None
    # SubjectPublicKeyInfo: SEQUENCE { SEQUENCE { OID ecPublicKey, OID sm2 }, BIT STRING 04||X||Y }
    tail = bytes.fromhex("034200") + b"\x04"
    if (
        len(der) != 91
        or der[:2] != b"\x30\x59"
        or der[2:4] != b"\x30\x13"
        or der[4:13] != _OID_EC
        or der[13:23] != _OID_SM2
        or der[23:27] != tail
    ):
        raise SM2KeyError("the PEM public key is not an uncompressed SM2 key (id-ecPublicKey, SM2)")
    return der[27:]


def _value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    raise SM2SignatureError("every signed envelope field must be text")


def signed_text(envelope: Mapping[str, Any]) -> str:
    """The text an SM2 ``cainfo`` signs: ``name=value`` of every member except
    ``cainfo`` and ``input``, in ASCII order of the names, joined by ``&``."""
    names = sorted(name for name in envelope if name not in ("cainfo", "input"))
    return "&".join(f"{name}={_value(envelope[name])}" for name in names)


def _der(r: int, s: int) -> bytes:
    """``SEQUENCE {INTEGER r, INTEGER s}`` in DER."""

    def integer(value: int) -> bytes:
        body = value.to_bytes(33, "big").lstrip(b"\0")
        if body[0] & 0x80:
            body = b"\0" + body
        return bytes([0x02, len(body)]) + body

    content = integer(r) + integer(s)
    return bytes([0x30, len(content)]) + content


def decode_signature(cainfo: str) -> tuple[int, int]:
    """(r, s) from ``cainfo``: hex or Base64 of r || s (64 bytes) or of the DER
    ``SEQUENCE {INTEGER r, INTEGER s}``."""
    text = cainfo.strip()
    raw: bytes | None = None
    if _HEX.fullmatch(text) and len(text) % 2 == 0:
        raw = bytes.fromhex(text)
    else:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raw = None
    if raw is None:
        raise SM2SignatureError("cainfo must be hex or Base64")
    if len(raw) == 64:
        r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    else:
        r, s = _der_pair(raw)
    if not (1 <= r < _N and 1 <= s < _N):
        raise SM2SignatureError("the signature's r and s must lie in [1, n-1]")
    return r, s


def _der_integer(data: bytes, at: int) -> tuple[int, int]:
    if at + 2 > len(data) or data[at] != 0x02:
        raise SM2SignatureError("cainfo: a DER signature holds two INTEGERs")
    length = data[at + 1]
    start, end = at + 2, at + 2 + length
    if not 1 <= length <= 33 or end > len(data):
        raise SM2SignatureError("cainfo: a DER INTEGER of 1 to 33 bytes")
    if data[start] & 0x80:
        raise SM2SignatureError("cainfo: a DER INTEGER must not be negative")
    return int.from_bytes(data[start:end], "big"), end


def _der_pair(data: bytes) -> tuple[int, int]:
    if len(data) < 8 or data[0] != 0x30 or data[1] != len(data) - 2:
        raise SM2SignatureError(
            "cainfo must be r || s (64 bytes) or a DER SEQUENCE of r and s, in hex or Base64"
        )
    r, at = _der_integer(data, 2)
    s, at = _der_integer(data, at)
    if at != len(data):
        raise SM2SignatureError("cainfo: bytes after the DER signature")
    return r, s


def verify(envelope: Mapping[str, Any], key: PublicKey) -> bool:
    """Whether ``envelope["cainfo"]`` is an SM2 signature of :func:`signed_text`
    by ``key``. Raises :class:`SM2SignatureError` when cainfo is no signature
    at all (its form is wrong)."""
    cainfo = envelope.get("cainfo")
    if not isinstance(cainfo, str) or not cainfo:
        raise SM2SignatureError("cainfo must hold the SM2 signature")
    r, s = decode_signature(cainfo)
    message = signed_text(envelope).encode("utf-8")
    point = key.x.to_bytes(32, "big") + key.y.to_bytes(32, "big")
    try:
        return bool(sm2_verify(point, message, _der(r, s), DEFAULT_USER_ID))
    except GmsslInnerError:
        return False
