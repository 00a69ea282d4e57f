"""Storage: the Alembic migrations build exactly the model's
schema on SQLite and PostgreSQL, money is exact, and seeding makes consistent
persons that settle."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import StatementError

from sscard_terminal.center.clock import system_clock
from sscard_terminal.center.db import current_revision, downgrade, migrate, normalise_url
from sscard_terminal.center.models import Account, Base, Contribution
from sscard_terminal.center.seed.bulk import bulk_person, seed_bulk
from tests.center.center_helpers import (
    BACKENDS,
    CLASS_A_DRUG,
    Center,
    Insured,
    Terminal,
    settle_input,
    visit_with_fees,
)

#: the newest migration (0004: the electronic vouchers)
HEAD = "0004"

TABLES = {
    "persons",
    "enrolments",
    "contributions",
    "accounts",
    "cards",
    "institutions",
    "filings",
    "catalogue",
    "visits",
    "fee_details",
    "settlements",
    "settlement_items",
    "accumulators",
    "sign_ins",
    "journal",
    "sporadic_claims",
    "vouchers",
}


@pytest.mark.parametrize("backend", BACKENDS)
def test_migrations_build_the_models_schema_and_go_back(backend: str, db_factory: Any) -> None:
    db = db_factory(backend)
    assert current_revision(db) == HEAD
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        assert set(inspect(connection).get_table_names()) >= TABLES
    downgrade(db)
    assert current_revision(db) is None
    with db.engine.connect() as connection:
        assert not TABLES & set(inspect(connection).get_table_names())
    migrate(db)
    assert current_revision(db) == HEAD


@pytest.mark.parametrize("backend", BACKENDS)
def test_contributions_recorded_before_0002_count_as_paid_in_time(
    backend: str, db_factory: Any
) -> None:
    """0002 adds the payment date; a contribution already there gets the first day
    of its first month, which is how it was judged before."""
    db = db_factory(backend)
    downgrade(db, "0001")
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO persons (psn_no, id_number, name, sex, birth_date, naty, "
                "birthplace, insuplc_admdvs, created_at) VALUES ('1', '330203199001011236', "
                "'x', '1', '1990-01-01', '01', '330203', '330200', '2026-01-01 00:00:00')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO enrolments (id, psn_no, insutype, psn_type, status) "
                "VALUES (1, '1', '310', '1101', '1')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO contributions (enrolment_id, first_month, last_month) "
                "VALUES (1, 202311, 202612), (1, 201501, 201502)"
            )
        )
    migrate(db)
    with db.transaction() as s:
        paid = s.execute(select(Contribution.paid_on).order_by(Contribution.first_month)).all()
    assert [row.paid_on for row in paid] == [dt.date(2015, 1, 1), dt.date(2023, 11, 1)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_migration_0003_keeps_institutions_with_the_gateway_off(
    backend: str, db_factory: Any
) -> None:
    """The SM2 key and gateway columns come to existing institutions
    as "no SM2 key, gateway off", and go again on the way back."""
    db = db_factory(backend)
    downgrade(db, "0002")
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO institutions (fixmedins_code, name, kind, level, admdvs, "
                "designated, offsite_designated, secret, created_at) VALUES ('H33020300077', "
                "'x', 'hospital', '1', '330203', true, false, :s, '2026-12-01 00:00:00')"
            ),
            {"s": "ab" * 32},
        )
    migrate(db)
    with db.engine.connect() as connection:
        row = connection.execute(
            text("SELECT gateway, gateway_paasid, sm2_public_key, secret FROM institutions")
        ).one()
    assert tuple(row) == ("off", None, None, "ab" * 32)
    downgrade(db, "0002")
    with db.engine.connect() as connection:
        columns = {c["name"] for c in inspect(connection).get_columns("institutions")}
    assert "gateway" not in columns and "sm2_public_key" not in columns
    migrate(db)


@pytest.mark.parametrize("backend", BACKENDS)
def test_money_is_stored_exactly(backend: str, db_factory: Any) -> None:
    db = db_factory(backend)
    import datetime as dt

    from sscard_terminal.center.models import Person

    big = Decimal("98765432109.99")
    with db.transaction() as s:
        s.add(
            Person(
                psn_no="1",
                id_number="330203199001011236",
                name="x",
                sex="1",
                birth_date=dt.date(1990, 1, 1),
                naty="01",
                birthplace="330203",
                insuplc_admdvs="330200",
                created_at=dt.datetime(2026, 1, 1),
            )
        )
        s.flush()
        s.add(Account(psn_no="1", balance=big))
    with db.transaction() as s:
        assert s.execute(select(Account.balance)).scalar_one() == big
    with pytest.raises(StatementError, match="more than 2 decimals"), db.transaction() as s:
        s.get(Account, "1").balance = Decimal("0.001")
        s.flush()


def test_url_forms() -> None:
    assert normalise_url("center.db").startswith("sqlite:///")
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"


def test_generated_persons_are_consistent_and_settle(center: Center, hospital: Terminal) -> None:
    before = seed_bulk(center.db, center.policy, system_clock(), 40, chunk=15)
    again = seed_bulk(center.db, center.policy, system_clock(), 10)
    assert again["first_index"] == before["first_index"] + 40
    first = before["first_index"]
    for i in (first, first + 17, first + 49):
        g = bulk_person(center.policy, i)
        answer = hospital.ok(
            "1101",
            {
                "data": {
                    "mdtrt_cert_type": "03",
                    "mdtrt_cert_no": g["card_no"],
                    "card_sn": g["card_sn"],
                }
            },
        )
        assert answer["baseinfo"]["certno"] == g["id_number"]
        assert answer["baseinfo"]["psn_name"] == g["name"]
        [insu] = answer["insuinfo"]
        assert insu["psn_insu_stas"] == "1"
        assert insu["insutype"] == ("390" if g["resident"] else "310")
        person_file = center.admin.request("GET", f"/cards/{g['card_no']}/person-file")
        assert person_file["card"] == {
            "serial": f"{g['serial']:08X}",
            "issue_date": str(g["issue_date"]),
            "card_number": g["card_no"],
        }
        assert person_file["id_number"] == g["id_number"]
    g = bulk_person(center.policy, first + 1)  # an employee (every 5th is a resident)
    p = Insured(g["psn_no"], g["id_number"], g["card_no"], g["card_sn"])
    mdtrt_id, total = visit_with_fees(hospital, p, [(CLASS_A_DRUG, "20.00", "1")])
    info = hospital.ok("2207", settle_input(p, mdtrt_id, total))["setlinfo"]
    assert Decimal(str(info["acct_pay"])) == Decimal("20.00")


def test_seeding_through_the_admin_api(center: Center) -> None:
    result = center.admin.post("/seed", {"persons": 5, "demo": True})
    assert result["demo"] is None and "already" in result["demo_note"]
    assert result["generated"]["added"] == 5
    too_many = center.http.post(
        "/admin/seed",
        json={"persons": 10**6},
        headers={"authorization": f"Bearer {center.admin.token}"},
    )
    assert too_many.status_code == 422


def test_the_demo_persons_cover_the_guides_situations(center: Center) -> None:
    assert set(center.demo["persons"]) == {
        "normal",
        "resident",
        "lapsed",
        "lost_card",
        "replaced_card",
        "temp_lost",
        "new_household",
        "cixi_rural",
        "offsite_filed",
        "offsite_unfiled",
        "minor",
        "no_card",
        "special_disease",
    }
    normal = center.person("normal")["person_file"]
    # the ningbo-gen3 profile's own test card
    assert normal["card"] == {
        "serial": "C38275EE",
        "issue_date": "2021-12-03",
        "card_number": "D01069901",
    }
    for key, person in center.demo["persons"].items():
        assert (person["person_file"] is None) == (key == "no_card")
        assert " / " in person["situation"]


def test_generated_persons_never_take_a_demo_persons_id_number() -> None:
    from sscard_terminal.center.seed.bulk import _DAYS, _SEQS, bulk_identity
    from sscard_terminal.center.seed.demo_data import load_demo_data

    DEMO_PERSONS = load_demo_data().persons

    identities = {bulk_identity(i) for i in range(0, 8 * _DAYS * _SEQS, 997)}
    seqs = {seq for _, _, seq in identities}
    assert 123 not in seqs and max(seqs) < 900 and len(seqs) == _SEQS
    assert not {(d.region, d.birth, d.seq) for d in DEMO_PERSONS} & identities
    # unique over the whole range: a different index never gives the same identity
    sample = [bulk_identity(i) for i in range(0, 8 * _DAYS * _SEQS, 7919)]
    assert len(set(sample)) == len(sample)
