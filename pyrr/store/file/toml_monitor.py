"""Monitoring in a configuration file: `[[bmp]]` stations (RFC 7854) and the `[mrt]` table
(RFC 6396 files), with the same error style as the rest of the file (pyrr.store.file.toml_table).

    [[bmp]]
    address = "198.18.0.50"
    port = 11019

    [mrt]
    directory = "/var/lib/pyrr/mrt"
    dump_interval = 7200
    updates = true
"""

from __future__ import annotations

from collections.abc import Mapping
from ipaddress import IPv4Address
from typing import Final

from ...config import BmpStation, ConfigError, MrtConfig
from ...monitor.naming import name_matcher, sample_name
from ..limits import PORT_RANGE, is_unicast, valid_port
from .toml_table import _MISSING, _at_least, _between, _fail, _ip, _show, _Table

__all__ = ["BMP_KEYS", "MRT_KEYS", "bmp_of", "mrt_of"]

BMP_KEYS: Final = ("address", "port", "adj_rib_in", "loc_rib", "stats_interval", "queue_limit")
MRT_KEYS: Final = (
    "directory",
    "dump_interval",
    "dump_name",
    "updates",
    "updates_interval",
    "updates_max_bytes",
    "updates_name",
    "keep",
)
_BMP_DEFAULTS: Final = BmpStation(address=IPv4Address(1))  # its defaults, not its address
_MRT_DEFAULTS: Final = MrtConfig()
MAX_INTERVAL: Final = 86400  # a day
MIN_UPDATES_INTERVAL: Final = 60
MIN_QUEUE_LIMIT: Final = 64 * 1024
MIN_UPDATES_BYTES: Final = 1024 * 1024
_ADDRESS_EXPECT: Final = 'the station\'s IPv4 or IPv6 address like "198.18.0.50"'
_DIR_EXPECT: Final = 'an absolute directory path like "/var/lib/pyrr/mrt"'
_NAME_EXPECT: Final = (
    'a file name, strftime conversions allowed (UTC), like "rib.%Y%m%d.%H%M%S.mrt"; no "/"'
)


def bmp_of(document: Mapping[str, object]) -> tuple[BmpStation, ...]:
    raw = document.get("bmp", _MISSING)
    if raw is _MISSING:
        return ()
    if not isinstance(raw, list):
        hint = " (written [bmp]? each station is a [[bmp]] block)" if isinstance(raw, dict) else ""
        raise ConfigError(
            "bmp", f"must be an array of tables written [[bmp]], got {_show(raw)}{hint}"
        )
    stations: list[BmpStation] = []
    for index, item in enumerate(raw):
        path = f"bmp[{index}]"
        if not isinstance(item, dict):
            raise ConfigError(path, f"must be a table written [[bmp]], got {_show(item)}")
        station = _station(_Table(item, path, BMP_KEYS))
        for other, seen in enumerate(stations):
            if seen.key == station.key:
                raise ConfigError(
                    path, f"duplicate of bmp[{other}] ({station.key}); list each station once"
                )
        stations.append(station)
    return tuple(stations)


def _station(t: _Table) -> BmpStation:
    d = _BMP_DEFAULTS
    raw = t.require("address", _ADDRESS_EXPECT, example='address = "198.18.0.50"')
    address = _ip(raw, t.field("address"), _ADDRESS_EXPECT)
    if not is_unicast(address):
        _fail(t.field("address"), _ADDRESS_EXPECT, raw)
    return BmpStation(
        address=address,
        port=t.get_int("port", d.port, PORT_RANGE, valid_port),
        adj_rib_in=t.get_bool("adj_rib_in", d.adj_rib_in),
        loc_rib=t.get_bool("loc_rib", d.loc_rib),
        stats_interval=t.get_int(
            "stats_interval",
            d.stats_interval,
            f"between 0 (no statistics) and {MAX_INTERVAL} seconds",
            _between(0, MAX_INTERVAL),
        ),
        queue_limit=t.get_int(
            "queue_limit",
            d.queue_limit,
            f"a number of bytes, at least {MIN_QUEUE_LIMIT}",
            _at_least(MIN_QUEUE_LIMIT),
        ),
    )


def mrt_of(document: Mapping[str, object]) -> MrtConfig:
    raw = document.get("mrt", _MISSING)
    if raw is _MISSING:
        return _MRT_DEFAULTS
    if not isinstance(raw, dict):
        hint = " (written [[mrt]]? there is only one)" if isinstance(raw, list) else ""
        raise ConfigError("mrt", f"must be a table written [mrt], got {_show(raw)}{hint}")
    t = _Table(raw, "mrt", MRT_KEYS)
    d = _MRT_DEFAULTS
    directory = t.require("directory", _DIR_EXPECT, example='directory = "/var/lib/pyrr/mrt"')
    if not isinstance(directory, str) or not directory.startswith("/") or "\0" in directory:
        _fail(t.field("directory"), _DIR_EXPECT, directory)
    cfg = MrtConfig(
        directory=directory,
        dump_interval=t.get_int(
            "dump_interval",
            d.dump_interval,
            f"between 0 (only when asked) and {MAX_INTERVAL} seconds",
            _between(0, MAX_INTERVAL),
        ),
        dump_name=_name(t, "dump_name", d.dump_name),
        updates=t.get_bool("updates", d.updates),
        updates_interval=t.get_int(
            "updates_interval",
            d.updates_interval,
            f"between {MIN_UPDATES_INTERVAL} and {MAX_INTERVAL} seconds",
            _between(MIN_UPDATES_INTERVAL, MAX_INTERVAL),
        ),
        updates_max_bytes=t.get_int(
            "updates_max_bytes",
            d.updates_max_bytes,
            f"a number of bytes, at least {MIN_UPDATES_BYTES}",
            _at_least(MIN_UPDATES_BYTES),
        ),
        updates_name=_name(t, "updates_name", d.updates_name),
        keep=t.get_int("keep", d.keep, "a number of files >= 0 (0 = keep all)", _at_least(0)),
    )
    dumps, updates = name_matcher(cfg.dump_name), name_matcher(cfg.updates_name)
    if updates.fullmatch(sample_name(cfg.dump_name)) or dumps.fullmatch(
        sample_name(cfg.updates_name)
    ):
        # Pruning one kind would remove files of the other.
        raise ConfigError(
            t.field("updates_name"),
            f"must not name the same files as dump_name ({cfg.dump_name!r}), got"
            f" {cfg.updates_name!r}",
        )
    return cfg


def _name(t: _Table, key: str, default: str) -> str:
    raw = t.raw(key)
    if raw is _MISSING:
        return default
    if (
        not isinstance(raw, str)
        or not raw.strip()
        or "/" in raw
        or "\0" in raw
        or raw in (".", "..")
        or raw.endswith(".tmp")
    ):
        _fail(t.field(key), _NAME_EXPECT, raw)
    return raw
