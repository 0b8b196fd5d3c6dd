"""A peer's Adj-RIB-In as a station gets it (RFC 7854 §5): read off the Loc-RIB's candidates,
stale routes included, with the path identifiers a peer that sends ADD-PATH used."""

from __future__ import annotations

from pyrr.bgp.nlri import IPV4_UNICAST, IPV6_UNICAST
from pyrr.monitor.tables import adj_rib_in_updates
from pyrr.rib.loc_rib import Rib

from ..rib.factories import decode_messages, pfx, source, update, update_keys, with_path_id

AP = frozenset({IPV4_UNICAST})
BOTH = (IPV4_UNICAST, IPV6_UNICAST)


def test_plain_peer_table_holds_its_own_paths_and_stale_ones_then_end_of_rib() -> None:
    rib, a, b = Rib(), source("10.0.0.1"), source("10.0.0.2")
    rib.apply_update(a, update(["10.1.0.0/24", "10.1.1.0/24"]), frozenset())
    rib.apply_update(b, update(["10.1.0.0/24", "10.2.0.0/24"]), frozenset())
    rib.mark_stale(a)  # a restarting peer's routes are still its Adj-RIB-In
    rib.apply_update(a, update(["10.3.0.0/24"]), frozenset())
    d = decode_messages(adj_rib_in_updates(rib, a, BOTH, frozenset(), False))
    assert d.ann(IPV4_UNICAST) == {"10.1.0.0/24", "10.1.1.0/24", "10.3.0.0/24"}
    assert d.end_of_rib == [IPV4_UNICAST, IPV6_UNICAST]


def test_add_path_peer_table_carries_the_received_path_ids() -> None:
    rib, a = Rib(), source("10.0.0.1")
    keys = [with_path_id(7, pfx("10.1.0.0/24")), with_path_id(9, pfx("10.1.0.0/24"))]
    rib.apply_update(a, update_keys(IPV4_UNICAST, keys), AP)
    msgs = adj_rib_in_updates(rib, a, (IPV4_UNICAST,), AP, False)
    d = decode_messages(msgs, (IPV4_UNICAST,), add_path_rx=AP)
    nlri = [k for u in d.updates for _f, _nh, ks in u.announced for k in ks]
    assert sorted(nlri) == sorted(keys)
