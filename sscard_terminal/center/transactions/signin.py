"""9001 sign-in and 9002 sign-out (settlement-interface.md, "Transactions").

A terminal signs in once per operator (opter) and day and sends the returned
sign_no with every later message. A sign_no lives until its 9002 or the end
of its day (Asia/Shanghai); it belongs to one institution and one opter.
"""

from __future__ import annotations

import secrets
from typing import Any

from pydantic import Field

from sscard_terminal.center import fastsql, store
from sscard_terminal.center.refusals import Refusal
from sscard_terminal.center.transactions.context import MessageContext
from sscard_terminal.center.transactions.fields import (
    Code30,
    InputModel,
    Text64,
)
from sscard_terminal.center.transactions.registry import transaction

__all__ = ["SignInRefusal", "check_sign_in", "require_signed_in", "sign_in_read"]


class SignInData(InputModel):
    opter_no: Code30
    mac: Text64
    ip: Text64


class SignInInput(InputModel):
    signIn: SignInData  # noqa: N815 - the interface's node name


class SignOutData(InputModel):
    sign_no: Code30
    opter_no: Code30


class SignOutInput(InputModel):
    signOut: SignOutData = Field()  # noqa: N815


def _time(ctx: MessageContext) -> str:
    return f"{ctx.local_now:%Y%m%d%H%M%S}"


@transaction("9001", "sign-in", SignInInput, needs_sign_in=False)
def sign_in(ctx: MessageContext, data: SignInInput) -> dict[str, Any]:
    if data.signIn.opter_no != ctx.envelope.opter:
        raise Refusal(
            "signin.opter",
            "签到的操作员编号 opter_no 须与报文 opter 一致",
            "signIn.opter_no must be the envelope's opter",
        )
    sign_no = f"{ctx.now:%Y%m%d%H%M%S}{secrets.randbelow(10**16):016d}"
    ctx.conn.execute(
        store.NEW_SIGN_IN,
        {
            "sign_no": sign_no,
            "fixmedins_code": ctx.code,
            "opter": ctx.envelope.opter,
            "sign_date": ctx.today,
            "signed_in_at": ctx.local_now,
            "signed_out_at": None,
        },
    )
    return {"signinoutb": {"sign_time": _time(ctx), "sign_no": sign_no}}


@transaction("9002", "sign-out", SignOutInput)
def sign_out(ctx: MessageContext, data: SignOutInput) -> dict[str, Any]:
    if data.signOut.sign_no != ctx.envelope.sign_no:
        raise Refusal(
            "signout.sign_no",
            "签退的 sign_no 须与报文 sign_no 一致",
            "signOut.sign_no must be the envelope's sign_no",
        )
    ctx.conn.execute(
        store.SIGN_OUT, {"b_sign_no": data.signOut.sign_no, "signed_out_at": ctx.local_now}
    )
    return {"signoutoutb": {"sign_time": _time(ctx)}}


class SignInRefusal(Refusal):
    """No live sign-in: answered without a journal entry."""


def sign_in_read(ctx: MessageContext) -> tuple[fastsql.Prepared, dict[str, Any]]:
    """The read that :func:`check_sign_in` checks, for a batch (refuses a message
    without sign_no at once)."""
    sign_no = ctx.envelope.sign_no
    if not sign_no:
        raise SignInRefusal(
            "signin.missing",
            "缺少签到编号 sign_no，请先签到（9001）",
            "no sign_no: sign in with 9001 first",
        )
    return store.Fast.SIGN_IN, {"sign_no": sign_no}


def require_signed_in(ctx: MessageContext) -> None:
    """Refuse a message without a live sign_no of this institution and opter."""
    prepared, params = sign_in_read(ctx)
    check_sign_in(ctx, fastsql.run(ctx.conn, prepared, params))


def check_sign_in(ctx: MessageContext, rows: list[Any]) -> None:
    """Refuse (:class:`SignInRefusal`) unless ``rows`` (of :func:`sign_in_read`)
    hold a live sign-in of this institution and opter."""
    ctx.sign_in_pending = False
    row = rows[0] if rows else None
    if row is None or row.fixmedins_code != ctx.code:
        raise SignInRefusal(
            "signin.unknown",
            "签到编号 sign_no 无效，请重新签到（9001）",
            "unknown sign_no: sign in again with 9001",
        )
    if row.opter != ctx.envelope.opter:
        raise SignInRefusal(
            "signin.opter",
            "签到编号 sign_no 属于其他操作员，请以本操作员签到",
            "the sign_no belongs to another operator: sign in as this operator",
        )
    if row.signed_out_at is not None:
        raise SignInRefusal(
            "signin.signed_out",
            "该签到编号已签退，请重新签到（9001）",
            "this sign_no was signed out: sign in again with 9001",
        )
    if row.sign_date != ctx.today:
        raise SignInRefusal(
            "signin.expired",
            f"签到编号已于 {row.sign_date} 日终失效，请重新签到（9001）",
            f"the sign_no expired at the end of {row.sign_date}: sign in again with 9001",
        )
