"""The Loc-RIB's candidate-change reports (for RFC 7911 ADD-PATH groups): off by default, so
best-path receivers see exactly the changes they saw before; on, every change of a prefix's
candidate set comes out, a change that keeps the best path as (family, prefix, best, best)."""

from __future__ import annotations

from pyrr.bgp.nlri import IPV4_UNICAST
from pyrr.rib.loc_rib import Rib
from pyrr.rib.path import Path, Source

from .factories import attrs, pfx, source, update

NO_AP: frozenset[tuple[int, int]] = frozenset()
P = "10.96.0.10/32"


def adj(src: Source) -> Path:
    """The source's route to P: its one path (each source here announces P alone)."""
    (p,) = src.interned.values()
    return p


def three() -> tuple[Rib, Source, Source, Source]:
    rib = Rib()
    a, b, c = source("10.0.0.1"), source("10.0.0.2"), source("10.0.0.3")
    rib.apply_update(a, update([P], attrs(local_pref=300)), NO_AP)
    rib.apply_update(b, update([P], attrs(local_pref=200)), NO_AP)
    return rib, a, b, c


def test_without_reporting_only_best_path_changes_come_out() -> None:
    rib, a, b, c = three()
    assert not rib.report_candidates
    # A worse candidate arrives, changes, and goes: the best path never moves.
    assert rib.apply_update(c, update([P], attrs(local_pref=100)), NO_AP) == []
    assert rib.apply_update(c, update([P], attrs(local_pref=150)), NO_AP) == []
    assert rib.apply_update(b, update([], withdraw=[P]), NO_AP) == []
    assert rib.apply_update(c, update([], withdraw=[P]), NO_AP) == []
    # The best path's own changes are reported as before.
    best = adj(a)
    ch = rib.apply_update(a, update([], withdraw=[P]), NO_AP)
    assert ch == [(IPV4_UNICAST, pfx(P), best, None)]
    assert rib.lookup(IPV4_UNICAST, pfx(P)) is None
    assert best.refs == 0


def test_reporting_shows_every_candidate_change_with_the_best_unchanged() -> None:
    rib, a, b, c = three()
    rib.report_candidates = True
    best = adj(a)
    key = pfx(P)
    # A third candidate (not best): reported with old is new.
    assert rib.apply_update(c, update([P], attrs(local_pref=100)), NO_AP) == [
        (IPV4_UNICAST, key, best, best)
    ]
    # A non-best candidate's attributes change (implicit withdraw).
    assert rib.apply_update(c, update([P], attrs(local_pref=150)), NO_AP) == [
        (IPV4_UNICAST, key, best, best)
    ]
    # Two candidates left, then one (the Dest collapses to the Path itself).
    assert rib.apply_update(c, update([], withdraw=[P]), NO_AP) == [(IPV4_UNICAST, key, best, best)]
    assert rib.apply_update(b, update([], withdraw=[P]), NO_AP) == [(IPV4_UNICAST, key, best, best)]
    entry = rib.lookup(IPV4_UNICAST, key)
    assert entry is best
    # Nothing changes: nothing is reported (the same attributes again).
    assert rib.apply_update(a, update([P], attrs(local_pref=300)), NO_AP) == []
    # Withdrawing what was never announced reports nothing either.
    assert rib.apply_update(c, update([], withdraw=[P]), NO_AP) == []


def test_reporting_keeps_best_path_changes_as_they_were() -> None:
    rib, a, b, _c = three()
    rib.report_candidates = True
    old, second = adj(a), adj(b)
    ch = rib.apply_update(a, update([], withdraw=[P]), NO_AP)
    assert ch == [(IPV4_UNICAST, pfx(P), old, second)]
    ch = rib.drop_source(b)
    assert ch == [(IPV4_UNICAST, pfx(P), second, None)]
