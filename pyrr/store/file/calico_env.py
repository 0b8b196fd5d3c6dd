"""pyrr's own Calico-mode variables (not calico/routereflector's): their parsers.

NODENAME (calico-node's variable: pyrr is that Node), PYRR_LABELS, PYRR_BGP_PASSWORD and
PYRR_BGP_PASSWORD_FILE, PYRR_SECRETS_DIR, PYRR_ADD_PATH_SEND and PYRR_BMP_STATIONS, read by
pyrr.store.file.environment.from_environment. Every problem is one
`ConfigError(<VARIABLE>, "<what is wrong and what is expected>")`; a key is never quoted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from ipaddress import ip_address
from pathlib import Path
from typing import Final

from ...config import BmpStation
from ..calico.selector import LABEL_KEY
from ..limits import (
    ADD_PATH_SEND_RANGE,
    MAX_PASSWORD_BYTES,
    clip,
    is_unicast,
    parse_host_port,
    valid_add_path_send,
    valid_password_size,
)
from .text_values import DECIMAL, fail

__all__ = [
    "MAX_LABEL_VALUE",
    "parse_add_path_send",
    "parse_bgp_password",
    "parse_bmp_stations",
    "parse_labels",
    "parse_node_name",
    "parse_secrets_dir",
]

# Kubernetes label values, which Calico validates Node labels against.
MAX_LABEL_VALUE: Final = 63
_LABEL_VALUE: Final = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?\Z", re.ASCII)
# Calico's resource names (its validator's nameRegex): a lower-case DNS subdomain.
_NAME: Final = re.compile(
    r"(?=.{1,253}\Z)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z", re.ASCII
)


def parse_node_name(value: str | None, etcd_mode: bool) -> str | None:
    """NODENAME: the name of pyrr's own Calico Node (calico-node's variable; HOSTNAME, which
    calico-node falls back to, is not read: every container has one)."""
    if value is None:
        return None
    if not _NAME.match(value):
        fail(
            "NODENAME",
            f"must be a Calico node name (lower-case letters, digits, '-' and '.', like"
            f" rr1.example.com), got {clip(value)}",
        )
    if not etcd_mode:
        fail(
            "NODENAME",
            "is set, but ETCD_ENDPOINTS is not: pyrr reads its Node from Calico's datastore;"
            " set ETCD_ENDPOINTS, or unset NODENAME for a configuration file",
        )
    return value


def parse_secrets_dir(value: str | None) -> str | None:
    """PYRR_SECRETS_DIR: where BGPPeer password secrets are mounted (<dir>/<secret>/<key>)."""
    if value is None:
        return None
    if "\0" in value or not value.startswith("/"):
        fail(
            "PYRR_SECRETS_DIR",
            f"must be an absolute directory path like /etc/pyrr/secrets, got {clip(value)}",
        )
    return value


def parse_bmp_stations(value: str | None) -> tuple[BmpStation, ...] | None:
    """PYRR_BMP_STATIONS: BMP stations (RFC 7854) as ADDRESS:PORT[,ADDRESS:PORT...], each with
    the defaults of a [[bmp]] table (every peer and the Loc-RIB, statistics every minute)."""
    if value is None:
        return None
    stations: list[BmpStation] = []
    for item in value.split(","):
        try:
            host, port = parse_host_port(item)
        except ValueError as err:
            fail(
                "PYRR_BMP_STATIONS",
                f"must be ADDRESS:PORT[,ADDRESS:PORT...] like 198.18.0.50:11019 or"
                f" [2001:db8::50]:11019, got {clip(item.strip())}: {err}",
            )
        address = ip_address(host)
        if not is_unicast(address):  # as a [[bmp]] address (pyrr.store.file.toml_monitor)
            fail(
                "PYRR_BMP_STATIONS",
                f"{clip(item.strip())} is not a station's address: give a unicast address like"
                " 198.18.0.50:11019",
            )
        station = BmpStation(address=address, port=port)
        if any(s.key == station.key for s in stations):
            fail("PYRR_BMP_STATIONS", f"lists {station.key} twice; list each station once")
        stations.append(station)
    return tuple(stations)


def parse_add_path_send(value: str | None) -> int | None:
    """PYRR_ADD_PATH_SEND: paths per prefix sent to ADD-PATH receivers (RFC 7911)."""
    if value is None:
        return None
    if not DECIMAL.match(value) or not valid_add_path_send(int(value)):
        fail("PYRR_ADD_PATH_SEND", f"must be {ADD_PATH_SEND_RANGE}, got {clip(value)}")
    return int(value)


def parse_labels(value: str | None) -> dict[str, str] | None:
    if value is None:
        return None
    labels: dict[str, str] = {}
    for raw in value.split(","):
        item = raw.strip()
        if not item:
            continue
        key, sep, label_value = item.partition("=")
        key, label_value = key.strip(), label_value.strip()
        if not sep:
            fail("PYRR_LABELS", f"entry {clip(item)} has no '=': write key=value[,key=value]")
        if not LABEL_KEY.match(key):
            fail(
                "PYRR_LABELS",
                f"label key {clip(key)} must be 1-512 of letters, digits and _ . / -",
            )
        if len(label_value) > MAX_LABEL_VALUE or not _LABEL_VALUE.match(label_value):
            fail(
                "PYRR_LABELS",
                f"value {clip(label_value)} of {key!r} must be at most {MAX_LABEL_VALUE} letters,"
                " digits, - _ . starting and ending with a letter or digit (a Kubernetes label"
                " value)",
            )
        if key in labels:
            fail("PYRR_LABELS", f"label {key!r} is given twice")
        labels[key] = label_value
    return labels


def parse_bgp_password(env: Mapping[str, str], etcd_mode: bool) -> str | None:
    """PYRR_BGP_PASSWORD as written (blanks may be part of a key), or the content of
    PYRR_BGP_PASSWORD_FILE without one trailing newline. The key itself is never quoted."""
    value = env.get("PYRR_BGP_PASSWORD") or None
    path = (env.get("PYRR_BGP_PASSWORD_FILE") or "").strip() or None
    name = "PYRR_BGP_PASSWORD" if path is None else "PYRR_BGP_PASSWORD_FILE"
    if value is not None and path is not None:
        fail("PYRR_BGP_PASSWORD", "and PYRR_BGP_PASSWORD_FILE are both set: set one of them")
    if value is None and path is None:
        return None
    if not etcd_mode:
        fail(
            name,
            "is set, but ETCD_ENDPOINTS is not: it is the key of the sessions read from"
            " Calico's datastore; in a configuration file give each [[peer]] its password",
        )
    if path is not None:
        where = f"file {clip(path)}"
        try:
            if "\0" in path:
                raise ValueError("the path contains a NUL character")
            data = Path(path).read_bytes()
        except OSError as err:
            fail(name, f"cannot read {where}: {err.strerror or err}")
        except ValueError as err:
            fail(name, f"cannot read {where}: {err}")
        data = data.removesuffix(b"\n").removesuffix(b"\r")
        try:
            value = data.decode("utf-8")
        except UnicodeDecodeError:
            fail(name, f"{where} is not UTF-8 text")
    else:
        where = "the key"
    assert value is not None
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:  # undecodable bytes in the environment (surrogate escapes)
        fail(name, f"{where} is not UTF-8 text")
    if not valid_password_size(size):
        got = f"{size} bytes" if size else "empty"
        fail(
            name,
            f"must be a TCP MD5 key (RFC 2385) of 1 to {MAX_PASSWORD_BYTES} bytes;"
            f" {where} is {got}",
        )
    return value
