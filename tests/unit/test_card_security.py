"""Card security, in-process: known-answer vectors and the card's rules.

Known answers are computed here independently, straight from the cipher
primitives of ``cryptography`` (not through sscard_terminal.crypto), with the
published test keys of card_profiles/keys.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from sscard_terminal.apdu.command import CommandApdu
from sscard_terminal.codecs.atr import Atr
from sscard_terminal.codecs.transaction import VECTOR, TransactionRecord, TransactionType
from sscard_terminal.crypto.ciphers import SM4, TDES
from sscard_terminal.crypto.computations import auth_cryptogram, diversify, mac, session_key
from sscard_terminal.crypto.keyset import card_key, city_factor, load_key_set, resolve_key_set_path
from sscard_terminal.driver.pin import Pin, SimulatedPinPad
from sscard_terminal.driver.sam import AuthCard, SoftwareSam
from sscard_terminal.errors import (
    ApplicationBlockedError,
    CardBlockedError,
    CardExpiredError,
    PinBlockedError,
    SecurityStatusNotSatisfiedError,
    StatusWordError,
    UnblockPinRefusedError,
    UsageError,
    WrongPinError,
)
from sscard_terminal.vcard.factory import card_from_image, write_new_image
from tests.virtual_cards import VirtualCards, new_card

KEYS = load_key_set(resolve_key_set_path("ningbo-test-keys"))
SAM = SoftwareSam(KEYS)
SSSE = bytes.fromhex("7378312E73682EC9E7BBE1B1A3D5CF")
TEST_PIN = "123456"  # the profiles' published test PIN


def ecb(alg: str, key: bytes, block: bytes) -> bytes:
    if alg == "sm4":
        algo: algorithms.SM4 | TripleDES = algorithms.SM4(key)
    else:  # two-key 3DES K1 K2 K1; single DES K K K
        algo = TripleDES(key + key[:8] if len(key) == 16 else key * 3)
    enc = Cipher(algo, modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


# -- known answers ----------------------------------------------------------------
def test_diversification_kat() -> None:
    master = KEYS.master(0x0A)
    f = bytes.fromhex("86603302C38275EE")
    nf = bytes(b ^ 0xFF for b in f)
    assert diversify(TDES, master, f) == ecb("3des", master, f) + ecb("3des", master, nf)
    assert diversify(SM4, master, f) == ecb("sm4", master, f + nf)
    # card factor, then the city factor; Ningbo's is "330200sx" (Zhejiang rule)
    assert city_factor("330203") == bytes.fromhex("3333303230307378")
    c = city_factor("330203")
    level1 = ecb("sm4", master, f + nf)
    expected = ecb("sm4", level1, c + bytes(b ^ 0xFF for b in c))
    assert card_key(SM4, master, f, "330203") == expected


def test_session_key_cryptogram_and_mac_kat() -> None:
    k16 = KEYS.master(0x04)
    r8 = bytes.fromhex("0102030405060708")
    r4 = bytes.fromhex("A1A2A3A4")
    assert session_key(TDES, k16, r8) == ecb("3des", k16, r8)
    assert session_key(TDES, k16, r4) == ecb("3des", k16, r4 + bytes(4))
    sk = ecb("3des", k16, r8)
    assert auth_cryptogram(TDES, k16, r8, r8) == ecb("3des", sk, r8)  # single-DES SK: K K K
    sk16 = ecb("sm4", k16, r8 + bytes(8))
    full = ecb("sm4", sk16, r8 + bytes(8))
    folded = bytes(a ^ b for a, b in zip(full[:8], full[8:], strict=True))
    assert auth_cryptogram(SM4, k16, r8, r8) == folded
    # MAC: CBC with the challenge as IV, 80 00 padding, leftmost 4 / XOR of words
    data = bytes.fromhex("841E000104")
    iv = r8
    block = bytes(a ^ b for a, b in zip(iv, data + b"\x80" + bytes(2), strict=True))
    assert mac(TDES, k16, r8, data) == ecb("3des", k16, block)[:4]
    iv16 = r8 + bytes(8)
    block16 = bytes(a ^ b for a, b in zip(iv16, data + b"\x80" + bytes(10), strict=True))
    out = ecb("sm4", k16, block16)
    words = [out[i : i + 4] for i in range(0, 16, 4)]
    expected = bytes(w0 ^ w1 ^ w2 ^ w3 for w0, w1, w2, w3 in zip(*words, strict=True))
    assert mac(SM4, k16, r8, data) == expected


def test_transaction_record_vector() -> None:
    record, hexstr = VECTOR
    assert record.to_bytes().hex().upper() == hexstr
    assert TransactionRecord.from_bytes(bytes.fromhex(hexstr)) == record


# -- the card's rules ----------------------------------------------------------------
def test_verify_counts_down_blocks_and_survives_restart(
    tmp_path: Path, virtual_card: VirtualCards
) -> None:
    image = tmp_path / "card.json"
    write_new_image(image, "ningbo-gen2")
    driver = virtual_card.insert(card_from_image(image)).driver
    driver.select_ssse()
    assert driver.pin_tries() == 3
    for left in (2, 1):
        with pytest.raises(WrongPinError) as err:
            driver.verify_pin(Pin("000000"))
        assert err.value.tries_left == left
        assert "000000" not in str(err.value)
        assert err.value.one_line() == f"wrong PIN, {left} {'try' if left == 1 else 'tries'} left"
    with pytest.raises(PinBlockedError) as blocked:
        driver.verify_pin(Pin("999999"))
    assert blocked.value.one_line().lower().count("blocked") == 1
    with pytest.raises(PinBlockedError):
        driver.verify_pin(Pin(TEST_PIN))  # even the right PIN
    # a restart of the serving process: the counter lives in the image
    again = virtual_card.insert(card_from_image(image)).driver
    again.select_ssse()
    assert again.pin_tries() == 0
    with pytest.raises(PinBlockedError):
        again.verify_pin(Pin(TEST_PIN))
    # the issuer unblocks with the PUK (the holder gives the current PIN) ...
    issuer = again.read_issuer(("card_id_code", "spec_version"))
    # ... a wrong current PIN is refused with a hint, not a bare 6A80
    with pytest.raises(UnblockPinRefusedError) as refused:
        again.unblock_pin(SAM, Pin("654321"), issuer, reload=False)
    line = refused.value.one_line()
    assert refused.value.exit_code == 6 and "current PIN" in line and "--reload" in line
    assert "654321" not in line
    assert again.pin_tries() == 0
    again.unblock_pin(SAM, Pin(TEST_PIN), issuer, reload=False)
    assert again.pin_tries() == 3
    again.verify_pin(Pin(TEST_PIN))


def test_verify_counter_query_forms() -> None:
    card = new_card("ningbo-gen3")
    card.process(bytes.fromhex("00A4040C0F") + SSSE)
    assert card.process(bytes.fromhex("00200000")) == bytes.fromhex("63C3")
    assert card.process(bytes.fromhex("0020000000")) == bytes.fromhex("63C3")
    assert card.process(bytes.fromhex("0020000001AA")) == bytes.fromhex("6700")
    assert card.process(bytes.fromhex("0020010003123456")) == bytes.fromhex("6A86")


def test_change_pin_and_reload(virtual_card: VirtualCards) -> None:
    driver = virtual_card("ningbo-gen2").driver
    driver.select_ssse()
    driver.change_pin(Pin(TEST_PIN), Pin("24680"))
    with pytest.raises(WrongPinError):
        driver.verify_pin(Pin(TEST_PIN))
    driver.verify_pin(Pin("24680"))
    with pytest.raises(WrongPinError):
        driver.change_pin(Pin("1111"), Pin("2222"))
    issuer = driver.read_issuer(("card_id_code", "spec_version"))
    driver.unblock_pin(SAM, Pin("97531"), issuer, reload=True)
    driver.verify_pin(Pin("97531"))


@pytest.mark.parametrize("profile", ["ningbo-gen2", "ningbo-gen3"])
def test_external_authentication_and_access(profile: str, virtual_card: VirtualCards) -> None:
    driver = virtual_card(profile).driver
    record = driver.read(sam=SAM)
    assert record.holder is not None and record.holder.id_number
    issuer = driver.read_issuer()
    ctx = driver.context(issuer)
    auth = AuthCard(driver.session, ctx)
    # UPDATE RECORD on EF06 needs UKSSSE: RKSSSE is not enough
    update = CommandApdu(0x00, 0xDC, 0x0B, 0x30, bytes.fromhex("0B0102"))
    with pytest.raises(SecurityStatusNotSatisfiedError):
        driver.session.send(update)
    SAM.authenticate(auth, 0x04)
    driver.session.send(update)
    assert driver.read_holder(("ethnic_group",)).ethnic_group == "02"


def test_challenge_is_used_once_and_wrong_cryptograms_lock_the_key(
    virtual_card: VirtualCards,
) -> None:
    inserted = virtual_card("ningbo-gen3")
    card, driver = inserted.os, inserted.driver
    driver.select_ssse()
    issuer = driver.read_issuer(("card_id_code", "spec_version"))
    ctx = driver.context(issuer)
    auth = AuthCard(driver.session, ctx)
    challenge = auth.get_challenge(8)
    key = card_key(SM4, KEYS.master(0x0A), ctx.card_factor, ctx.region)
    good = auth_cryptogram(SM4, key, challenge, challenge) + challenge + b"\x01"
    command = bytes.fromhex("008200 0A 11".replace(" ", "")) + good
    assert card.process(command) == b"\x90\x00"
    # replay of the same EXTERNAL AUTHENTICATE: the challenge is gone
    assert card.process(command) == bytes.fromhex("6984")
    # wrong cryptograms count down and lock the key
    answers = []
    for _ in range(5):
        r = auth.get_challenge(8)
        answers.append(
            card.process(bytes.fromhex("008200 0A 10".replace(" ", "")) + bytes(8) + r).hex()
        )
    assert answers == ["63c4", "63c3", "63c2", "63c1", "6983"]
    r = auth.get_challenge(8)
    right = auth_cryptogram(SM4, key, r, r) + r
    assert card.process(bytes.fromhex("0082000A10") + right) == bytes.fromhex("6983")


def test_df04_ef05_needs_pin_or_rk(virtual_card: VirtualCards) -> None:
    driver = virtual_card("ningbo-gen2").driver
    driver.select_ssse()
    driver.select_medical()
    read_df04 = CommandApdu(0x00, 0xB2, 0x01, 0x2C, ne=2)
    with pytest.raises(SecurityStatusNotSatisfiedError):
        driver.session.send(read_df04)
    driver.select_ssse()
    driver.verify_pin(Pin(TEST_PIN))
    driver.select_medical()
    with pytest.raises(StatusWordError) as err:  # access granted: the file is simply empty
        driver.session.send(read_df04)
    assert err.value.sw == 0x6A83


def test_transaction_log_after_pin(virtual_card: VirtualCards) -> None:
    driver = virtual_card("ningbo-gen3").driver
    driver.select_ssse()
    with pytest.raises(SecurityStatusNotSatisfiedError):
        driver.read_log()
    driver.select_ssse()
    driver.verify_pin(Pin(TEST_PIN))
    written = []
    for i in range(3):
        rec = TransactionRecord(
            TransactionType.PHARMACY,
            dt.datetime(2026, 11, 25, 10, i, 0),
            "P33020300017",
            VECTOR[0].amount * (i + 1),
            VECTOR[0].balance,
            100 + i,
        )
        driver.append_transaction(rec)
        written.append(rec)
    assert driver.read_log() == list(reversed(written))


def test_application_and_card_block(virtual_card: VirtualCards) -> None:
    inserted = virtual_card("ningbo-gen2")
    card, driver = inserted.os, inserted.driver
    driver.select_ssse()
    issuer = driver.read_issuer(("card_id_code", "spec_version"))
    auth = AuthCard(driver.session, driver.context(issuer))
    # a wrong MAC is refused and blocks nothing
    auth.get_challenge(8)
    assert card.process(bytes.fromhex("841E00010400000000")) == bytes.fromhex("9302")
    SAM.maced_command(auth, bytes.fromhex("841E0001"), b"", 0x05)
    with pytest.raises(ApplicationBlockedError):
        driver.select_ssse()
    card.reset()
    assert card.process(bytes.fromhex("00A404000F") + SSSE) == bytes.fromhex("9303")
    # DF outside SSSE still answers
    assert card.process(bytes.fromhex("00A40000023F00"))[:1] == b"\x61"

    inserted2 = virtual_card("ningbo-gen2")
    card2, driver2 = inserted2.os, inserted2.driver
    driver2.select_ssse()
    issuer2 = driver2.read_issuer(("card_id_code", "spec_version"))
    SAM.maced_command(
        AuthCard(driver2.session, driver2.context(issuer2)), bytes.fromhex("84160000"), b"", 0x05
    )
    with pytest.raises(CardBlockedError):
        driver2.select_ssse()
    assert card2.process(bytes.fromhex("00A40000023F00")) == bytes.fromhex("6A81")


def test_expired_card_is_reported_with_its_date(virtual_card: VirtualCards) -> None:
    driver = virtual_card("ningbo-gen2").driver
    expiry = driver.read().issuer.expiry
    assert expiry is not None
    with pytest.raises(CardExpiredError) as err:
        driver.read(check_expiry=True, today=expiry + dt.timedelta(days=1))
    assert expiry.isoformat() in str(err.value)
    driver.read(check_expiry=True, today=expiry)  # still valid on its last day


def test_simulated_pin_pad_and_pin_redaction() -> None:
    pad = SimulatedPinPad(["1234", "5678"])
    first = pad.get_pin("PIN")
    assert first.reveal() == "1234" and "1234" not in repr(first) and "1234" not in str(first)
    assert pad.get_pin("new PIN").reveal() == "5678"
    assert pad.requests == ["PIN", "new PIN"]
    with pytest.raises(UsageError, match="no entry left"):
        pad.get_pin("again")


def test_atr_factor_matches_personalisation() -> None:
    card = new_card("ningbo-gen3")
    factor = Atr.parse(card.atr).diversification_factor
    assert factor[2:4] == bytes.fromhex("3302")


@pytest.mark.parametrize("profile", ["ningbo-gen2", "ningbo-gen3"])
def test_issuer_update_of_ef06_after_ukssse(profile: str, virtual_card: VirtualCards) -> None:
    driver = virtual_card(profile).driver
    driver.select_ssse()
    issuer = driver.read_issuer()
    driver.update_item(SAM, issuer, "birthplace", "330281")
    record = driver.read(sam=SAM)
    assert record.holder is not None and record.holder.birthplace == "330281"
    # without the update key nothing is written: after a reset there is no UKSSSE
    driver.transport.reset()
    driver.select_ssse()
    plain = driver.session.transmit(
        CommandApdu(0x00, 0xDC, 0x0C, 0x30, bytes.fromhex("0C03330211"))
    )
    assert plain.sw == 0x6982


def test_medical_df04_records_need_uk1df04_and_pin_to_read(virtual_card: VirtualCards) -> None:
    driver = virtual_card("ningbo-gen3").driver
    driver.select_ssse()
    issuer = driver.read_issuer(("card_id_code", "spec_version"))
    driver.update_medical_item(SAM, issuer, 0x80, b"\x01\x02\x03")
    driver.select_ssse()
    with pytest.raises(SecurityStatusNotSatisfiedError):
        driver.read_medical_item(0x80)
    driver.select_ssse()
    driver.verify_pin(Pin(TEST_PIN))
    assert driver.read_medical_item(0x80) == b"\x01\x02\x03"
    assert driver.read_medical_item(0x81) is None
    with pytest.raises(UsageError):
        driver.update_medical_item(SAM, issuer, 0x08, b"\x00")
