"""One signing-key parser (edgepilot.keyfile) for the vehicle and the
ground station: the same file is read the same way on both sides."""
from __future__ import annotations

import pytest

from edgepilot import keyfile
from edgepilot.firmware_bridge.mavlink import signing
from edgepilot.gcs.connection import load_signing_key
from edgepilot.gcs.errors import BadInputError
from tests.conftest import run_edgepilot

KEY_HEX = "0123456789abcdef" * 4


def test_vehicle_and_gcs_share_the_parser(tmp_path):
    assert signing.load_key is keyfile.load_key and signing.parse_key is keyfile.parse_key
    good = tmp_path / "k.key"
    good.write_text(f"  {KEY_HEX.upper()}\n")
    assert keyfile.load_key(good) == load_signing_key(good) == bytes.fromhex(KEY_HEX)


@pytest.mark.parametrize("content, expect", [
    (b"abc\n", "got 3 characters"),
    (b"zz" * 32, "non-hex"),
    (b"\xff" * 64, "non-ASCII"),
])
def test_bad_key_named_on_both_sides(tmp_path, content, expect):
    p = tmp_path / "bad.key"
    p.write_bytes(content)
    with pytest.raises(keyfile.KeyFileError, match=f"bad.key.*{expect}"):
        keyfile.load_key(p)
    with pytest.raises(BadInputError, match=f"--signing-key .*bad.key.*{expect}"):
        load_signing_key(p)


def test_missing_key_file(tmp_path):
    with pytest.raises(keyfile.KeyFileError, match="missing.key.*cannot read"):
        keyfile.load_key(tmp_path / "missing.key")


def test_gcs_cli_refuses_a_bad_key_naming_it(tmp_path):
    p = tmp_path / "bad.key"
    p.write_bytes(b"\xff" * 64)
    r = run_edgepilot("gcs", "--signing-key", str(p), "--connect", "tcp:127.0.0.1:9", "status", timeout=60)
    assert r.returncode != 0
    assert "bad.key" in r.stderr and "non-ASCII" in r.stderr, r.stderr
