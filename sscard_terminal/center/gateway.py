"""Gateway-header authentication (``x-tif-*``), a per-institution option.

integration.md, "What national-interface clients send": many sites put a
gateway in front of the platform that authenticates each request by headers:

- ``x-tif-paasid``: the caller's id at the gateway (here: registered per
  institution, its fixmedins_code unless the operator gave another);
- ``x-tif-timestamp``: Unix time in seconds, at most :data:`MAX_SKEW` seconds
  from the center's clock;
- ``x-tif-nonce``: 1 to 64 characters ``[A-Za-z0-9_-]``, never accepted twice
  within the skew window (:class:`NonceGuard`);
- ``x-tif-signature``: lower-case (either case accepted) hex of
  SHA-256(UTF-8 of timestamp + secret + nonce + timestamp), the secret being
  the institution's secret (the published gateway clients hash the UTF-8
  bytes and write the digest as hex).

An institution's ``gateway`` option is ``off`` (the headers are ignored),
``also`` (the headers are required as well as the signature in ``cainfo``)
or ``only`` (the headers are required; ``cainfo`` may be empty, and is
checked when present). Only a request whose signature holds spends a nonce,
and each institution has its own bounded set of nonces: nobody else can use
up or fill an institution's nonces.

Sans-IO: :func:`check` is given the headers, the institution's settings and
the time; it raises :class:`~sscard_terminal.center.refusals.Refusal`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

from sscard_terminal.center.refusals import Refusal

__all__ = [
    "GATEWAY_MODES",
    "HEADERS",
    "MAX_NONCES",
    "MAX_SKEW",
    "GatewayHeaders",
    "NonceGuard",
    "check",
    "gateway_signature",
]

GATEWAY_MODES = ("off", "also", "only")
HEADERS = ("x-tif-paasid", "x-tif-timestamp", "x-tif-nonce", "x-tif-signature")
#: seconds a timestamp may differ from the center's clock
MAX_SKEW = 300
#: nonces kept per institution within the window (more are refused as busy)
MAX_NONCES = 100_000

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_NONCE = re.compile(r"[A-Za-z0-9_\-]{1,64}")
_PAASID = re.compile(r"[A-Za-z0-9_\-.]{1,64}")
_SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class GatewayHeaders:
    """The ``x-tif-*`` headers of a request (None where absent)."""

    paasid: str | None = None
    timestamp: str | None = None
    nonce: str | None = None
    signature: str | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> GatewayHeaders:
        """From a mapping of lower-case header names."""
        return cls(*(headers.get(name) for name in HEADERS))

    @property
    def present(self) -> bool:
        """Whether any x-tif header was sent."""
        return any(v is not None for v in (self.paasid, self.timestamp, self.nonce, self.signature))


def gateway_signature(timestamp: str, secret: str, nonce: str) -> str:
    """``x-tif-signature``: hex SHA-256 of timestamp + secret + nonce + timestamp."""
    return hashlib.sha256(f"{timestamp}{secret}{nonce}{timestamp}".encode()).hexdigest()


def _refuse(field: str, form: str, zh: str) -> Refusal:
    return Refusal("auth.gateway", f"网关请求头 {field} {zh}", f"gateway header {field} {form}")


class NonceGuard:
    """The nonces seen per institution within the skew window (thread-safe,
    bounded: :data:`MAX_NONCES` per institution)."""

    def __init__(self, window: float = 2 * MAX_SKEW, limit: int = MAX_NONCES) -> None:
        self.window = window
        self.limit = limit
        self._seen: dict[str, OrderedDict[str, float]] = {}
        self._lock = threading.Lock()

    def spend(self, institution: str, nonce: str, now: float | None = None) -> None:
        """Record a nonce; raises :class:`Refusal` if it was seen within the window."""
        moment = time.monotonic() if now is None else now
        with self._lock:
            seen = self._seen.setdefault(institution, OrderedDict())
            while seen:
                oldest, when = next(iter(seen.items()))
                if moment - when < self.window:
                    break
                del seen[oldest]
            if nonce in seen:
                raise Refusal(
                    "auth.gateway_replay",
                    "网关请求头 x-tif-nonce 已使用过：每个请求须用新的 nonce",
                    "gateway header x-tif-nonce was used before: every request needs a new nonce",
                )
            if len(seen) >= self.limit:
                raise Refusal(
                    "auth.gateway_busy",
                    "本机构近期请求过多，请稍后重试",
                    "too many requests from this institution just now: retry shortly",
                )
            seen[nonce] = moment


def check(
    headers: GatewayHeaders,
    *,
    institution: str,
    paasid: str,
    secret: str,
    now: float,
    guard: NonceGuard,
) -> None:
    """Check the gateway headers of an institution whose option is not ``off``;
    raises :class:`Refusal` naming the header and the form it must take."""
    if headers.paasid is None or not _PAASID.fullmatch(headers.paasid):
        raise _refuse(
            "x-tif-paasid", "must be the registered paasid (1-64 characters)", "须为登记的 paasid"
        )
    if headers.timestamp is None or not _TIMESTAMP.fullmatch(headers.timestamp):
        raise _refuse("x-tif-timestamp", "must be Unix time in seconds", "须为Unix时间（秒）")
    if headers.nonce is None or not _NONCE.fullmatch(headers.nonce):
        raise _refuse(
            "x-tif-nonce", "must be 1-64 characters A-Z a-z 0-9 _ -", "须为1-64位字母、数字、_或-"
        )
    if headers.signature is None or not _SIGNATURE.fullmatch(headers.signature):
        raise _refuse(
            "x-tif-signature",
            "must be 64 hex digits (SHA-256 of timestamp + secret + nonce + timestamp)",
            "须为64位十六进制（timestamp + secret + nonce + timestamp 的 SHA-256）",
        )
    if not hmac.compare_digest(headers.paasid.encode(), paasid.encode()):
        raise _refuse("x-tif-paasid", "is not this institution's paasid", "不是本机构的 paasid")
    if abs(int(headers.timestamp) - now) > MAX_SKEW:
        raise _refuse(
            "x-tif-timestamp",
            f"must be within {MAX_SKEW} s of the center's time",
            f"与中心时间相差须在 {MAX_SKEW} 秒以内",
        )
    expected = gateway_signature(headers.timestamp, secret, headers.nonce)
    if not hmac.compare_digest(headers.signature.lower().encode(), expected.encode()):
        raise Refusal(
            "auth.gateway_signature",
            "网关签名 x-tif-signature 验证失败",
            "wrong gateway signature x-tif-signature: it must be SHA-256 of "
            "timestamp + secret + nonce + timestamp with this institution's secret",
        )
    guard.spend(institution, headers.nonce)
