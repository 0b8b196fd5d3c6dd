"""This host's IPv4 address when the operator leaves it to pyrr: one rule for both modes.

Calico mode's `IP=autodetect` (pyrr.store.file.environment) and a configuration file without
bgp.router_id (pyrr.store.file.toml_config) both ask pyrr.ops.autodetect, with the method
calico-node would read from the same environment (IP_AUTODETECTION_METHOD; first-found when it
is unset), so pyrr picks the address calico-node picks on the same host, whichever mode it
runs in.
"""

from __future__ import annotations

from collections.abc import Mapping
from ipaddress import IPv4Address

from ...config import ConfigError
from ...ops.autodetect import IPV4, METHOD_VARIABLES, autodetect_from_env

__all__ = ["autodetect_ipv4"]


def autodetect_ipv4(env: Mapping[str, str]) -> IPv4Address | None:
    """The address calico-node would autodetect here, None when there is none; a method that
    does not parse is a ConfigError naming IP_AUTODETECTION_METHOD."""
    try:
        found = autodetect_from_env(env, IPV4)
    except ValueError as err:
        raise ConfigError(METHOD_VARIABLES[IPV4], str(err)) from None
    return IPv4Address(found) if found else None
