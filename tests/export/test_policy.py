"""RFC 4456 route reflection rules: who may be sent what, and with which attributes."""

from __future__ import annotations

import pytest

from pyrr.bgp.attributes import PathAttrs
from pyrr.bgp.constants import AttrCode
from pyrr.export.policy import Role, is_looped, may_export, role_of
from pyrr.export.rewrite import ebgp_attrs, ibgp_attrs
from pyrr.rib.path import Source

from ..rib.factories import LOCAL_AS, SEQ, SET, attrs, ip_int, path, source

CLUSTER = "198.18.0.250"
CLUSTER_ID = ip_int(CLUSTER)
RR_ID = ip_int("10.255.0.1")


def client() -> Source:
    return source("10.0.0.1", router_id="1.1.1.1")


def non_client() -> Source:
    return source("10.0.0.2", client=False, router_id="2.2.2.2")


def ebgp() -> Source:
    return source("192.0.2.1", asn=65001, router_id="3.3.3.3")


SOURCES = {"client": client, "non-client": non_client, "ebgp": ebgp}

# RFC 4456 §8: client routes go to clients and non-clients; non-client routes to clients only;
# eBGP-learned routes to every iBGP peer; every best path to eBGP peers (RFC 4271 §9.1.3).
EXPORT_MATRIX = {
    ("client", Role.CLIENT): True,
    ("client", Role.NON_CLIENT): True,
    ("client", Role.EBGP): True,
    ("non-client", Role.CLIENT): True,
    ("non-client", Role.NON_CLIENT): False,
    ("non-client", Role.EBGP): True,
    ("ebgp", Role.CLIENT): True,
    ("ebgp", Role.NON_CLIENT): True,
    ("ebgp", Role.EBGP): True,
}


@pytest.mark.parametrize(("src", "target"), sorted(EXPORT_MATRIX, key=repr))
def test_may_export_matrix(src: str, target: Role) -> None:
    p = path(SOURCES[src](), attrs(local_pref=None if src == "ebgp" else 100, as_path=[65001]))
    assert may_export(p, target) is EXPORT_MATRIX[(src, target)]


def test_role_of() -> None:
    assert role_of(client()) is Role.CLIENT
    assert role_of(non_client()) is Role.NON_CLIENT
    assert role_of(ebgp()) is Role.EBGP
    # An eBGP peer is eBGP whatever its "client" flag says.
    assert role_of(source("192.0.2.1", asn=65001, client=True)) is Role.EBGP
    assert role_of(source("192.0.2.1", asn=65001, client=False)) is Role.EBGP


def _without(a: PathAttrs, *codes: int) -> list[tuple[int, int, bytes]]:
    return [it for it in a.items if it[0] not in codes]


RICH = attrs(
    local_pref=250,
    as_path=[65010, 65020],
    med=42,
    communities=[(64512, 1), (65000, 7)],
)


def test_ibgp_attrs_from_client_adds_originator_and_cluster_list() -> None:
    src = client()
    p = path(src, RICH, next_hop="10.0.0.77")
    out = ibgp_attrs(p, CLUSTER_ID)
    # RFC 4456 §8: ORIGINATOR_ID is the originating peer's router id (not its address).
    assert out.originator_id == src.router_id == ip_int("1.1.1.1")
    assert out.cluster_list == (CLUSTER_ID,)
    # RFC 4456 §10: nothing else changes.
    assert out.local_pref == 250 and out.med == 42
    assert out.as_path == ((SEQ, (65010, 65020)),)
    assert _without(out, AttrCode.ORIGINATOR_ID, AttrCode.CLUSTER_LIST) == list(RICH.items)
    assert p.next_hop == bytes((10, 0, 0, 77))
    assert out.get(AttrCode.NEXT_HOP) is None
    # The source's own attributes are untouched; the result is cached on the path.
    assert p.attrs is RICH and RICH.originator_id is None
    assert ibgp_attrs(p, CLUSTER_ID) is out


def test_ibgp_attrs_keeps_an_existing_originator_and_prepends_cluster_id() -> None:
    a = attrs(local_pref=90, med=5, originator_id="10.9.9.9", cluster_list=["1.0.0.1", "1.0.0.2"])
    p = path(non_client(), a)
    out = ibgp_attrs(p, CLUSTER_ID)
    assert out.originator_id == ip_int("10.9.9.9")
    assert out.cluster_list == (CLUSTER_ID, ip_int("1.0.0.1"), ip_int("1.0.0.2"))
    assert out.local_pref == 90 and out.med == 5 and out.as_path == ()
    assert _without(out, AttrCode.CLUSTER_LIST) == _without(a, AttrCode.CLUSTER_LIST)


def test_ibgp_attrs_does_not_invent_local_pref_for_reflected_routes() -> None:
    # RFC 4456 §10: LOCAL_PREF is not modified on reflection (not even added).
    p = path(client(), attrs(local_pref=None))
    out = ibgp_attrs(p, CLUSTER_ID)
    assert out.local_pref is None


def test_ibgp_attrs_for_an_ebgp_learned_route() -> None:
    # Not a reflection: no ORIGINATOR_ID / CLUSTER_LIST, and LOCAL_PREF must be present
    # towards internal peers (RFC 4271 §5.1.5).
    a = attrs(local_pref=None, as_path=[65001], med=3)
    out = ibgp_attrs(path(ebgp(), a), CLUSTER_ID)
    assert out.local_pref == 100
    assert out.originator_id is None and out.cluster_list == ()
    assert out.med == 3 and out.as_path == ((SEQ, (65001,)),)
    assert _without(out, AttrCode.LOCAL_PREF) == list(a.items)


def test_ebgp_attrs_prepends_local_as_and_strips_internal_attributes() -> None:
    a = attrs(
        local_pref=300,
        as_path=[65010],
        med=7,
        originator_id="10.9.9.9",
        cluster_list=["1.0.0.1"],
        communities=[(65000, 1)],
    )
    p = path(client(), a)
    out = ebgp_attrs(p, LOCAL_AS)
    assert out.as_path == ((SEQ, (LOCAL_AS, 65010)),)
    assert out.local_pref is None and out.med is None
    assert out.originator_id is None and out.cluster_list == ()
    for code in (
        AttrCode.LOCAL_PREF,
        AttrCode.MULTI_EXIT_DISC,
        AttrCode.ORIGINATOR_ID,
        AttrCode.CLUSTER_LIST,
    ):
        assert out.get(code) is None
    assert out.get(AttrCode.COMMUNITIES) == a.get(AttrCode.COMMUNITIES)
    assert out.origin == a.origin
    assert ebgp_attrs(p, LOCAL_AS) is out
    assert ebgp_attrs(p, 65999).as_path == ((SEQ, (65999, 65010)),)


def test_ebgp_attrs_as_path_shapes() -> None:
    empty = ebgp_attrs(path(client(), attrs(as_path=())), LOCAL_AS)
    assert empty.as_path == ((SEQ, (LOCAL_AS,)),)
    # A path starting with an AS_SET gets a new AS_SEQUENCE in front.
    with_set = ebgp_attrs(path(client(), attrs(as_path=((SET, (1, 2)),))), LOCAL_AS)
    assert with_set.as_path == ((SEQ, (LOCAL_AS,)), (SET, (1, 2)))
    # A full (255 AS) first segment is not overfilled.
    full = tuple(range(1, 256))
    long_ = ebgp_attrs(path(client(), attrs(as_path=((SEQ, full),))), LOCAL_AS)
    assert long_.as_path == ((SEQ, (LOCAL_AS,)), (SEQ, full))


def test_is_looped() -> None:
    assert is_looped(attrs(), RR_ID, CLUSTER_ID) == ""
    assert is_looped(attrs(originator_id="10.255.0.1"), RR_ID, CLUSTER_ID)
    assert is_looped(attrs(cluster_list=["1.1.1.1", CLUSTER]), RR_ID, CLUSTER_ID)
    assert "ORIGINATOR_ID" in is_looped(attrs(originator_id="10.255.0.1"), RR_ID, CLUSTER_ID)
    assert "CLUSTER_LIST" in is_looped(attrs(cluster_list=[CLUSTER]), RR_ID, CLUSTER_ID)
    # Someone else's originator / cluster: not a loop.
    assert (
        is_looped(
            attrs(originator_id="10.255.0.2", cluster_list=["198.18.0.251"]), RR_ID, CLUSTER_ID
        )
        == ""
    )
