"""The capabilities pyrr offers: ADD-PATH (RFC 7911 §4) Send on both families when more than
one path per prefix is configured, nothing otherwise (the OPEN of before); never Receive, so
what peers send is decoded as before."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address

from pyrr.bgp.capabilities import Capabilities, negotiate
from pyrr.bgp.constants import AddPathMode
from pyrr.bgp.nlri import IPV4_UNICAST, IPV6_UNICAST
from pyrr.config import GlobalConfig
from pyrr.session.local import capabilities

G = GlobalConfig(asn=64512, router_id=IPv4Address("10.255.0.1"), cluster_id=IPv4Address("1.1.1.1"))
FAMS = (IPV4_UNICAST, IPV6_UNICAST)


def test_best_path_only_offers_no_add_path() -> None:
    caps = capabilities(G, False)
    assert caps.add_path == ()
    assert capabilities(replace(G, add_path_send=1), False).encode() == caps.encode()


def test_several_paths_offer_send_on_both_families() -> None:
    caps = capabilities(replace(G, add_path_send=4), False)
    assert caps.add_path == ((IPV4_UNICAST, AddPathMode.SEND), (IPV6_UNICAST, AddPathMode.SEND))
    # A Calico node that can receive: we send path ids; it sends none (we offered no Receive).
    node = Capabilities(
        families=FAMS, four_octet_as=64512, add_path=tuple((f, AddPathMode.BOTH) for f in FAMS)
    )
    neg = negotiate(caps, node, 90, 90, 64512, 1)
    assert neg.add_path_tx == frozenset(FAMS) and neg.add_path_rx == frozenset()
    # One that cannot: nothing changes for it.
    plain = Capabilities(families=FAMS, four_octet_as=64512)
    neg = negotiate(caps, plain, 90, 90, 64512, 1)
    assert neg.add_path_tx == frozenset() and neg.add_path_rx == frozenset()
