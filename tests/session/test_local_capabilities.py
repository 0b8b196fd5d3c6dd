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


def test_calico_sessions_offer_their_address_family_only() -> None:
    # calico-node's bird carries IPv4 over IPv4, bird6 IPv6 over IPv6: two pyrr reflectors
    # (or a router that offers both) must not exchange every route over both sessions.
    from ipaddress import ip_address

    from pyrr.config import PeerConfig
    from pyrr.session.local import Local

    local = Local(replace(G, add_path_send=3))
    both = PeerConfig(address=ip_address("198.18.0.105"), asn=64512)
    v4 = replace(both, own_family_only=True)
    v6 = replace(v4, address=ip_address("2001:db8::105"))
    assert local.session_config(both).capabilities.families == FAMS
    for peer, fam in ((v4, IPV4_UNICAST), (v6, IPV6_UNICAST)):
        caps = local.session_config(peer).capabilities
        assert caps.families == (fam,)
        assert caps.add_path == ((fam, AddPathMode.SEND),)
        assert caps.graceful_restart is not None
        assert caps.graceful_restart.families == ((fam, True),)
        # Another pyrr offering the same: one family negotiated.
        neg = negotiate(caps, caps, 90, 90, 64512, 1)
        assert neg.families == (fam,)


def test_sessions_jitter_their_keepalives_below_the_interval() -> None:
    """RFC 4271 §10 jitter, each session its own factor each time, from 0.75 to 0.95 of the
    interval (pyrr.session.local: a late KEEPALIVE still within a third of the hold time)."""
    import random

    from pyrr.config import PeerConfig
    from pyrr.session.backoff import JITTER_LOW
    from pyrr.session.local import KEEPALIVE_JITTER_HIGH, Local

    jitter = (
        Local(G, random.Random(7))
        .session_config(PeerConfig(address=IPv4Address("10.0.0.2"), asn=64512))
        .keepalive_jitter
    )
    assert jitter is not None
    factors = [jitter() for _ in range(2000)]
    assert JITTER_LOW <= min(factors) < 0.76 and 0.94 < max(factors) <= KEEPALIVE_JITTER_HIGH
    assert len(set(factors)) == len(factors)  # a new one each time
