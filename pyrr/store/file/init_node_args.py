"""`pyrr init-node`'s command line and environment, checked into a NodeRequest.

The Node's name is NAME or NODENAME; its IPv4 address `--ip` or IP (`autodetect` looks one up
as calico-node would, IP_AUTODETECTION_METHOD), with the prefix length written or /32; IPv6
`--ip6` or IP6; the cluster id `--cluster-id`, CLUSTER_ID, else the IPv4 address (a reflector
that is its own cluster, pyrr's default); labels `--label KEY=VALUE` (default
`route-reflector=true`); `--as-number`. etcd is reached as `pyrr run` reaches it (ETCD_*).
Every problem is a ConfigError naming the option (or variable) and the fix.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from ipaddress import IPv4Interface, IPv6Interface

from ...config import ConfigError
from ..calico.init_node import NodeRequest
from ..limits import ASN_RANGE, asdot, clip, is_unicast, valid_asn
from .calico_env import parse_labels
from .environment import EnvSettings, from_environment
from .host_address import autodetect_ipv4
from .text_values import DECIMAL, fail, parse_cluster_id

__all__ = ["DEFAULT_LABELS", "node_request"]

DEFAULT_LABELS = {"route-reflector": "true"}  # what Calico's route-reflector guide selects


def _ipv4(option: str, text: str, env: Mapping[str, str]) -> IPv4Interface:
    if text.strip().lower() == "autodetect":
        found = autodetect_ipv4(env)
        if found is None:
            fail(option, "is autodetect, but no usable IPv4 address was found: give the address")
        return IPv4Interface(found)
    try:
        address = IPv4Interface(text.strip())
    except ValueError:
        fail(option, f"must be an IPv4 address like 192.0.2.10 or 192.0.2.10/24, got {clip(text)}")
    if not is_unicast(address.ip):
        fail(option, f"must be a unicast IPv4 address, got {address.ip}")
    return address


def _ipv6(option: str, text: str) -> IPv6Interface:
    try:
        address = IPv6Interface(text.strip())
    except ValueError:
        fail(option, f"must be an IPv6 address like fd00::10 or fd00::10/64, got {clip(text)}")
    if not is_unicast(address.ip) or address.ip.is_link_local:
        fail(option, f"must be a global or unique-local IPv6 address, got {address.ip}")
    return address


def _asn(text: str) -> int:
    number = int(text) if DECIMAL.match(text.strip()) else asdot(text.strip())
    if number is None or not valid_asn(number):
        fail("--as-number", f"must be {ASN_RANGE} (or asdot like 1.10), got {clip(text)}")
    return number


def node_request(
    args: argparse.Namespace, environ: Mapping[str, str]
) -> tuple[EnvSettings, NodeRequest]:
    name = args.name or (environ.get("NODENAME") or "").strip()
    if not name:
        fail("NAME", "not given: pyrr init-node NAME, or set NODENAME")
    if not (environ.get("ETCD_ENDPOINTS") or "").strip():
        # Checked here: from_environment's own message is for `pyrr run` (NODENAME without etcd).
        fail(
            "ETCD_ENDPOINTS",
            "not set: pyrr init-node writes the Node to Calico's etcd; set"
            " ETCD_ENDPOINTS=https://<etcd>:2379 (and the ETCD_* TLS files, as for pyrr run)",
        )
    try:
        env = from_environment({**environ, "NODENAME": name})
    except ConfigError as err:
        if err.field == "NODENAME" and args.name:
            raise ConfigError("NAME", err.message) from None  # the name came from the command
        raise
    assert env.node_name is not None
    if args.ip:
        ipv4 = _ipv4("--ip", args.ip, environ)
    elif env.ip is not None:
        ipv4 = IPv4Interface(env.ip)
    else:
        fail(
            "--ip", "not given and IP is not set: give the reflector's IPv4 address (or autodetect)"
        )
    ipv6 = _ipv6("--ip6", args.ip6) if args.ip6 else None
    if ipv6 is None and env.ip6 is not None:
        ipv6 = IPv6Interface(env.ip6)
    try:
        cluster_id = parse_cluster_id(args.cluster_id.strip()) if args.cluster_id else None
    except ConfigError as err:
        raise ConfigError("--cluster-id", err.message) from None
    try:
        labels = parse_labels(",".join(args.label)) if args.label else dict(DEFAULT_LABELS)
    except ConfigError as err:
        raise ConfigError("--label", err.message) from None
    request = NodeRequest(
        name=env.node_name,
        ipv4=ipv4,
        ipv6=ipv6,
        cluster_id=cluster_id or env.cluster_id or ipv4.ip,
        labels=labels or {},
        asn=_asn(args.as_number) if args.as_number else None,
        force=bool(args.force),
    )
    return env, request
