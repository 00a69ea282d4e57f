"""``sscard voucher new``: an electronic medical-insurance voucher's QR code,
as the person's phone app shows it (center/voucher.py; docs/center.md,
"The electronic voucher").

The center issues the code through its admin API (``POST /admin/vouchers``,
the admin token from ``$SSCARD_CENTER_ADMIN_TOKEN`` or ``--admin-token-file``);
the command prints the QR code in the terminal, its text, and writes a PNG
(segno). A scanner at a kiosk or till types that text; ``--voucher CODE`` of
the flows takes it.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import click
import httpx
import yaml

from sscard_terminal.cli.options import handle_errors
from sscard_terminal.errors import UsageError
from sscard_terminal.settlement.errors import CenterRefused, CenterUnavailable, UnexpectedAnswer

__all__ = ["voucher"]

ENV_TOKEN = "SSCARD_CENTER_ADMIN_TOKEN"


def _id_number_of(person_file: Path) -> str:
    from sscard_terminal.vcard.personalise import person_file_parts

    try:
        data = yaml.safe_load(person_file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        raise UsageError(f"--person {person_file}: not a readable YAML or JSON file") from None
    person, _card = person_file_parts(data, str(person_file))
    return person.id_number


def _token(token_file: Path) -> str:
    if os.environ.get(ENV_TOKEN):
        return os.environ[ENV_TOKEN]
    try:
        return token_file.read_text(encoding="utf-8").strip()
    except OSError:
        raise UsageError(
            f"no admin token: set ${ENV_TOKEN} or give --admin-token-file "
            f"({token_file} cannot be read)"
        ) from None


def request_voucher(
    center_url: str, token: str, who: dict[str, Any], valid_seconds: int
) -> dict[str, Any]:
    """``POST /admin/vouchers``; the center's answer (ecQrCode, expires_at)."""
    url = center_url.rstrip("/") + "/admin/vouchers"
    try:
        answer = httpx.post(
            url,
            json={**who, "valid_seconds": valid_seconds},
            headers={"authorization": f"Bearer {token}"},
            timeout=15.0,
            trust_env=False,
        )
    except httpx.TransportError as exc:
        raise CenterUnavailable(
            f"the center at {center_url} cannot be reached ({type(exc).__name__})"
        ) from None
    try:
        body = answer.json()
    except ValueError:
        raise UnexpectedAnswer(f"HTTP {answer.status_code} from {url}: not JSON") from None
    if answer.status_code != 200 or not isinstance(body, dict) or "ecQrCode" not in body:
        message = body.get("err_msg") if isinstance(body, dict) else None
        raise CenterRefused(str(message or f"HTTP {answer.status_code}"), infno="voucher")
    return body


@click.group()
def voucher() -> None:
    """The electronic medical-insurance voucher (医保电子凭证)."""


@voucher.command("new")
@click.option(
    "--person",
    "person_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A person file (YAML or JSON with id_number).",
)
@click.option("--psn-no", default=None, help="The center's person number.")
@click.option(
    "--center",
    "center_url",
    default="http://127.0.0.1:8080",
    show_default=True,
    help="The center's base URL (it issues the code).",
)
@click.option(
    "--admin-token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("sscard-center.admin-token"),
    show_default=True,
    help=f"The center's admin token (or ${ENV_TOKEN}).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("voucher.png"),
    show_default=True,
    help="Where to write the QR code as PNG.",
)
@click.option(
    "--valid-seconds",
    type=click.IntRange(1, 3600),
    default=300,
    show_default=True,
    help="How long the code can be scanned.",
)
@click.option("--quiet", "-q", is_flag=True, help="Print only the code's text.")
@handle_errors
def new(
    person_file: Path | None,
    psn_no: str | None,
    center_url: str,
    admin_token_file: Path,
    out: Path,
    valid_seconds: int,
    quiet: bool,
) -> None:
    """A QR code for a person: printed here, written to --out, its text on the last line."""
    import segno

    if (person_file is None) == (psn_no is None):
        raise UsageError("give exactly one of --person FILE and --psn-no N")
    if person_file is not None:
        who = {"id_number": _id_number_of(person_file)}
    else:
        who = {"psn_no": str(psn_no)}
    issued = request_voucher(center_url, _token(admin_token_file), who, valid_seconds)
    code = str(issued["ecQrCode"])
    qr = segno.make(code, error="m")
    qr.save(str(out), kind="png", scale=8, border=4)
    if not quiet:
        picture = io.StringIO()
        qr.terminal(out=picture, compact=True)
        click.echo(picture.getvalue(), nl=False)
        click.echo(f"person {issued['psn_no']}, valid until {issued['expires_at']}; PNG: {out}")
    click.echo(code)
