"""An UPDATE through a peer's import rules: what passes unchanged, what is withdrawn (rejected),
what enters changed; path ids in front of ADD-PATH prefixes are not part of the prefix."""

from __future__ import annotations

from ipaddress import ip_network

from pyrr.bgp.constants import AttrCode
from pyrr.bgp.nlri import IPV4_UNICAST, IPV6_UNICAST
from pyrr.config import FilterAction, FilterOperation, FilterRule, MatchOperator, RouteFilter
from pyrr.export.import_filter import filter_update, import_matchers

from ..rib.factories import attrs, pfx, update, update_keys, with_path_id

TAG = (FilterOperation(add_community=(65000, 1)),)
RULES = (
    FilterRule(
        action=FilterAction.REJECT,
        cidr=ip_network("10.244.0.0/16"),
        match_operator=MatchOperator.IN,
    ),
    FilterRule(
        action=FilterAction.ACCEPT,
        cidr=ip_network("10.96.0.0/12"),
        match_operator=MatchOperator.IN,
        operations=TAG,
    ),
)
FILTERS = (RouteFilter("f", import_v4=RULES, export_v6=RULES),)


def test_matchers_per_family_with_rules() -> None:
    m = import_matchers(FILTERS)
    assert set(m) == {IPV4_UNICAST}
    assert import_matchers(FILTERS) is m  # compiled once
    assert import_matchers(()) == {}


def test_split_into_kept_withdrawn_and_changed() -> None:
    upd = update(
        ["10.244.1.0/26", "10.96.0.10/32", "10.1.0.0/24", "2001:db8::/64"],
        withdraw=["10.2.0.0/24"],
    )
    base, changed = filter_update(upd, import_matchers(FILTERS), True, frozenset())
    assert base.attrs is upd.attrs
    assert {(f, tuple(k)) for f, _h, k in base.announced} == {
        (IPV4_UNICAST, (pfx("10.1.0.0/24"),)),
        (IPV6_UNICAST, (pfx("2001:db8::/64"),)),
    }
    assert base.withdrawn == [
        (IPV4_UNICAST, [pfx("10.2.0.0/24")]),
        (IPV4_UNICAST, [pfx("10.244.1.0/26")]),
    ]
    assert changed.announced == [(IPV4_UNICAST, upd.announced[0][1], [pfx("10.96.0.10/32")])]
    assert changed.attrs is not None
    assert changed.attrs.get(AttrCode.COMMUNITIES) == bytes.fromhex("fde80001")


def test_nothing_filtered_is_the_same_update() -> None:
    upd = update(["10.1.0.0/24"])
    assert filter_update(upd, import_matchers(FILTERS), True, frozenset()) == [upd]
    wd = update(withdraw=["10.244.1.0/26"])
    assert filter_update(wd, import_matchers(FILTERS), True, frozenset()) == [wd]


def test_add_path_keys_are_matched_on_the_prefix() -> None:
    keys = [with_path_id(7, pfx("10.244.1.0/26")), with_path_id(8, pfx("10.1.0.0/24"))]
    upd = update_keys(IPV4_UNICAST, keys, attrs())
    (base,) = filter_update(upd, import_matchers(FILTERS), True, frozenset({IPV4_UNICAST}))
    assert base.withdrawn == [(IPV4_UNICAST, [keys[0]])]
    assert base.announced[0][2] == [keys[1]]
