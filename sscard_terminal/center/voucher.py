"""The electronic medical-insurance voucher (医保电子凭证; integration.md,
"The electronic medical-insurance voucher").

Three steps, as in the field:

1. **Issue.** The person's phone app shows a QR code (``ecQrCode``): here
   :func:`issue` (``POST /admin/vouchers``, ``sscard voucher new``). A code is
   bound to one person and lives ``valid_seconds`` (default 300 s, "minutes").
   Only a person holding a usable social security card gets one: the voucher
   stands for the card (Ningbo settles "directly with the social security
   card", guide Q5, rule d), so a person without a card still pays first and
   claims sporadic reimbursement.
2. **Exchange** (``ec.query`` of the local voucher service, :func:`exchange`):
   the institution that scanned the code exchanges it, once, for an
   ``ecToken`` bound to the same person and to that institution, valid
   ``token_seconds`` (default 1800 s: one visit).
3. **Use.** The token is ``mdtrt_cert_no`` with ``mdtrt_cert_type`` "01" in
   1101, 2201, 2206/2207 and 2101/2102 (:func:`person_of_token`). A
   settlement (2207, 2102) spends it (:func:`spend`): a second settlement
   with the same token is refused as reused.

An unknown code or token (forged, mistyped) is refused as not issued by this
center, an expired one as expired, a used one as used: each in one sentence
that says what to do (show a fresh code). The table keeps SHA-256 digests of
codes and tokens only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.engine import Connection

from sscard_terminal.center import models, store
from sscard_terminal.center.refusals import Refusal
from sscard_terminal.center.rules import cards

__all__ = [
    "CODE_SECONDS",
    "TOKEN_SECONDS",
    "exchange",
    "issue",
    "person_of_token",
    "spend",
]

#: how long a QR code can be exchanged ("short-lived (minutes)")
CODE_SECONDS = 300
#: how long a token serves its visit
TOKEN_SECONDS = 1800

VOUCHERS: Table = models.Voucher.__table__  # type: ignore[assignment]
_BY_CODE = select(VOUCHERS).where(VOUCHERS.c.code_digest == bindparam("digest"))
_BY_TOKEN = select(VOUCHERS).where(VOUCHERS.c.token_digest == bindparam("digest"))
_CARDS_OF = select(store.K).where(store.K.c.psn_no == bindparam("psn_no"))

_SHOW_NEW = "请在手机上刷新医保电子凭证后重新扫码"
_SHOW_NEW_EN = "refresh the voucher on the phone and scan the new code"


def digest(text: str) -> str:
    """SHA-256 of a code or a token, as stored."""
    return hashlib.sha256(text.strip().encode("utf-8")).hexdigest()


def _usable_card(conn: Connection, psn_no: str) -> Any:
    """The person's usable card, or the refusal of the most recent one (rule c)."""
    rows = list(conn.execute(_CARDS_OF, {"psn_no": psn_no}))
    for row in rows:
        if cards.CardStatus(row.status) is cards.CardStatus.ACTIVE:
            return row
    if not rows:
        raise Refusal(
            "voucher.no_card",
            "未领取社会保障卡，不能使用医保电子凭证结算；请先申领社保卡",
            "no social security card: the voucher stands for the card, apply for the card first",
        )
    latest = max(rows, key=lambda r: r.status_changed_at)
    cards.require_usable(cards.CardStatus(latest.status), latest.card_no)
    raise AssertionError("require_usable accepted a card that is not active")  # pragma: no cover


def issue(
    conn: Connection,
    now: dt.datetime,
    psn_no: str,
    *,
    valid_seconds: int = CODE_SECONDS,
    token_seconds: int = TOKEN_SECONDS,
) -> dict[str, Any]:
    """A new QR code for ``psn_no`` (``now`` is naive Shanghai time)."""
    person = conn.execute(store.PERSON, {"psn_no": psn_no}).first()
    if person is None:
        raise Refusal("person.unknown", f"人员编号 {psn_no} 不存在", f"no person {psn_no}")
    _usable_card(conn, psn_no)
    code = "EC" + secrets.token_hex(16).upper()
    expires = now + dt.timedelta(seconds=valid_seconds)
    conn.execute(
        insert(VOUCHERS),
        {
            "code_digest": digest(code),
            "psn_no": psn_no,
            "issued_at": now,
            "code_expires_at": expires,
            "token_seconds": token_seconds,
        },
    )
    return {
        "ecQrCode": code,
        "psn_no": psn_no,
        "expires_at": expires.isoformat(sep=" "),
        "valid_seconds": valid_seconds,
    }


def exchange(conn: Connection, now: dt.datetime, fixmedins_code: str, code: str) -> dict[str, Any]:
    """``ec.query``: the code, once and before it expires, for a token bound to
    the person and to ``fixmedins_code``; the answer's ``data``."""
    row = conn.execute(_BY_CODE, {"digest": digest(code)}).first()
    if row is None:
        raise Refusal(
            "voucher.forged",
            f"二维码不是本中心签发的医保电子凭证；{_SHOW_NEW}",
            f"the QR code is not a voucher issued by this center: {_SHOW_NEW_EN}",
        )
    if row.exchanged_at is not None:
        raise Refusal(
            "voucher.used",
            f"该二维码已使用过；{_SHOW_NEW}",
            f"this QR code was used already: {_SHOW_NEW_EN}",
        )
    if now >= row.code_expires_at:
        raise Refusal(
            "voucher.expired",
            f"二维码已过期；{_SHOW_NEW}",
            f"the QR code has expired: {_SHOW_NEW_EN}",
        )
    _usable_card(conn, row.psn_no)
    token = "ET" + secrets.token_hex(20)
    done = conn.execute(
        update(VOUCHERS)
        .where(VOUCHERS.c.code_digest == row.code_digest, VOUCHERS.c.exchanged_at.is_(None))
        .values(
            token_digest=digest(token),
            token_expires_at=now + dt.timedelta(seconds=row.token_seconds),
            exchanged_at=now,
            fixmedins_code=fixmedins_code,
        )
    )
    if done.rowcount != 1:  # exchanged by a concurrent request
        raise Refusal(
            "voucher.used",
            f"该二维码已使用过；{_SHOW_NEW}",
            f"this QR code was used already: {_SHOW_NEW_EN}",
        )
    person = conn.execute(store.PERSON, {"psn_no": row.psn_no}).one()
    return {
        "ecToken": token,
        "ecQrCode": code,
        "authNo": secrets.token_hex(8).upper(),
        "idType": "01",
        "idNo": person.id_number,
        "userName": person.name,
        "psnNo": person.psn_no,
        "insuOrg": person.insuplc_admdvs,
        "chnlId": "SSCARD-CENTER",
        "tokenExpiresAt": (now + dt.timedelta(seconds=row.token_seconds)).isoformat(sep=" "),
    }


def _token_row(conn: Connection, now: dt.datetime, fixmedins_code: str, token: str) -> Any:
    row = conn.execute(_BY_TOKEN, {"digest": digest(token)}).first()
    if row is None:
        raise Refusal(
            "voucher.token_forged",
            f"电子凭证令牌 ecToken 无效（非本中心签发）；{_SHOW_NEW}",
            f"the voucher token (ecToken) was not issued by this center: {_SHOW_NEW_EN}",
        )
    if row.fixmedins_code != fixmedins_code:
        raise Refusal(
            "voucher.token_institution",
            f"电子凭证令牌由其他机构换取，不能在本机构使用；{_SHOW_NEW}",
            f"the voucher token was exchanged by another institution: {_SHOW_NEW_EN}",
        )
    if row.spent_msgid is not None:
        raise Refusal(
            "voucher.token_used",
            f"电子凭证令牌已用于一次结算，不能再次使用；{_SHOW_NEW}",
            f"the voucher token was used for a settlement already: {_SHOW_NEW_EN}",
        )
    if row.token_expires_at is None or now >= row.token_expires_at:
        raise Refusal(
            "voucher.token_expired",
            f"电子凭证令牌已过期；{_SHOW_NEW}",
            f"the voucher token has expired: {_SHOW_NEW_EN}",
        )
    return row


def person_of_token(
    conn: Connection,
    now: dt.datetime,
    fixmedins_code: str,
    token: str,
    psn_no: str | None = None,
) -> tuple[str, str]:
    """The person and their usable card for a token (mdtrt_cert_type 01): the
    token must be this institution's, unspent, unexpired and, when the input
    names ``psn_no``, that person's."""
    row = _token_row(conn, now, fixmedins_code, token)
    if psn_no is not None and row.psn_no != psn_no:
        raise Refusal(
            "voucher.token_person",
            "电子凭证不是该参保人的",
            f"the voucher token is not person {psn_no}'s",
        )
    card = _usable_card(conn, row.psn_no)
    return str(row.psn_no), str(card.card_no)


def spend(conn: Connection, token: str, msgid: str) -> None:
    """Mark the token used by the settlement ``msgid`` (2207, 2102)."""
    done = conn.execute(
        update(VOUCHERS)
        .where(VOUCHERS.c.token_digest == digest(token), VOUCHERS.c.spent_msgid.is_(None))
        .values(spent_msgid=msgid)
    )
    if done.rowcount != 1:
        raise Refusal(
            "voucher.token_used",
            f"电子凭证令牌已用于一次结算，不能再次使用；{_SHOW_NEW}",
            f"the voucher token was used for a settlement already: {_SHOW_NEW_EN}",
        )
