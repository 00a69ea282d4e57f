"""The OpenAPI document matches what the endpoints answer: a bounded
schemathesis run against a real server (SQLite, the demo data) finds no 5xx
and no status, content type or body the document does not declare. The admin
API is called with the token, and once more without it (401 is declared too).
``POST /admin/seed`` is left out: one call may seed 100,000 persons."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from sscard_terminal.center.api import create_app
from sscard_terminal.center.clock import system_clock
from sscard_terminal.center.db import Database
from sscard_terminal.center.policy import Policy, load_policy
from sscard_terminal.center.seed.demo import seed_demo
from tests.center.center_helpers import ADMIN_TOKEN, start_server

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _document() -> dict[str, Any]:
    """The document as the server publishes it at /openapi.json (the test of
    that is below); the calls go to a real server."""
    return create_app(Database("sqlite://"), load_policy(), admin_token=None).openapi()


schema = schemathesis.openapi.from_dict(_document()).exclude(path="/admin/seed")


@pytest.fixture(scope="module")
def base_url(db_factory: Any, policy: Policy) -> Iterator[str]:
    db = db_factory("sqlite")
    seed_demo(db, policy, system_clock())
    server = start_server(create_app(db, policy, admin_token=ADMIN_TOKEN))
    try:
        yield server.base_url
    finally:
        server.stop()


def test_the_served_document_is_the_one_tested(base_url: str) -> None:
    assert httpx.get(f"{base_url}/openapi.json").json() == _document()


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_is_declared(case: Any, base_url: str) -> None:
    case.call_and_validate(
        base_url=base_url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, checks=CHECKS
    )


@schema.parametrize()
@settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_every_answer_without_the_token_is_declared(case: Any, base_url: str) -> None:
    case.call_and_validate(base_url=base_url, checks=CHECKS)
