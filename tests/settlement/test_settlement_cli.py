"""``sscard journal list|resolve`` (sscard_terminal.cli.journal) with a
terminal.yaml, against the real center."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from sscard_terminal.cli.journal import journal
from sscard_terminal.errors import ExitCode
from sscard_terminal.settlement import OutcomeUnknown
from sscard_terminal.settlement.config import EXAMPLE, TerminalConfig
from sscard_terminal.settlement.inputs import DrugSale
from sscard_terminal.settlement.models import DrugDetail
from tests.settlement.fault_proxy import FaultProxy
from tests.settlement.settlement_fixtures import (
    CLASS_A_DRUG,
    PHARMACY,
    ClientFactory,
    RunningCenter,
    free_port,
    insured,
)


def write_config(
    center: RunningCenter, where: Path, journal_file: Path, *, slot: int, mode: int = 0o600
) -> Path:
    inst = center.institution(PHARMACY)
    secret = where / "pharmacy.secret"
    secret.write_text(inst["secret"] + "\n")
    secret.chmod(mode)
    config = where / "terminal.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "center": center.base_url,
                "journal": str(journal_file),
                "timeout": 5,
                "msgid_slot": slot,
                "institution": {
                    "fixmedins_code": PHARMACY,
                    "fixmedins_name": inst["fixmedins_name"],
                    "mdtrtarea_admvs": inst["admdvs"],
                    "secret_file": "pharmacy.secret",
                },
                "operator": {"opter_type": 1, "opter": "0001", "opter_name": "店员甲"},
            },
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    return config


@pytest.fixture
def lost_sale(
    center: RunningCenter, make_client: ClientFactory, proxy: FaultProxy
) -> tuple[str, Path, int]:
    """A 2102 whose answer was lost: (msgid, journal file, its slot)."""
    client = make_client(PHARMACY, url=proxy.base_url, timeout=2.0)
    person, _ = insured(center, balance="50.00")
    ref = client.person_by_card(person.card_no or "", person.card_sn or "").ref
    proxy.arm("2102", "drop_answer")
    with pytest.raises(OutcomeUnknown) as caught:
        client.pharmacy_settle(
            DrugSale(
                ref,
                mdtrt_cert_type="03",
                mdtrt_cert_no=person.card_no or "",
                insutype="310",
                lines=[
                    DrugDetail("1", CLASS_A_DRUG, "Y", Decimal(1), Decimal("9.00"), Decimal("9.00"))
                ],
            )
        )
    return caught.value.msgid, client.journal.path, client.msgid_slot


def test_list_resolve_list(
    center: RunningCenter, lost_sale: tuple[str, Path, int], tmp_path: Path
) -> None:
    msgid, journal_file, slot = lost_sale
    config = write_config(center, tmp_path, journal_file, slot=slot)
    runner = CliRunner()
    shown = runner.invoke(journal, ["list", "--config", str(config), "--open"])
    assert shown.exit_code == 0, shown.output
    assert msgid in shown.output and "UNKNOWN" in shown.output and "1 open" in shown.output
    as_json = runner.invoke(journal, ["list", "--journal", str(journal_file), "--open", "--json"])
    [entry] = json.loads(as_json.output)["entries"]
    assert entry["msgid"] == msgid and entry["status"] == "UNKNOWN" and entry["open"]

    settled = runner.invoke(journal, ["resolve", "--config", str(config), "--json"])
    assert settled.exit_code == 0, settled.output
    report = json.loads(settled.output)
    assert report["ok"]
    [outcome] = report["outcomes"]
    assert outcome["msgid"] == msgid and outcome["action"] == "confirmed"

    after = runner.invoke(journal, ["list", "--journal", str(journal_file), "--open"])
    assert after.exit_code == 0 and "nothing open" in after.output
    everything = runner.invoke(journal, ["list", "--journal", str(journal_file), "--json"])
    entries = {e["msgid"]: e for e in json.loads(everything.output)["entries"]}
    assert entries[msgid]["resolution"] == "CONFIRMED" and entries[msgid]["booked"]
    assert entries[entries[msgid]["resolved_by"]]["infno"] == "5203"


def test_resolve_with_options_and_the_center_down(
    center: RunningCenter, lost_sale: tuple[str, Path, int], tmp_path: Path
) -> None:
    msgid, journal_file, slot = lost_sale
    config = write_config(center, tmp_path, journal_file, slot=slot)
    runner = CliRunner()
    down = runner.invoke(
        journal,
        ["resolve", "--config", str(config), "--center", f"http://127.0.0.1:{free_port()}"],
    )
    assert down.exit_code == ExitCode.OUTCOME_UNKNOWN, down.output
    assert "still open" in down.output
    # everything from options (no file): the secret only ever from a file
    inst = center.institution(PHARMACY)
    settled = runner.invoke(
        journal,
        [
            "resolve",
            "--center", center.base_url,
            "--journal", str(journal_file),
            "--fixmedins-code", PHARMACY,
            "--fixmedins-name", inst["fixmedins_name"],
            "--admvs", inst["admdvs"],
            "--secret-file", str(tmp_path / "pharmacy.secret"),
            "--opter", "0001",
            "--opter-name", "店员甲",
        ],
    )  # fmt: skip
    assert settled.exit_code == 0, settled.output
    assert msgid in settled.output and "confirmed" in settled.output


def test_configuration_errors_are_one_line_with_exit_code_2(
    center: RunningCenter, tmp_path: Path
) -> None:
    runner = CliRunner()
    config = write_config(center, tmp_path, tmp_path / "j.db", slot=0, mode=0o644)
    exposed = runner.invoke(journal, ["resolve", "--config", str(config)])
    assert exposed.exit_code == ExitCode.USAGE
    assert "readable by everyone" in exposed.output and "chmod 600" in exposed.output
    missing = runner.invoke(journal, ["list", "--config", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == ExitCode.USAGE and "cannot read" in missing.output
    no_journal = runner.invoke(journal, ["list", "--journal", str(tmp_path / "none.db")])
    assert no_journal.exit_code == ExitCode.USAGE


def test_the_documented_example_is_a_valid_configuration(tmp_path: Path) -> None:
    path = tmp_path / "terminal.yaml"
    path.write_text(EXAMPLE, encoding="utf-8")
    config = TerminalConfig.load(path)
    assert config.institution.fixmedins_code == "H33020300001"
    assert config.institution.secret_file == tmp_path / "H33020300001.secret"
    assert config.journal_path == tmp_path / "journal-H33020300001-0001.db"
    assert config.operator.opter_type == "1"
