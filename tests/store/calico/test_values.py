"""Calico's field types (pyrr.store.calico.values) and the mounted secrets (secrets.py)."""

from __future__ import annotations

from ipaddress import ip_address
from pathlib import Path

import pytest

from pyrr.store.calico.secrets import SecretDir
from pyrr.store.calico.values import Bad, duration, peer_ip


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("120s", 120),
        ("2m", 120),
        ("1h", 3600),
        ("1m30s", 90),
        ("1.5s", 2),  # math.Round: half away from zero
        ("2.5s", 3),
        ("499ms", 0),
        ("500ms", 1),
        ("0", 0),
        ("1h0m0s", 3600),
        (".5m", 30),
        ("+10s", 10),
        ("1000000us", 1),
        ("", None),
    ],
)
def test_durations_as_go_parses_them(text: str, seconds: int | None) -> None:
    assert duration({"d": text}, "d", "spec.d") == seconds


@pytest.mark.parametrize("text", ["120", "s", "1x", "1 s", "1.s.", "--1s", "1d", "9" * 70 + "s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(Bad, match=r"spec\.d is"):
        duration({"d": text}, "d", "spec.d")


def test_peer_ip_with_port() -> None:
    assert peer_ip("198.18.0.1", "p") == (ip_address("198.18.0.1"), None)
    assert peer_ip("198.18.0.1:1179", "p") == (ip_address("198.18.0.1"), 1179)
    assert peer_ip("[2001:db8::1]:179", "p") == (ip_address("2001:db8::1"), 179)
    assert peer_ip("[2001:db8::1]", "p") == (ip_address("2001:db8::1"), None)
    assert peer_ip("2001:db8::1", "p") == (ip_address("2001:db8::1"), None)
    with pytest.raises(Bad, match="port 99999"):
        peer_ip("198.18.0.1:99999", "p")


def test_secret_files(tmp_path: Path) -> None:
    secrets = SecretDir(tmp_path)
    (tmp_path / "bgp").mkdir()
    (tmp_path / "bgp" / "key").write_bytes(b"with newline\n")
    read = secrets.lookup("bgp", "key")
    assert read.value == "with newline\n" and read.where == str(tmp_path / "bgp" / "key")
    (tmp_path / "bgp" / "empty").write_bytes(b"")
    assert "is empty" in secrets.lookup("bgp", "empty").where
    (tmp_path / "bgp" / "long").write_bytes(b"x" * 81)
    assert "81 bytes" in secrets.lookup("bgp", "long").where
    # Read only in part, cut inside a character: its size is what is wrong, not its encoding.
    (tmp_path / "bgp" / "huge").write_bytes("é".encode() * 5000)
    assert "is over 4096 bytes; a TCP MD5 key" in secrets.lookup("bgp", "huge").where
    (tmp_path / "bgp" / "bin").write_bytes(b"\xff")
    assert "not UTF-8" in secrets.lookup("bgp", "bin").where
    missing = secrets.lookup("bgp", "nope")
    assert missing.value is None and missing.mounted and "does not exist" in missing.where
    assert not SecretDir(tmp_path / "gone").lookup("bgp", "key").mounted


@pytest.mark.parametrize(
    ("name", "key"), [("..", "x"), ("a/b", "x"), ("a", ".."), ("a", "b/c"), ("A", "x")]
)
def test_secret_names_cannot_leave_the_directory(tmp_path: Path, name: str, key: str) -> None:
    read = SecretDir(tmp_path).lookup(name, key)
    assert read.value is None and "not a valid Kubernetes name" in read.where
