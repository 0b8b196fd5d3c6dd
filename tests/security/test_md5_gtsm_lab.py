"""TCP MD5 (RFC 2385) and GTSM (RFC 5082) between pyrr and real BIRD 2 / FRR, in the lab.

Lab (one L2 segment, tests/lab/netns.py); pyrr runs as `pyrr run --config FILE` in `rr`.

MD5: b1 (BIRD 2, an IPv4 and an IPv6 session) and f1 (FRR) use pyrr's password and come up;
b3 (BIRD 2, passive) uses it too, so only pyrr's own signed dial can bring it up; b2 (BIRD 2)
uses another password and never comes up, while pyrr logs nothing worse than warnings.

GTSM: g1 (BIRD 2, `ttl security on`, one hop: `direct`) comes up over IPv4 and IPv6; g2 (BIRD 2
without GTSM, so it sends TTL 64 as iBGP multihop does) against pyrr's `ttl_security = 1`
never does; g3 (neither side uses GTSM) is not affected by its neighbours' setting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pyrr.control.server import request
from tests.interop.test_bird2 import pyrr_argv
from tests.lab.bird import Bird2, Neighbor
from tests.lab.frr import Frr, frr_available
from tests.lab.netns import GiveUp, Host, Lab, LabProcess, wait_until

pytestmark = pytest.mark.lab

ASN = 64512
PASSWORD = "correct-horse-battery"  # one word: FRR takes no quotes
NEVER_WINDOW = 8.0  # how long a session that must not come up is watched after the others


def start_pyrr(rr: Host, peers: list[str]) -> tuple[LabProcess, Path]:
    lines = [
        "[bgp]",
        f"asn = {ASN}",
        f'router_id = "{rr.ip4}"',
        f'listen = ["{rr.ip4}", "{rr.ip6}"]',
        "connect_retry = 2",
    ]
    for block in peers:
        lines += ["", "[[peer]]", block]
    cfg = rr.dir / "pyrr.toml"
    cfg.write_text("\n".join(lines) + "\n")
    sock = rr.dir / "pyrr.sock"
    proc = rr.popen([*pyrr_argv(cfg), "--control-socket", str(sock)], log="pyrr.log")
    return proc, sock


def pyrr_states(sock: Path) -> dict[str, str]:
    return {p["address"]: p["state"] for p in request(str(sock), {"cmd": "status"})["peers"]}


def wait_pyrr(
    pyrr: LabProcess, what: str, predicate: Callable[[], object], timeout: float = 40.0
) -> None:
    def check() -> object:
        if not pyrr.alive():
            raise GiveUp(f"pyrr exited ({pyrr.returncode}):\n{pyrr.log_text()}")
        return predicate()

    wait_until(check, timeout, 0.25, what)


def assert_never_established(pyrr: LabProcess, sock: Path, bird: Bird2, address: str) -> None:
    """Neither side reports the session Established during NEVER_WINDOW seconds."""
    end = time.monotonic() + NEVER_WINDOW
    while time.monotonic() < end:
        assert pyrr.alive(), pyrr.log_text()
        assert pyrr_states(sock)[address] != "Established", f"{address} came up"
        assert not any(p.established for p in bird.bgp_protocols()), f"{address} came up"
        time.sleep(0.5)


def assert_log_clean(pyrr: LabProcess) -> None:
    log = pyrr.log_text()
    assert "Traceback" not in log, log
    assert '"level": "error"' not in log and '"level": "critical"' not in log, log


def test_md5_with_bird2_and_frr(lab: Lab) -> None:
    reason = frr_available()
    if reason is not None:
        pytest.fail(f"this test needs FRR: {reason}")
    rr = lab.add_host("rr", "198.18.0.104/24", "2001:db8::104/64")
    b1 = lab.add_host("b1", "198.18.0.101/24", "2001:db8::101/64")
    b2 = lab.add_host("b2", "198.18.0.102/24", "2001:db8::102/64")
    b3 = lab.add_host("b3", "198.18.0.103/24", "2001:db8::103/64")
    f1 = lab.add_host("f1", "198.18.0.105/24", "2001:db8::105/64")
    key = f'password = "{PASSWORD}"'
    pyrr, sock = start_pyrr(
        rr,
        [
            f'address = "{b1.ip4}"\n{key}',
            f'address = "{b1.ip6}"\n{key}',
            f'address = "{b2.ip4}"\n{key}',
            f'address = "{b3.ip4}"\n{key}',
            f'address = "{f1.ip4}"\n{key}',
        ],
    )
    bird1 = Bird2(
        b1,
        [Neighbor(rr.ip4, password=PASSWORD), Neighbor(rr.ip6, password=PASSWORD)],
        ["10.10.1.0/26", "2001:db8:1001::/64"],
    ).start()
    bird2 = Bird2(b2, [Neighbor(rr.ip4, password="wrong-horse-battery")], ["10.10.2.0/26"]).start()
    bird3 = Bird2(b3, [Neighbor(rr.ip4, password=PASSWORD, passive=True)], ["10.10.3.0/26"]).start()
    frr = Frr.client(f1, rr.ip4, ["10.10.5.0/26"], families=("ipv4",), password=PASSWORD).start()

    bird1.wait_established(timeout=40)
    bird3.wait_established(timeout=40)  # passive: pyrr dialled it, signed
    frr.wait_established(timeout=40)
    wait_pyrr(
        pyrr,
        "pyrr: the signed sessions Established",
        lambda: all(
            pyrr_states(sock)[a] == "Established" for a in (b1.ip4, b1.ip6, b3.ip4, f1.ip4)
        ),
    )
    # Routes flow over the signed sessions (reflected between BIRD and FRR).
    wait_pyrr(pyrr, "b1 learns b3's and f1's routes",
              lambda: {"10.10.3.0/26", "10.10.5.0/26"} <= bird1.prefixes("ipv4"))  # fmt: skip
    wait_pyrr(pyrr, "f1 learns b1's route", lambda: "10.10.1.0/26" in frr.prefixes("ipv4"))
    # The wrong password: no connection either way, and nothing crashy in pyrr's log.
    assert_never_established(pyrr, sock, bird2, b2.ip4)
    assert "10.10.2.0/26" not in bird1.prefixes("ipv4")
    assert_log_clean(pyrr)


def test_gtsm_with_bird2(lab: Lab) -> None:
    rr = lab.add_host("rr", "198.18.0.104/24", "2001:db8::104/64")
    g1 = lab.add_host("g1", "198.18.0.101/24", "2001:db8::101/64")
    g2 = lab.add_host("g2", "198.18.0.102/24", "2001:db8::102/64")
    g3 = lab.add_host("g3", "198.18.0.103/24", "2001:db8::103/64")
    gtsm = "ttl_security = 1"
    pyrr, sock = start_pyrr(
        rr,
        [
            f'address = "{g1.ip4}"\n{gtsm}',
            f'address = "{g1.ip6}"\n{gtsm}',
            f'address = "{g2.ip4}"\n{gtsm}',
            f'address = "{g3.ip4}"',
        ],
    )
    # BIRD's GTSM on an iBGP session: `direct` makes it one hop (minimum TTL 255), as pyrr's
    # ttl_security = 1 is.
    bird_gtsm = "ttl security on;\ndirect;"
    bird1 = Bird2(
        g1,
        [Neighbor(rr.ip4, extra=bird_gtsm), Neighbor(rr.ip6, extra=bird_gtsm)],
        ["10.10.1.0/26", "2001:db8:1001::/64"],
    ).start()
    bird2 = Bird2(g2, [Neighbor(rr.ip4)], ["10.10.2.0/26"]).start()
    bird3 = Bird2(g3, [Neighbor(rr.ip4)], ["10.10.3.0/26"]).start()

    bird1.wait_established(timeout=40)
    bird3.wait_established(timeout=40)
    wait_pyrr(
        pyrr,
        "pyrr: g1 (GTSM, both families) and g3 (plain) Established",
        lambda: all(pyrr_states(sock)[a] == "Established" for a in (g1.ip4, g1.ip6, g3.ip4)),
    )
    wait_pyrr(pyrr, "g1 learns g3's route", lambda: "10.10.3.0/26" in bird1.prefixes("ipv4"))
    # TTL 64 from g2 (iBGP multihop without GTSM) never passes pyrr's minimum of 255.
    assert_never_established(pyrr, sock, bird2, g2.ip4)
    assert "10.10.2.0/26" not in bird1.prefixes("ipv4")
    assert_log_clean(pyrr)
