"""pyrr as route reflector between two BIRD 2 clients, checked from the BIRD side only.

Lab (one L2 segment, see tests/lab/netns.py)::

    rr  198.18.0.104 / 2001:db8::104   pyrr run --config pyrr.toml
    b1  198.18.0.101 / 2001:db8::101   BIRD 2: 10.10.1.0/26, 2001:db8:1001::/64
    b2  198.18.0.102 / 2001:db8::102   BIRD 2: 10.10.2.0/26, 2001:db8:1002::/64

Each BIRD host has two iBGP sessions to the RR, as a Calico node has: IPv4 unicast over
IPv4 and IPv6 unicast over IPv6 (see tests/lab/bird.py). pyrr is started through its CLI
contract, `pyrr run --config FILE`, from the repo's venv (override with PYRR_BIN).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.lab.bird import Bird2, Family, Neighbor, Route
from tests.lab.netns import GiveUp, Host, Lab, LabProcess, wait_until

pytestmark = pytest.mark.lab

REPO_ROOT = Path(__file__).resolve().parents[2]
ASN = 64512
TIMEOUT = 30.0

B1_V4, B1_V6 = "10.10.1.0/26", "2001:db8:1001::/64"
B2_V4, B2_V6 = "10.10.2.0/26", "2001:db8:1002::/64"


def pyrr_argv(config: Path) -> list[str]:
    """The command that starts pyrr; PYRR_BIN may name another executable (or "python -m")."""
    override = os.environ.get("PYRR_BIN")
    exe = shlex.split(override) if override else [str(REPO_ROOT / ".venv" / "bin" / "pyrr")]
    if not override and not Path(exe[0]).exists():
        pytest.fail(f"pyrr executable not found at {exe[0]}: run scripts/setup.sh")
    return [*exe, "run", "--config", str(config)]


def pyrr_config(rr: Host, clients: list[Host]) -> str:
    """pyrr's TOML: one [[peer]] per client address (one session per address family)."""
    lines = [
        "[bgp]",
        f"asn = {ASN}",
        f'router_id = "{rr.ip4}"',
        f'listen = ["{rr.ip4}", "{rr.ip6}"]',
        "port = 179",
    ]
    for c in clients:
        for addr in (c.ip4, c.ip6):
            lines += ["", "[[peer]]", f'address = "{addr}"', "client = true"]
    return "\n".join(lines) + "\n"


def start_pyrr(rr: Host, clients: list[Host]) -> LabProcess:
    cfg = rr.dir / "pyrr.toml"
    cfg.write_text(pyrr_config(rr, clients))
    return rr.popen(pyrr_argv(cfg), log="pyrr.log")


def alive(pyrr: LabProcess) -> None:
    """End any wait at once if pyrr has exited: the log says why, a timeout would not."""
    if not pyrr.alive():
        raise GiveUp(f"pyrr exited with status {pyrr.returncode}; its log:\n{pyrr.log_text()}")


def wait_for(pyrr: LabProcess, what: str, predicate: Callable[[], object]) -> None:
    def check() -> object:
        alive(pyrr)
        return predicate()

    wait_until(check, TIMEOUT, 0.25, what)


def wait_route(pyrr: LabProcess, bird: Bird2, table: str, prefix: str) -> Route:
    found: list[Route] = []

    def check() -> bool:
        routes = bird.routes(table)
        for r in routes:
            if r.prefix == prefix and r.primary:
                found.append(r)
                return True
        # Not there yet: what *is* there becomes the "last observed" of a timeout.
        raise LookupError(f"{table} of {bird.host.name} has {sorted(r.prefix for r in routes)}")

    wait_for(pyrr, f"{bird.host.name} to learn {prefix}", check)
    return found[-1]


def wait_gone(pyrr: LabProcess, bird: Bird2, family: Family, prefix: str) -> None:
    wait_for(
        pyrr, f"{bird.host.name} to drop {prefix}", lambda: prefix not in bird.prefixes(family)
    )


def established(pyrr: LabProcess, *birds: Bird2) -> None:
    def check() -> bool:
        states = {f"{b.host.name}/{p.name}": p.info for b in birds for p in b.bgp_protocols()}
        if len(states) != 2 * len(birds) or not all(
            i.startswith("Established") for i in states.values()
        ):
            raise LookupError(f"BGP sessions: {states}")  # shown if the wait times out
        return True

    wait_for(pyrr, "all BIRD sessions to the RR Established", check)


def test_pyrr_reflects_between_bird2_clients(lab: Lab) -> None:
    rr = lab.add_host("rr", "198.18.0.104/24", "2001:db8::104/64")
    h1 = lab.add_host("b1", "198.18.0.101/24", "2001:db8::101/64")
    h2 = lab.add_host("b2", "198.18.0.102/24", "2001:db8::102/64")

    pyrr = start_pyrr(rr, [h1, h2])
    b1 = Bird2(h1, [Neighbor(rr.ip4), Neighbor(rr.ip6)], [B1_V4, B1_V6], asn=ASN).start()
    b2 = Bird2(h2, [Neighbor(rr.ip4), Neighbor(rr.ip6)], [B2_V4, B2_V6], asn=ASN).start()

    # 1. Every session (2 per client) reaches Established.
    established(pyrr, b1, b2)

    # 2. Each client learns the other's prefixes, both families, reflected unchanged
    #    (next hop = the originating client, iBGP attributes kept) plus RFC 4456's
    #    ORIGINATOR_ID and CLUSTER_LIST (cluster id = the RR's router id by default).
    for me, other, v4, v6 in ((b1, h2, B2_V4, B2_V6), (b2, h1, B1_V4, B1_V6)):
        r4 = wait_route(pyrr, me, "master4", v4)
        assert r4.next_hop == other.ip4, r4
        assert r4.from_addr == rr.ip4 or r4.from_addr is None, r4
        assert r4.as_path == [] and r4.local_pref == 100 and r4.origin == "IGP", r4
        assert r4.originator_id == other.ip4, r4
        assert r4.cluster_list == [rr.ip4], r4
        r6 = wait_route(pyrr, me, "master6", v6)
        assert r6.next_hop == other.ip6, r6
        assert r6.originator_id == other.ip4, r6
        assert r6.cluster_list == [rr.ip4], r6
    # Nothing else is reflected: each table holds exactly the two clients' routes.
    assert b1.prefixes("ipv4") == {B1_V4, B2_V4}
    assert b1.prefixes("ipv6") == {B1_V6, B2_V6}

    # 3. A route removed on b1 is withdrawn from b2 (both families).
    b1.remove_route(B1_V4)
    b1.remove_route(B1_V6)
    wait_gone(pyrr, b2, "ipv4", B1_V4)
    wait_gone(pyrr, b2, "ipv6", B1_V6)
    # ... and announced again when re-added.
    b1.add_route(B1_V4)
    b1.add_route(B1_V6)
    wait_route(pyrr, b2, "master4", B1_V4)
    wait_route(pyrr, b2, "master6", B1_V6)

    # 4. Restarting b1's BIRD (clean stop: Cease to pyrr): sessions come back, b1 re-learns
    #    b2's routes, and b2 gets b1's routes again.
    b1.restart()
    established(pyrr, b1, b2)
    assert wait_route(pyrr, b1, "master4", B2_V4).next_hop == h2.ip4
    assert wait_route(pyrr, b1, "master6", B2_V6).next_hop == h2.ip6
    wait_route(pyrr, b2, "master4", B1_V4)
    wait_route(pyrr, b2, "master6", B1_V6)
    alive(pyrr)
