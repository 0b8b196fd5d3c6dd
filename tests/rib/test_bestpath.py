"""RFC 4271 §9.1.2.2 and RFC 4456 §9 best path selection, one step at a time.

Every case builds paths that tie on every step before the one under test and asserts both the
winner and the `Reason` recorded for it; where a later step would pick the other path, the case
is built so, to prove the earlier step really decided.
"""

from __future__ import annotations

from itertools import permutations

from hypothesis import given, settings
from hypothesis import strategies as st

from pyrr.bgp.constants import Origin
from pyrr.rib.bestpath import DEFAULT_LOCAL_PREF, local_pref, select
from pyrr.rib.path import Path, Source
from pyrr.rib.reason import Reason

from .factories import CONFED_SEQ, CONFED_SET, SEQ, SET, attrs, path, source


def best(*paths: Path) -> tuple[Path | None, Reason]:
    return select(list(paths))


def assert_all_orders(paths: list[Path], winner: Path, reason: Reason) -> None:
    for perm in permutations(paths):
        assert select(list(perm)) == (winner, reason), f"order {perm}"


# -- trivial -------------------------------------------------------------------------------


def test_no_paths() -> None:
    assert select([]) == (None, Reason.ONLY_PATH)


def test_single_path() -> None:
    p = path(source())
    assert select([p]) == (p, Reason.ONLY_PATH)


# -- LOCAL_PREF (RFC 4271 §9.1.1 / §9.1.2.1) -------------------------------------------------


def test_highest_local_pref_wins() -> None:
    # The low-LOCAL_PREF path would win every later step (shorter path, lower router id).
    lo = path(source("10.0.0.1"), attrs(local_pref=100))
    hi = path(source("10.0.0.2"), attrs(local_pref=200, as_path=[65001, 65002, 65003]))
    assert_all_orders([lo, hi], hi, Reason.LOCAL_PREF)


def test_missing_local_pref_counts_as_100() -> None:
    missing = path(source("10.0.0.2"), attrs(local_pref=None))
    below = path(source("10.0.0.1"), attrs(local_pref=99))
    above = path(source("10.0.0.3"), attrs(local_pref=101))
    assert local_pref(missing) == DEFAULT_LOCAL_PREF == 100
    assert_all_orders([missing, below], missing, Reason.LOCAL_PREF)
    assert_all_orders([missing, above], above, Reason.LOCAL_PREF)


def test_missing_local_pref_ties_with_100() -> None:
    missing = path(source("10.0.0.2"), attrs(local_pref=None))
    explicit = path(source("10.0.0.1"), attrs(local_pref=100, as_path=[65001]))
    # Equal LOCAL_PREF: the AS_PATH step decides, for the path without LOCAL_PREF.
    assert_all_orders([missing, explicit], missing, Reason.AS_PATH)


def test_local_pref_from_ebgp_source_is_ignored() -> None:
    # RFC 4271 §5.1.5: LOCAL_PREF is not sent to external peers; one that arrives anyway (the
    # decoder drops it, but the RIB must not trust it either) counts as the default.
    ext = source("192.0.2.9", asn=65001)
    ebgp = path(ext, attrs(local_pref=500, as_path=[65001]))
    assert local_pref(ebgp) == 100
    ibgp_150 = path(source("10.0.0.9"), attrs(local_pref=150, as_path=[65002]))
    assert_all_orders([ebgp, ibgp_150], ibgp_150, Reason.LOCAL_PREF)
    ibgp_100 = path(source("10.0.0.8"), attrs(local_pref=100, as_path=[65002]))
    # Tied at 100: decided much later, by eBGP over iBGP.
    assert_all_orders([ebgp, ibgp_100], ebgp, Reason.EBGP)


# -- AS_PATH length (RFC 4271 §9.1.2.2 a) ---------------------------------------------------


def test_shortest_as_path_wins() -> None:
    long_ = path(source("10.0.0.1"), attrs(as_path=[65001, 65002], origin=Origin.IGP))
    short = path(source("10.0.0.2"), attrs(as_path=[65003], origin=Origin.INCOMPLETE))
    assert_all_orders([long_, short], short, Reason.AS_PATH)


def test_as_set_counts_as_one() -> None:
    with_set = path(source("10.0.0.2"), attrs(as_path=((SEQ, (65001,)), (SET, (1, 2, 3, 4)))))
    three = path(source("10.0.0.1"), attrs(as_path=[65001, 65002, 65003]))
    assert_all_orders([with_set, three], with_set, Reason.AS_PATH)
    two = path(source("10.0.0.1"), attrs(as_path=[65001, 65005]))
    # Length 2 each: AS_PATH does not decide (same neighbour AS, no MED: router id does).
    assert_all_orders([with_set, two], two, Reason.ROUTER_ID)


def test_confederation_segments_count_zero() -> None:
    # RFC 5065 §5.3.
    confed = path(
        source("10.0.0.2"),
        attrs(as_path=((CONFED_SEQ, (65100, 65101, 65102)), (CONFED_SET, (7, 8)), (SEQ, (1,)))),
    )
    two = path(source("10.0.0.1"), attrs(as_path=[1, 2]))
    assert_all_orders([confed, two], confed, Reason.AS_PATH)


def test_empty_as_path_is_shortest() -> None:
    internal = path(source("10.0.0.2"), attrs(as_path=()))
    one = path(source("10.0.0.1"), attrs(as_path=[65001]))
    assert_all_orders([internal, one], internal, Reason.AS_PATH)


# -- ORIGIN (RFC 4271 §9.1.2.2 b) -----------------------------------------------------------


def test_lowest_origin_wins() -> None:
    igp = path(source("10.0.0.3"), attrs(origin=Origin.IGP))
    egp = path(source("10.0.0.2"), attrs(origin=Origin.EGP))
    inc = path(source("10.0.0.1"), attrs(origin=Origin.INCOMPLETE))
    assert_all_orders([igp, egp, inc], igp, Reason.ORIGIN)
    assert_all_orders([egp, inc], egp, Reason.ORIGIN)


# -- MED (RFC 4271 §9.1.2.2 c) --------------------------------------------------------------


def test_lowest_med_wins_within_one_neighbour_as() -> None:
    lo = path(source("10.0.0.2"), attrs(as_path=[65001], med=10))
    hi = path(source("10.0.0.1"), attrs(as_path=[65001], med=20))
    assert_all_orders([lo, hi], lo, Reason.MED)


def test_missing_med_is_lowest() -> None:
    # RFC 4271 §9.1.2.2 c: a missing MED is the lowest possible value.
    missing = path(source("10.0.0.2"), attrs(as_path=[65001]))
    five = path(source("10.0.0.1"), attrs(as_path=[65001], med=5))
    assert_all_orders([missing, five], missing, Reason.MED)


def test_med_compared_between_internal_routes() -> None:
    # Routes with an empty AS_PATH are all "from" our own AS and compare MED with each other.
    lo = path(source("10.0.0.2"), attrs(as_path=(), med=1))
    hi = path(source("10.0.0.1"), attrs(as_path=(), med=2))
    assert_all_orders([lo, hi], lo, Reason.MED)


def test_med_not_compared_across_neighbour_ases() -> None:
    big_med = path(source("10.0.0.1"), attrs(as_path=[65002], med=1000))
    small_med = path(source("10.0.0.2"), attrs(as_path=[65001], med=1))
    # MED would pick small_med; it must not be consulted: the router id picks big_med.
    assert_all_orders([big_med, small_med], big_med, Reason.ROUTER_ID)


def test_med_elimination_is_deterministic_for_a_non_transitive_trio() -> None:
    # Pairwise, these three form a cycle: B beats A on MED (same AS 65001), C beats B on
    # router id (different ASes), A beats C on router id. Elimination removes A at the MED
    # step first (against B only), then C beats B: the answer is C for every input order.
    a = path(source("10.0.0.1"), attrs(as_path=[65001], med=100))
    b = path(source("10.0.0.3"), attrs(as_path=[65001], med=50))
    c = path(source("10.0.0.2"), attrs(as_path=[65002], med=0))
    assert best(a, b) == (b, Reason.MED)
    assert best(b, c) == (c, Reason.ROUTER_ID)
    assert best(c, a) == (a, Reason.ROUTER_ID)
    assert_all_orders([a, b, c], c, Reason.ROUTER_ID)


def test_med_groups_by_neighbour_as_in_a_larger_set() -> None:
    a1 = path(source("10.0.0.1"), attrs(as_path=[65001], med=30))
    a2 = path(source("10.0.0.4"), attrs(as_path=[65001], med=20))
    b1 = path(source("10.0.0.2"), attrs(as_path=[65002], med=90))
    b2 = path(source("10.0.0.3"), attrs(as_path=[65002], med=80))
    # Survivors of the MED step: a2 (AS 65001) and b2 (AS 65002); router id: b2 (.3 < .4).
    assert_all_orders([a1, a2, b1, b2], b2, Reason.ROUTER_ID)


# -- eBGP over iBGP (RFC 4271 §9.1.2.2 d) ---------------------------------------------------


def test_ebgp_beats_ibgp() -> None:
    ext = source("10.0.0.9", asn=65001, router_id="10.0.0.9")
    ebgp = path(ext, attrs(local_pref=None, as_path=[65001]))
    ibgp = path(source("10.0.0.1"), attrs(local_pref=100, as_path=[65002]))
    assert_all_orders([ebgp, ibgp], ebgp, Reason.EBGP)


def test_ebgp_beats_ibgp_even_with_same_neighbour_as_and_equal_med() -> None:
    ext = source("10.0.0.9", asn=65001)
    ebgp = path(ext, attrs(local_pref=None, as_path=[65001], med=7))
    ibgp = path(source("10.0.0.1"), attrs(as_path=[65001], med=7))
    assert_all_orders([ebgp, ibgp], ebgp, Reason.EBGP)


# -- router id / ORIGINATOR_ID (RFC 4271 §9.1.2.2 f, RFC 4456 §9) ----------------------------


def test_lowest_router_id_wins() -> None:
    lo = path(source("10.0.0.9", router_id="1.1.1.1"))
    hi = path(source("10.0.0.1", router_id="2.2.2.2"))
    assert_all_orders([lo, hi], lo, Reason.ROUTER_ID)


def test_originator_id_replaces_router_id() -> None:
    # s1 has the lower router id, but its path was reflected to us with ORIGINATOR_ID 10.9.9.9,
    # which is what is compared (RFC 4456 §9).
    s1 = source("10.0.0.1", router_id="10.0.0.1")
    s2 = source("10.0.0.2", router_id="10.0.0.2")
    reflected = path(s1, attrs(originator_id="10.9.9.9", cluster_list=["1.2.3.4"]))
    direct = path(s2, attrs())
    assert_all_orders([reflected, direct], direct, Reason.ROUTER_ID)
    # And the other way: a low ORIGINATOR_ID beats a peer's own lower router id.
    s3 = source("10.0.0.3", router_id="10.0.0.3")
    low_orig = path(s3, attrs(originator_id="1.0.0.1"))
    assert_all_orders([low_orig, direct], low_orig, Reason.ROUTER_ID)


# -- CLUSTER_LIST (RFC 4456 §9) -------------------------------------------------------------


def test_shortest_cluster_list_wins() -> None:
    # Same ORIGINATOR_ID (one route reflected along two ways); the lower peer address has the
    # longer CLUSTER_LIST, so only the CLUSTER_LIST step can pick the other.
    two = ["1.1.1.1", "2.2.2.2"]
    longer = path(source("10.0.0.1"), attrs(originator_id="10.1.1.1", cluster_list=two))
    shorter = path(source("10.0.0.2"), attrs(originator_id="10.1.1.1", cluster_list=["3.3.3.3"]))
    assert_all_orders([longer, shorter], shorter, Reason.CLUSTER_LIST)


def test_no_cluster_list_beats_one() -> None:
    none = path(source("10.0.0.2"), attrs(originator_id="10.1.1.1"))
    one = path(source("10.0.0.1"), attrs(originator_id="10.1.1.1", cluster_list=["3.3.3.3"]))
    assert_all_orders([none, one], none, Reason.CLUSTER_LIST)


# -- peer address (RFC 4271 §9.1.2.2 g) -----------------------------------------------------


def test_lowest_peer_address_wins() -> None:
    a = path(source("10.0.0.2", router_id="9.9.9.9"))
    b = path(source("10.0.0.10", router_id="9.9.9.9"))
    assert_all_orders([a, b], a, Reason.PEER_ADDRESS)


def test_ipv4_peer_address_before_ipv6() -> None:
    # ::5 is numerically below 10.0.0.9, but IPv4 addresses sort first.
    v6 = path(source("::5", router_id="9.9.9.9"), attrs(originator_id="10.1.1.1"))
    v4 = path(source("10.0.0.9", router_id="8.8.8.8"), attrs(originator_id="10.1.1.1"))
    assert_all_orders([v6, v4], v4, Reason.PEER_ADDRESS)


def test_ipv6_peer_addresses_compare_by_value() -> None:
    a = path(source("2001:db8::2", router_id="9.9.9.9"))
    b = path(source("2001:db8::10", router_id="9.9.9.9"))
    assert_all_orders([a, b], a, Reason.PEER_ADDRESS)


# -- ADD-PATH path identifier (RFC 7911) ----------------------------------------------------


def test_lowest_path_id_wins() -> None:
    s = source("10.0.0.1")
    a = attrs()
    p2 = path(s, a, path_id=2)
    p1 = path(s, a, path_id=1)
    p7 = path(s, a, path_id=7)
    assert p1 is not p2
    assert_all_orders([p2, p1, p7], p1, Reason.PATH_ID)


# -- ordering property ----------------------------------------------------------------------

_SOURCES: list[Source] = [
    source("10.0.0.1"),
    source("10.0.0.2", router_id="10.0.0.1"),  # same router id as the first
    source("10.0.0.3", client=False),
    source("192.0.2.1", asn=65001),
    source("192.0.2.2", asn=65002, router_id="10.0.0.2"),
    source("2001:db8::1", router_id="10.0.0.1"),
]

_AS_PATHS = [
    (),
    ((SEQ, (65001,)),),
    ((SEQ, (65002,)),),
    ((SEQ, (65001, 65003)),),
    ((SEQ, (65002,)), (SET, (1, 2, 3))),
    ((CONFED_SEQ, (64600,)), (SEQ, (65001,))),
]

_path_spec = st.tuples(
    st.integers(0, len(_SOURCES) - 1),  # source
    st.integers(0, 2),  # path id
    st.sampled_from([None, 50, 100, 200]),  # LOCAL_PREF
    st.sampled_from(_AS_PATHS),
    st.sampled_from([Origin.IGP, Origin.EGP, Origin.INCOMPLETE]),
    st.sampled_from([None, 0, 10, 50]),  # MED
    st.sampled_from([None, "10.0.0.1", "10.0.0.5"]),  # ORIGINATOR_ID
    st.integers(0, 2),  # CLUSTER_LIST length
)


@settings(max_examples=300, deadline=None)
@given(
    specs=st.lists(_path_spec, min_size=1, max_size=7, unique_by=lambda s: (s[0], s[1])),
    data=st.data(),
)
def test_select_is_independent_of_candidate_order(
    specs: list[
        tuple[
            int,
            int,
            int | None,
            tuple[tuple[int, tuple[int, ...]], ...],
            int,
            int | None,
            str | None,
            int,
        ]
    ],
    data: st.DataObject,
) -> None:
    paths = [
        path(
            _SOURCES[si],
            attrs(
                local_pref=lp,
                as_path=ap,
                origin=origin,
                med=med,
                originator_id=orig,
                cluster_list=[f"172.16.0.{i}" for i in range(ncl)],
            ),
            path_id=pid,
        )
        for si, pid, lp, ap, origin, med, orig, ncl in specs
    ]
    winner, reason = select(paths)
    assert winner is not None
    # The winner has the highest LOCAL_PREF of all (the first step can never be undone).
    assert local_pref(winner) == max(local_pref(p) for p in paths)
    for _ in range(5):
        shuffled = data.draw(st.permutations(paths))
        assert select(shuffled) == (winner, reason)
