"""Calico's IPPool disableBGPExport, changed while pyrr runs: what the no-export prefixes now
cover is withdrawn from every peer, and what they no longer cover is sent again."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import ip_network

from pyrr.bgp.nlri import IPV4_UNICAST

from ..rib.factories import decode_messages, update
from .harness import World


def test_no_export_prefixes_apply_at_once_both_ways() -> None:
    w = World()
    a, b = w.peer("10.0.0.1"), w.peer("10.0.0.2")
    ra, rb = w.up(a), w.up(b)
    w.send(ra, update(["10.1.0.0/24", "10.1.1.0/24", "10.2.0.0/24"]))
    assert decode_messages(rb.take()).ann(IPV4_UNICAST) == {
        "10.1.0.0/24",
        "10.1.1.0/24",
        "10.2.0.0/24",
    }
    sp = w.speaker
    pool = (ip_network("10.1.0.0/16"),)
    sp.reconfigure(replace(sp.config, bgp=replace(sp.config.bgp, no_export=pool)), w.now)
    w.pump()
    d = decode_messages(rb.take())
    assert d.wd(IPV4_UNICAST) == {"10.1.0.0/24", "10.1.1.0/24"} and not d.ann()
    # Still in the RIB (pyrr keeps what it learns), only no longer sent.
    assert w.has("10.1.0.0/24")
    w.send(ra, update(["10.1.2.0/24", "10.3.0.0/24"]))
    assert decode_messages(rb.take()).ann(IPV4_UNICAST) == {"10.3.0.0/24"}
    sp.reconfigure(replace(sp.config, bgp=replace(sp.config.bgp, no_export=())), w.now)
    w.pump()
    d = decode_messages(rb.take())
    assert d.ann(IPV4_UNICAST) == {"10.1.0.0/24", "10.1.1.0/24", "10.1.2.0/24"}
    assert not d.wd()
