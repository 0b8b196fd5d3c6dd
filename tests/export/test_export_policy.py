"""What a peer's configuration does to the bytes it is sent: export filters (Calico BGPFilter)
per update group, the next-hop mode, the session's local AS, and the no-export prefixes
(IPPool disableBGPExport); group keys keep peers that differ in any of them apart."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

from pyrr.bgp.constants import AttrCode
from pyrr.bgp.nlri import IPV4_UNICAST, IPV6_UNICAST
from pyrr.config import (
    FilterAction,
    FilterOperation,
    FilterRule,
    MatchOperator,
    NextHopMode,
    PeerConfig,
    RouteFilter,
)
from pyrr.export.export import group_key
from pyrr.export.filters import export_chain
from pyrr.export.policy import Role
from pyrr.export.rewrite import filtered

from ..rib.factories import LOCAL_AS, FakeMember, attrs, decode_messages, nh, source, update
from .helpers import World, key, negotiated

ACC, REJ = FilterAction.ACCEPT, FilterAction.REJECT
TAG = (FilterOperation(add_community=(65000, 100)),)


def in_rule(action: FilterAction, cidr: str, **kw: object) -> FilterRule:
    return FilterRule(
        action=action,
        cidr=ip_network(cidr),
        match_operator=MatchOperator.IN,
        **kw,  # type: ignore[arg-type]
    )


def peer(address: str = "10.0.0.1", asn: int = LOCAL_AS, **kw: object) -> PeerConfig:
    return PeerConfig(address=ip_address(address), asn=asn, **kw)  # type: ignore[arg-type]


# -- group keys ----------------------------------------------------------------------------


def test_default_config_gives_the_key_of_before() -> None:
    m = FakeMember(source("10.0.0.1"))
    neg = negotiated()
    plain = group_key(m, neg, LOCAL_AS, lambda: "10.255.0.1")
    assert group_key(m, neg, LOCAL_AS, lambda: "10.255.0.1", config=peer()) == plain
    assert plain == key(Role.CLIENT, local_as=LOCAL_AS)
    e = FakeMember(source("10.9.0.1", asn=65009))
    k = group_key(e, neg, LOCAL_AS, lambda: "10.255.0.1", config=peer("10.9.0.1", 65009))
    assert k == group_key(e, neg, LOCAL_AS, lambda: "10.255.0.1")
    assert k.next_hop_self == ((IPV4_UNICAST, nh("10.255.0.1")),) and k.ebgp_peer == "10.9.0.1"


def test_peers_with_different_export_filters_never_share_a_group() -> None:
    f1 = RouteFilter("a", export_v4=(in_rule(REJ, "10.1.0.0/16"),))
    f2 = RouteFilter("b", export_v4=(in_rule(REJ, "10.2.0.0/16"),))
    f1_again = RouteFilter("renamed", export_v4=f1.export_v4, import_v4=f2.export_v4)
    neg = negotiated()
    keys = [
        group_key(FakeMember(source(a)), neg, LOCAL_AS, lambda: None, config=peer(a, filters=fs))
        for a, fs in (("10.0.0.1", (f1,)), ("10.0.0.2", (f2,)), ("10.0.0.3", (f1_again,)))
    ]
    assert keys[0] != keys[1]
    # The export rules decide, not the filters' names (nor their import rules).
    assert keys[0] == keys[2]
    assert keys[0].export_filter == export_chain((f1,))
    # Import-only filters change nothing on export.
    k = group_key(
        FakeMember(source("10.0.0.4")),
        neg,
        LOCAL_AS,
        lambda: None,
        config=peer("10.0.0.4", filters=(RouteFilter("i", import_v4=f1.export_v4),)),
    )
    assert k.export_filter is None


def test_next_hop_modes_and_local_as_in_the_key() -> None:
    neg = negotiated()
    ibgp = FakeMember(source("10.0.0.1"))
    ours = ((IPV4_UNICAST, nh("10.255.0.1")),)
    selfk = group_key(
        ibgp, neg, LOCAL_AS, lambda: "10.255.0.1", config=peer(next_hop=NextHopMode.SELF)
    )
    assert selfk.next_hop_self == ours and selfk.ebgp_peer == ""
    keep = group_key(
        ibgp, neg, LOCAL_AS, lambda: "10.255.0.1", config=peer(next_hop=NextHopMode.KEEP)
    )
    assert keep.next_hop_self == ()
    ebgp = FakeMember(source("10.9.0.1", asn=65009))
    kept = group_key(
        ebgp,
        neg,
        LOCAL_AS,
        lambda: "10.255.0.1",
        config=peer("10.9.0.1", 65009, next_hop=NextHopMode.KEEP),
    )
    assert kept.next_hop_self == ()
    own_as = group_key(
        ebgp, neg, LOCAL_AS, lambda: "10.255.0.1", config=peer("10.9.0.1", 65009, local_asn=65100)
    )
    assert own_as.local_as == 65100
    assert own_as != group_key(ebgp, neg, LOCAL_AS, lambda: "10.255.0.1")


# -- export filters in a group -------------------------------------------------------------


def test_export_filter_rejects_per_group_and_withdraws_what_was_sent() -> None:
    w = World()
    origin = w.member("10.0.0.9")
    plain, picky = w.member("10.0.0.1"), w.member("10.0.0.2")
    chain = export_chain((RouteFilter("f", export_v4=(in_rule(REJ, "10.1.0.0/16"),)),))
    w.join(key(), plain)
    w.join(key(export_filter=chain), picky)
    assert len(w.out.groups) == 2
    plain.take(), picky.take()
    w.apply(origin.source, update(["10.1.2.0/24", "10.2.0.0/24", "2001:db8::/48"]))
    w.run()
    assert decode_messages(plain.take()).ann() == {"10.1.2.0/24", "10.2.0.0/24"}
    got = decode_messages(picky.take())
    assert got.ann() == {"10.2.0.0/24"}
    assert got.ann(IPV6_UNICAST) == {"2001:db8::/48"}  # no v6 rules: v6 untouched
    # A joiner of the filtered group gets the filtered table.
    late = w.member("10.0.0.3")
    w.join(key(export_filter=chain), late)
    assert decode_messages(late.take()).ann() == {"10.2.0.0/24"}


def test_a_path_that_becomes_rejected_is_withdrawn_from_that_group_only() -> None:
    w = World()
    origin = w.member("10.0.0.9")
    plain, picky = w.member("10.0.0.1"), w.member("10.0.0.2")
    rule = FilterRule(action=REJ, communities=((65000, 666),))
    chain = export_chain((RouteFilter("f", export_v4=(rule,)),))
    w.join(key(), plain)
    w.join(key(export_filter=chain), picky)
    w.apply(origin.source, update(["10.1.0.0/24"]))
    w.run()
    plain.take(), picky.take()
    w.apply(origin.source, update(["10.1.0.0/24"], attrs(communities=[(65000, 666)])))
    w.run()
    assert decode_messages(picky.take()).wd() == {"10.1.0.0/24"}
    d = decode_messages(plain.take())
    assert d.ann() == {"10.1.0.0/24"} and d.wd() == set()
    # Never sent, never withdrawn: a second rejected change sends the filtered group nothing.
    w.apply(origin.source, update(["10.1.0.0/24"], attrs(communities=[(65000, 666)], med=5)))
    w.run()
    assert picky.take() == []


def test_operations_are_computed_once_per_path_and_rule_and_applied_before_reflection() -> None:
    w = World()
    origin = w.member("10.0.0.9", router_id="9.9.9.9")
    a, b = w.member("10.0.0.1"), w.member("10.0.0.2")
    chain = export_chain(
        (RouteFilter("tag", export_v4=(in_rule(ACC, "10.1.0.0/16", operations=TAG),)),)
    )
    k = key(export_filter=chain)
    w.join(k, a)
    w.join(k, b)
    a.take(), b.take()
    w.apply(origin.source, update(["10.1.1.0/24", "10.1.2.0/24", "10.2.0.0/24"]))
    w.run()
    sent_a, sent_b = a.take(), b.take()
    assert sent_a == sent_b and a.chunks[-1][0] is b.chunks[-1][0]  # encoded once
    d = decode_messages(sent_a)
    tagged = [x for x in d.attrs if x.get(AttrCode.COMMUNITIES)]
    assert len(tagged) == 1 and len(d.attrs) == 2  # one message for both tagged prefixes
    assert tagged[0].get(AttrCode.COMMUNITIES) == bytes.fromhex("fde80064")
    assert tagged[0].originator_id is not None and tagged[0].cluster_list  # then reflected
    (path,) = origin.source.interned.values()
    assert filtered(path, TAG) is filtered(path, TAG)
    assert filtered(path, ()) is path


def test_ebgp_prepend_operation_comes_after_our_own_as() -> None:
    w = World()
    origin = w.member("10.0.0.9")
    ext = w.member("10.9.0.1", asn=65009)
    chain = export_chain(
        (
            RouteFilter(
                "p",
                export_v4=(
                    FilterRule(
                        action=ACC, operations=(FilterOperation(prepend_as_path=(65100, 65100)),)
                    ),
                ),
            ),
        )
    )
    k = key(
        Role.EBGP,
        ebgp_peer="10.9.0.1",
        local_as=65200,
        export_filter=chain,
        next_hop_self=((IPV4_UNICAST, nh("10.255.0.1")),),
    )
    w.join(k, ext)
    ext.take()
    w.apply(origin.source, update(["10.1.0.0/24"], attrs(as_path=[])))
    w.run()
    d = decode_messages(ext.take())
    # BIRD runs the export filter first and adds its own AS after: ours leads.
    assert d.attrs[0].as_path == ((2, (65200, 65100, 65100)),)
    assert d.next_hops == {nh("10.255.0.1")}


def test_filters_cannot_send_what_rfc4456_withholds() -> None:
    # A non-client's route is not reflected to another non-client, even if a rule accepts it.
    w = World()
    nonclient = w.member("10.0.0.9", client=False)
    other = w.member("10.0.0.8", client=False)
    chain = export_chain((RouteFilter("all", export_v4=(FilterRule(action=ACC),)),))
    w.join(key(Role.NON_CLIENT, export_filter=chain), other)
    other.take()
    w.apply(nonclient.source, update(["10.1.0.0/24"]))
    w.run()
    assert other.take() == []


# -- next hop and local AS -----------------------------------------------------------------


def test_next_hop_self_towards_ibgp_and_keep_towards_ebgp() -> None:
    w = World()
    origin = w.member("10.0.0.9")
    selfish = w.member("10.0.0.1")
    ext = w.member("10.9.0.1", asn=65009)
    w.join(key(next_hop_self=((IPV4_UNICAST, nh("10.255.0.1")),)), selfish)
    w.join(key(Role.EBGP, ebgp_peer="10.9.0.1", local_as=65100), ext)  # KEEP: no self hop
    selfish.take(), ext.take()
    w.apply(origin.source, update(["10.1.0.0/24", "2001:db8::/48"], next_hop="10.0.0.99"))
    w.run()
    ds = decode_messages(selfish.take())
    assert nh("10.255.0.1") in ds.next_hops and nh("10.0.0.99") not in ds.next_hops
    # The IPv6 route keeps its next hop: our session address is IPv4.
    de = decode_messages(ext.take())
    assert nh("10.0.0.99") in de.next_hops
    assert all(a.as_path == ((2, (65100,)),) for a in de.attrs)  # the session's local AS


# -- no-export prefixes --------------------------------------------------------------------


def test_no_export_prefixes_are_sent_to_nobody() -> None:
    w = World(no_export=("10.244.0.0/16", "fd00:244::/48"))
    origin = w.member("10.0.0.9")
    a = w.member("10.0.0.1")
    ext = w.member("10.9.0.1", asn=65009)
    # Learned before the groups exist (the initial table) and after (changes).
    w.apply(origin.source, update(["10.244.1.0/26", "10.1.0.0/24", "fd00:244:0:1::/64"]))
    w.join(key(), a)
    w.join(key(Role.EBGP, ebgp_peer="10.9.0.1", local_as=LOCAL_AS), ext)
    for m in (a, ext):
        d = decode_messages(m.take())
        assert d.ann() == {"10.1.0.0/24"} and d.ann(IPV6_UNICAST) == set()
    w.apply(origin.source, update(["10.244.2.0/26", "10.2.0.0/24"]))
    w.apply(origin.source, update(withdraw=["10.244.1.0/26"]))
    w.run()
    for m in (a, ext):
        d = decode_messages(m.take())
        assert d.ann() == {"10.2.0.0/24"} and d.wd() == set()
