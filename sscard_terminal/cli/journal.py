"""``sscard journal``: show and settle the terminal's journal of settlement messages.

Thin calls into :mod:`sscard_terminal.settlement` (settlement-interface.md,
"Journal rule from robust clients"):

- ``sscard journal list [--open] [--json]``: the messages, newest last;
- ``sscard journal resolve --center URL``: settle every open entry (UNKNOWN,
  and PENDING left by a process that is gone) by 5203 or 2601. Exit code 0
  when nothing is left open, 8 (outcome unknown) when something is.

The terminal is described by ``terminal.yaml`` (``--config``, or
$SSCARD_TERMINAL_CONFIG; see :mod:`sscard_terminal.settlement.config`); each
of its settings can also be given as an option. The institution's secret is
only ever read from a file (``--secret-file``), never taken as an argument.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from sscard_terminal.cli.options import stop_on_broken_pipe
from sscard_terminal.errors import ExitCode, SscardError

F = TypeVar("F", bound=Callable[..., Any])

ENV_CONFIG = "SSCARD_TERMINAL_CONFIG"


def _errors(func: F) -> F:
    """One line and an exit code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SscardError as exc:
            click.echo(f"sscard journal: {exc.one_line()}", err=True)
            sys.exit(int(exc.exit_code))
        except KeyboardInterrupt:
            click.echo("sscard journal: interrupted", err=True)
            sys.exit(130)
        except BrokenPipeError:
            stop_on_broken_pipe()
        except OSError as exc:
            click.echo(
                f"sscard journal: {exc.strerror or exc} ({exc.filename or 'system'}); "
                "check the path and its permissions",
                err=True,
            )
            sys.exit(int(ExitCode.USAGE))
        except Exception as exc:  # a bug: still one line, and say where to look
            logging.getLogger(__name__).debug("internal error", exc_info=True)
            click.echo(
                f"sscard journal: internal error ({type(exc).__name__}); run with -vv for details",
                err=True,
            )
            sys.exit(int(ExitCode.INTERNAL))

    return wrapper  # type: ignore[return-value]


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max([_width(h)] + [_width(r[i]) for r in rows]) for i, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        return "  ".join(c + " " * (w - _width(c)) for c, w in zip(cells, widths, strict=True))

    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="terminal.yaml (default: $SSCARD_TERMINAL_CONFIG, else ./terminal.yaml if present).",
)
_journal_option = click.option(
    "--journal",
    "journal_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The journal file (overrides the configuration's).",
)


def _load_config(config_path: Path | None, required: bool) -> Any:
    from sscard_terminal.settlement.config import TerminalConfig

    path = config_path or (Path(os.environ[ENV_CONFIG]) if os.environ.get(ENV_CONFIG) else None)
    if path is None and Path("terminal.yaml").exists():
        path = Path("terminal.yaml")
    if path is None:
        return None
    if not path.exists() and not required:
        return None
    return TerminalConfig.load(path)


@click.group()
def journal() -> None:
    """The terminal's journal of settlement messages: show and settle what is open."""


# -- list -------------------------------------------------------------------------------------
def _amount(entry: Any) -> str:
    info = entry.setlinfo
    if not info:
        return ""
    return f"{info.get('medfee_sumamt', '')}"


def _row(entry: Any) -> list[str]:
    note = entry.err_msg or entry.error or entry.resolution_note or ""
    return [
        str(entry.id),
        entry.created_at[:19].replace("T", " "),
        entry.msgid,
        entry.infno,
        entry.status.value,
        entry.resolution.value if entry.resolution else ("OPEN" if entry.is_open else ""),
        entry.psn_no or "",
        entry.setl_id or entry.mdtrt_id or "",
        _amount(entry),
        entry.card_record.value if entry.card_record else "",
        note if len(note) <= 60 else note[:57] + "...",
    ]


@journal.command("list")
@_config_option
@_journal_option
@click.option("--open", "open_only", is_flag=True, help="Only the open entries (PENDING, UNKNOWN).")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1), help="The last N.")
@_errors
def list_(
    config_path: Path | None,
    journal_path: Path | None,
    open_only: bool,
    as_json: bool,
    limit: int,
) -> None:
    """Show the journal's messages (ID numbers and names masked)."""
    from sscard_terminal.settlement.errors import ConfigError
    from sscard_terminal.settlement.journal import Journal

    if journal_path is None:
        config = _load_config(config_path, required=True)
        if config is None:
            raise ConfigError(
                "no journal given", hint="give --journal FILE or --config terminal.yaml"
            )
        journal_path = config.journal_path
    if not journal_path.exists():
        raise ConfigError(f"there is no journal {journal_path}")
    with Journal(journal_path) as book:
        entries = book.entries(open_only=open_only, limit=limit)
    if as_json:
        click.echo(
            json.dumps(
                {"journal": str(journal_path), "entries": [e.as_json() for e in entries]},
                ensure_ascii=False,
                indent=2,
                default=str,
            )
        )
        return
    if not entries:
        click.echo("nothing open" if open_only else "the journal is empty")
        return
    header = ["id", "time", "msgid", "infno", "status", "resolution", "psn_no", "setl/visit"]
    header += ["amount", "card record", "note"]
    click.echo(_table(header, [_row(e) for e in entries]))
    still = sum(1 for e in entries if e.is_open)
    if still:
        click.echo(f"\n{still} open: settle with `sscard journal resolve`")
    _say_owed(journal_path)


def _say_owed(journal_path: Path) -> None:
    """A line on the card records still owed (written at each card's next use)."""
    from sscard_terminal.settlement.journal import Journal

    with Journal(journal_path) as book:
        owed = book.card_records_owed()
    if owed:
        cards = len({e.card_no for e in owed})
        click.echo(
            f"{len(owed)} card record(s) owed to {cards} card(s): written when the card "
            "is next used at this terminal, after its PIN"
        )


# -- resolve ----------------------------------------------------------------------------------
#: the options that set terminal.yaml's fields (named when a setting is missing)
SETTING_FLAGS = {
    "institution.fixmedins_code": "--fixmedins-code",
    "institution.fixmedins_name": "--fixmedins-name",
    "institution.mdtrtarea_admvs": "--admvs",
    "institution.secret_file": "--secret-file",
    "operator.opter": "--opter",
    "operator.opter_name": "--opter-name",
    "operator.opter_type": "--opter-type",
    "timeout": "--timeout",
    "journal": "--journal",
    "center": "--center",
}


def _terminal_config(
    config_path: Path | None, journal_path: Path | None, overrides: dict[str, Any]
) -> Any:
    from sscard_terminal.settlement.config import TerminalConfig

    config = _load_config(config_path, required=config_path is not None)
    raw: dict[str, Any] = (
        {"institution": {}, "operator": {}}
        if config is None
        else config.model_dump(mode="python", exclude_none=True)
    )
    for key in ("fixmedins_code", "fixmedins_name", "mdtrtarea_admvs", "secret_file"):
        if overrides.get(key) is not None:
            raw["institution"][key] = overrides[key]
    for key in ("opter_type", "opter", "opter_name"):
        if overrides.get(key) is not None:
            raw["operator"][key] = overrides[key]
    if overrides.get("timeout") is not None:
        raw["timeout"] = overrides["timeout"]
    if journal_path is not None:
        raw["journal"] = journal_path
    merged = TerminalConfig.from_mapping(
        raw, source=str(config_path or "the options"), flags=SETTING_FLAGS
    )
    return merged.relative_to(Path.cwd()) if config is None else merged


@journal.command()
@click.option("--center", "center_url", default=None, help="The center's base URL.")
@_config_option
@_journal_option
@click.option("--fixmedins-code", default=None, help="Institution code (12 characters).")
@click.option("--fixmedins-name", default=None, help="Institution name.")
@click.option("--admvs", "mdtrtarea_admvs", default=None, help="Division of care (6 digits).")
@click.option(
    "--secret-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File holding the institution's secret (owner-readable).",
)
@click.option("--opter", default=None, help="Operator or terminal number.")
@click.option("--opter-name", default=None, help="Operator or terminal name.")
@click.option(
    "--opter-type",
    type=click.Choice(["1", "2", "3"]),
    default=None,
    help="1 operator, 2 self-service kiosk, 3 mobile.",
)
@click.option("--timeout", type=click.FloatRange(0.1, 600), default=None, help="HTTP timeout (s).")
@click.option(
    "--reverse-booked",
    is_flag=True,
    help="Reverse (2601) settlements found booked instead of confirming them.",
)
@click.option("--json", "as_json", is_flag=True, help="JSON instead of text.")
@_errors
def resolve(
    center_url: str | None,
    config_path: Path | None,
    journal_path: Path | None,
    fixmedins_code: str | None,
    fixmedins_name: str | None,
    mdtrtarea_admvs: str | None,
    secret_file: Path | None,
    opter: str | None,
    opter_name: str | None,
    opter_type: str | None,
    timeout: float | None,
    reverse_booked: bool,
    as_json: bool,
) -> None:
    """Settle every open entry: 5203 lookup or 2601 reversal, never a resend."""
    config = _terminal_config(
        config_path,
        journal_path,
        {
            "fixmedins_code": fixmedins_code,
            "fixmedins_name": fixmedins_name,
            "mdtrtarea_admvs": mdtrtarea_admvs,
            "secret_file": secret_file,
            "opter": opter,
            "opter_name": opter_name,
            "opter_type": opter_type,
            "timeout": timeout,
        },
    )
    from sscard_terminal.settlement.resolution import resolve

    with config.client(center_url) as client:
        report = resolve(client, confirm_booked=not reverse_booked)
    if as_json:
        click.echo(json.dumps(report.as_json(), ensure_ascii=False, indent=2, default=str))
    elif not report.outcomes:
        click.echo("nothing open")
    else:
        rows = [
            [
                o.msgid,
                o.infno,
                o.action,
                o.status,
                o.resolved_by or "",
                (o.note or "")[:70],
            ]
            for o in report.outcomes
        ]
        click.echo(_table(["msgid", "infno", "action", "status", "by", "note"], rows))
    if not as_json:
        _say_owed(config.journal_path)
    if not report.ok:
        click.echo(
            f"sscard journal: {len(report.still_open)} still open; run resolve again "
            "when the center answers",
            err=True,
        )
        sys.exit(int(ExitCode.OUTCOME_UNKNOWN))
