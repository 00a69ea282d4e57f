"""The table of transactions (sscard_terminal.settlement.transactions): every
infno the client sends has exactly one declaration, the kind sets are derived
from it, and the journal, the resolution and the card records read it
instead of listing infnos of their own."""

from __future__ import annotations

import ast
import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

from sscard_terminal.settlement import client as client_module
from sscard_terminal.settlement import transactions as tx
from sscard_terminal.settlement.envelope import SHANGHAI
from sscard_terminal.settlement.inputs import (
    Context,
    DrugSale,
    Input,
    OutpatientSettlement,
    VisitRegistration,
)
from sscard_terminal.settlement.models import DrugDetail, PersonRef, _Result

PACKAGE = Path(__file__).resolve().parents[2] / "sscard_terminal"
#: settlement-interface.md, "Transactions": what the terminal speaks
SPOKEN = {
    "9001", "9002", "1101", "2201", "2202", "2203", "2204", "2205", "2206", "2207", "2208",
    "2101", "2102", "2103", "2601", "3201", "3202", "5203", "5301",
}  # fmt: skip


def test_one_declaration_per_infno() -> None:
    assert set(tx.TRANSACTIONS) == SPOKEN
    for infno, declared in tx.TRANSACTIONS.items():
        assert declared.infno == infno
        assert issubclass(declared.input, Input) and issubclass(declared.result, _Result)
    declared_names = [
        name
        for name, value in vars(tx).items()
        if isinstance(value, tx.Transaction) and name.isupper()
    ]
    assert len(declared_names) == len(tx.TRANSACTIONS)


def test_the_kind_sets_are_derived_from_the_table() -> None:
    sets = (tx.BOOKING, tx.CHANGE, tx.REVERSAL, tx.QUERY)
    assert set().union(*sets) == SPOKEN and sum(len(s) for s in sets) == len(SPOKEN)
    for kind, infnos in zip(tx.Kind, sets, strict=True):
        assert infnos == {i for i, t in tx.TRANSACTIONS.items() if t.kind is kind}
        assert all(tx.kind_of(i) is kind for i in infnos)
    assert {"2201", "2207", "2208", "2102", "2103"} == tx.BOOKING
    assert {"2202", "2203", "2204", "2205"} == tx.CHANGE
    assert {"2601"} == tx.REVERSAL
    assert tx.SETTLEMENTS == {"2207", "2102", "2208", "2103"} < tx.BOOKING
    assert tx.kind_of("9999") is tx.Kind.QUERY


def test_how_a_lost_answer_is_settled() -> None:
    rule = {i: t.unanswered for i, t in tx.TRANSACTIONS.items()}
    assert rule["2207"] is tx.Unanswered.LOOKUP_BY_VISIT
    assert {i for i, r in rule.items() if r is tx.Unanswered.LOOKUP} == {"2102", "2208", "2103"}
    assert rule["2201"] is tx.Unanswered.REVERSE and rule["2204"] is tx.Unanswered.WITHDRAW
    assert rule["2601"] is tx.Unanswered.REPEAT
    # everything that books nothing, or changes a visit without money, is dropped
    for infno in tx.QUERY | {"2202", "2203", "2205"}:
        assert rule[infno] is tx.Unanswered.DROP


def test_who_owes_a_card_record() -> None:
    owes = {i: t.card_record for i, t in tx.TRANSACTIONS.items() if t.card_record}
    assert owes == {
        "2207": tx.CardRecord.OUTPATIENT,
        "2102": tx.CardRecord.PHARMACY,
        "2208": tx.CardRecord.REFUND,
        "2103": tx.CardRecord.CANCELLATION,
    }
    assert {"2208", "2103"} == tx.REFUNDS and {"2207", "2102"} == tx.CARD_SETTLEMENTS


def test_no_infno_literals_outside_the_table() -> None:
    readers = [
        *sorted((PACKAGE / "settlement" / "journal").glob("*.py")),
        PACKAGE / "settlement" / "resolution.py",
        PACKAGE / "settlement" / "engine.py",
        PACKAGE / "terminal" / "card_records.py",
    ]
    for path in readers:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        strings = [
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        ]
        docstrings = {
            ast.get_docstring(node, clean=False)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
        }
        code = [s for s in strings if s not in docstrings]
        found = [s for s in code if re.search(r"(?<!\d)(?!0000)\d{4}(?!\d)", s) and "'" in s]
        found += [s for s in code if s in SPOKEN]
        assert not found, (path.name, found)


def test_the_client_does_not_import_the_resolution() -> None:
    for module in (client_module, tx):
        source = Path(str(module.__file__)).read_text(encoding="utf-8")
        assert "settlement.resolution import" not in source
        assert "import resolution" not in source
    engine = (PACKAGE / "settlement" / "engine.py").read_text(encoding="utf-8")
    assert "resolution import" not in engine


def test_one_sale_value_is_the_input_of_both_messages_of_a_pair() -> None:
    """2206 and 2207 (and 2101 and 2102) send the same input, built once."""
    person = PersonRef("P0001", "330203")
    clock = dt.datetime(2026, 3, 1, 9, 30, tzinfo=SHANGHAI)
    ctx = Context("0001", "", "", "330203", lambda: clock)
    assert tx.PRE_SETTLE.input is tx.SETTLE.input is OutpatientSettlement
    assert tx.PHARMACY_PRE_SETTLE.input is tx.PHARMACY_SETTLE.input is DrugSale
    visit = OutpatientSettlement(
        person,
        mdtrt_id="M1",
        mdtrt_cert_type="03",
        mdtrt_cert_no="C1",
        medfee_sumamt=Decimal("12"),
        insutype="310",
        card_sn="SN",
    )
    assert visit.payload(ctx) == {
        "data": {
            "psn_no": "P0001",
            "mdtrt_cert_type": "03",
            "mdtrt_cert_no": "C1",
            "med_type": "11",
            "medfee_sumamt": Decimal("12.00"),
            "psn_setlway": "01",
            "mdtrt_id": "M1",
            "chrg_bchno": "0000",
            "acct_used_flag": "1",
            "insutype": "310",
            "card_sn": "SN",
        }
    }
    line = DrugDetail("1", "X", "Y", Decimal(2), Decimal("4.50"), Decimal("9.00"))
    sale = DrugSale(person, "03", "C1", "310", [line, line], acct_used=False)
    assert sale.payload(ctx)["druginfo"]["medfee_sumamt"] == Decimal("18.00")
    assert sale.payload(ctx)["druginfo"]["acct_used_flag"] == "0"
    assert sale.route().person == person
    registration = VisitRegistration(person, "310", "03", "C1", "OP-1", hold_visit=True)
    assert registration.payload(ctx)["data"]["begntime"] == "2026-03-01 09:30:00"
    assert registration.route().hold_visit
