"""RFC 4271 §9.1.2 on ingress: a route whose AS_PATH holds the session's local AS is a loop and
is not installed (an installed one it replaces is withdrawn), as calico-node's BIRD does;
BIRD's `allow local as N` (Calico's BGPPeer numAllowedLocalASNumbers) tolerates N times.

The case met in the Calico lab: a top-of-rack router peers with two reflectors of one AS and
sends each the other's routes back, prepended with its own AS."""

from __future__ import annotations

from ..rib.factories import LOCAL_AS, attrs, decode_messages, update
from .harness import World

TOR_AS = 65001


def test_our_as_in_an_ebgp_route_is_a_loop() -> None:
    w = World()
    tor, node = w.peer("10.0.0.1", asn=TOR_AS), w.peer("10.0.0.2")
    rt = w.up(tor, asn=TOR_AS)
    rn = w.up(node)
    rn.take()
    w.send(rt, update(["10.1.0.0/24"], attrs(as_path=[TOR_AS, LOCAL_AS]), next_hop="10.0.0.9"))
    w.send(rt, update(["10.2.0.0/24"], attrs(as_path=[TOR_AS, 64999]), next_hop="10.0.0.9"))
    assert not w.has("10.1.0.0/24") and w.has("10.2.0.0/24")
    assert decode_messages(rn.take()).ann() == {"10.2.0.0/24"}
    # A looped re-announcement replaces (withdraws) what was installed.
    w.send(rt, update(["10.2.0.0/24"], attrs(as_path=[TOR_AS, 7, LOCAL_AS]), next_hop="10.0.0.9"))
    assert not w.has("10.2.0.0/24")
    assert decode_messages(rn.take()).wd() == {"10.2.0.0/24"}


def test_ibgp_routes_are_checked_too() -> None:
    w = World()
    node = w.peer("10.0.0.2")
    rn = w.up(node)
    w.send(rn, update(["10.3.0.0/24"], attrs(as_path=[TOR_AS, LOCAL_AS])))
    w.send(rn, update(["10.4.0.0/24"], attrs(as_path=[TOR_AS])))
    assert not w.has("10.3.0.0/24") and w.has("10.4.0.0/24")


def test_allow_local_as_tolerates_that_many() -> None:
    w = World()
    tor = w.peer("10.0.0.1", asn=TOR_AS, allow_local_as=1)
    rt = w.up(tor, asn=TOR_AS)
    w.send(rt, update(["10.1.0.0/24"], attrs(as_path=[TOR_AS, LOCAL_AS]), next_hop="10.0.0.9"))
    w.send(
        rt,
        update(["10.2.0.0/24"], attrs(as_path=[TOR_AS, LOCAL_AS, LOCAL_AS]), next_hop="10.0.0.9"),
    )
    assert w.has("10.1.0.0/24") and not w.has("10.2.0.0/24")


def test_the_session_local_as_is_the_one_checked() -> None:
    # BGPPeer localASNumber: the router knows us as 64999 on this session, as BIRD's
    # `local as 64999` checks 64999.
    w = World()
    tor = w.peer("10.0.0.1", asn=TOR_AS, local_asn=64999)
    rt = w.up(tor, asn=TOR_AS, rr_asn=64999)
    w.send(rt, update(["10.1.0.0/24"], attrs(as_path=[TOR_AS, 64999]), next_hop="10.0.0.9"))
    w.send(rt, update(["10.2.0.0/24"], attrs(as_path=[TOR_AS, LOCAL_AS]), next_hop="10.0.0.9"))
    assert not w.has("10.1.0.0/24") and w.has("10.2.0.0/24")
