"""The admin API's authentication and institution secrets: exactly
``Authorization: Bearer <token>``, refused on the headers before any body is
read; secrets made by the center or 64 lower-case hex digits."""

from __future__ import annotations

import re
import socket
from urllib.parse import urlsplit

import httpx
import pytest

from tests.center.center_helpers import ADMIN_TOKEN, Center

GOOD = f"Bearer {ADMIN_TOKEN}"


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [("authorization", ADMIN_TOKEN)],
        [("authorization", f"bearer {ADMIN_TOKEN}")],
        [("authorization", f"BEARER {ADMIN_TOKEN}")],
        [("authorization", f"Bearer  {ADMIN_TOKEN}")],
        [("authorization", f"Bearer {ADMIN_TOKEN}x")],
        [("authorization", f"Bearer {ADMIN_TOKEN[:-1]}")],
        [("authorization", f"Basic {ADMIN_TOKEN}")],
        [("authorization", f"Bearer\t{ADMIN_TOKEN}")],
        [("authorization", GOOD), ("authorization", GOOD)],
    ],
)
def test_only_the_exact_bearer_form_is_accepted(
    center: Center, headers: list[tuple[str, str]]
) -> None:
    response = center.http.get("/admin/persons/none", headers=httpx.Headers(headers))
    assert response.status_code == 401
    answer = response.json()
    assert answer["err_code"] == "admin.token" and "Bearer <token>" in answer["err_msg"]
    assert ADMIN_TOKEN not in response.text


def test_the_exact_form_is_accepted(center: Center) -> None:
    response = center.http.get("/admin/persons/none", headers={"authorization": GOOD})
    assert response.status_code == 404  # authenticated: the person does not exist


def test_an_unauthenticated_admin_request_is_refused_before_its_body(center: Center) -> None:
    """Headers announcing 100 MB, no body sent: the answer comes at once."""
    url = urlsplit(center.base_url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as s:
        s.sendall(
            b"POST /admin/seed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer wrong\r\nContent-Length: 100000000\r\n\r\n{"
        )
        head = s.recv(4096)
    assert head.startswith(b"HTTP/1.1 401 "), head


def institution(code: str, **extra: object) -> dict[str, object]:
    return {
        "fixmedins_code": code,
        "name": "测试诊所",
        "kind": "hospital",
        "level": "1",
        "admdvs": "330203",
        **extra,
    }


@pytest.mark.parametrize(
    "secret",
    ["s" * 64, "A" * 64, "0" * 63, "0" * 65, "0" * 32, "0x" + "0" * 62, "0" * 63 + "g"],
)
def test_an_institution_secret_must_be_64_lower_case_hex_digits(
    center: Center, secret: str
) -> None:
    code = f"H3302{center.backend[:1].upper()}{len(secret):02d}{secret[-1]}001"[:12].upper()
    code = re.sub(r"[^A-Z0-9]", "0", code)
    response = center.http.post(
        "/admin/institutions",
        json=institution(code, secret=secret),
        headers={"authorization": GOOD},
    )
    assert response.status_code == 422
    message = response.json()["err_msg"]
    assert "secret" in message and "64 lower-case hex digits" in message
    assert secret not in message


def test_secrets_made_by_the_center_or_given_in_the_form(center: Center) -> None:
    made = center.admin.post(
        "/institutions", institution(f"H3302M{center.backend[:2].upper()}0001")
    )
    assert re.fullmatch(r"[0-9a-f]{64}", made["secret"])
    given = "0123456789abcdef" * 4
    kept = center.admin.post(
        "/institutions", institution(f"H3302G{center.backend[:2].upper()}0001", secret=given)
    )
    assert kept["secret"] == given
    rotated = center.admin.post(f"/institutions/{kept['fixmedins_code']}/secret")
    assert re.fullmatch(r"[0-9a-f]{64}", rotated["secret"]) and rotated["secret"] != given
