"""The wheel carries the card profiles, and bare profile names resolve from it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_ships_profiles_and_resolves_names(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path / "dist"),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for profile in (
        "ningbo-gen2.yaml",
        "ningbo-gen3.yaml",
        "psam-ningbo.yaml",
        "keys/ningbo-test-keys.yaml",
    ):
        assert f"sscard_terminal/card_profiles/{profile}" in names
    for asset in ("index.html", "kiosk.js", "kiosk.css"):  # the kiosk's page
        assert f"sscard_terminal/kiosk/static/{asset}" in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    # outside the source tree, with only the unpacked wheel on the path
    code = (
        "import sscard_terminal, sys; from sscard_terminal.vcard.profile import load_profile;"
        "assert sscard_terminal.__file__.startswith(sys.argv[1]), sscard_terminal.__file__;"
        "print(load_profile('ningbo-gen3').name)"
    )
    out = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys; sys.path.insert(0, {str(site)!r}); " + code,
            str(site),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ningbo-gen3"
