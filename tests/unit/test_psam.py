"""The virtual PSAM (vcard.psam) and the PSAM security module (driver.psam).

Expected cryptograms and MACs are computed here directly from the cipher
primitives of ``cryptography`` (TripleDES, SM4 in ECB/CBC), not through
``sscard_terminal.crypto``. The published test keys come from the shipped
test key set.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from sscard_terminal.codecs.atr import Atr
from sscard_terminal.driver.psam import PsamSam, psam_key_ids
from sscard_terminal.driver.sam import AuthCard, CardContext
from sscard_terminal.driver.sscard import SocialSecurityCard
from sscard_terminal.errors import (
    ProfileError,
    SecurityStatusNotSatisfiedError,
    StatusWordError,
    UsageError,
)
from sscard_terminal.transport.base import open_transport
from sscard_terminal.vcard.cardos import CardOS
from sscard_terminal.vcard.factory import card_from_image, card_from_profile, psam_from_profile
from sscard_terminal.vcard.image import CardImage, ImageFile
from sscard_terminal.vcard.personalise import CardParameters
from sscard_terminal.vcard.psam import PsamOS
from sscard_terminal.vcard.psam_profile import load_psam_profile
from tests.virtual_cards import VirtualCards, card_image, make_person

SHIPPED = Path(__file__).resolve().parents[2] / "card_profiles"
KEYS = yaml.safe_load((SHIPPED / "keys" / "ningbo-test-keys.yaml").read_text(encoding="utf-8"))
MASTER = {entry["psam_key_id"]: bytes.fromhex(entry["value"]) for entry in KEYS["keys"]}

ADF_AID = "D15600000590"
SELECT_ADF = "00A4040006" + ADF_AID
FCI_ADF = "6F088406" + ADF_AID
TERMINAL_NUMBER = "330200000001"
PSAM_NUMBER = "33020000000000000001"  # issuer 330200 + serial 00000000000001
CARD_FACTOR = bytes.fromhex("866033020A10B2C3")
CITY_FACTOR = b"330200sx"  # card-spec.md: every Ningbo card (3302xx)
R = bytes.fromhex("0123456789ABCDEF")


# -- independent computations from the primitives ----------------------------------
def ecb(algorithm: Any, data: bytes) -> bytes:
    enc = Cipher(algorithm, modes.ECB()).encryptor()
    return enc.update(data) + enc.finalize()


def cbc_last(algorithm: Any, iv: bytes, data: bytes) -> bytes:
    enc = Cipher(algorithm, modes.CBC(iv)).encryptor()
    return (enc.update(data) + enc.finalize())[-len(iv) :]


def tdes(key: bytes) -> TripleDES:
    # 8 bytes: single DES (K K K); 16 bytes: two-key 3DES (K1 K2 K1)
    return TripleDES(key * 3 if len(key) == 8 else key + key[:8])


def inv(data: bytes) -> bytes:
    return bytes(b ^ 0xFF for b in data)


def expected_tdes_cryptogram(master: bytes, r: bytes) -> tuple[bytes, bytes]:
    """(session key, cryptogram): two 3DES diversifications, SK = E(K, R), C = E(SK, R)."""
    key = master
    for factor in (CARD_FACTOR, CITY_FACTOR):
        key = ecb(tdes(key), factor) + ecb(tdes(key), inv(factor))
    sk = ecb(tdes(key), r)
    return sk, ecb(tdes(sk), r)


def expected_sm4_block(master: bytes, r: bytes) -> tuple[bytes, bytes]:
    """(session key, E(SK, R || 00 x 8)) with SM4 diversification E(K, f || NOT f)."""
    key = master
    for factor in (CARD_FACTOR, CITY_FACTOR):
        key = ecb(algorithms.SM4(key), factor + inv(factor))
    sk = ecb(algorithms.SM4(key), r + bytes(8))
    return sk, ecb(algorithms.SM4(sk), r + bytes(8))


def pad80(data: bytes, block: int) -> bytes:
    data += b"\x80"
    return data + bytes(-len(data) % block)


# -- helpers -------------------------------------------------------------------------
def run(card: CardOS, *hex_apdus: str) -> list[str]:
    return [card.process(bytes.fromhex("".join(h.split()))).hex().upper() for h in hex_apdus]


def delivery(psam_key: str, process: bytes, p1: str = "48") -> str:
    data = CARD_FACTOR + CITY_FACTOR + process
    return f"BFDE{p1}{psam_key}{len(data):02X}" + data.hex()


def cipher(process: bytes, p1: str = "00") -> str:
    return f"80FA{p1}00{len(process):02X}" + process.hex()


@pytest.fixture
def psam() -> PsamOS:
    return psam_from_profile("psam-ningbo")


# -- the APDU table ------------------------------------------------------------------
TDES_DELIVERY = delivery("12", R)
SM4_DELIVERY = delivery("15", R + bytes(8))

# (description, setup APDUs, command, expected response)
TABLE = [
    ("terminal number, EF 0016 in the MF", [], "00B0960006", TERMINAL_NUMBER + "9000"),
    ("issuer + serial, EF 0015 offset 1", [], "00B095010A", PSAM_NUMBER + "9000"),
    ("the whole EF 0015", [], "00B095000E", "01" + PSAM_NUMBER + "0100019000"),
    ("EF 0015 is 14 bytes", [], "00B095000F", "6C0E"),
    ("select the ADF by AID, T=0 style", [], SELECT_ADF, "610A"),
    ("its FCI with GET RESPONSE", [SELECT_ADF], "00C000000A", FCI_ADF + "9000"),
    ("select the ADF by FID", [], "00A4000002DF01", "610A"),
    ("select the ADF by FID, no FCI", [], "00A4000C02DF01", "9000"),
    ("EF 0019 in the ADF", [SELECT_ADF], "00B0990004", "000000009000"),
    ("EF 0019 is not in the MF", [], "00B0990004", "6A82"),
    ("EF 0016 is in the MF only", [SELECT_ADF], "00B0960006", "6A82"),
    ("back to the MF by FID", [SELECT_ADF], "00A4000C023F00", "9000"),
    (
        "MF by its name sx2.sh.社会保障",
        [],
        "00A404000F" + "sx2.sh.社会保障".encode("gbk").hex(),
        "6113",
    ),
    ("INIT ENVIRONMENT", [SELECT_ADF], "BFEC00000133", "9000"),
    ("INIT ENVIRONMENT with two bytes", [SELECT_ADF], "BFEC0000023302", "6700"),
    ("INIT ENVIRONMENT with P1", [SELECT_ADF], "BFEC01000133", "6A86"),
    ("DELIVERY SESSION KEY, 3DES", [SELECT_ADF], TDES_DELIVERY, "9000"),
    ("DELIVERY SESSION KEY, SM4", [SELECT_ADF], SM4_DELIVERY, "9000"),
    ("DELIVERY with one level", [SELECT_ADF], "BFDE2812" + "10" + "00" * 16, "9000"),
    ("DELIVERY in the MF: no keys here", [], TDES_DELIVERY, "6A88"),
    ("DELIVERY of an unknown PSAM key", [SELECT_ADF], delivery("20", R), "6A88"),
    ("DELIVERY of the card key ID, not the PSAM's", [SELECT_ADF], delivery("04", R), "6A88"),
    ("DELIVERY with another key type", [SELECT_ADF], delivery("12", R, p1="47"), "6A88"),
    ("DELIVERY with Lc 8N + 7", [SELECT_ADF], "BFDE481217" + "00" * 23, "6700"),
    ("DELIVERY with Lc 8N + 24", [SELECT_ADF], "BFDE481228" + "00" * 40, "6700"),
    ("DELIVERY with four levels", [SELECT_ADF], "BFDE881228" + "00" * 40, "6A86"),
    ("DELIVERY with Le", [SELECT_ADF], TDES_DELIVERY + "00", "6700"),
    ("DELIVERY with CLA 80", [SELECT_ADF], "80" + TDES_DELIVERY[2:], "6E00"),
    ("CIPHER DATA without a session key", [SELECT_ADF], cipher(R), "6985"),
    ("CIPHER DATA, 3DES, answers 61 08", [SELECT_ADF, TDES_DELIVERY], cipher(R), "6108"),
    ("CIPHER DATA, SM4, answers 61 10", [SELECT_ADF, SM4_DELIVERY], cipher(R + bytes(8)), "6110"),
    ("CIPHER DATA, SM4, 8 bytes", [SELECT_ADF, SM4_DELIVERY], cipher(R), "6700"),
    ("CIPHER DATA, 3DES, 7 bytes", [SELECT_ADF, TDES_DELIVERY], cipher(R[:7]), "6700"),
    ("CIPHER DATA with P2", [SELECT_ADF, TDES_DELIVERY], "80FA000108" + R.hex(), "6A86"),
    ("CIPHER DATA with P1 09", [SELECT_ADF, TDES_DELIVERY], cipher(R, "09"), "6A86"),
    ("MAC next block without a first", [SELECT_ADF, TDES_DELIVERY], cipher(R, "03"), "6985"),
    ("MAC last block without a first", [SELECT_ADF, TDES_DELIVERY], cipher(R, "01"), "6985"),
    ("MAC with only the IV", [SELECT_ADF, TDES_DELIVERY], cipher(R, "05"), "6700"),
    (
        "a failed DELIVERY leaves no key",
        [SELECT_ADF, TDES_DELIVERY, delivery("20", R)],
        cipher(R),
        "6985",
    ),
    (
        "leaving the ADF drops the key",
        [SELECT_ADF, TDES_DELIVERY, "00A4000C023F00"],
        cipher(R),
        "6985",
    ),
    ("re-selecting the ADF keeps it", [SELECT_ADF, TDES_DELIVERY, SELECT_ADF], cipher(R), "6108"),
    ("a PSAM has no PIN", [], "0020000002123F", "6D00"),
    ("nor EXTERNAL AUTHENTICATE", [SELECT_ADF], "0082000410" + "00" * 16, "6D00"),
    ("GET RESPONSE with nothing waiting", [], "00C0000008", "6985"),
]


@pytest.mark.parametrize(("what", "setup", "command", "expected"), TABLE, ids=[t[0] for t in TABLE])
def test_psam_apdu_table(
    psam: PsamOS, what: str, setup: list[str], command: str, expected: str
) -> None:
    run(psam, *setup)
    assert run(psam, command) == [expected]


def test_pcsc_flow_tdes_known_answer(psam: PsamOS) -> None:
    """card-spec.md flow, steps 2-4, on a 2nd-generation (3DES) card: C = E(SK, R)."""
    sk, c = expected_tdes_cryptogram(MASTER["12"], R)
    answers = run(
        psam,
        SELECT_ADF,
        "BFDE481218" + (CARD_FACTOR + CITY_FACTOR + R).hex(),
        "80FA000008" + R.hex(),
        "00C0000008",
    )
    assert answers == ["610A", "9000", "6108", c.hex().upper() + "9000"]
    assert len(sk) == 8 and c != R


def test_pcsc_flow_sm4_known_answer(psam: PsamOS) -> None:
    """On a 3.0 (SM4) card: Lc 20 and 10, a 16-byte answer, C = left8 XOR right8."""
    sk, block = expected_sm4_block(MASTER["15"], R)
    answers = run(
        psam,
        SELECT_ADF,
        "BFDE481520" + (CARD_FACTOR + CITY_FACTOR + R).hex() + "00" * 8,
        "80FA000010" + R.hex() + "00" * 8,
        "00C0000010",
    )
    assert answers == ["610A", "9000", "6110", block.hex().upper() + "9000"]
    assert len(sk) == 16


def test_known_answer_depends_on_the_key_and_the_factors(psam: PsamOS) -> None:
    _, c = expected_tdes_cryptogram(MASTER["12"], R)
    run(psam, SELECT_ADF, delivery("13", R))
    assert run(psam, cipher(R) + "08") != [c.hex().upper() + "9000"]
    other_city = CARD_FACTOR + b"330100sx" + R
    run(psam, "BFDE481218" + other_city.hex())
    assert run(psam, cipher(R) + "08") != [c.hex().upper() + "9000"]
    run(psam, TDES_DELIVERY)
    assert run(psam, cipher(R) + "08") == [c.hex().upper() + "9000"]


@pytest.mark.parametrize("algorithm", ["3des", "sm4"])
def test_mac_known_answer_and_chaining(psam: PsamOS, algorithm: str) -> None:
    """P1 05: IV || pad80(M), CBC with SK, folded to 4 bytes; 07/03/01 give the same MAC."""
    if algorithm == "3des":
        sk, _ = expected_tdes_cryptogram(MASTER["12"], R)
        prim: Any = tdes(sk)
        size, setup = 8, TDES_DELIVERY
    else:
        sk, _ = expected_sm4_block(MASTER["15"], R)
        prim = algorithms.SM4(sk)
        size, setup = 16, SM4_DELIVERY
    iv = bytes.fromhex("1122334455667788") + bytes(size - 8)
    message = bytes.fromhex("841E000104") + b"social security card data, three blocks or more"
    padded = pad80(message, size)
    last = cbc_last(prim, iv, padded)
    if size == 8:
        expected = last[:4]
    else:
        expected = bytes(
            a ^ b ^ c ^ d
            for a, b, c, d in zip(*(last[i : i + 4] for i in (0, 4, 8, 12)), strict=True)
        )
    run(psam, SELECT_ADF, setup)
    assert run(psam, cipher(iv + padded, "05"), "00C0000004") == [
        "6104",
        expected.hex().upper() + "9000",
    ]
    first, middle, rest = padded[:size], padded[size : 2 * size], padded[2 * size :]
    answers = run(psam, cipher(iv + first, "07"), cipher(middle, "03"), cipher(rest, "01") + "04")
    assert answers == ["9000", "9000", expected.hex().upper() + "9000"]
    # the chain is used up by the last block
    assert run(psam, cipher(rest, "01")) == ["6985"]
    # and it equals crypto.computations.mac with the challenge as IV
    from sscard_terminal.crypto.ciphers import cipher_for
    from sscard_terminal.crypto.computations import mac

    assert mac(cipher_for(algorithm), sk, iv[:8], message) == expected


@pytest.mark.parametrize("event", ["reset", "power_off"])
def test_session_key_is_volatile(psam: PsamOS, event: str) -> None:
    run(psam, SELECT_ADF, "BFEC00000133", TDES_DELIVERY)
    assert psam.has_session_key and psam.environment == 0x33
    getattr(psam, event)()
    psam.power_on()
    assert not psam.has_session_key and psam.environment is None
    assert run(psam, SELECT_ADF, cipher(R)) == ["610A", "6985"]


def test_the_card_os_still_refuses_psam_commands() -> None:
    card = card_from_profile("ningbo-gen3")
    assert type(card) is CardOS
    assert run(card, TDES_DELIVERY, cipher(R), "01A4000000") == ["6E00", "6D00", "6881"]


def test_psam_repr_and_logs_hold_no_key(psam: PsamOS, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    _, c = expected_tdes_cryptogram(MASTER["12"], R)
    run(psam, SELECT_ADF, TDES_DELIVERY, cipher(R), "00C0000008")
    text = (repr(psam._psam) + caplog.text).upper()
    for secret in (*MASTER.values(), c, R):
        assert secret.hex().upper() not in text


# -- profile and image ---------------------------------------------------------------
def test_factory_builds_a_psam_from_its_profile() -> None:
    psam = card_from_profile("psam-ningbo")
    assert isinstance(psam, PsamOS)
    assert Atr.parse(psam.atr).historical.startswith(bytes.fromhex("8660") + b"SSPSAM")
    profile = load_psam_profile("psam-ningbo")
    assert profile.key_set == "ningbo-test-keys" and profile.files.df_name == "sx2.sh.社会保障"


def test_psam_image_round_trip(tmp_path: Path) -> None:
    from sscard_terminal.vcard.factory import write_new_image

    write_new_image(tmp_path / "psam.json", "psam-ningbo")
    again = CardImage.from_json(ImageFile(tmp_path / "psam.json").load().to_json())
    assert again.persistent["psam_keys"]["MF/DF01"]["12"]["card_key"] == "04"
    psam = card_from_image(tmp_path / "psam.json")
    assert isinstance(psam, PsamOS)
    _, c = expected_tdes_cryptogram(MASTER["12"], R)
    assert run(psam, SELECT_ADF, TDES_DELIVERY, cipher(R) + "08")[-1] == c.hex().upper() + "9000"


def test_a_card_profile_is_not_a_psam() -> None:
    with pytest.raises(ProfileError, match="not a PSAM"):
        PsamOS(card_image("ningbo-gen2"))


def _psam_yaml(tmp_path: Path, change: Any) -> Path:
    data = yaml.safe_load((SHIPPED / "psam-ningbo.yaml").read_text(encoding="utf-8"))
    change(data)
    (tmp_path / "keys").mkdir(exist_ok=True)
    (tmp_path / "keys" / "ningbo-test-keys.yaml").write_text(
        (SHIPPED / "keys" / "ningbo-test-keys.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    path = tmp_path / "psam.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _set(path: str, value: Any) -> Any:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        node[last] = value

    return change


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (_set("terminal_number", "33A2"), "terminal_number"),
        (_set("public_info.serial", "123"), "public_info.serial"),
        (_set("atr", "00 11"), "atr"),
        (_set("key_type", "20"), "key_type"),
        (_set("application", "MF/DF09"), "no DF 'MF/DF09'"),
        (_set("files.children.1.size", 5), "MF needs a transparent EF 0016"),
        (_set("files.children.2.aid", "D156000005 91"), "aid must be D15600000590"),
        (_set("files.children.2.children.0.sfi", 0x18), "EF 0019"),
        (_set("key_set", "no-such-keys"), "key_set: key set 'no-such-keys' not found"),
        (_set("surprise", 1), "surprise"),
    ],
)
def test_broken_psam_profiles_name_file_and_field(tmp_path: Path, change: Any, field: str) -> None:
    path = _psam_yaml(tmp_path, change)
    with pytest.raises(ProfileError) as info:
        load_psam_profile(path)
    assert field in str(info.value)
    assert str(info.value).startswith(f"{path}: ")


def test_an_unchanged_copy_loads(tmp_path: Path) -> None:
    profile = load_psam_profile(_psam_yaml(tmp_path, lambda data: None))
    assert profile.terminal_number == TERMINAL_NUMBER
    assert profile.contents()["MF/EF0016"] == bytes.fromhex(TERMINAL_NUMBER)


# -- the driver's PSAM security module, in-process -------------------------------------
def test_key_id_mapping_follows_the_key_set_and_card_spec() -> None:
    ids = psam_key_ids()
    assert ids[0x04] == 0x12  # card-spec.md: BF DE 48 12 .. for UKSSSE (00 82 00 04)
    assert ids == {0x00: 0x10, 0x02: 0x11, 0x04: 0x12, 0x05: 0x13, 0x06: 0x14, 0x0A: 0x15}


PERSON = make_person("钱多多", "330206", dt.date(1970, 3, 8), "315")
PARAMS = CardParameters(serial=0x7A5E0001, issue_date=dt.date(2023, 1, 9))


def auth_card(driver: SocialSecurityCard) -> AuthCard:
    """The card's public context, from its ATR and EF05, as the driver builds it."""
    atr = driver.transport.atr
    driver.select_ssse()
    issuer = driver.read_issuer()
    code = issuer.card_id_code or ""
    algorithm = "sm4" if (issuer.spec_version or "").startswith("3") else "3des"
    ctx = CardContext(atr, Atr.parse(atr).diversification_factor, code[:6], code, algorithm)
    return AuthCard(driver.session, ctx)


def psam_sam(**options: Any) -> PsamSam:
    return PsamSam.on_transport(
        open_transport("virtual", card=psam_from_profile("psam-ningbo")), **options
    )


def test_psam_sam_opens_and_reads_its_files() -> None:
    sam = psam_sam()
    assert sam.terminal_number == TERMINAL_NUMBER
    assert sam.serial == PSAM_NUMBER
    assert sam.name == "pcsc"
    assert sam.session.stats.apdus == 3  # EF 0016, EF 0015, SELECT ADF (FCI not fetched)
    sam.close()
    assert sam.transport.atr == b""


@pytest.mark.parametrize("init_environment", [False, True])
def test_psam_sam_authenticates_to_a_gen3_card_and_ef06_reads(
    init_environment: bool, virtual_card: VirtualCards
) -> None:
    driver = virtual_card("ningbo-gen3", PERSON, PARAMS).driver
    card = auth_card(driver)
    with pytest.raises(SecurityStatusNotSatisfiedError):
        driver.read_holder()
    with psam_sam(init_environment=init_environment) as sam:
        sam.authenticate(card, 0x0A)
        assert sam.session.stats.apdus == 3 + 3 + int(init_environment)  # DSK, CIPHER, GET RESP.
    holder = driver.read_holder()
    assert holder.id_number == PERSON.id_number and holder.name == PERSON.name


def test_psam_sam_authenticates_to_a_gen2_card_with_uk_and_updates_ef06(
    virtual_card: VirtualCards,
) -> None:
    driver = virtual_card("ningbo-gen2", PERSON, PARAMS).driver
    card = auth_card(driver)
    update = "00DC0A3003" + "0A0132"  # tag 0A (sex) in SFI 06 by tag -> "2"
    assert driver.transport.transmit(bytes.fromhex(update)).hex().upper() == "6982"
    with psam_sam() as sam:
        sam.authenticate(card, 0x04)  # UKSSSE via PSAM key 12
    assert driver.transport.transmit(bytes.fromhex(update)).hex().upper() == "9000"
    assert driver.read_holder(["sex"]).sex == "2"


def test_the_wrong_psam_key_is_refused_by_the_card(virtual_card: VirtualCards) -> None:
    """The PSAM key of UKSSSE used for RKSSSE: the PSAM computes, the card refuses."""
    driver = virtual_card("ningbo-gen3", PERSON, PARAMS).driver
    card = auth_card(driver)
    with psam_sam(key_ids={0x0A: 0x12}) as sam, pytest.raises(StatusWordError) as info:
        sam.authenticate(card, 0x0A)
    assert info.value.sw & 0xFFF0 == 0x63C0  # wrong cryptogram, tries left
    assert "EXTERNAL AUTHENTICATE" in str(info.value)
    with pytest.raises(SecurityStatusNotSatisfiedError):
        driver.read_holder()


def test_an_unknown_psam_key_is_refused_by_the_psam(virtual_card: VirtualCards) -> None:
    driver = virtual_card("ningbo-gen3", PERSON, PARAMS).driver
    card = auth_card(driver)
    with psam_sam(key_ids={0x0A: 0x20}) as sam, pytest.raises(StatusWordError) as info:
        sam.authenticate(card, 0x0A)
    assert info.value.sw == 0x6A88 and "DELIVERY SESSION KEY" in str(info.value)
    with psam_sam(key_ids={}) as sam, pytest.raises(UsageError):
        sam.authenticate(card, 0x0A)


def test_psam_sam_logs_no_random_or_cryptogram(
    caplog: pytest.LogCaptureFixture, virtual_card: VirtualCards
) -> None:
    challenge = bytes.fromhex("A1B2C3D4E5F60718")
    driver = virtual_card("ningbo-gen3", PERSON, PARAMS, rng=lambda n: challenge[:n]).driver
    card = auth_card(driver)
    caplog.set_level(logging.DEBUG)
    with psam_sam() as sam:
        sam.authenticate(card, 0x0A)
    assert caplog.records  # the debug line names the key IDs only
    text = caplog.text.upper()
    for secret in (challenge, CITY_FACTOR, card.context.card_factor, *MASTER.values()):
        assert secret.hex().upper() not in text
