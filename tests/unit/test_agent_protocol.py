"""The agent's sans-IO protocol: requests validated, errors mapped in one place,
answers masked for the log."""

from __future__ import annotations

import json

import pytest

from sscard_terminal.agent.protocol import (
    MAX_REQUEST_BYTES,
    BadRequest,
    CallTimeoutError,
    Code,
    ReaderBusyError,
    code_for,
    error_answer,
    masked_for_log,
    masked_line,
    parse_request,
)
from sscard_terminal.agent.server import AgentConfig, TokenBucket
from sscard_terminal.driver.keyservice_client import KeyServiceUnavailable
from sscard_terminal.errors import (
    CardRemovedError,
    CardResetError,
    MuteCardError,
    NoCardError,
    PcscdNotRunningError,
    PinBlockedError,
    SecurityStatusNotSatisfiedError,
    UsageError,
    WrongPinError,
)

LINE = (
    "330200|330203199001011236|D01069901|330200D156000005C38275EE1D6A10A0|张三|"
    "00814A444686603302C38275EE|3.00|20211203|20311202|330200000001|K0001|"
)


def test_a_field_request_parses() -> None:
    request = parse_request('{"function": "iReadCardBas", "iType": 3, "requestId": "a1"}')
    assert (request.function, request.itype, request.request_id) == ("iReadCardBas", 3, "a1")
    assert parse_request('{"function": "iReadCardBas"}').itype == 3  # automatic by default
    step2 = parse_request('{"function": "iReadCardBas_HSM_Step2", "pKey": "00112233"}')
    assert step2.args == {"pKey": "00112233"}


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("", "not JSON"),
        ("{", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        ('"iReadCardBas"', "JSON object"),
        ("{}", "'function' must be a string"),
        ('{"function": 7}', "'function' must be a string"),
        ('{"function": "iWriteCard"}', "unknown function 'iWriteCard'"),
        ('{"function": "iReadCardBas", "iType": true}', "'iType' must be an integer"),
        ('{"function": "iReadCardBas", "iType": 5}', "one of 1, 2, 3, 4"),
        ('{"function": "iReadCardBas", "reader": 1}', "'reader' must be a string"),
        ('{"function": "iVerifyPIN", "pin": "123456"}', "takes no argument 'pin'"),
        ('{"function": "iReadCardBas_HSM_Step2"}', "needs 'pKey'"),
        ('{"function": "iReadCardBas", "requestId": [1]}', "'requestId' must be"),
        ('{"function": "iReadCardBas", "requestId": "' + "x" * 200 + '"}', "'requestId' must"),
    ],
)
def test_bad_requests_say_what_is_wrong(raw: str | bytes, fragment: str) -> None:
    with pytest.raises(BadRequest) as err:
        parse_request(raw)
    assert fragment in str(err.value) and err.value.code == Code.BAD_REQUEST


def test_the_request_id_of_a_bad_request_is_still_echoed() -> None:
    with pytest.raises(BadRequest) as err:
        parse_request('{"function": "nope", "requestId": 42}')
    assert err.value.request_id == 42


def test_too_large_is_refused_before_parsing() -> None:
    raw = json.dumps({"function": "iReadCardBas", "pad": "x" * MAX_REQUEST_BYTES})
    with pytest.raises(BadRequest) as err:
        parse_request(raw)
    assert err.value.code == Code.TOO_LARGE


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (NoCardError("no card"), Code.NO_CARD),
        (PcscdNotRunningError("pcscd is not running"), Code.NO_READER),
        (CardRemovedError("removed"), Code.CARD_IO),
        (CardResetError("reset"), Code.CARD_IO),
        (MuteCardError("mute"), Code.CARD_IO),
        (SecurityStatusNotSatisfiedError(0x6982, "READ"), Code.CARD_REFUSED),
        (WrongPinError(0x63C2, "VERIFY"), Code.PIN),
        (PinBlockedError(0x6983, "VERIFY"), Code.PIN),
        (KeyServiceUnavailable("down"), Code.SECURITY_MODULE),
        (UsageError("no PIN pad"), Code.BAD_REQUEST),
        (ReaderBusyError("R"), Code.BUSY),
        (CallTimeoutError(15), Code.TIMEOUT),
    ],
)
def test_errors_map_to_codes_in_one_place(error: Exception, code: Code) -> None:
    assert code_for(error) == code  # type: ignore[arg-type]


def test_an_error_answer_carries_the_message_and_the_tries_left() -> None:
    body = error_answer(WrongPinError(0x63C2, "VERIFY PIN"), "r9")
    assert body["success"] == -6 and body["triesLeft"] == 2 and body["requestId"] == "r9"
    assert body["message"] == body["pOutInfo"] == "wrong PIN, 2 tries left"


def test_the_log_masks_name_and_id_number() -> None:
    masked = masked_line(LINE)
    assert "330203199001011236" not in masked and "张三" not in masked
    assert masked.split("|")[0] == "330200" and masked.split("|")[10] == "K0001"
    shown = masked_for_log({"success": 0, "pOutInfo": LINE}, "iReadCardBas")
    assert "330203199001011236" not in shown and "张三" not in shown
    step1 = masked_for_log(
        {"success": 0, "pOutInfo": "330200|3B6D|sm4|AB|"}, "iReadCardBas_HSM_Step1"
    )
    assert "3B6D" not in step1 and "characters" in step1


def test_origins() -> None:
    config = AgentConfig(allow_origins=("http://kiosk.local:8080",))
    assert config.origin_allowed(None)  # a program, not a page
    assert config.origin_allowed("http://kiosk.local:8080")
    assert not config.origin_allowed("http://kiosk.local:8081")
    assert not config.origin_allowed("null") and not config.origin_allowed("file://")
    assert AgentConfig(allow_file_origin=True).origin_allowed("null")


def test_the_token_bucket_lets_a_burst_through_then_the_rate() -> None:
    bucket = TokenBucket(rate=10, burst=5)
    assert [bucket.take() for _ in range(7)] == [True] * 5 + [False] * 2


def test_cli_refuses_bad_origins_and_warns_off_loopback() -> None:
    from click.testing import CliRunner

    from sscard_terminal.cli.main import cli

    runner = CliRunner()
    done = runner.invoke(cli, ["agent", "serve", "--reader", "R", "--allow-origin", "null"])
    assert done.exit_code == 2 and "--allow-file-origin" in done.output
    done = runner.invoke(
        cli,
        ["agent", "serve", "--reader", "R", "--host", "0.0.0.0", "--pin-pad", "/nonexistent/pad"],
    )
    assert done.exit_code == 2
    assert "WARNING: listening on 0.0.0.0, not on loopback" in done.output
    assert "cannot read the PIN-pad file" in done.output
    done = runner.invoke(cli, ["agent", "serve"])
    assert done.exit_code == 2 and "--reader" in done.output
