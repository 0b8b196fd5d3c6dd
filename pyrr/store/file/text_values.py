"""The environment variables a command-line option can also set, and what their checks share.

BGP_LOGSEVERITYSCREEN, CLUSTER_ID, PYRR_PORT and PYRR_CONTROL_SOCKET (read by
pyrr.store.file.environment.from_environment) have the twins --log-level, --cluster-id, --port
and --control-socket (checked by pyrr.store.file.merge). Both accept the same spellings within
the same limits, so the parsers, the limits and the message helpers live here.

Every problem is one `ConfigError(<VARIABLE>, "<what is wrong and what is expected>")`; merge's
option checks report theirs under the option's name (`--cluster-id`) instead.
"""

from __future__ import annotations

import os
import re
from ipaddress import IPv4Address
from typing import Final, NoReturn

from ...config import ConfigError

__all__ = ["LOG_LEVELS", "MAX_CLUSTER_ID", "MAX_PORT", "MAX_SOCKET_PATH"]

MAX_PORT: Final = 65535
MAX_CLUSTER_ID: Final = 2**32 - 1
# sockaddr_un.sun_path is 108 bytes on Linux, one of them the terminating NUL.
MAX_SOCKET_PATH: Final = 107

# BIRD / Calico logSeverityScreen spellings, case-insensitive, to pyrr.log's level names.
LOG_LEVELS: Final = {
    "debug": "debug",
    "info": "info",
    "warning": "warning",
    "warn": "warning",
    "error": "error",
    "fatal": "fatal",
    "none": "none",
}
_LOG_EXPECT: Final = "one of debug, info, warning, error, fatal, none (any case)"

_DECIMAL: Final = re.compile(r"[0-9]{1,20}\Z", re.ASCII)


def _fail(name: str, message: str) -> NoReturn:
    raise ConfigError(name, message)


def _show(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:60] + "...")


def _log_level(value: str | None) -> str | None:
    if value is None:
        return None
    level = LOG_LEVELS.get(value.lower())
    if level is None:
        _fail("BGP_LOGSEVERITYSCREEN", f"must be {_LOG_EXPECT}, got {_show(value)}")
    return level


def _cluster_id(value: str | None) -> IPv4Address | None:
    if value is None:
        return None
    expect = f"a dotted quad like 1.0.0.1 or an integer between 0 and {MAX_CLUSTER_ID}"
    if _DECIMAL.match(value):
        number = int(value)
        if number > MAX_CLUSTER_ID:
            _fail("CLUSTER_ID", f"must be {expect}, got {_show(value)}")
        return IPv4Address(number)
    try:
        return IPv4Address(value)
    except ValueError:
        _fail("CLUSTER_ID", f"must be {expect}, got {_show(value)}")


def _port(value: str | None) -> int | None:
    if value is None:
        return None
    if not _DECIMAL.match(value) or not 1 <= int(value) <= MAX_PORT:
        _fail("PYRR_PORT", f"must be a TCP port between 1 and {MAX_PORT}, got {_show(value)}")
    return int(value)


def _control_socket(value: str) -> str | None:
    if not value.strip():
        return None
    if "\0" in value:
        _fail("PYRR_CONTROL_SOCKET", "must be a path without NUL characters")
    size = len(os.fsencode(value))
    if size > MAX_SOCKET_PATH:
        _fail(
            "PYRR_CONTROL_SOCKET",
            f"is {size} bytes long; a Unix socket path must be at most {MAX_SOCKET_PATH}",
        )
    return value
