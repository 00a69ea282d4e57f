"""Card security through the real stack (pyscard -> pcscd -> vpcd -> served card):
the authenticated 3.0 read, PINs that block and stay blocked across a restart of
the serving process, and negative tests: wrong MAC, replayed challenge, wrong
key, blocked PIN, writing without authentication.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sscard_terminal.apdu.command import CommandApdu
from sscard_terminal.crypto.keyset import load_key_set, resolve_key_set_path
from sscard_terminal.driver.pin import Pin
from sscard_terminal.driver.sam import AuthCard, SoftwareSam
from sscard_terminal.driver.sscard import SocialSecurityCard
from sscard_terminal.errors import PinBlockedError, SecurityStatusNotSatisfiedError, WrongPinError
from sscard_terminal.system.pcscd import PcscdHandle
from sscard_terminal.transport.base import open_transport
from sscard_terminal.vcard.factory import card_from_image, write_new_image
from tests.e2e.conftest import ServeCard

CLI = [sys.executable, "-m", "sscard_terminal.cli.main"]
SAM = SoftwareSam(load_key_set(resolve_key_set_path("ningbo-test-keys")))
TEST_PIN = "123456"  # the profiles' published test PIN


def sscard(*args: str, pass_fds: tuple[int, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=60, pass_fds=pass_fds
    )


def test_gen3_line_with_software_sam(served_card: ServeCard, tmp_path: Path) -> None:
    image = tmp_path / "gen3.json"
    write_new_image(image, "ningbo-gen3")
    served = served_card(card_from_image(image))
    # without authentication the card itself refuses EF06
    plain = sscard("read", "--line", "--allow-partial", "--reader", served.reader)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.split("|")[1] == ""
    result = sscard("read", "--line", "--sam", "software", "--reader", served.reader)
    assert result.returncode == 0, result.stderr
    items = result.stdout.strip().split("|")
    assert len(items) == 12 and all(items[i] for i in range(9)), items
    assert items[6] == "3.00"


def serve_subprocess(image: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, "card", "serve", "--image", str(image)], stderr=subprocess.PIPE, text=True
    )


def wait_card(reader: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if sscard("readers").stdout.find(f"{reader}: card") >= 0:
            return
        time.sleep(0.1)
    raise AssertionError(f"no card in {reader}")


def pin_fd(tmp_path: Path, *pins: str) -> int:
    path = tmp_path / "pins"
    path.write_text("".join(p + "\n" for p in pins), encoding="ascii")
    return os.open(path, os.O_RDONLY)


def test_three_wrong_pins_block_across_restart(
    pcscd: PcscdHandle, reader_empty: Callable[[int], str], tmp_path: Path
) -> None:
    image = tmp_path / "card.json"
    write_new_image(image, "ningbo-gen2")
    reader = reader_empty(0)
    proc = serve_subprocess(image)
    try:
        wait_card(reader)
        codes = []
        for wrong in ("000000", "111111", "222222"):
            fd = pin_fd(tmp_path, wrong)
            result = sscard(
                "pin", "verify", "--reader", reader, "--pin-fd", str(fd), pass_fds=(fd,)
            )
            os.close(fd)
            codes.append((result.returncode, result.stderr.strip()))
            assert wrong not in result.stderr and wrong not in result.stdout
        assert [c for c, _ in codes] == [6, 6, 6]
        assert "2 tries left" in codes[0][1] and "1 try left" in codes[1][1]
        assert "PIN blocked" in codes[2][1]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    reader_empty(0)
    proc = serve_subprocess(image)  # the serving process restarts: same EEPROM
    try:
        wait_card(reader)
        fd = pin_fd(tmp_path, TEST_PIN)
        result = sscard("pin", "verify", "--reader", reader, "--pin-fd", str(fd), pass_fds=(fd,))
        os.close(fd)
        assert result.returncode == 6 and "blocked" in result.stderr
        # the issuer unblocks with the PUK; then the PIN works again
        fd = pin_fd(tmp_path, TEST_PIN, TEST_PIN)
        result = sscard("pin", "unblock", "--reader", reader, "--pin-fd", str(fd), pass_fds=(fd,))
        assert result.returncode == 0, result.stderr
        result = sscard("pin", "verify", "--reader", reader, "--pin-fd", str(fd), pass_fds=(fd,))
        os.close(fd)
        assert result.returncode == 0, result.stderr
        assert "3 tries" in result.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def test_negative_security_through_pcsc(served_card: ServeCard, tmp_path: Path) -> None:
    image = tmp_path / "card.json"
    write_new_image(image, "ningbo-gen3")
    served = served_card(card_from_image(image))
    with open_transport(reader=served.reader) as transport:
        driver = SocialSecurityCard(transport)
        driver.select_ssse()
        issuer = driver.read_issuer()
        ctx = driver.context(issuer)
        auth = AuthCard(driver.session, ctx)
        session = driver.session

        # writing without authentication
        update = CommandApdu(0x00, 0xDC, 0x0B, 0x30, bytes.fromhex("0B0102"))
        with pytest.raises(SecurityStatusNotSatisfiedError):
            session.send(update)
        # EF06 without RKSSSE
        with pytest.raises(SecurityStatusNotSatisfiedError):
            driver.read_holder(("id_number",))

        # a replayed challenge: the same EXTERNAL AUTHENTICATE twice
        captured: list[bytes] = []

        class Recorder:
            def __init__(self, inner: AuthCard) -> None:
                self.inner, self.context = inner, inner.context

            def get_challenge(self, n: int = 8) -> bytes:
                return self.inner.get_challenge(n)

            def external_authenticate(self, key_id: int, c: bytes, source: bytes) -> None:
                captured.append(c + source)
                self.inner.external_authenticate(key_id, c, source)

        SAM.authenticate(Recorder(auth), 0x0A)  # type: ignore[arg-type]
        replay = session.transmit(CommandApdu(0x00, 0x82, 0x00, 0x0A, captured[0] + b"\x01"))
        assert replay.sw == 0x6984
        assert driver.read_holder(("id_number",)).id_number  # the first one counted

        # a wrong key: the cryptogram for key 04 presented as key 0A
        challenge = auth.get_challenge(8)
        from sscard_terminal.crypto.ciphers import SM4
        from sscard_terminal.crypto.computations import auth_cryptogram
        from sscard_terminal.crypto.keyset import card_key

        key04 = card_key(SM4, SAM.key_set.master(0x04), ctx.card_factor, ctx.region)
        wrong = auth_cryptogram(SM4, key04, challenge, challenge) + challenge + b"\x01"
        assert session.transmit(CommandApdu(0x00, 0x82, 0x00, 0x0A, wrong)).sw == 0x63C4

        # a wrong MAC on APPLICATION BLOCK: refused, nothing blocked
        auth.get_challenge(8)
        bad_mac = session.transmit(CommandApdu(0x84, 0x1E, 0x00, 0x01, bytes(4)))
        assert bad_mac.sw == 0x9302
        driver.select_ssse()

        # a blocked PIN
        for _ in range(2):
            with pytest.raises(WrongPinError):
                driver.verify_pin(Pin("000000"))
        with pytest.raises(PinBlockedError):
            driver.verify_pin(Pin("000000"))
        with pytest.raises(PinBlockedError):
            driver.verify_pin(Pin(TEST_PIN))
