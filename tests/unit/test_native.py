"""The native library's pure parts: the configuration file, fitting text into the
caller's buffer, the return-code mapping and the header (no compiler, no pcscd)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sscard_terminal.driver.keyservice_client import KeyServiceRefused, KeyServiceUnavailable
from sscard_terminal.errors import (
    CardRemovedError,
    CorruptResponseError,
    MuteCardError,
    NoCardError,
    PcscdNotRunningError,
    PinEntryCancelled,
    ReaderNotFoundError,
    error_for_sw,
)
from sscard_terminal.native.build import EXPORTS, c_source, cdef, header
from sscard_terminal.native.codes import ConfigError, NativeError, ReturnCode, code_for
from sscard_terminal.native.config import ENV_VAR, DriverConfig, load_config, parse_config
from sscard_terminal.native.outinfo import OUT_INFO_SIZE, fit

# -- configuration -----------------------------------------------------------------


def test_an_empty_file_gives_the_defaults() -> None:
    config = parse_config("", "x.ini")
    assert config == DriverConfig(source="x.ini")
    assert config.encoding == "gbk" and config.sam == "none" and config.reader is None


def test_a_full_file() -> None:
    config = parse_config(
        """
[reader]
name = Virtual PCD 00 00   ; the card
[sam]
kind = PSAM
reader = Virtual PCD 00 01
[terminal]
number = 330200000001
device = K0001
[pinpad]
kind = simulated
file = /tmp/pad.txt
[output]
encoding = UTF-8
"""
    )
    assert config.reader == "Virtual PCD 00 00"
    assert config.sam == "psam" and config.sam_reader == "Virtual PCD 00 01"
    assert config.terminal_number == "330200000001" and config.device_number == "K0001"
    assert config.pinpad_file == "/tmp/pad.txt"
    assert config.encoding == "utf-8"


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("[readers]\nname = x\n", "unknown section [readers]"),
        ("[reader]\nslot = 1\n", "unknown key 'slot' in [reader]"),
        ("[sam]\nkind = hsm\n", "[sam] kind must be one of none, psam, software, keyservice"),
        ("[terminal]\nnumber = 3302\n", "[terminal] number must be 12 digits"),
        ("[terminal]\ndevice = K|1\n", "[terminal] device must be printable text without '|'"),
        ("[output]\nencoding = latin-1\n", "[output] encoding must be gbk or utf-8"),
        ("[sam]\ntimeout = soon\n", "[sam] timeout must be seconds"),
        ("[sam]\nkind = keyservice\n", "needs [sam] url and [terminal] number"),
        ("[pinpad]\nkind = usb\n", "[pinpad] kind must be one of simulated, terminal"),
        ("name = x\n", "not a valid ini file"),
    ],
)
def test_a_bad_file_names_the_key_and_the_form(text: str, names: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "/etc/sscard/SSCardDriver.ini")
    message = info.value.one_line()
    assert names in message and "/etc/sscard/SSCardDriver.ini" in message
    assert code_for(info.value)[0] == ReturnCode.LOAD


def test_the_file_comes_from_the_environment_variable(tmp_path: Path) -> None:
    ini = tmp_path / "driver.ini"
    ini.write_text("[reader]\nname = ACS\n", encoding="utf-8")
    assert load_config({ENV_VAR: str(ini)}).reader == "ACS"
    with pytest.raises(ConfigError, match="cannot read the configuration file"):
        load_config({ENV_VAR: str(tmp_path / "missing.ini")})


# -- the caller's buffer ----------------------------------------------------------------


def test_fit_terminates_and_never_exceeds_the_size() -> None:
    assert fit("abc", "gbk", 8) == b"abc\0"
    assert fit("abcdefgh", "gbk", 8) == b"abcdefg\0"
    assert fit("", "gbk", 1) == b"\0"
    long_line = "无卡" * 2000
    for encoding in ("gbk", "utf-8"):
        data = fit(long_line, encoding, OUT_INFO_SIZE)
        assert len(data) <= OUT_INFO_SIZE and data.endswith(b"\0") and data.count(0) == 1
        assert data[:-1].decode(encoding)  # never a split character


def test_fit_cuts_on_a_character_boundary() -> None:
    # 3 GBK characters are 6 bytes: a 6-byte buffer holds two of them and the NUL
    assert fit("张三丰", "gbk", 6) == "张三".encode("gbk") + b"\0"
    assert fit("张三丰", "utf-8", 9) == "张三".encode() + b"\0"
    assert fit("a\0b", "gbk", 8) == b"a\0"


def test_name_in_gbk_and_utf8() -> None:
    assert fit("阿依古丽·买买提|", "gbk", 64)[:-1].decode("gbk") == "阿依古丽·买买提|"
    assert fit("阿依古丽·买买提|", "utf-8", 64)[:-1].decode("utf-8") == "阿依古丽·买买提|"


# -- return codes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (NoCardError("no card"), -2),
        (CardRemovedError("pulled"), -2),
        (MuteCardError("mute"), -4),
        (CorruptResponseError("damaged"), -15),
        (ReaderNotFoundError("no reader"), -11),
        (PcscdNotRunningError("no pcscd"), -11),
        (PinEntryCancelled("cancelled"), -31),
        (error_for_sw(0x63C2, "VERIFY", pin=True), -51),
        (error_for_sw(0x6983, "VERIFY", pin=True), -52),
        (error_for_sw(0x6982, "READ RECORD"), -27010),
        (error_for_sw(0x6A88, "EXTERNAL AUTHENTICATE"), -27272),
        (error_for_sw(0x9303, "SELECT"), -37635),
        (KeyServiceUnavailable("down"), -12),
        (KeyServiceRefused("bad card", code="card-not-verified"), -25),
        (NativeError(ReturnCode.NO_PSAM, "no PSAM"), -2201),
        (RuntimeError("secret 123456"), -999),
        (KeyboardInterrupt(), -999),
    ],
)
def test_code_for(error: BaseException, code: int) -> None:
    got, text = code_for(error)
    assert got == code
    assert text and "\n" not in text


def test_wrong_pin_text_gives_the_tries_left() -> None:
    code, text = code_for(error_for_sw(0x63C2, "VERIFY", pin=True))
    assert code == -51 and "剩余次数2次" in text


def test_an_internal_error_shows_its_class_not_its_text() -> None:
    code, text = code_for(ValueError("PIN 123456 in a message"))
    assert code == -999 and "ValueError" in text and "123456" not in text


# -- the header and the C source -------------------------------------------------------------


def test_header_declares_every_export_with_the_vendors_prototype() -> None:
    text = header()
    for proto in (
        "long iReadCardBas(int iType, char * pOutInfo);",
        "long iReadCardBas_HSM_Step1(int iType, char * pOutInfo);",
        "long iReadCardBas_HSM_Step2(char * pKey, char * pOutInfo);",
        "long iVerifyPIN(int iType, char * pOutInfo);",
        "long iChangePIN(int iType, char * pOutInfo);",
        "long iGetReaderInfo(char * pReaderSN, char * pPsamTermNo);",
    ):
        assert proto in text
    assert "#define SSCARD_OUTINFO_SIZE 1024" in text
    assert re.search(r"#define SSCARD_NO_PSAM\s+\(-2201\)", text)
    source = c_source()
    declared = cdef()
    for export in EXPORTS:
        assert f"SSCARD_EXPORT long {export.name}(" in source
        assert f"sscard_py_{export.name}(" in declared
