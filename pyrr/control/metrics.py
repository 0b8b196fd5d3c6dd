"""Prometheus metrics, read from the speaker at scrape time.

Nothing is counted on the hot path for Prometheus: `SpeakerCollector.collect()` walks the
speaker's own state (peers, sessions, RIB, update groups) when a scrape arrives. The HTTP
endpoint is served from the event loop itself (`MetricsServer`), so a scrape reads that state
between two loop callbacks, never while a callback is changing it, and needs no lock.

The endpoint is opt-in: `pyrr run --metrics ADDR:PORT` or `[control] metrics = "ADDR:PORT"`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING

import structlog
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from .. import __version__
from ..bgp.constants import State
from ..bgp.nlri import IPV4_UNICAST, IPV6_UNICAST, Family, family_name
from ..store.limits import parse_host_port

if TYPE_CHECKING:
    from ..export.group import UpdateGroup
    from ..session.neighbor import Neighbor
    from ..transport.host import Host

log = structlog.get_logger("pyrr.metrics")

PEER_LABELS = ("peer", "type")
FAMILY_LABELS = ("peer", "type", "family")
MAX_REQUEST_HEAD = 8192
REQUEST_TIMEOUT = 5.0
# RFC 9112 §3: a request line is method, target and version, separated by single spaces.
_REQUEST_LINE_PARTS = 3


class SpeakerCollector(Collector):
    """Every pyrr_* metric, computed from the speaker's state when collected."""

    def __init__(self, host: Host) -> None:
        self.host = host

    def collect(self) -> Iterable[Metric]:
        host = self.host
        sp = host.speaker
        g = sp.config.bgp
        now = host.loop.time()

        info = GaugeMetricFamily(
            "pyrr_info",
            "pyrr version and identity; the value is always 1",
            labels=("version", "router_id", "cluster_id", "asn"),
        )
        info.add_metric((__version__, str(g.router_id), str(g.cluster_id), str(g.asn)), 1)
        yield info
        yield GaugeMetricFamily(
            "pyrr_uptime_seconds",
            "Seconds since the speaker started",
            value=now - sp.started_at,
        )
        yield CounterMetricFamily(
            "pyrr_rejected_connections",
            "Inbound connections refused because no peer is configured for the address",
            value=sp.rejected,
        )

        # -- per peer ---------------------------------------------------------------------
        peers = _PeerFamilies()
        # Adj-RIB-Out sizes once per update group, not once per member: a member is sent the
        # group's table less its own routes.
        out_total: dict[int, dict[Family, tuple[int, Counter[str]]]] = {}
        for grp in sp.export.groups.values():
            out_total[id(grp)] = grp.sent_families()

        for p in sp.peers.values():
            peers.add(p, now, host.wall_offset, sp.export.group_of(p), out_total)
        yield from peers.families()
        established = sum(1 for p in sp.peers.values() if p.state == State.ESTABLISHED)
        yield GaugeMetricFamily("pyrr_peers", "Configured peers", value=len(sp.peers))
        yield GaugeMetricFamily(
            "pyrr_peers_established", "Peers with an Established session", value=established
        )

        # -- RIB and update groups ----------------------------------------------------------
        rib = GaugeMetricFamily("pyrr_rib_prefixes", "Prefixes in the Loc-RIB", labels=("family",))
        for fam in sorted({IPV4_UNICAST, IPV6_UNICAST} | set(sp.rib.tables)):
            rib.add_metric((family_name(fam),), len(sp.rib.tables.get(fam, ())))
        yield rib
        yield GaugeMetricFamily(
            "pyrr_update_groups",
            "Update groups (peers sent byte-identical UPDATEs share one)",
            value=len(sp.export.groups),
        )
        yield GaugeMetricFamily(
            "pyrr_update_group_members",
            "Peers in update groups",
            value=sum(len(grp.members) for grp in sp.export.groups.values()),
        )
        yield from _runtime(host)


def _runtime(host: Host) -> Iterable[Metric]:
    """The event loop's lag and the sizes of pyrr's queues (Host.lag, Host.queues())."""
    q = host.queues()
    lag = host.lag
    yield GaugeMetricFamily(
        "pyrr_updates_queued",
        "Prefix changes queued in update groups and not yet encoded",
        value=q["updates_queued"],
    )
    yield GaugeMetricFamily(
        "pyrr_write_buffer_bytes",
        "Bytes queued for all peers and not yet taken by the kernel",
        value=q["write_buffer_bytes"],
    )
    yield GaugeMetricFamily(
        "pyrr_slow_peers",
        "Peers out of their update group's shared stream (reading slower than pyrr writes)",
        value=q["slow_peers"],
    )
    yield GaugeMetricFamily(
        "pyrr_timers_queued", "Entries in the speaker's deadline queue", value=q["timers"]
    )
    yield GaugeMetricFamily(
        "pyrr_dials_in_progress", "Outgoing connection attempts in progress", value=q["dials"]
    )
    yield GaugeMetricFamily("pyrr_asyncio_tasks", "asyncio tasks alive", value=q["tasks"])
    yield GaugeMetricFamily(
        "pyrr_event_loop_lag_seconds",
        "How late the event loop ran its latest probe timer (one every 0.1 s)",
        value=lag.last,
    )
    yield GaugeMetricFamily(
        "pyrr_event_loop_lag_max_seconds",
        "The largest event-loop lag since the speaker started",
        value=lag.max,
    )
    yield CounterMetricFamily(
        "pyrr_event_loop_lag_accumulated_seconds",
        "Sum of the event-loop lag over every probe (divide by the ticks for the mean)",
        value=lag.total,
    )
    yield CounterMetricFamily("pyrr_event_loop_ticks", "Event-loop lag probes run", value=lag.ticks)


class _PeerFamilies:
    """The per-peer metric families, filled one peer at a time."""

    def __init__(self) -> None:
        self.state = GaugeMetricFamily(
            "pyrr_peer_state",
            "BGP FSM state (RFC 4271 8.2.2): 1 Idle, 2 Connect, 3 Active, 4 OpenSent,"
            " 5 OpenConfirm, 6 Established",
            labels=PEER_LABELS,
        )
        self.up = GaugeMetricFamily(
            "pyrr_peer_up", "1 if the session is Established, else 0", labels=PEER_LABELS
        )
        self.uptime = GaugeMetricFamily(
            "pyrr_peer_uptime_seconds",
            "Seconds since the session became Established (0 when it is not)",
            labels=PEER_LABELS,
        )
        self.since = GaugeMetricFamily(
            "pyrr_peer_state_change_timestamp_seconds",
            "Unix time of the peer's last state change",
            labels=PEER_LABELS,
        )
        self.msgs_in = CounterMetricFamily(
            "pyrr_peer_messages_received",
            "BGP messages received on the peer's current session(s)",
            labels=PEER_LABELS,
        )
        self.msgs_out = CounterMetricFamily(
            "pyrr_peer_messages_sent",
            "BGP messages sent on the peer's current session(s), UPDATEs included",
            labels=PEER_LABELS,
        )
        self.updates_out = CounterMetricFamily(
            "pyrr_peer_updates_sent",
            "UPDATE messages sent on the peer's current session(s) (End-of-RIB included)",
            labels=PEER_LABELS,
        )
        self.bytes_out = CounterMetricFamily(
            "pyrr_peer_bytes_sent",
            "Bytes written to the peer's current session(s): every message, the shared UPDATE"
            " fan-out included",
            labels=PEER_LABELS,
        )
        self.updates_in = CounterMetricFamily(
            "pyrr_peer_updates_received",
            "UPDATE messages received from the peer since pyrr started, on every session",
            labels=PEER_LABELS,
        )
        self.flaps = CounterMetricFamily(
            "pyrr_peer_flaps", "Established sessions that went down", labels=PEER_LABELS
        )
        self.wbuf = GaugeMetricFamily(
            "pyrr_peer_write_buffer_bytes",
            "Bytes queued for the peer and not yet taken by the kernel (a slow reader)",
            labels=PEER_LABELS,
        )
        self.received = GaugeMetricFamily(
            "pyrr_peer_prefixes_received",
            "Prefixes in the peer's Adj-RIB-In (stale ones included)",
            labels=FAMILY_LABELS,
        )
        self.stale = GaugeMetricFamily(
            "pyrr_peer_prefixes_stale",
            "Prefixes kept for a restarting peer (RFC 4724 graceful restart helper)",
            labels=FAMILY_LABELS,
        )
        self.sent = GaugeMetricFamily(
            "pyrr_peer_prefixes_sent",
            "Prefixes advertised to the peer (its Adj-RIB-Out less its own routes)",
            labels=FAMILY_LABELS,
        )
        self.convergence = GaugeMetricFamily(
            "pyrr_peer_convergence_seconds",
            "Seconds from Established to the peer's End-of-RIB for the family (current session)",
            labels=FAMILY_LABELS,
        )

    def families(self) -> list[Metric]:
        return [
            self.state,
            self.up,
            self.uptime,
            self.since,
            self.msgs_in,
            self.msgs_out,
            self.updates_out,
            self.bytes_out,
            self.updates_in,
            self.flaps,
            self.wbuf,
            self.received,
            self.stale,
            self.sent,
            self.convergence,
        ]

    def add(
        self,
        p: Neighbor,
        now: float,
        wall_offset: float,
        member_of: UpdateGroup | None,
        out_total: dict[int, dict[Family, tuple[int, Counter[str]]]],
    ) -> None:
        labels = (p.key, p.config.kind)
        is_up = p.state == State.ESTABLISHED
        self.state.add_metric(labels, int(p.state))
        self.up.add_metric(labels, int(is_up))
        est_at = p.established_at
        self.uptime.add_metric(labels, max(0.0, now - est_at) if is_up and est_at else 0.0)
        self.since.add_metric(labels, p.since + wall_offset)
        sessions = [link.session for link in p.links]
        self.msgs_in.add_metric(labels, sum(s.messages_in for s in sessions))
        self.msgs_out.add_metric(labels, sum(s.messages_out for s in sessions))
        self.updates_out.add_metric(labels, sum(s.updates_out for s in sessions))
        written = [getattr(link.sink, "bytes_out", None) for link in p.links]
        if any(isinstance(n, int) for n in written):
            self.bytes_out.add_metric(labels, sum(n for n in written if isinstance(n, int)))
        self.updates_in.add_metric(labels, p.updates_in)
        self.flaps.add_metric(labels, p.flaps)
        est = p.established
        self.wbuf.add_metric(labels, est.sink.write_buffer_size if est is not None else 0)
        src = p.source
        for fam in sorted(f for f, n in src.counts.items() if n):
            fl = (*labels, family_name(fam))
            self.received.add_metric(fl, src.counts[fam])
            self.stale.add_metric(fl, src.stale_counts.get(fam, 0))
        if member_of is not None:
            for fam, (total, by_source) in out_total.get(id(member_of), {}).items():
                self.sent.add_metric((*labels, family_name(fam)), total - by_source[src.key])
        if is_up and est_at:
            for fam, at in sorted(p.eor_at.items()):
                self.convergence.add_metric((*labels, family_name(fam)), max(0.0, at - est_at))


def make_registry(host: Host) -> CollectorRegistry:
    """A registry of pyrr's metrics plus the process (RSS, CPU, fds), GC and platform ones."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SpeakerCollector(host))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


class MetricsServer:
    """A minimal HTTP/1.1 endpoint on the event loop: GET /metrics, one request per connection."""

    def __init__(self, host: Host, address: str) -> None:
        self.host, self.port = parse_host_port(address)
        self.registry = make_registry(host)
        self.server: asyncio.AbstractServer | None = None

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    async def start(self) -> None:
        self.server = await asyncio.start_server(
            self._client, self.host, self.port, reuse_address=True, limit=MAX_REQUEST_HEAD
        )
        log.info("metrics endpoint listening", url=f"http://{self.address}/metrics")

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.server.wait_closed(), timeout=1.0)
            self.server = None

    def render(self, accept: str = "") -> tuple[bytes, str]:
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT)
            status, body, ctype, method = self._respond(head)
            headers = (
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(headers.encode("latin-1") + (b"" if method == "HEAD" else body))
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError) as err:
            log.debug("metrics client dropped", error=type(err).__name__)
        except ConnectionError as err:
            log.debug("metrics client dropped", error=str(err))
        finally:
            writer.close()

    def _respond(self, head: bytes) -> tuple[str, bytes, str, str]:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split()
        text = "text/plain; charset=utf-8"
        if len(parts) != _REQUEST_LINE_PARTS or not parts[2].startswith("HTTP/"):
            return "400 Bad Request", b"bad request\n", text, ""
        method, target = parts[0], parts[1].split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", b"only GET\n", text, method
        if target == "/":
            return "200 OK", b"pyrr: metrics are at /metrics\n", text, method
        if target != "/metrics":
            return "404 Not Found", b"not found; try /metrics\n", text, method
        accept = ""
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "accept":
                accept = value.strip()
        body, ctype = self.render(accept)
        return "200 OK", body, ctype, method
