"""Import filters (Calico BGPFilter importV4/importV6) on routes from real sessions: applied
for the peer the route comes from, a rejected route treated as withdrawn, operations applied
before the RIB; peers without filters and families without rules are untouched."""

from __future__ import annotations

from ipaddress import ip_network

from pyrr.bgp.constants import AttrCode
from pyrr.bgp.nlri import IPV4_UNICAST
from pyrr.config import FilterAction, FilterOperation, FilterRule, MatchOperator, RouteFilter

from ..rib.factories import attrs, decode_messages, pfx, update
from .harness import World

REJECT_POD_CIDR = FilterRule(
    action=FilterAction.REJECT,
    cidr=ip_network("10.244.0.0/16"),
    match_operator=MatchOperator.IN,
)
TAG = FilterRule(
    action=FilterAction.ACCEPT,
    cidr=ip_network("10.96.0.0/12"),
    match_operator=MatchOperator.IN,
    operations=(FilterOperation(add_community=(65000, 1)),),
)
FILTER = RouteFilter("in", import_v4=(REJECT_POD_CIDR, TAG))


def test_import_filter_rejects_and_modifies_for_its_peer_only() -> None:
    w = World()
    filtered = w.peer("10.0.0.1", filters=(FILTER,))
    other = w.peer("10.0.0.2")
    listener = w.peer("10.0.0.3")
    rf, ro, rl = w.up(filtered), w.up(other), w.up(listener)
    w.send(rf, update(["10.244.1.0/26", "10.96.0.10/32", "10.1.0.0/24", "2001:db8::/64"]))
    w.send(ro, update(["10.244.2.0/26"]))
    assert not w.has("10.244.1.0/26")  # rejected
    assert w.has("10.244.2.0/26")  # the other peer has no filter
    assert w.has("10.1.0.0/24") and w.has("2001:db8::/64")  # no rule matched; no v6 rules
    entry = w.speaker.rib.lookup(IPV4_UNICAST, pfx("10.96.0.10/32"))
    assert entry is not None and entry.best is not None
    assert entry.best.attrs.get(AttrCode.COMMUNITIES) == bytes.fromhex("fde80001")
    untouched = w.speaker.rib.lookup(IPV4_UNICAST, pfx("10.1.0.0/24"))
    assert untouched is not None and untouched.best is not None
    assert untouched.best.attrs.get(AttrCode.COMMUNITIES) is None
    sent = decode_messages(rl.take())
    assert "10.244.1.0/26" not in sent.ann()
    assert {"10.96.0.10/32", "10.1.0.0/24", "10.244.2.0/26"} <= sent.ann()
    assert filtered.prefixes_received() == 3  # the rejected route is not held


def test_a_route_that_becomes_rejected_is_withdrawn() -> None:
    rule = FilterRule(action=FilterAction.REJECT, communities=((65000, 666),))
    w = World()
    n = w.peer("10.0.0.1", filters=(RouteFilter("f", import_v4=(rule,)),))
    listener = w.peer("10.0.0.3")
    r, rl = w.up(n), w.up(listener)
    w.send(r, update(["10.1.0.0/24"]))
    assert w.has("10.1.0.0/24")
    rl.take()
    # The same prefix again, now matching the Reject: as if withdrawn (RFC 7606-style
    # treat-as-withdraw, here by policy).
    w.send(r, update(["10.1.0.0/24"], attrs(communities=[(65000, 666)])))
    assert not w.has("10.1.0.0/24")
    assert decode_messages(rl.take()).wd() == {"10.1.0.0/24"}
