"""Prometheus metrics: scraped over HTTP from a speaker with simulated Calico nodes, and from
`pyrr run --metrics` / `[control] metrics` as an operator starts it."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pyrr.bgp.constants import State
from pyrr.bgp.events import UpdateReceived
from pyrr.control.metrics import MetricsServer
from pyrr.store.limits import parse_host_port
from pyrr.transport.host import Host

from .ops.daemon import PYRR_BIN, pyrr_env, running, write_config
from .peer_sim import SimPeer, free_port, wait_for
from .test_speaker import ASN, client, make_config, run

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    assert key in samples, f"{name}{labels} not in {sorted(k for k, _ in samples)[:50]}"
    return samples[key]


def names(samples: Iterable[tuple[str, frozenset[tuple[str, str]]]]) -> set[str]:
    return {n for n, _ in samples}


def scrape(url: str, accept: str | None = None) -> tuple[int, str, str]:
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read().decode()


def test_two_peers_established_and_their_prefixes() -> None:
    async def go() -> None:
        port = free_port()
        addrs = ["127.0.4.1", "127.0.4.2"]
        sp = Host(make_config(port, [client(a) for a in addrs]), asyncio.get_running_loop())
        await sp.start()
        mport = free_port()
        metrics = MetricsServer(sp, f"127.0.0.1:{mport}")
        await metrics.start()
        url = f"http://127.0.0.1:{mport}/metrics"
        try:
            # Before any peer is up: configured, not established.
            code, _ctype, body = await asyncio.to_thread(scrape, url)
            assert code == 200
            s = parse(body)
            for a in addrs:
                assert value(s, "pyrr_peer_up", peer=a, type="client") == 0
                assert value(s, "pyrr_peer_state", peer=a, type="client") == State.ACTIVE
            sims = [SimPeer(a, ASN, ("127.0.0.1", port)) for a in addrs]
            for sim in sims:
                await sim.connect()
            await wait_for(lambda: all(x.state == State.ESTABLISHED for x in sims), what="up")
            sims[0].announce(["10.10.1.0/26", "10.10.2.0/26", "10.10.3.0/26"])
            sims[1].announce(["10.10.9.0/26", "2001:db8:9::/64"])
            for sim in sims:
                sim.send_eor()
            await wait_for(
                lambda: len(sims[1].prefixes()) == 3 and len(sims[0].prefixes()) == 1,
                what="reflection",
            )
            await wait_for(
                lambda: all(len(p.eor_at) == 2 for p in sp.speaker.peers.values()), what="EoR"
            )

            code, ctype, body = await asyncio.to_thread(scrape, url)
            assert code == 200
            assert ctype.startswith("text/plain; version=0.0.4")
            s = parse(body)
            a, b = addrs
            for peer in addrs:
                assert value(s, "pyrr_peer_state", peer=peer, type="client") == State.ESTABLISHED
                assert value(s, "pyrr_peer_up", peer=peer, type="client") == 1
                assert value(s, "pyrr_peer_uptime_seconds", peer=peer, type="client") >= 0
                assert value(s, "pyrr_peer_messages_received_total", peer=peer, type="client") >= 3
                assert value(s, "pyrr_peer_flaps_total", peer=peer, type="client") == 0
                for fam in ("ipv4-unicast", "ipv6-unicast"):
                    conv = value(
                        s, "pyrr_peer_convergence_seconds", peer=peer, type="client", family=fam
                    )
                    assert 0 <= conv < 10
            # What pyrr says it sent is what each peer's own session read off the wire: every
            # message, the UPDATEs fanned out past the session (tables, changes, End-of-RIB)
            # included. (Nothing is in flight: reflection and End-of-RIB were waited for.)
            for peer, sim in zip(addrs, sims, strict=True):
                assert sim.conn is not None
                got = sim.conn.session
                updates = sum(1 for e in sim.events if isinstance(e, UpdateReceived))
                assert value(s, "pyrr_peer_messages_sent_total", peer=peer, type="client") == (
                    got.messages_in
                )
                assert value(s, "pyrr_peer_updates_sent_total", peer=peer, type="client") == (
                    updates
                )
                assert updates >= 3  # the other's routes and two End-of-RIBs, at least
            v4, v6 = "ipv4-unicast", "ipv6-unicast"
            assert value(s, "pyrr_peer_prefixes_received", peer=a, type="client", family=v4) == 3
            assert value(s, "pyrr_peer_prefixes_received", peer=b, type="client", family=v4) == 1
            assert value(s, "pyrr_peer_prefixes_received", peer=b, type="client", family=v6) == 1
            # Each is sent what the other announced, never its own routes.
            assert value(s, "pyrr_peer_prefixes_sent", peer=a, type="client", family=v4) == 1
            assert value(s, "pyrr_peer_prefixes_sent", peer=a, type="client", family=v6) == 1
            assert value(s, "pyrr_peer_prefixes_sent", peer=b, type="client", family=v4) == 3
            assert value(s, "pyrr_peer_prefixes_sent", peer=b, type="client", family=v6) == 0
            assert value(s, "pyrr_peer_updates_received_total", peer=a, type="client") == 3
            assert value(s, "pyrr_rib_prefixes", family=v4) == 4
            assert value(s, "pyrr_rib_prefixes", family=v6) == 1
            assert value(s, "pyrr_peers") == 2
            assert value(s, "pyrr_peers_established") == 2
            assert value(s, "pyrr_update_groups") == 1
            assert value(s, "pyrr_update_group_members") == 2
            assert value(s, "pyrr_updates_queued") == 0
            assert value(s, "pyrr_rejected_connections_total") == 0
            assert value(s, "pyrr_uptime_seconds") > 0
            info = [k for k in s if k[0] == "pyrr_info"]
            assert len(info) == 1 and ("router_id", "127.0.0.1") in info[0][1]
            # The process collector: memory, CPU, file descriptors.
            assert value(s, "process_resident_memory_bytes") > 10_000_000
            assert "process_open_fds" in names(s)

            # A session that goes down: state, flap, prefixes gone.
            sims[1].close()
            await wait_for(lambda: sp.speaker.peers[b].state != State.ESTABLISHED, what="down")
            s = parse((await asyncio.to_thread(scrape, url))[2])
            assert value(s, "pyrr_peer_up", peer=b, type="client") == 0
            assert value(s, "pyrr_peer_flaps_total", peer=b, type="client") == 1
            assert value(s, "pyrr_peer_uptime_seconds", peer=b, type="client") == 0
            assert value(s, "pyrr_peers_established") == 1
            assert ("pyrr_peer_prefixes_received", frozenset(
                {("peer", b), ("type", "client"), ("family", v4)})) not in s  # fmt: skip
            assert value(s, "pyrr_rib_prefixes", family=v4) == 3
            sims[0].close()
        finally:
            await metrics.stop()
            await sp.stop()

    run(go)


def test_http_details() -> None:
    async def go() -> None:
        sp = Host(make_config(free_port(), []), asyncio.get_running_loop())
        await sp.start()
        mport = free_port()
        metrics = MetricsServer(sp, f"127.0.0.1:{mport}")
        await metrics.start()
        base = f"http://127.0.0.1:{mport}"
        try:
            code, _, body = await asyncio.to_thread(scrape, base + "/")
            assert code == 200 and "/metrics" in body
            code, _, _ = await asyncio.to_thread(scrape, base + "/nope")
            assert code == 404
            code, ctype, body = await asyncio.to_thread(
                scrape, base + "/metrics?x=1", "application/openmetrics-text; version=1.0.0"
            )
            assert code == 200 and ctype.startswith("application/openmetrics-text")
            assert body.rstrip().endswith("# EOF")
            # A client that connects and says nothing is dropped; the server keeps serving.
            _r, w = await asyncio.open_connection("127.0.0.1", mport)
            w.write(b"GARBAGE\r\n\r\n")
            await w.drain()
            code, _, _ = await asyncio.to_thread(scrape, base + "/metrics")
            assert code == 200
            w.close()
        finally:
            await metrics.stop()
            await sp.stop()

    run(go)


def test_parse_host_port() -> None:
    assert parse_host_port("127.0.0.1:9179") == ("127.0.0.1", 9179)
    assert parse_host_port("[::1]:9179") == ("::1", 9179)
    assert parse_host_port("0.0.0.0:1") == ("0.0.0.0", 1)
    for bad in ("", "9179", ":9179", "127.0.0.1", "::1:9179", "[127.0.0.1]:1", "localhost:9179",
                "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:+1", "127.0.0.1:٣"):  # fmt: skip
        with pytest.raises(ValueError):
            parse_host_port(bad)


def test_pyrr_run_metrics_flag_overrides_the_config(tmp_path: Path) -> None:
    from_config, from_flag = free_port(), free_port()
    cfg = write_config(
        tmp_path / "rr.toml",
        free_port(),
        peers=["127.0.4.9"],
        extra=f'[control]\nmetrics = "127.0.0.1:{from_config}"\n',
    )
    sock = tmp_path / "pyrr.sock"
    argv = [str(PYRR_BIN), "run", "--config", str(cfg), "--metrics", f"127.0.0.1:{from_flag}"]
    with running(argv, pyrr_env(tmp_path), tmp_path / "pyrr.log", sock) as daemon:
        code, _, body = scrape(f"http://127.0.0.1:{from_flag}/metrics")
        assert code == 200
        s = parse(body)
        assert value(s, "pyrr_peers") == 1
        assert value(s, "pyrr_peer_up", peer="127.0.4.9", type="client") == 0
        with pytest.raises(urllib.error.URLError):
            scrape(f"http://127.0.0.1:{from_config}/metrics")
        code, _took = daemon.stop()
        assert code == 0, daemon.stderr()


def test_pyrr_run_metrics_from_the_config_and_bad_flag(tmp_path: Path) -> None:
    mport = free_port()
    cfg = write_config(
        tmp_path / "rr.toml", free_port(), extra=f'[control]\nmetrics = "127.0.0.1:{mport}"\n'
    )
    argv = [str(PYRR_BIN), "run", "--config", str(cfg)]
    with running(argv, pyrr_env(tmp_path), tmp_path / "pyrr.log", tmp_path / "pyrr.sock"):
        code, _, body = scrape(f"http://127.0.0.1:{mport}/metrics")
        assert code == 200 and "pyrr_peers 0.0" in body
    with running([*argv, "--metrics", "9179"], pyrr_env(tmp_path), tmp_path / "bad.log") as d:
        assert d.proc.wait(timeout=30) == 2
        assert "--metrics" in d.stderr() and "Traceback" not in d.stderr()
