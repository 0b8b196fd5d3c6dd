"""The environment variables a command-line option can also set: their parsers.

BGP_LOGSEVERITYSCREEN, CLUSTER_ID, PYRR_PORT and PYRR_CONTROL_SOCKET (read by
pyrr.store.file.environment.from_environment) have the twins --log-level, --cluster-id, --port
and --control-socket (checked by pyrr.store.file.merge). Both accept the same spellings within
the same limits (pyrr.store.limits), so the parsers of the text and the message helpers live
here.

Every problem is one `ConfigError(<VARIABLE>, "<what is wrong and what is expected>")`; merge's
option checks report theirs under the option's name (`--cluster-id`) instead.
"""

from __future__ import annotations

import os
import re
from ipaddress import IPv4Address
from typing import Final, NoReturn

from ...config import ConfigError
from ..limits import (
    MAX_CLUSTER_ID,
    MAX_SOCKET_PATH_BYTES,
    PORT_RANGE,
    clip,
    cluster_id_number,
    normal_log_level,
    valid_port,
)

LOG_EXPECT: Final = "one of debug, info, warning, error, fatal, none (any case)"

# A number as an operator writes it; 20 digits hold every 64-bit value and keep int() cheap.
DECIMAL: Final = re.compile(r"[0-9]{1,20}\Z", re.ASCII)


def fail(name: str, message: str) -> NoReturn:
    raise ConfigError(name, message)


def parse_log_level(value: str | None, name: str = "BGP_LOGSEVERITYSCREEN") -> str | None:
    """A log level as written in `name` (the variable, or `--log-level`); None: not set."""
    if value is None:
        return None
    level = normal_log_level(value)
    if level is None:
        fail(name, f"must be {LOG_EXPECT}, got {clip(value)}")
    return level


def parse_cluster_id(value: str | None) -> IPv4Address | None:
    if value is None:
        return None
    expect = f"a dotted quad like 1.0.0.1 or an integer between 0 and {MAX_CLUSTER_ID}"
    if DECIMAL.match(value):
        number = cluster_id_number(int(value))
        if number is None:
            fail("CLUSTER_ID", f"must be {expect}, got {clip(value)}")
        return number
    try:
        return IPv4Address(value)
    except ValueError:
        fail("CLUSTER_ID", f"must be {expect}, got {clip(value)}")


def parse_port(value: str | None) -> int | None:
    if value is None:
        return None
    if not DECIMAL.match(value) or not valid_port(int(value)):
        fail("PYRR_PORT", f"must be {PORT_RANGE}, got {clip(value)}")
    return int(value)


def parse_control_socket(value: str) -> str | None:
    if not value.strip():
        return None
    if "\0" in value:
        fail("PYRR_CONTROL_SOCKET", "must be a path without NUL characters")
    size = len(os.fsencode(value))
    if size > MAX_SOCKET_PATH_BYTES:
        fail(
            "PYRR_CONTROL_SOCKET",
            f"is {size} bytes long; a Unix socket path must be at most {MAX_SOCKET_PATH_BYTES}",
        )
    return value
