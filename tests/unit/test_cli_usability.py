"""What a new user meets at the command line: messages, exit codes
and options of ``sscard``, run in-process with click's runner where no card or
pcscd is needed."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from sscard_terminal.errors import PcscdNotRunningError


def test_pcscd_hint_names_a_pcscd_that_keeps_running() -> None:
    # `sscard demo` stops the pcscd it started when it ends: no use as a hint
    line = PcscdNotRunningError("pcscd is not running (no socket)").one_line()
    assert "sscard demo" not in line
    assert "pcscd" in line and "running" in line


def test_receipt_text_keeps_item_codes_whole() -> None:
    from decimal import Decimal

    from sscard_terminal.terminal.receipt import Receipt, ReceiptLine

    code = "XC09AAA007A001010100003"  # the national drug code: 23 characters
    other = "250101001"
    receipt = Receipt(
        "门诊结算", "H33020300001", "宁波市第一医院", "2026-01-02 10:00:00",
        "张三", "330203199001011237", "A1234567X", "S1", "M1",
        Decimal("13.00"), Decimal("0"), Decimal("13.00"), Decimal("0"), None,
        lines=(
            ReceiptLine("缬沙坦胶囊", code, Decimal(2), Decimal("4.00"), Decimal("8.00")),
            ReceiptLine(other, other, Decimal(1), Decimal("5.00"), Decimal("5.00")),
        ),
    )  # fmt: skip
    text = receipt.to_text()
    assert code in text and "缬沙坦胶囊" in text and other in text
    assert "2 x     4.00 =      8.00" in text


def _commands(cmd: Any, path: list[str]) -> Iterator[tuple[str, Any]]:
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            yield from _commands(sub, [*path, name])
    yield " ".join(path), cmd


def test_every_option_has_help_and_no_command_shows_rest_markup() -> None:
    from sscard_terminal.cli.main import cli

    bare = [
        f"{where} {param.opts[0]}"
        for where, cmd in _commands(cli, ["sscard"])
        for param in cmd.params
        if isinstance(param, click.Option) and not param.help
    ]
    assert bare == []
    for where, _ in _commands(cli, ["sscard"]):
        shown = CliRunner().invoke(cli, [*where.split()[1:], "--help"]).output
        assert "``" not in shown and ":class:" not in shown and ":func:" not in shown, where


def test_version() -> None:
    from importlib.metadata import version

    from sscard_terminal.cli.main import cli

    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"sscard, version {version('sscard-terminal')}"


SSCARD = str(Path(sys.executable).parent / "sscard")


def _closed_early(*args: str) -> subprocess.CompletedProcess[str]:
    """``sscard ARGS | head -0``: the reader is gone before sscard writes (it
    takes longer than this to start)."""
    proc = subprocess.Popen(
        [SSCARD, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    return subprocess.CompletedProcess(args, proc.wait(timeout=60), "", err)


def test_output_cut_short_by_its_reader_is_no_error() -> None:
    result = _closed_early("center", "openapi")
    assert result.stderr == "" and result.returncode == 0


def test_handle_errors_stops_quietly_on_a_broken_pipe() -> None:
    from sscard_terminal.cli.options import handle_errors

    @handle_errors
    def printing() -> None:
        raise BrokenPipeError(32, "Broken pipe")

    with pytest.raises(SystemExit) as stopped:
        printing()
    assert stopped.value.code == 0


def test_card_new_says_when_it_creates_a_directory(tmp_path: Path) -> None:
    from sscard_terminal.cli.main import cli

    out = tmp_path / "cards" / "new" / "card.json"
    result = CliRunner().invoke(cli, ["card", "new", "--profile", "ningbo-gen2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.exists()
    assert f"created the directory {out.parent}" in result.output
    again = CliRunner().invoke(cli, ["card", "new", "--profile", "ningbo-gen2", "--out", str(out)])
    assert again.exit_code == 0 and "created" not in again.output


BROKEN_YAML = "name: 张三\nid_number: [unclosed\nethnic_group: '01'\n"


def test_yaml_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    from sscard_terminal.cli.main import cli

    broken = tmp_path / "person.yaml"
    broken.write_text(BROKEN_YAML, encoding="utf-8")
    result = CliRunner().invoke(
        cli,
        ["card", "new", "--profile", "ningbo-gen2", "--person", str(broken), "--out", "x.json"],
    )
    assert result.exit_code == 2
    line = result.output.strip()
    assert len(line.splitlines()) == 1
    assert f"{broken} line 3, column " in line and "YAML syntax error" in line
    assert "unclosed" not in line  # not a squashed fragment of the document


@pytest.mark.parametrize("kind", ["terminal", "schedule", "keyset", "profile", "registry"])
def test_every_yaml_loader_says_where(kind: str, tmp_path: Path) -> None:
    from sscard_terminal.errors import SscardError

    broken = tmp_path / f"{kind}.yaml"
    broken.write_text("a: 1\nb: [2\nc: 3\n", encoding="utf-8")
    with pytest.raises(SscardError) as err:
        if kind == "terminal":
            from sscard_terminal.settlement.config import TerminalConfig

            TerminalConfig.load(broken)
        elif kind == "schedule":
            from sscard_terminal.terminal.schedule import load_schedule

            load_schedule(broken)
        elif kind == "keyset":
            from sscard_terminal.crypto.keyset import load_key_set

            load_key_set(broken)
        elif kind == "profile":
            from sscard_terminal.vcard.profile import load_profile

            load_profile(broken)
        else:
            from sscard_terminal.keyservice.registry import load_terminals

            load_terminals(broken)
    assert f"{broken} line 3, column 2: YAML syntax error" in str(err.value)


def test_policy_yaml_error_says_where(tmp_path: Path) -> None:
    from sscard_terminal.center.policy import PolicyError, load_policy

    broken = tmp_path / "policy.yaml"
    broken.write_text("a: 1\nb: [2\nc: 3\n", encoding="utf-8")
    with pytest.raises(PolicyError) as err:
        load_policy(str(broken))
    assert f"{broken} line 3, column 2: YAML syntax error" in str(err.value)


INSTITUTIONS = [
    {"fixmedins_code": "H33020300001", "fixmedins_name": "宁波市第一医院", "admdvs": "330203",
     "secret": "s3cr3t" * 8},
    {"fixmedins_code": "P33020300003", "fixmedins_name": "海曙区大药房", "admdvs": "330203",
     "secret": "p" * 48},
]  # fmt: skip


def test_terminal_init_writes_a_configuration_that_loads(tmp_path: Path) -> None:
    import json
    import stat

    from sscard_terminal.cli.main import cli
    from sscard_terminal.settlement.config import TerminalConfig

    institutions = tmp_path / "institutions.json"
    institutions.write_text(json.dumps(INSTITUTIONS), encoding="utf-8")
    out = tmp_path / "till" / "pharmacy.yaml"
    args = ["terminal", "init", "--institutions", str(institutions), "--code", "P33020300003"]
    result = CliRunner().invoke(cli, [*args, "--out", str(out), "--opter", "0007"])
    assert result.exit_code == 0, result.output
    secret = out.parent / "P33020300003.secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert "p" * 48 not in out.read_text(encoding="utf-8")  # the secret stays in its file
    config = TerminalConfig.load(out)
    assert config.center == "http://127.0.0.1:8080"
    assert config.institution_config().secret == "p" * 48
    assert config.institution.fixmedins_name == "海曙区大药房"
    assert config.operator.opter == "0007" and config.operator.opter_type == "1"
    assert config.journal_path == out.parent / "journal-P33020300003-0007.db"
    # nothing is overwritten without --force
    again = CliRunner().invoke(cli, [*args, "--out", str(out)])
    assert again.exit_code == 2 and "--force" in again.output
    unknown = CliRunner().invoke(
        cli, ["terminal", "init", "--institutions", str(institutions), "--code", "H99"]
    )
    assert unknown.exit_code == 2 and "H33020300001" in unknown.output


def test_missing_settings_name_the_option_and_the_field(tmp_path: Path) -> None:
    from sscard_terminal.cli.main import cli

    result = CliRunner().invoke(cli, ["journal", "resolve", "--center", "http://127.0.0.1:9"])
    assert result.exit_code == 2
    line = result.output.strip()
    assert len(line.splitlines()) == 1
    assert "--secret-file or `institution.secret_file` in terminal.yaml" in line
    assert "--fixmedins-code or `institution.fixmedins_code` in terminal.yaml" in line
    assert "sscard terminal init" in line


def test_wait_gives_up_on_a_url_that_does_not_answer() -> None:
    import socket

    from sscard_terminal.cli.main import cli

    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    result = CliRunner().invoke(
        cli, ["wait", "--url", f"http://127.0.0.1:{port}/health", "--timeout", "0.3"]
    )
    assert result.exit_code == 3 and f"127.0.0.1:{port}" in result.output


def test_wait_returns_once_a_url_answers() -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from sscard_terminal.cli.main import cli

    class Ok(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    with HTTPServer(("127.0.0.1", 0), Ok) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/health"
        result = CliRunner().invoke(cli, ["wait", "--url", url, "--timeout", "5"])
        server.shutdown()
    assert result.exit_code == 0, result.output


def test_documented_catalogue_is_the_seeded_one() -> None:
    from sscard_terminal.center.seed.demo_data import load_demo_data

    # the seeded catalogue as (code, name, kind, class, self-pay share, price cap
    # as written, type)
    catalogue = [
        (
            c.list_code,
            c.name,
            c.kind,
            c.chrgitm_lv,
            c.selfpay_prop,
            None if c.price_cap is None else str(c.price_cap),
            c.med_chrgitm_type,
        )
        for c in load_demo_data().catalogue
    ]

    text = (Path(__file__).parents[2] / "docs" / "center.md").read_text(encoding="utf-8")
    table = text.split("<!-- catalogue:", 1)[1].split("\n\n", 1)[0]
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in table.splitlines()[3:]
        if line.startswith("|")
    ]
    classes = {"01": "A", "02": "B", "03": "C"}
    assert [(r[0], r[1], r[2], r[3][0], r[4] or None) for r in rows] == [
        (code, name, kind, classes[lv], cap) for code, name, kind, lv, _, cap, _ in catalogue
    ]
