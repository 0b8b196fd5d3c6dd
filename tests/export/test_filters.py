"""The route filter engine (Calico's BGPFilter as confd renders it for BIRD): first matching
rule decides, every set field must match, a filter without a matching rule hands the route to
the next, no match at all accepts; operations; the no-export prefixes."""

from __future__ import annotations

from ipaddress import ip_network

import pytest

from pyrr.bgp.attributes import PathAttrs
from pyrr.bgp.constants import AttrCode
from pyrr.bgp.nlri import IPV4_UNICAST, IPV6_UNICAST
from pyrr.config import (
    FilterAction,
    FilterOperation,
    FilterRule,
    MatchOperator,
    PeerType,
    RouteFilter,
)
from pyrr.export.filters import (
    ACCEPT,
    Blocked,
    Chain,
    Verdict,
    apply_operations,
    export_chain,
    import_chain,
    matcher,
)

from ..rib.factories import attrs, pfx

ACC, REJ = FilterAction.ACCEPT, FilterAction.REJECT


def rule(action: FilterAction = ACC, cidr: str | None = None, **kw: object) -> FilterRule:
    if cidr is not None:
        kw.setdefault("match_operator", MatchOperator.IN)
    return FilterRule(
        action=action,
        cidr=ip_network(cidr) if cidr is not None else None,
        **kw,  # type: ignore[arg-type]
    )


def decide(
    rules: list[FilterRule], prefix: str, a: PathAttrs | None = None, ibgp: bool = True
) -> Verdict:
    return matcher(tuple(rules)).decide(pfx(prefix), a or attrs(), ibgp)


@pytest.mark.parametrize(
    ("op", "prefix", "hit"),
    [
        (MatchOperator.IN, "10.1.0.0/16", True),  # the CIDR itself is In
        (MatchOperator.IN, "10.1.2.0/24", True),
        (MatchOperator.IN, "10.2.0.0/24", False),
        (MatchOperator.IN, "10.0.0.0/8", False),  # shorter than the CIDR: not inside it
        (MatchOperator.NOT_IN, "10.1.2.0/24", False),
        (MatchOperator.NOT_IN, "10.2.0.0/24", True),
        (MatchOperator.EQUAL, "10.1.0.0/16", True),
        (MatchOperator.EQUAL, "10.1.2.0/24", False),
        (MatchOperator.NOT_EQUAL, "10.1.0.0/16", False),
        (MatchOperator.NOT_EQUAL, "10.1.2.0/24", True),
    ],
)
def test_cidr_operators(op: MatchOperator, prefix: str, hit: bool) -> None:
    r = rule(REJ, "10.1.0.0/16", match_operator=op)
    assert (decide([r], prefix) is None) is hit


def test_prefix_length_narrows_the_range_confd_defaults_otherwise() -> None:
    # confd: min defaults to the CIDR's length and max to 32 (128), a given value narrows.
    r = rule(REJ, "10.0.0.0/8", prefix_length=(16, 24))
    assert decide([r], "10.1.0.0/16") is None
    assert decide([r], "10.1.2.0/24") is None
    assert decide([r], "10.1.2.0/25") == ACCEPT
    assert decide([r], "10.0.0.0/8") == ACCEPT
    # A min below the CIDR's own length cannot widen it.
    wide = rule(REJ, "10.0.0.0/8", prefix_length=(0, 32))
    assert decide([wide], "10.0.0.0/8") is None
    assert decide([wide], "0.0.0.0/0") == ACCEPT
    # Without prefixLength, In covers /8 to /32.
    plain = rule(REJ, "10.0.0.0/8")
    assert decide([plain], "10.9.9.9/32") is None
    # NotIn with a range: everything outside (the CIDR, lengths 16..24).
    notin = rule(REJ, "10.0.0.0/8", match_operator=MatchOperator.NOT_IN, prefix_length=(16, 24))
    assert decide([notin], "10.1.2.0/25") is None
    assert decide([notin], "10.1.2.0/24") == ACCEPT


def test_ipv6_cidr() -> None:
    r = rule(REJ, "fd00:10::/32", prefix_length=(48, 64))
    m = matcher((r,))
    assert m.decide(pfx("fd00:10:1::/48"), attrs(), True) is None
    assert m.decide(pfx("fd00:10:1::/96"), attrs(), True) == ACCEPT
    assert m.decide(pfx("fd00:11::/48"), attrs(), True) == ACCEPT


def test_first_match_decides_and_no_match_accepts() -> None:
    rules = [rule(ACC, "10.1.1.0/24"), rule(REJ, "10.1.0.0/16"), rule(REJ, "10.2.0.0/16")]
    assert decide(rules, "10.1.1.0/26") == ACCEPT  # the Accept comes first
    assert decide(rules, "10.1.2.0/26") is None
    assert decide(rules, "10.3.0.0/26") == ACCEPT  # no rule matches: accepted as it is


def test_filters_chain_in_order_a_filter_without_a_match_passes_on() -> None:
    """confd renders each filter as a function called in turn; one that matches nothing
    returns, and the peer's block ends in `accept;` (import) or the default export."""
    f1 = RouteFilter("first", export_v4=(rule(REJ, "10.1.0.0/16"),))
    f2 = RouteFilter(
        "second",
        export_v4=(rule(ACC, "10.2.1.0/24"), rule(REJ, "10.2.0.0/16")),
        import_v6=(rule(REJ, "fd00::/8"),),
    )
    chain = export_chain((f1, f2))
    assert chain == Chain(v4=(*f1.export_v4, *f2.export_v4))
    m = matcher(chain.rules(IPV4_UNICAST))
    assert m.decide(pfx("10.1.0.0/24"), attrs(), True) is None  # f1 decides
    assert m.decide(pfx("10.2.1.0/26"), attrs(), True) == ACCEPT  # f2's first rule
    assert m.decide(pfx("10.2.2.0/26"), attrs(), True) is None
    assert m.decide(pfx("10.3.0.0/26"), attrs(), True) == ACCEPT
    assert chain.rules(IPV6_UNICAST) == ()
    assert import_chain((f1, f2)) == Chain(v6=f2.import_v6)
    assert export_chain(()) is None and import_chain((f1,)) is None


def test_every_set_field_must_match() -> None:
    r = rule(REJ, "10.1.0.0/16", peer_type=PeerType.EBGP, communities=((65000, 100),))
    tagged = attrs(communities=[(65000, 100)])
    assert decide([r], "10.1.0.0/24", tagged, ibgp=False) is None
    assert decide([r], "10.1.0.0/24", tagged, ibgp=True) == ACCEPT  # peer type differs
    assert decide([r], "10.1.0.0/24", attrs(), ibgp=False) == ACCEPT  # community missing
    assert decide([r], "10.2.0.0/24", tagged, ibgp=False) == ACCEPT  # prefix outside


def test_peer_type() -> None:
    ibgp_only = rule(REJ, peer_type=PeerType.IBGP)
    assert decide([ibgp_only], "10.0.0.0/24", ibgp=True) is None
    assert decide([ibgp_only], "10.0.0.0/24", ibgp=False) == ACCEPT
    ebgp_only = rule(REJ, peer_type=PeerType.EBGP)
    assert decide([ebgp_only], "10.0.0.0/24", ibgp=False) is None


def test_standard_and_large_communities() -> None:
    std = rule(REJ, communities=((65000, 100),))
    assert decide([std], "10.0.0.0/24", attrs(communities=[(1, 2), (65000, 100)])) is None
    assert decide([std], "10.0.0.0/24", attrs(communities=[(65000, 101)])) == ACCEPT
    large = rule(REJ, communities=((64512, 1, 2),))
    value = bytes.fromhex("0000fc000000000100000002")
    big = attrs(extra=[(AttrCode.LARGE_COMMUNITIES, 0xC0, value)])
    assert decide([large], "10.0.0.0/24", big) is None
    assert decide([large], "10.0.0.0/24", attrs(communities=[(64512, 1)])) == ACCEPT


def test_as_path_prefix() -> None:
    r = rule(REJ, as_path_prefix=(65001, 65002))
    assert decide([r], "10.0.0.0/24", attrs(as_path=[65001, 65002, 65003])) is None
    assert decide([r], "10.0.0.0/24", attrs(as_path=[65001, 65002])) is None
    assert decide([r], "10.0.0.0/24", attrs(as_path=[65001])) == ACCEPT
    assert decide([r], "10.0.0.0/24", attrs(as_path=[65002, 65001])) == ACCEPT
    assert decide([r], "10.0.0.0/24", attrs(as_path=[])) == ACCEPT
    # Across two AS_SEQUENCE segments (a prepend that did not fit the first one).
    split = attrs(as_path=((2, (65001,)), (2, (65002,))))
    assert decide([r], "10.0.0.0/24", split) is None


def test_source_remote_peers_always_matches_on_a_reflector() -> None:
    # Every route an RR holds was learned from a BGP peer (confd: source ~ [ RTS_BGP ]).
    r = rule(REJ, remote_peers_only=True)
    assert decide([r], "10.0.0.0/24") is None


def test_interface_and_priority_never_match_a_bgp_learned_route() -> None:
    """`interface` is a kernel route's outgoing interface and `priority` its metric
    (krt_metric); a reflector programs no kernel routes and every route it holds was learned
    over BGP, so such a rule is never the one that decides, not even with nothing else set."""
    for r in (rule(REJ, interface="eth0"), rule(REJ, interface="*"), rule(REJ, priority=512)):
        assert decide([r], "10.0.0.0/24") == ACCEPT
        # ... and the next rule still gets its turn.
        assert decide([r, rule(REJ)], "10.0.0.0/24") is None


def test_operations_on_accept_only() -> None:
    ops = (FilterOperation(add_community=(65000, 7)),)
    assert decide([rule(ACC, "10.0.0.0/8", operations=ops)], "10.1.0.0/24") == ops
    # Operations on a Reject (Calico's validation forbids it) change nothing: rejected.
    assert decide([rule(REJ, "10.0.0.0/8", operations=ops)], "10.1.0.0/24") is None


def test_add_community_appends_once() -> None:
    a = attrs(communities=[(1, 1)])
    b = apply_operations(a, (FilterOperation(add_community=(65000, 100)),))
    assert b.get(AttrCode.COMMUNITIES) == bytes.fromhex("00010001fde80064")
    # Already present: BIRD's bgp_community.add leaves the list as it is.
    c = apply_operations(b, (FilterOperation(add_community=(65000, 100)),))
    assert c == b
    d = apply_operations(attrs(), (FilterOperation(add_community=(64512, 1, 2)),))
    assert d.get(AttrCode.LARGE_COMMUNITIES) == bytes.fromhex("0000fc000000000100000002")
    assert d.get(AttrCode.COMMUNITIES) is None


def test_prepend_as_path_keeps_the_given_order() -> None:
    # confd emits one BIRD prepend per AS, last first: the path then starts with the list.
    op = FilterOperation(prepend_as_path=(65001, 65002))
    assert apply_operations(attrs(as_path=[65010]), (op,)).as_path == ((2, (65001, 65002, 65010)),)
    assert apply_operations(attrs(as_path=[]), (op,)).as_path == ((2, (65001, 65002)),)
    # Behind an AS_SET: a new leading sequence.
    after_set = apply_operations(attrs(as_path=((1, (7, 8)),)), (op,))
    assert after_set.as_path == ((2, (65001, 65002)), (1, (7, 8)))


def test_set_priority_changes_no_bgp_attribute() -> None:
    # It sets the kernel metric of a programmed route; a reflector programs none.
    a = attrs(communities=[(1, 1)])
    assert apply_operations(a, (FilterOperation(set_priority=512),)) == a


def test_blocked_prefixes() -> None:
    b = Blocked((ip_network("10.244.0.0/16"), ip_network("fd00:244::/48")))
    assert b
    assert b.blocks(IPV4_UNICAST, pfx("10.244.0.0/16"))
    assert b.blocks(IPV4_UNICAST, pfx("10.244.3.0/26"))
    assert not b.blocks(IPV4_UNICAST, pfx("10.0.0.0/8"))  # wider than the pool
    assert not b.blocks(IPV4_UNICAST, pfx("10.245.0.0/26"))
    assert b.blocks(IPV6_UNICAST, pfx("fd00:244:0:1::/64"))
    assert not b.blocks(IPV6_UNICAST, pfx("fd00:245::/64"))
    assert not Blocked(())
    assert not Blocked((ip_network("fd00::/8"),)).blocks(IPV4_UNICAST, pfx("10.0.0.0/8"))
