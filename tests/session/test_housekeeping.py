"""The RIB's housekeeping runs after a mass withdrawal, not during it: the peers are sent the
withdrawals at once, and the withdrawing peer's prefix list is compacted `TIDY_DELAY` later,
from the speaker's timer queue (tests/rib/test_loc_rib.py: what `tidy` does)."""

from __future__ import annotations

from pyrr.bgp.nlri import IPV4_UNICAST
from pyrr.rib.housekeeping import TIDY_DELAY

from ..rib.factories import decode_messages, update
from .harness import World


def test_mass_withdrawal_is_sent_first_and_tidied_a_moment_later() -> None:
    w = World()
    a, b = w.peer("10.0.0.1"), w.peer("10.0.0.2")
    ra, rb = w.up(a), w.up(b)
    prefixes = [f"10.{i // 256}.{i % 256}.0/24" for i in range(8000)]
    w.send(ra, update(prefixes))
    assert len(decode_messages(rb.take()).ann(IPV4_UNICAST)) == 8000
    sp = w.speaker
    assert sp.housekeeping.due is None  # announcements leave no work

    w.send(ra, update(withdraw=prefixes[:4000]))
    assert len(decode_messages(rb.take()).wd(IPV4_UNICAST)) == 4000  # sent at once
    listed = a.source.prefixes[IPV4_UNICAST]
    assert len(listed) == 8000 and sp.rib.untidy  # the work is left for later ...
    assert sp.housekeeping.due == w.now + TIDY_DELAY
    assert sp.next_timer() is not None and sp.next_timer() <= w.now + TIDY_DELAY

    w.advance(TIDY_DELAY / 2)
    assert sp.rib.untidy
    w.advance(TIDY_DELAY / 2)  # ... and done on time
    assert not sp.rib.untidy and sp.housekeeping.due is None
    assert len(a.source.prefixes[IPV4_UNICAST]) == 4000 == a.source.counts[IPV4_UNICAST]
    assert w.has(prefixes[-1]) and not w.has(prefixes[0])
