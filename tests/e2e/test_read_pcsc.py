"""Reading a served virtual card through the real stack:
pyscard -> pcscd -> vpcd -> the bridge -> the card OS, driven by the `sscard` CLI,
and checked against raw APDUs sent by tools that are not ours (scriptor, opensc-tool).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sscard_terminal.codecs.id_number import make_id_number
from sscard_terminal.person import Person
from sscard_terminal.system.pcscd import PcscdHandle
from sscard_terminal.vcard.cardos import CardOS
from sscard_terminal.vcard.image import ImageFile
from sscard_terminal.vcard.personalise import CardParameters
from sscard_terminal.vcard.profile import load_profile
from tests.e2e.conftest import ServeCard
from tests.e2e.pcsc_tools import scriptor, tool
from tests.virtual_cards import make_person, new_card

SSSE = "7378312E73682EC9E7BBE1B1A3D5CF"
CLI = [sys.executable, "-m", "sscard_terminal.cli.main"]


def made_up_card(profile: str, name: str = "周·晓雯", seq: str = "248") -> tuple[CardOS, Person]:
    who = make_person(name, "330212", dt.date(1993, 11, 30), seq, ethnic_group="03")
    params = CardParameters(serial=0x5EED1234, issue_date=dt.date(2022, 6, 15))
    return new_card(profile, who, params), who


def sscard(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})}
    )


def tlv_value(answer: str) -> bytes:
    """A READ RECORD answer `tag len value 9000` -> value, checked by hand."""
    assert answer.endswith("9000"), answer
    raw = bytes.fromhex(answer[:-4])
    assert raw[1] == len(raw) - 2
    return raw[2:]


def test_read_line_matches_raw_records(served_card: ServeCard) -> None:
    card, who = made_up_card("ningbo-gen2")
    served = served_card(card)
    result = sscard("read", "--line", "--reader", served.reader)
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    items = line.split("|")
    assert line.endswith("|") and len(items) == 12 and items[-1] == ""

    answers = scriptor(
        served.reader,
        "00 A4 04 00 0F " + SSSE,
        "00 C0 00 00 1E",
        "00 B2 08 30 14",  # tag 08 in SFI 06 (card-spec.md)
        "00 B2 01 34 14",  # record 1 of SFI 06
        "00 B2 09 30 20",  # tag 09: name
        "00 B2 01 2C 12",  # EF05 record 1: card identification code
        "00 B2 07 28 0B",  # EF05 tag 07: card number
        "00 B2 03 28 06",  # spec version
        "00 B2 05 28 06",  # issue date
        "00 B2 06 28 06",  # expiry date
        "00 B2 08 30 00",  # Le=00 -> 6C14
    )
    assert answers[0] == "611E"
    assert answers[1].startswith("6F1C840F" + SSSE) and answers[1].endswith("9000")
    id_number = tlv_value(answers[2]).decode("ascii")
    assert tlv_value(answers[3]).decode("ascii") == id_number
    name = tlv_value(answers[4]).rstrip(b"\x00").decode("gbk")
    card_id_code = tlv_value(answers[5]).hex().upper()
    card_number = tlv_value(answers[6]).decode("ascii")
    spec_version = tlv_value(answers[7]).decode("ascii")
    issue, expiry = tlv_value(answers[8]).hex(), tlv_value(answers[9]).hex()
    assert answers[10] == "6C14"

    assert items[0] == card_id_code[:6] == "330200"
    assert items[1] == id_number == who.id_number
    assert items[2] == card_number
    assert items[3] == card_id_code
    assert items[4] == name == who.name
    assert items[6] == spec_version == "2.00"
    assert items[7] == issue and items[8] == expiry
    # card reset info = the historical bytes of the ATR (T0's low nibble counts them)
    atr = opensc_atr(served.reader)
    assert atr == card.atr.hex().upper()
    n_hist = int(atr[3], 16)
    assert items[5] == atr[-2 * n_hist :] and len(items[5]) == 2 * n_hist


def opensc_atr(reader: str) -> str:
    opensc_tool = tool("opensc-tool")
    listing = subprocess.run(
        [opensc_tool, "-l"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    match = re.search(rf"^(\d+)\s+Yes\s+.*{re.escape(reader)}\s*$", listing, re.MULTILINE)
    assert match, listing
    out = subprocess.run(
        [opensc_tool, "-r", match.group(1), "-a"], capture_output=True, text=True, timeout=30
    ).stdout
    return out.strip().splitlines()[-1].replace(":", "").upper()


def test_gen3_ef06_refused_by_the_card(served_card: ServeCard) -> None:
    card, _ = made_up_card("ningbo-gen3")
    served = served_card(card)
    # a line without the holder is no line: one line, exit 5, pointing to --sam
    for view in (["--line"], [], ["--json"]):
        refused = sscard("read", *view, "--reader", served.reader)
        assert refused.returncode == 5, (view, refused.stdout, refused.stderr)
        assert refused.stdout == "" and len(refused.stderr.strip().splitlines()) == 1
        assert "--sam" in refused.stderr and "social security number, name" in refused.stderr
    # --allow-partial: today's line, the missing items named on stderr
    result = sscard("read", "--line", "--allow-partial", "--reader", served.reader)
    assert result.returncode == 0, result.stderr
    items = result.stdout.strip().split("|")
    assert items[1] == "" and items[4] == "" and items[6] == "3.00" and items[2] != ""
    assert "partial read: no social security number, name (EF06" in result.stderr
    # with a security module the whole line comes, exit 0
    full = sscard("read", "--line", "--sam", "software", "--reader", served.reader)
    assert full.returncode == 0 and full.stdout.split("|")[4] == "周·晓雯", full.stderr
    # the card itself refuses EF06, not just our driver
    answers = scriptor(served.reader, "00 A4 04 00 0F " + SSSE, "00 B2 08 30 14")
    assert answers == ["611E", "6982"]


class NotSsCard:
    """A card that is not a social security card: SELECT SSSE answers 6A82."""

    atr = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")

    def power_on(self) -> bytes:
        return self.atr

    def power_off(self) -> None:
        return None

    def reset(self) -> bytes:
        return self.atr

    def process(self, command: bytes) -> bytes:
        return b"\x6a\x82"


def test_read_without_reader_finds_the_social_security_card(served_card: ServeCard) -> None:
    served_card(NotSsCard(), slot=0)
    card, who = made_up_card("ningbo-gen2", name="钱多多", seq="551")
    served_card(card, slot=1)
    result = sscard("read", "--json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["holder"]["id_number"] == who.id_number
    assert record["issuer"]["spec_version"] == "2.00"
    listing = sscard("readers")
    assert listing.returncode == 0
    assert (
        "Virtual PCD 00 00: card" in listing.stdout and "Virtual PCD 00 01: card" in listing.stdout
    )


def test_trace_masks_personal_data(served_card: ServeCard) -> None:
    card, who = made_up_card("ningbo-gen2")
    served = served_card(card)
    result = sscard("read", "--line", "--trace", "--reader", served.reader)
    assert result.returncode == 0
    assert "READ RECORD EF06 tag 09 name" in result.stderr
    assert who.id_number not in result.stderr and who.name not in result.stderr
    assert who.id_number in result.stdout  # the line itself is what the user asked for


def test_apdu_command_decodes(served_card: ServeCard) -> None:
    card, _ = made_up_card("ningbo-gen2")
    served = served_card(card)
    result = sscard("apdu", "--reader", served.reader, "00A404000F" + SSSE, "00B24F3016")
    assert result.returncode == 0, result.stderr
    assert "6F 1C 84 0F" in result.stdout and "9000 success" in result.stdout
    assert "6A83 record not found" in result.stdout
    # --trace alone (no -v) shows the trace
    traced = sscard("apdu", "--trace", "--reader", served.reader, "00A404000F" + SSSE)
    assert traced.returncode == 0, traced.stderr
    assert "sscard_terminal.trace" in traced.stderr and "SELECT" in traced.stderr


def test_exit_codes(served_card: ServeCard, reader_empty: Callable[[int], str]) -> None:
    empty = reader_empty(1)
    result = sscard("read", "--reader", empty)
    assert result.returncode == 4, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    result = sscard("read", "--reader", "No Such Reader 99")
    assert result.returncode == 3, result.stderr
    result = sscard("read", env={"PCSCLITE_CSOCK_NAME": "/nonexistent/pcscd.comm"})
    assert result.returncode == 3, result.stderr
    assert "pcscd" in result.stderr and "sscard demo" not in result.stderr
    card, _ = made_up_card("ningbo-gen2")
    served = served_card(card)
    result = sscard("apdu", "--reader", served.reader, "zz")
    assert result.returncode == 2


def test_card_new_and_serve_subprocess(
    tmp_path: Path, pcscd: PcscdHandle, reader_empty: Callable[[int], str]
) -> None:
    person_file = tmp_path / "person.yaml"
    person_file.write_text(
        "name: 阿依古丽・买买提\n"  # a look-alike dot, normalised to U+00B7
        f"id_number: '{make_id_number('650102', dt.date(1992, 3, 15), '432')}'\n"
        "ethnic_group: '05'\nbirthplace: '650102'\n"
        "card: {serial: '00C0FFEE', issue_date: 2024-03-01}\n",
        encoding="utf-8",
    )
    image = tmp_path / "card.json"
    made = sscard(
        "card", "new", "--profile", "ningbo-gen2", "--person", str(person_file), "--out", str(image)
    )
    assert made.returncode == 0, made.stderr
    assert "650102" not in made.stdout.replace("650102****", "")  # the ID number is masked
    loaded = ImageFile(image).load()
    assert loaded.atr.endswith(bytes.fromhex("00C0FFEE"))
    reader = reader_empty(0)
    proc = subprocess.Popen(
        [*CLI, "card", "serve", "--image", str(image)], stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            result = sscard("read", "--line", "--reader", reader)
            if result.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert result.returncode == 0, result.stderr
        assert "|阿依古丽·买买提|" in result.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    reader_empty(0)


def test_broken_profile_is_one_clear_line(tmp_path: Path) -> None:
    text = (
        Path(load_profile.__code__.co_filename).parents[2] / "card_profiles" / "ningbo-gen2.yaml"
    ).read_text(encoding="utf-8")
    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace("sfi: 6,", "sfi: 40,"), encoding="utf-8")
    result = sscard("card", "new", "--profile", str(broken), "--out", str(tmp_path / "x.json"))
    assert result.returncode == 2
    assert str(broken) in result.stderr and "sfi" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.json").exists()


def test_reader_discovery_costs_one_select(served_card: ServeCard) -> None:
    """README "What a read costs": the counts hold with --reader; discovery adds
    one SELECT SSSE per reader with a card that it tries."""
    card, _ = made_up_card("ningbo-gen2")
    served = served_card(card)

    def apdus(*args: str) -> list[str]:
        result = sscard("read", "--line", "--trace", *args)
        assert result.returncode == 0, result.stderr
        lines = [ln for ln in result.stderr.splitlines() if ln.startswith("sscard_terminal.trace")]
        return [ln for ln in lines if "connect" not in ln]

    named = apdus("--reader", served.reader)
    found = apdus()
    assert len(named) == 10  # the README's national line of a 2.0 card
    assert len(found) == len(named) + 1 and "SELECT" in found[0]
