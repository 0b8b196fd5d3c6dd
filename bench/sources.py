"""Sources for the in-process benchmarks: peer i at 127.1.(i/250).(i%250+1), router id i+1."""

from __future__ import annotations

from ipaddress import ip_address

from pyrr.rib.path import Source


def source(i: int) -> Source:
    addr = f"127.1.{i // 250}.{i % 250 + 1}"
    s = Source(addr, ip_address(addr), 64512, True, True)
    s.router_id = i + 1
    return s
