"""calico-node 3.2x's BIRD configuration as tests/lab/confd.py renders it: BIRD 1.6 parses it
(`bird -p`), and the lines that decide a session are the ones confd 3.29 writes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .bird import BIRD16_DIR
from .confd import BGPFilter, CalicoPeer, ConfdNode, FilterRule, render

REJECT_99 = BGPFilter(
    "no-10-10-99",
    import_v4=(FilterRule("Reject", "10.10.99.0/26", "Equal"),),
    export_v6=(FilterRule("Accept", "2001:db8:1000::/36", "In"), FilterRule("Reject")),
)


def node(family: str, **kw: object) -> ConfdNode:
    v4 = family == "ipv4"
    defaults: dict[str, object] = {
        "name": "node1",
        "family": family,
        "router_id": "198.18.0.101",
        "node_ip": "198.18.0.101" if v4 else "2001:db8::101",
        "asn": 61234,
        "blocks": ["10.10.1.0/26"] if v4 else ["2001:db8:1001::/122"],
        "pools": ["10.10.0.0/16"] if v4 else ["2001:db8:1000::/36"],
        "static_routes": ["198.19.96.0/24", "198.19.96.10/32"] if v4 else [],
        "reject_cidrs": ["198.19.96.0/24"] if v4 else [],
        "filters": [REJECT_99],
    }
    defaults.update(kw)
    return ConfdNode(**defaults)  # type: ignore[arg-type]


def bird_parses(text: str, family: str, tmp_path: Path) -> None:
    exe = BIRD16_DIR / "usr" / "sbin" / ("bird" if family == "ipv4" else "bird6")
    if not exe.exists():
        pytest.fail(f"BIRD 1.6 not found at {exe}: run scripts/setup.sh", pytrace=False)
    conf = tmp_path / f"{family}.conf"
    conf.write_text(text)
    cp = subprocess.run(
        [str(exe), "-p", "-c", str(conf)], capture_output=True, text=True, timeout=15, check=False
    )
    assert cp.returncode == 0, f"{cp.stdout}{cp.stderr}\n{text}"


def block(text: str, protocol: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index(f"protocol bgp {protocol} from bgp_template {{")
    return [line.strip() for line in lines[start : lines.index("}", start)]]


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_selector_peerings_with_every_setting_parse(family: str, tmp_path: Path) -> None:
    rr1, rr2 = (
        ("198.18.0.104", "198.18.0.105") if family == "ipv4" else ("2001:db8::104", "2001:db8::105")
    )
    n = node(
        family,
        peers=[
            CalicoPeer(rr1, ttl_security=1, filters=("no-10-10-99",), rr_cluster_id="224.0.0.1"),
            CalicoPeer(rr2, password="s3cret", restart_time=120),
        ],
    )
    text = render(n)
    bird_parses(text, family, tmp_path)
    name1 = "Node_" + rr1.replace(".", "_").replace(":", "_")
    first = block(text, name1)
    assert first[1:3] == ["ttl security on;", "multihop 1;"]
    assert f"neighbor {rr1} as 61234;" in first
    fn = "'bgp_no-10-10-99_importFilterV4'();" if family == "ipv4" else None
    assert (fn in first) if fn else not any("importFilter" in line for line in first)
    # A client node (no cluster id of its own) writes no `rr client`.
    assert not any("rr client" in line for line in first)
    second = block(text, "Node_" + rr2.replace(".", "_").replace(":", "_"))
    assert second[1:3] == ["ttl security off;", "multihop;"]
    assert 'password "s3cret";' in second and "graceful restart time 120;" in second


def test_a_reflector_node_global_peers_and_ebgp(tmp_path: Path) -> None:
    n = node(
        "ipv4",
        cluster_id="224.0.0.1",
        peers=[
            CalicoPeer("198.18.0.102"),  # a client
            CalicoPeer("198.18.0.105", rr_cluster_id="224.0.0.1"),  # a reflector of ours
            CalicoPeer("198.18.0.1", asn=65001, section="Global", keep_next_hop=True, port=1179),
            CalicoPeer("198.18.0.110", section="Global", calico_node=True),
        ],
    )
    text = render(n)
    bird_parses(text, "ipv4", tmp_path)
    assert block(text, "Node_198_18_0_102")[-2:] == ["rr client;", "rr cluster id 224.0.0.1;"]
    assert not any("rr client" in line for line in block(text, "Node_198_18_0_105"))
    tor = block(text, "Global_198_18_0_1_port_1179")
    assert "neighbor 198.18.0.1 port 1179 as 65001;" in tor and "next hop keep;" in tor
    assert "calico_export_to_bgp_peers(false);" in tor
    assert any(line.startswith("passive on;") for line in block(text, "Global_198_18_0_110"))
