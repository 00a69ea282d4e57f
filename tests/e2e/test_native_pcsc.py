"""``libSSCardDriver.so`` through the real stack: the library is built by
``sscard native build`` into a temporary directory, a C program compiled here
with gcc calls it as a kiosk does, and the same library is loaded with ctypes
for the error codes. Cards are served through pcscd/vpcd (slot 0 the card,
slot 1 the PSAM); the key service runs on a real socket.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sscard_terminal.crypto.keyset import load_key_set, resolve_key_set_path
from sscard_terminal.keyservice.core import KeyService
from sscard_terminal.keyservice.registry import load_terminals
from sscard_terminal.keyservice.server import STEP1_PATH, serve_in_thread
from sscard_terminal.native import exports
from sscard_terminal.native.config import ENV_VAR
from sscard_terminal.vcard.cardos import CardOS
from sscard_terminal.vcard.factory import psam_from_profile
from sscard_terminal.vcard.faults import FaultyCard
from sscard_terminal.vcard.personalise import CardParameters
from tests.e2e.conftest import ServeCard, unavailable
from tests.virtual_cards import make_person, new_card

HERE = Path(__file__).parent
CLI = [sys.executable, "-m", "sscard_terminal.cli.main"]
CARD_READER = "Virtual PCD 00 00"
PSAM_READER = "Virtual PCD 00 01"
TERMINAL = "330200000001"  # the virtual PSAM's EF 0016, and a terminal the key service knows
DEVICE = "K0001"
TEST_PIN = "123456"  # the profiles' published test PIN
OUT_SIZE = 1024
GUARD = 64

PERSON = make_person("孙·悟空", "330211", dt.date(1981, 10, 1), "517")
PARAMS = CardParameters(serial=0x0BADCAFE, issue_date=dt.date(2022, 8, 18))


def sscard(*args: str) -> str:
    result = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def write_ini(path: Path, **sections: dict[str, str]) -> Path:
    text = "".join(
        f"[{name}]\n" + "".join(f"{key} = {value}\n" for key, value in keys.items())
        for name, keys in sections.items()
    )
    path.write_text(text, encoding="utf-8")
    return path


def pin_pad(path: Path, *entries: str) -> dict[str, str]:
    path.write_text("".join(e + "\n" for e in entries), encoding="ascii")
    return {"kind": "simulated", "file": str(path)}


# -- building ------------------------------------------------------------------------------


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is not installed (./run installs it)")
    return str(path)


@pytest.fixture(scope="session")
def native_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The library and header, built by the CLI as a user would."""
    _tool("gcc")
    out = tmp_path_factory.mktemp("native")
    result = subprocess.run(
        [*CLI, "native", "build", "--out", str(out)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert (out / "libSSCardDriver.so").is_file() and (out / "SSCardDriver.h").is_file()
    return out


@pytest.fixture(scope="session")
def kiosk(native_dir: Path) -> Path:
    """tests/e2e/native_kiosk.c compiled against the header and linked to the library."""
    program = native_dir / "kiosk"
    result = subprocess.run(
        [
            _tool("gcc"),
            "-Wall",
            "-Werror",
            "-o",
            str(program),
            str(HERE / "native_kiosk.c"),
            f"-I{native_dir}",
            f"-L{native_dir}",
            "-lSSCardDriver",
            f"-Wl,-rpath,{native_dir}",
            "-lpthread",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return program


def run_kiosk(kiosk: Path, ini: Path, *calls: str, stdin: str = "") -> list[tuple[str, int, bytes]]:
    result = subprocess.run(
        [str(kiosk), *calls],
        input=stdin.encode(),
        capture_output=True,
        timeout=120,
        env={**os.environ, ENV_VAR: str(ini)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""  # a library does not write on its caller's terminal
    return [parse_line(line) for line in result.stdout.splitlines()]


def parse_line(line: bytes) -> tuple[str, int, bytes]:
    call, _, rest = line.partition(b" ")
    assert rest != b"OVERFLOW", f"{call!r} wrote past pOutInfo"
    code, _, text = rest.partition(b" ")
    return call.decode(), int(code), text


# -- the C program ------------------------------------------------------------------------------


def test_c_program_reads_like_sscard_read_line(
    served_card: ServeCard, kiosk: Path, tmp_path: Path
) -> None:
    """A gen3 card on slot 0, the PSAM on slot 1: every call from C, the line equal
    to `sscard read --line` for the same card, in GBK."""
    served_card(new_card("ningbo-gen3", PERSON, PARAMS), 0)
    served_card(psam_from_profile("psam-ningbo"), 1)
    ini = write_ini(
        tmp_path / "SSCardDriver.ini",
        reader={"name": CARD_READER},
        sam={"kind": "psam", "reader": PSAM_READER},
        terminal={"device": DEVICE},
        pinpad=pin_pad(tmp_path / "pad", TEST_PIN),
    )
    (read, info, verify) = run_kiosk(kiosk, ini, "read", "info", "verify")
    expected = sscard(
        "read", "--sam", "pcsc", "--sam-reader", PSAM_READER, "--reader", CARD_READER,
        "--line", "--device-number", DEVICE,
    )  # fmt: skip
    assert read[1] == 0, read[2].decode("gbk")
    line = read[2].decode("gbk")
    assert line == expected
    items = line.split("|")
    assert items[1] == PERSON.id_number and items[4] == PERSON.name
    assert items[9] == TERMINAL and items[10] == DEVICE
    assert read[2] == expected.encode("gbk")  # GBK by default, as the vendors' libraries
    assert info == ("info", 0, f"{CARD_READER}|{TERMINAL}".encode())
    assert verify == ("verify", 0, b"")

    # change the PIN on the PIN pad: current, new, new again; then the old one is wrong
    pin_pad(tmp_path / "pad", TEST_PIN, "654321", "654321")
    assert run_kiosk(kiosk, ini, "change")[0][:2] == ("change", 0)
    pin_pad(tmp_path / "pad", "654321")
    assert run_kiosk(kiosk, ini, "verify")[0][:2] == ("verify", 0)
    pin_pad(tmp_path / "pad", TEST_PIN)
    call, code, text = run_kiosk(kiosk, ini, "verify")[0]
    assert code == -51 and "剩余次数2次" in text.decode("gbk")
    pin_pad(tmp_path / "pad", "654321", "111111", "222222")
    call, code, text = run_kiosk(kiosk, ini, "change")[0]
    assert code == -34 and text.decode("gbk").startswith("两次输入密码不一致")


#: the shipped test registry's published token of TERMINAL
KEYSERVICE_TOKEN = "test-token-330200000001"


@pytest.fixture
def keyservice_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The key service, and this terminal's token where the library and the
    CLI take it from (the environment, never the ini file or an argument)."""
    monkeypatch.setenv("SSCARD_KEYSERVICE_TOKEN", KEYSERVICE_TOKEN)
    service = KeyService(load_key_set(resolve_key_set_path("ningbo-test-keys")), load_terminals())
    with serve_in_thread(service) as url:
        yield url


def test_c_program_key_service_steps(
    served_card: ServeCard, kiosk: Path, tmp_path: Path, keyservice_url: str
) -> None:
    """No PSAM: iReadCardBas answers -2201, the kiosk goes through the key service
    with step 1 and step 2 (the test carries the line to the service, as the
    calling program does), and step 2's line equals `sscard read --line` with
    the key service."""
    served_card(new_card("ningbo-gen3", PERSON, PARAMS), 0)
    ini = write_ini(
        tmp_path / "SSCardDriver.ini",
        reader={"name": CARD_READER},
        terminal={"number": TERMINAL, "device": DEVICE},
    )
    process = subprocess.Popen(
        [str(kiosk), "read", "step1", "step2"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, ENV_VAR: str(ini)},
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        read = parse_line(process.stdout.readline().rstrip(b"\n"))
        assert read[1] == -2201 and read[2].decode("gbk").startswith("无PSAM卡")
        step1 = parse_line(process.stdout.readline().rstrip(b"\n"))
        assert step1[1] == 0, step1[2].decode("gbk")
        fields = step1[2].decode("ascii").split("|")
        assert len(fields) == 11 and fields[-1] == ""
        assert fields[2] == "sm4" and fields[8] == TERMINAL  # callers take [2]
        answer = httpx.post(
            keyservice_url + STEP1_PATH,
            json={"line": "|".join(fields[:9]) + "|", "ia_answer": fields[9]},
            headers={"Authorization": f"Bearer {KEYSERVICE_TOKEN}"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        process.stdin.write(answer.json()["cryptogram"].encode() + b"\n")
        process.stdin.close()
        step2 = parse_line(process.stdout.readline().rstrip(b"\n"))
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()
        process.wait()
    assert step2[1] == 0, step2[2].decode("gbk")
    expected = sscard(
        "read", "--sam", "keyservice", "--keyservice", keyservice_url, "--terminal", TERMINAL,
        "--reader", CARD_READER, "--line", "--device-number", DEVICE,
    )  # fmt: skip
    assert step2[2].decode("gbk") == expected
    assert expected.split("|")[4] == PERSON.name


def test_c_program_threads_are_serialised(
    served_card: ServeCard, kiosk: Path, tmp_path: Path
) -> None:
    served_card(new_card("ningbo-gen2", PERSON, PARAMS), 0)
    ini = write_ini(tmp_path / "SSCardDriver.ini", reader={"name": CARD_READER})
    assert run_kiosk(kiosk, ini, "threads") == [("threads", 0, b"1")]


# -- the same library through ctypes: the error codes ----------------------------------------------


class Library:
    """libSSCardDriver.so loaded in this process (its embedded Python is this one)."""

    def __init__(self, path: Path) -> None:
        self.dll = ctypes.CDLL(str(path))
        for name in ("iReadCardBas", "iReadCardBas_HSM_Step1", "iVerifyPIN", "iChangePIN"):
            function = getattr(self.dll, name)
            function.restype = ctypes.c_long
            function.argtypes = [ctypes.c_int, ctypes.c_void_p]
        self.dll.iReadCardBas_HSM_Step2.restype = ctypes.c_long
        self.dll.iReadCardBas_HSM_Step2.argtypes = [ctypes.c_char_p, ctypes.c_void_p]

    def call(self, name: str, *args: Any, encoding: str = "gbk") -> tuple[int, str]:
        """Call with a guarded 1024-byte pOutInfo; (code, text)."""
        buffer = ctypes.create_string_buffer(b"x" * (OUT_SIZE + GUARD), OUT_SIZE + GUARD)
        code = getattr(self.dll, name)(*args, buffer)
        raw = buffer.raw
        assert raw[OUT_SIZE:] == b"x" * GUARD, f"{name} wrote past pOutInfo"
        assert b"\0" in raw[:OUT_SIZE], f"{name} left pOutInfo without its NUL"
        return int(code), raw[: raw.index(b"\0")].decode(encoding)


@pytest.fixture(scope="session")
def library(native_dir: Path) -> Library:
    return Library(native_dir / "libSSCardDriver.so")


Configure = Callable[..., Path]


@pytest.fixture
def configure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Configure:
    """``configure(section={...}, ...)``: write the ini and point the library at it."""

    def write(**sections: dict[str, str]) -> Path:
        path = write_ini(tmp_path / "SSCardDriver.ini", **sections)
        monkeypatch.setenv(ENV_VAR, str(path))
        return path

    return write


def test_no_reader(library: Library, configure: Configure, pcscd: object) -> None:
    configure(reader={"name": "No Such Reader 99"})
    code, text = library.call("iReadCardBas", 1)
    assert code == -11 and text.startswith("读卡器连接错")


def test_empty_slot(
    library: Library, configure: Configure, reader_empty: Callable[[int], str], tmp_path: Path
) -> None:
    configure(reader={"name": reader_empty(0)}, pinpad=pin_pad(tmp_path / "pad", TEST_PIN))
    for function in ("iReadCardBas", "iReadCardBas_HSM_Step1", "iVerifyPIN"):
        code, text = library.call(function, 1)
        assert code == -2 and text.startswith("无卡"), (function, text)


def test_card_pulled(library: Library, configure: Configure, served_card: ServeCard) -> None:
    card = FaultyCard(new_card("ningbo-gen2", PERSON, PARAMS), "remove-after=3")
    served_card(card, 0)
    configure(reader={"name": CARD_READER})
    code, text = library.call("iReadCardBas", 1)
    assert code == -2 and text.startswith("无卡") and "removed" in text
    assert card.answered == 3


def test_wrong_then_blocked_pin(
    library: Library, configure: Configure, served_card: ServeCard, tmp_path: Path
) -> None:
    served_card(new_card("ningbo-gen2", PERSON, PARAMS), 0)
    configure(reader={"name": CARD_READER}, pinpad=pin_pad(tmp_path / "pad", "000000"))
    results = [library.call("iVerifyPIN", 1) for _ in range(4)]
    assert results[0][0] == -51 and "剩余次数2次" in results[0][1]
    assert results[1][0] == -51 and "剩余次数1次" in results[1][1]
    assert results[-1] == (-52, results[-1][1]) and results[-1][1].startswith("PIN锁定")
    assert all("000000" not in text for _, text in results)
    configure(reader={"name": CARD_READER}, pinpad=pin_pad(tmp_path / "pad", TEST_PIN))
    assert library.call("iVerifyPIN", 1)[0] == -52  # blocked stays blocked
    configure(reader={"name": CARD_READER}, pinpad=pin_pad(tmp_path / "pad", "12"))
    code, text = library.call("iVerifyPIN", 1)
    assert code == -33 and text.startswith("输入密码长度错")


def test_buffer_limits(library: Library, configure: Configure, pcscd: object) -> None:
    """An error text longer than pOutInfo is cut to 1023 bytes and its NUL, never
    past (Library.call checks the guard bytes); a NULL pOutInfo is -14."""
    configure(reader={"name": "读" * 1500})
    code, text = library.call("iReadCardBas", 1)
    assert code == -11
    assert len(text.encode("gbk")) in (1022, 1023)  # cut on a character boundary
    configure(reader={"name": CARD_READER})
    assert library.dll.iReadCardBas(1, None) == -14


def test_utf8_setting(library: Library, configure: Configure, served_card: ServeCard) -> None:
    served_card(new_card("ningbo-gen2", PERSON, PARAMS), 0)
    configure(reader={"name": CARD_READER})
    code, gbk_line = library.call("iReadCardBas", 1)
    assert code == 0 and gbk_line.split("|")[4] == PERSON.name
    configure(reader={"name": CARD_READER}, output={"encoding": "utf-8"})
    code, utf8_line = library.call("iReadCardBas", 1, encoding="utf-8")
    assert code == 0 and utf8_line == gbk_line


def test_security_module_and_step_errors(
    library: Library,
    configure: Configure,
    served_card: ServeCard,
    reader_empty: Callable[[int], str],
) -> None:
    served_card(new_card("ningbo-gen2", PERSON, PARAMS), 0)
    configure(reader={"name": CARD_READER})
    assert library.call("iReadCardBas_HSM_Step2", b"0011223344556677")[0] == -12
    code, text = library.call("iReadCardBas_HSM_Step1", 1)
    assert code == -2204 and text.startswith("不需要加密机认证")
    assert library.call("iReadCardBas", 0)[0] == -1
    reader_empty(1)
    configure(reader={"name": CARD_READER}, sam={"kind": "psam", "reader": PSAM_READER})
    code, text = library.call("iReadCardBas", 1)
    assert code == -2201 and text.startswith("无PSAM卡")
    configure(sam={"kind": "hsm"})
    code, text = library.call("iReadCardBas", 1)
    assert code == -5 and "[sam] kind must be one of" in text


def test_step2_refuses_a_malformed_key(
    library: Library, configure: Configure, served_card: ServeCard
) -> None:
    served_card(new_card("ningbo-gen3", PERSON, PARAMS), 0)
    configure(reader={"name": CARD_READER}, terminal={"number": TERMINAL})
    assert library.call("iReadCardBas_HSM_Step1", 1)[0] == 0
    code, text = library.call("iReadCardBas_HSM_Step2", b"not a cryptogram")
    assert code == -14 and "16 hex digits" in text
    assert library.call("iReadCardBas_HSM_Step2", b"0011223344556677")[0] == -12  # step 1 is spent


class RecordingCard:
    """A served card that records every command it processes."""

    def __init__(self, card: CardOS) -> None:
        self.card = card
        self.commands: list[bytes] = []
        self._lock = threading.Lock()

    @property
    def atr(self) -> bytes:
        return self.card.atr

    def power_on(self) -> bytes:
        return self.card.power_on()

    def power_off(self) -> None:
        self.card.power_off()

    def reset(self) -> bytes:
        return self.card.reset()

    def process(self, command: bytes) -> bytes:
        with self._lock:
            self.commands.append(command)
        return self.card.process(command)


def test_calls_from_threads_never_interleave(
    library: Library, configure: Configure, served_card: ServeCard
) -> None:
    """Three threads read at once (ctypes lets go of the GIL during each call): every
    read is correct, and the card saw whole reads one after the other."""
    card = RecordingCard(new_card("ningbo-gen2", PERSON, PARAMS))
    served_card(card, 0)
    configure(reader={"name": CARD_READER})
    results: list[tuple[int, str]] = []

    def reads() -> None:
        for _ in range(5):
            results.append(library.call("iReadCardBas", 1))

    threads = [threading.Thread(target=reads) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 15 and all(code == 0 for code, _ in results)
    assert len({text for _, text in results}) == 1
    commands = card.commands
    per_read = len(commands) // 15
    assert per_read * 15 == len(commands) and commands[0][:4] == bytes.fromhex("00A40400")
    first = commands[:per_read]
    assert all(commands[i : i + per_read] == first for i in range(0, len(commands), per_read))


def test_no_python_exception_crosses_into_c(
    library: Library,
    configure: Configure,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    pcscd: object,
) -> None:
    configure(reader={"name": CARD_READER})

    def broken(*args: object) -> str:
        raise RuntimeError("a bug holding 123456")

    def interrupted(*args: object) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(exports._DRIVER, "read_card_bas", broken)
    code, text = library.call("iReadCardBas", 1)
    assert code == -999 and "RuntimeError" in text and "123456" not in text
    monkeypatch.setattr(exports._DRIVER, "read_card_bas", interrupted)
    assert library.call("iReadCardBas", 1)[0] == -999
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""


def test_software_and_keyservice_modules_read_like_the_cli(
    library: Library, configure: Configure, served_card: ServeCard, keyservice_url: str
) -> None:
    """iReadCardBas with [sam] kind = software and = keyservice (the library makes
    the HTTP call itself): the lines `sscard read --line` gives with the same module."""
    served_card(new_card("ningbo-gen3", PERSON, PARAMS), 0)
    configure(
        reader={"name": CARD_READER},
        sam={"kind": "software"},
        terminal={"number": TERMINAL, "device": DEVICE},
    )
    code, line = library.call("iReadCardBas", 1)
    assert code == 0, line
    assert line == sscard(
        "read", "--sam", "software", "--terminal", TERMINAL, "--reader", CARD_READER,
        "--line", "--device-number", DEVICE,
    )  # fmt: skip
    configure(
        reader={"name": CARD_READER},
        sam={"kind": "keyservice", "url": keyservice_url},
        terminal={"number": TERMINAL, "device": DEVICE},
    )
    code, by_service = library.call("iReadCardBas", 1)
    assert code == 0, by_service
    assert by_service == line and line.split("|")[4] == PERSON.name
    configure(
        reader={"name": CARD_READER},
        sam={"kind": "keyservice", "url": "http://127.0.0.1:9", "timeout": "2"},
        terminal={"number": TERMINAL},
    )
    code, text = library.call("iReadCardBas", 1)
    assert code == -12 and text.startswith("未建立连接")
