"""Write the seed corpus of fuzz/corpus/: real-looking BGP messages, encoded with pyrr's codec.

Run from the repository root: ``python -m fuzz.make_corpus`` (``--check`` only compares).
The OPENs copy the capability sets that BIRD 1.6 (as Calico ships it), FRR 8.4 and GoBGP 3.10
send; the UPDATEs are the shapes pyrr reflects (IPv4 the RFC 4271 way, IPv6 in MP_REACH_NLRI
with a 16-octet global or a 32-octet global + link-local next hop).
"""

from __future__ import annotations

import struct
import sys
from ipaddress import IPv4Address, IPv6Address, ip_network
from pathlib import Path

from pyrr.bgp.attributes import PathAttrs, encode_as_path
from pyrr.bgp.capabilities import Capabilities, GracefulRestart, LongLivedGR
from pyrr.bgp.constants import (
    AFI,
    AddPathMode,
    AsPathSegType,
    AttrCode,
    AttrFlag,
    CeaseSub,
    GRFlags,
    RefreshSubtype,
)
from pyrr.bgp.encode import (
    end_of_rib,
    mp_reach_attr,
    mp_unreach_attr,
    next_hop_attr,
    update_message,
)
from pyrr.bgp.messages import KEEPALIVE, Open, RouteRefresh, shutdown_notification
from pyrr.bgp.nlri import IPV4_UNICAST, IPV6_UNICAST, encode_prefix

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"


def _rid(text: str) -> int:
    return int(IPv4Address(text))


def open_bird16_calico() -> bytes:
    """BIRD 1.6 as calico-node runs it: AS 64512, hold 240."""
    caps = Capabilities(
        families=(IPV4_UNICAST,),
        route_refresh=True,
        enhanced_route_refresh=True,
        four_octet_as=64512,
        graceful_restart=GracefulRestart(GRFlags.NONE, 120, ((IPV4_UNICAST, True),)),
        long_lived_gr=LongLivedGR(()),
        add_path=((IPV4_UNICAST, AddPathMode.BOTH),),
    )
    return Open(asn=64512, hold_time=240, router_id=_rid("10.0.0.11"), capabilities=caps).encode()


def open_frr84() -> bytes:
    caps = Capabilities(
        families=(IPV4_UNICAST,),
        route_refresh=True,
        route_refresh_cisco=True,
        enhanced_route_refresh=True,
        four_octet_as=64512,
        extended_message=True,
        add_path=((IPV4_UNICAST, AddPathMode.RECEIVE),),
        fqdn=("frr-node-1", ""),
        graceful_restart=GracefulRestart(GRFlags.RESTART | GRFlags.NOTIFICATION, 120, ()),
        long_lived_gr=LongLivedGR(((IPV4_UNICAST, 0, 0),)),
    )
    return Open(asn=64512, hold_time=180, router_id=_rid("10.0.0.12"), capabilities=caps).encode()


def open_gobgp310() -> bytes:
    caps = Capabilities(
        families=(IPV4_UNICAST,),
        route_refresh=True,
        four_octet_as=4200000001,
        graceful_restart=GracefulRestart(GRFlags.NONE, 120, ((IPV4_UNICAST, False),)),
        extended_next_hop=((IPV4_UNICAST, AFI.IPV6),),
        fqdn=("gobgp-1", "cluster.local"),
    )
    return Open(
        asn=4200000001, hold_time=90, router_id=_rid("10.0.0.13"), capabilities=caps
    ).encode()


def _attrs() -> PathAttrs:
    return PathAttrs(
        [
            (AttrCode.ORIGIN, AttrFlag.TRANSITIVE, b"\x00"),
            (
                AttrCode.AS_PATH,
                AttrFlag.TRANSITIVE,
                encode_as_path(((AsPathSegType.AS_SEQUENCE, (64512, 4200000001)),)),
            ),
            (AttrCode.MULTI_EXIT_DISC, AttrFlag.OPTIONAL, struct.pack("!I", 10)),
            (AttrCode.LOCAL_PREF, AttrFlag.TRANSITIVE, struct.pack("!I", 100)),
            (
                AttrCode.COMMUNITIES,
                AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE,
                struct.pack("!HHHH", 64512, 100, 0xFFFF, 0xFF01),
            ),
            (AttrCode.ORIGINATOR_ID, AttrFlag.OPTIONAL, IPv4Address("10.0.0.11").packed),
            (AttrCode.CLUSTER_LIST, AttrFlag.OPTIONAL, IPv4Address("10.0.0.1").packed),
            (
                AttrCode.LARGE_COMMUNITIES,
                AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE,
                struct.pack("!III", 4200000001, 1, 2),
            ),
        ]
    )


def update_ipv4() -> bytes:
    nlri = b"".join(
        encode_prefix(ip_network(p))
        for p in ("10.65.0.0/26", "10.65.1.64/26", "192.168.0.0/16", "0.0.0.0/0")
    )
    withdrawn = b"".join(encode_prefix(ip_network(p)) for p in ("10.66.0.0/26", "10.0.0.1/32"))
    block = next_hop_attr(IPv4Address("10.0.0.11").packed) + _attrs().wire
    return update_message(withdrawn=withdrawn, attrs=block, nlri=nlri)


def _v6_nlri() -> bytes:
    return b"".join(
        encode_prefix(ip_network(p))
        for p in ("fd00:10:244::/122", "fd00:10:244:0:1::/122", "2001:db8::/32", "::/0")
    )


def update_ipv6_nh16() -> bytes:
    nh = IPv6Address("fd00::11").packed
    return update_message(attrs=mp_reach_attr(IPV6_UNICAST, nh, _v6_nlri()) + _attrs().wire)


def update_ipv6_nh32() -> bytes:
    nh = IPv6Address("fd00::11").packed + IPv6Address("fe80::11").packed
    withdraw = mp_unreach_attr(IPV6_UNICAST, encode_prefix(ip_network("fd00:10:245::/122")))
    # MP_REACH first (RFC 7606 §5.1), then the rest; MP_UNREACH in the same message.
    block = mp_reach_attr(IPV6_UNICAST, nh, _v6_nlri()) + _attrs().wire
    return update_message(attrs=block + withdraw)


def corpus_messages() -> dict[str, bytes]:
    """file name -> content; each file holds one complete framed message."""
    return {
        "open_bird16_calico.bin": open_bird16_calico(),
        "open_frr84.bin": open_frr84(),
        "open_gobgp310.bin": open_gobgp310(),
        "update_ipv4.bin": update_ipv4(),
        "update_ipv6_nh16.bin": update_ipv6_nh16(),
        "update_ipv6_nh32.bin": update_ipv6_nh32(),
        "eor_ipv4.bin": end_of_rib(IPV4_UNICAST),
        "eor_ipv6.bin": end_of_rib(IPV6_UNICAST),
        "keepalive.bin": KEEPALIVE,
        "notification_shutdown.bin": shutdown_notification(
            CeaseSub.ADMINISTRATIVE_SHUTDOWN, "maintenance \u2014 back soon"
        ).encode(),
        "route_refresh_borr_ipv6.bin": RouteRefresh(AFI.IPV6, 1, RefreshSubtype.BORR).encode(),
    }


def main(argv: list[str]) -> int:
    check = "--check" in argv
    CORPUS_DIR.mkdir(exist_ok=True)
    stale = []
    for name, content in corpus_messages().items():
        path = CORPUS_DIR / name
        if check:
            if not path.exists() or path.read_bytes() != content:
                stale.append(name)
        else:
            path.write_bytes(content)
    if stale:
        print("stale corpus files (run python -m fuzz.make_corpus):", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
