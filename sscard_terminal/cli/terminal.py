"""``sscard terminal init``: a working terminal.yaml and secret file for a center.

The settlement flows and ``sscard journal`` read the terminal's configuration
from terminal.yaml (:mod:`sscard_terminal.settlement.config`). For a local
center seeded with ``sscard center seed``, the institution's code, name,
division and secret are in the seed's institutions.json; this command writes
terminal.yaml from it, and the secret to a file of its own (mode 0600) that
terminal.yaml names, so the configuration can be shown without the secret.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
import yaml

from sscard_terminal.cli.options import handle_errors
from sscard_terminal.errors import UsageError


@click.group()
def terminal() -> None:
    """This terminal's configuration (terminal.yaml)."""


@terminal.command("init")
@click.option(
    "--institutions",
    "institutions_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="institutions.json written by `sscard center seed`.",
)
@click.option("--code", "fixmedins_code", required=True, help="The institution of this terminal.")
@click.option(
    "--center",
    "center_url",
    default="http://127.0.0.1:8080",
    show_default=True,
    help="The center's base URL.",
)
@click.option("--opter", default="0001", show_default=True, help="Operator or terminal number.")
@click.option("--opter-name", default=None, help="Operator or terminal name [operator OPTER].")
@click.option(
    "--opter-type",
    type=click.Choice(["1", "2", "3"]),
    default="1",
    show_default=True,
    help="1 operator, 2 self-service kiosk, 3 mobile.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("terminal.yaml"),
    show_default=True,
    help="The configuration to write; the secret goes beside it as CODE.secret.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing configuration and secret.")
@handle_errors
def init(
    institutions_file: Path,
    fixmedins_code: str,
    center_url: str,
    opter: str,
    opter_name: str | None,
    opter_type: str,
    out: Path,
    force: bool,
) -> None:
    """Write terminal.yaml and the institution's secret file for a seeded center."""
    from sscard_terminal.cli.center import CenterCliError, _institutions
    from sscard_terminal.settlement.config import TerminalConfig

    try:
        known = _institutions(institutions_file)
    except CenterCliError as exc:
        raise UsageError(str(exc)) from None
    inst = next((i for i in known if i["fixmedins_code"] == fixmedins_code), None)
    if inst is None:
        codes = ", ".join(i["fixmedins_code"] for i in known)
        raise UsageError(f"{fixmedins_code} is not in {institutions_file}", hint=f"one of {codes}")
    secret_file = out.parent / f"{fixmedins_code}.secret"
    for path in (out, secret_file):
        if path.exists() and not force:
            raise UsageError(f"{path} exists", hint="give --force to overwrite it")
    config = {
        "center": center_url,
        "institution": {
            "fixmedins_code": inst["fixmedins_code"],
            "fixmedins_name": inst["fixmedins_name"],
            "mdtrtarea_admvs": inst["admdvs"],
            "secret_file": secret_file.name,
        },
        "operator": {
            "opter_type": opter_type,
            "opter": opter,
            "opter_name": opter_name or f"operator {opter}",
        },
    }
    TerminalConfig.from_mapping(config, source="the options")  # checked before anything is written
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(inst["secret"] + "\n")
    os.chmod(secret_file, 0o600)
    text = yaml.safe_dump(config, allow_unicode=True, sort_keys=False)
    out.write_text(f"# written by sscard terminal init from {institutions_file}\n{text}", "utf-8")
    click.echo(f"wrote {out} (institution {fixmedins_code}, center {center_url}) and {secret_file}")
