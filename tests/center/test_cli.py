"""The command line: ``sscard center serve``
on SQLite and PostgreSQL as a real process, ``seed`` with its person files,
and person files that ``sscard card new`` turns into the same card."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from sscard_terminal.center.policy import load_policy
from sscard_terminal.center.seed.bulk import bulk_person
from tests.center.center_helpers import BACKENDS, Terminal, free_port

SSCARD = str(Path(sys.executable).parent / "sscard")


def run(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SSCARD, *args], capture_output=True, text=True, timeout=120, **kw)


def card_of_image(path: Path) -> tuple[str, str]:
    """Card number (EF05 tag 07) and card identification code (tag 01) of an image."""
    image = json.loads(path.read_text(encoding="utf-8"))
    records = {
        bytes.fromhex(r)[0]: bytes.fromhex(r)[2:]
        for r in image["contents"]["MF/SSSE/EF05"]["records"]
    }
    return records[0x07].decode("ascii"), records[0x01].hex().upper()


def test_seed_writes_secrets_and_person_files_that_make_the_same_cards(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/seed.db"
    out = tmp_path / "out"
    g = bulk_person(load_policy(), 3)
    first = run("center", "seed", "--db", db, "--persons", "25", "--out", str(out))
    assert first.returncode == 0, first.stderr
    assert "added 25 generated persons" in first.stdout
    second = run("center", "seed", "--db", db, "--out", str(out), "--person-file", g["card_no"])
    assert second.returncode == 0 and "already" in second.stdout
    secrets_file = out / "institutions.json"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    institutions = json.loads(secrets_file.read_text())
    assert all(len(i["secret"]) == 64 for i in institutions)
    demo = json.loads((out / "demo.json").read_text())
    assert "secret" not in (out / "demo.json").read_text() and set(demo) >= {"normal", "minor"}
    for key in ("normal", "replaced_card", "minor"):
        person_file = out / "persons" / f"{key}.json"
        image = tmp_path / f"{key}.img.json"
        made = run(
            "card",
            "new",
            "--profile",
            "ningbo-gen3",
            "--person",
            str(person_file),
            "--out",
            str(image),
        )
        assert made.returncode == 0, made.stderr
        active = [c for c in demo[key]["cards"] if c["status"] == "active"][0]
        assert card_of_image(image) == (active["card_no"], active["card_sn"])
    image = tmp_path / "bulk.img.json"
    made = run(
        "card",
        "new",
        "--profile",
        "ningbo-gen3",
        "--person",
        str(out / "persons" / f"{g['card_no']}.json"),
        "--out",
        str(image),
    )
    assert made.returncode == 0, made.stderr
    assert card_of_image(image) == (g["card_no"], g["card_sn"])
    one = run(
        "center",
        "person-file",
        "--db",
        db,
        "--card-no",
        g["card_no"],
        "--out",
        str(tmp_path / "one.json"),
    )
    assert one.returncode == 0
    assert json.loads((tmp_path / "one.json").read_text())["card"]["card_number"] == g["card_no"]
    missing = run(
        "center",
        "person-file",
        "--db",
        db,
        "--card-no",
        "X00000000",
        "--out",
        str(tmp_path / "none.json"),
    )
    assert missing.returncode == 7 and "Traceback" not in missing.stderr


def _wait_healthy(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(process.stderr.read() if process.stderr else "exited")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("the center did not come up")


@pytest.mark.parametrize("backend", BACKENDS)
def test_serve_runs_the_center_as_a_process(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        db = f"sqlite:///{tmp_path}/serve.db"
    else:
        db = request.getfixturevalue("pg_cluster").new_database()
    port = free_port()
    token_file = tmp_path / "token"
    env = {k: v for k, v in os.environ.items() if k != "SSCARD_CENTER_ADMIN_TOKEN"}
    process = subprocess.Popen(
        [
            SSCARD,
            "center",
            "serve",
            "--db",
            db,
            "--port",
            str(port),
            "--admin-token-file",
            str(token_file),
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process)
        assert httpx.get(f"{url}/health").json()["database"] == backend
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        seeded = httpx.post(
            f"{url}/admin/seed",
            json={"demo": True},
            headers={"authorization": f"Bearer {token}"},
            timeout=30,
        ).json()
        inst = seeded["demo"]["institutions"][0]
        with httpx.Client(base_url=url) as http:
            t = Terminal(
                http, inst["fixmedins_code"], inst["fixmedins_name"], inst["secret"], inst["admdvs"]
            )
            t.sign_in()
            card = seeded["demo"]["persons"]["normal"]["cards"][0]
            out = t.ok(
                "1101",
                {
                    "data": {
                        "mdtrt_cert_type": "03",
                        "mdtrt_cert_no": card["card_no"],
                        "card_sn": card["card_sn"],
                    }
                },
            )
            assert out["baseinfo"]["psn_name"] == "张三"
        spec = httpx.get(f"{url}/openapi.json").json()
        assert "/fsi/api/rsfComIfsService/callService" in spec["paths"]
        assert "/admin/cards/{card_no}/loss" in spec["paths"]
        if backend == "sqlite":
            secrets_file = tmp_path / "inst.json"
            secrets_file.write_text(json.dumps(seeded["demo"]["institutions"]))
            refused = run(
                "center",
                "call",
                "--url",
                url,
                "--institutions",
                str(secrets_file),
                "--code",
                inst["fixmedins_code"],
                "1101",
                '{"data": {"mdtrt_cert_type": "03", "mdtrt_cert_no": "D99999999"}}',
            )
            assert refused.returncode == 7 and "card.unknown" in refused.stdout
            fine = run(
                "center",
                "call",
                "--url",
                url,
                "--institutions",
                str(secrets_file),
                "--code",
                inst["fixmedins_code"],
                "1101",
                json.dumps(
                    {
                        "data": {
                            "mdtrt_cert_type": "03",
                            "mdtrt_cert_no": card["card_no"],
                            "card_sn": card["card_sn"],
                        }
                    }
                ),
            )
            assert fine.returncode == 0 and '"infcode":0' in fine.stdout
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0
    logged = process.stderr.read() if process.stderr else ""
    assert "330203199001011236" not in logged and "Traceback" not in logged


def test_call_without_a_center_says_nothing_was_sent(tmp_path: Path) -> None:
    secrets_file = tmp_path / "inst.json"
    secrets_file.write_text(
        json.dumps(
            [
                {
                    "fixmedins_code": "H33020300001",
                    "fixmedins_name": "x",
                    "admdvs": "330203",
                    "secret": "s" * 64,
                }
            ]
        )
    )
    result = run(
        "center",
        "call",
        "--url",
        f"http://127.0.0.1:{free_port()}",
        "--institutions",
        str(secrets_file),
        "--code",
        "H33020300001",
        "1101",
        "{}",
    )
    # the documented code (docs/center.md): 8, as the flows give when the center is down
    assert result.returncode == 8 and "nothing was sent" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def _one_line(result: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert result.returncode == code, (result.returncode, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr and "Error:" not in result.stderr
    for word in words:
        assert word in result.stderr, (word, result.stderr)


def test_call_bad_input_and_bad_institutions_file(tmp_path: Path) -> None:
    good = tmp_path / "inst.json"
    good.write_text(
        json.dumps(
            [{"fixmedins_code": "H33020300001", "fixmedins_name": "x", "admdvs": "330203",
              "secret": "s" * 64}]
        )
    )  # fmt: skip
    url = f"http://127.0.0.1:{free_port()}"
    call = ["center", "call", "--url", url, "--code", "H33020300001", "1101"]
    _one_line(run(*call, "--institutions", str(good), "{not json"), 2, "INPUT_JSON", "JSON")
    for wrong in ('{"institutions": []}', '[{"fixmedins_code": 1}]', "not json at all"):
        bad = tmp_path / "wrong.json"
        bad.write_text(wrong)
        _one_line(run(*call, "--institutions", str(bad), "{}"), 2, str(bad), "institutions")


def test_serve_port_in_use_and_unusable_database(tmp_path: Path) -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = run(
            "center", "serve", "--db", f"sqlite:///{tmp_path}/c.db", "--port", str(port),
            "--admin-token-file", str(tmp_path / "token"),
        )  # fmt: skip
    _one_line(result, 2, f"127.0.0.1:{port}", "--port")
    assert "uvicorn" not in result.stderr and "INFO" not in result.stderr
    nowhere = tmp_path / "no" / "such" / "dir" / "c.db"
    result = run(
        "center", "serve", "--db", f"sqlite:///{nowhere}", "--port", "0",
        "--admin-token-file", str(tmp_path / "token"),
    )  # fmt: skip
    _one_line(result, 2, "cannot open the database", "--db")
    assert "OperationalError" not in result.stderr


def test_openapi_and_usage_errors(tmp_path: Path) -> None:
    out = tmp_path / "openapi.json"
    assert run("center", "openapi", "--out", str(out)).returncode == 0
    spec = json.loads(out.read_text())
    body = spec["paths"]["/fsi/api/rsfComIfsService/callService"]["post"]["requestBody"]
    assert "infno" in json.dumps(body)
    bad = run("center", "serve", "--policy", str(tmp_path / "none.yaml"))
    assert bad.returncode == 2 and "policy" in bad.stderr
    half = run("center", "serve", "--ssl-certfile", str(out))
    assert half.returncode == 2 and "ssl" in half.stderr


def test_sign_prints_the_canonical_string(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("k" * 32)
    envelope = tmp_path / "env.json"
    envelope.write_text(json.dumps({"infno": "9001", "input": {"b": 1, "a": "2.50"}}))
    result = run("center", "sign", "--secret-file", str(secret), str(envelope))
    assert result.returncode == 0
    canonical, cainfo = result.stdout.splitlines()
    assert canonical.startswith('["9001",""') and canonical.endswith('{"a":"2.50","b":1}]')
    assert len(cainfo) == 64


def test_serve_with_worker_processes_on_postgresql(tmp_path: Path, pg_cluster: Any) -> None:
    db = pg_cluster.new_database()
    port = free_port()
    env = dict(os.environ, SSCARD_CENTER_ADMIN_TOKEN="worker-test-token-0123456789")
    process = subprocess.Popen(
        [
            SSCARD,
            "center",
            "serve",
            "--db",
            db,
            "--port",
            str(port),
            "--workers",
            "2",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process)
        seeded = httpx.post(
            f"{url}/admin/seed",
            json={"demo": True},
            timeout=30,
            headers={"authorization": "Bearer worker-test-token-0123456789"},
        )
        inst = seeded.json()["demo"]["institutions"][0]
        with httpx.Client(base_url=url) as http:
            t = Terminal(
                http, inst["fixmedins_code"], inst["fixmedins_name"], inst["secret"], inst["admdvs"]
            )
            for _ in range(4):  # whichever worker answers, the sign_no is in the database
                t.sign_in()
                card = seeded.json()["demo"]["persons"]["normal"]["cards"][0]
                t.ok(
                    "1101",
                    {
                        "data": {
                            "mdtrt_cert_type": "03",
                            "mdtrt_cert_no": card["card_no"],
                            "card_sn": card["card_sn"],
                        }
                    },
                )
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_sm2_keygen_key_registration_and_gateway_option(tmp_path: Path) -> None:
    """An institution's SM2 key pair, its registration and its
    gateway option from the command line; bad input is one line and exit 2."""
    db = f"sqlite:///{tmp_path}/c.db"
    assert run("center", "seed", "--db", db, "--out", str(tmp_path / "out")).returncode == 0
    key = tmp_path / "h.sm2"
    made = run("center", "sm2-keygen", "--out", str(key))
    assert made.returncode == 0, made.stderr
    public = made.stdout.strip()
    assert len(public) == 130 and public.startswith("04")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and public not in key.read_text()
    again = run("center", "sm2-keygen", "--out", str(key))
    assert again.returncode == 2 and "exists" in again.stderr and "Traceback" not in again.stderr
    (tmp_path / "h.pub").write_text(public + "\n")
    done = run("center", "sm2-key", "--db", db, "--code", "H33020300001", str(tmp_path / "h.pub"))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["sm2_public_key"] == public
    bad = run("center", "sm2-key", "--db", db, "--code", "H33020300001", "04" + "1" * 128)
    assert bad.returncode == 2 and "not a point of the SM2 curve" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    unknown = run("center", "sm2-key", "--db", db, "--code", "H00000000000", public)
    assert unknown.returncode == 7 and "H00000000000" in unknown.stderr
    done = run(
        "center",
        "gateway",
        "--db",
        db,
        "--code",
        "H33020300001",
        "--mode",
        "also",
        "--paasid",
        "paas-1",
    )
    assert done.returncode == 0, done.stderr
    view = json.loads(done.stdout)
    assert view["gateway"] == "also" and view["gateway_paasid"] == "paas-1"
    bad = run(
        "center",
        "gateway",
        "--db",
        db,
        "--code",
        "H33020300001",
        "--mode",
        "also",
        "--paasid",
        "a b",
    )
    assert bad.returncode == 2 and "--paasid" in bad.stderr


def test_sign_shows_the_sm2_signed_text_and_whether_cainfo_verifies(tmp_path: Path) -> None:
    from sscard_terminal.settlement.sm2 import SM2Signer, generate_private_key

    signer = SM2Signer(generate_private_key())
    env = {"infno": "9001", "opter": "0001", "signtype": "SM2", "input": {"a": 1}}
    env["cainfo"] = signer.sign(env)
    (tmp_path / "env.json").write_text(json.dumps(env))
    done = run(
        "center", "sign", "--sm2-public-key", signer.public_key_hex, str(tmp_path / "env.json")
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["infno=9001&opter=0001&signtype=SM2", "cainfo verifies"]
    (tmp_path / "env.json").write_text(json.dumps({**env, "opter": "0002"}))
    bad = run(
        "center", "sign", "--sm2-public-key", signer.public_key_hex, str(tmp_path / "env.json")
    )
    assert bad.returncode == 7 and "does NOT verify" in bad.stdout
    neither = run("center", "sign", str(tmp_path / "env.json"))
    assert neither.returncode == 2 and "--sm2-public-key" in neither.stderr
