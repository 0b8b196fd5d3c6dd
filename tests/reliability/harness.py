"""What the loopback reliability runs share: pyrr as a process (bench's configuration, plus the
metrics endpoint, restartable in place), a sampler of its process and event loop, the
judgements (growth after warm-up), and the check that pyrr's counters are what the clients
received.

Everything runs on 127.0.0.0/8: pyrr on 127.0.0.1, bgpsim's clients on 127.1.x.y (see
bench/README.md). pyrr is signalled by its own pid only; bgpsim by its Popen.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from ipaddress import ip_address
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bench.daemons import ASN, Pyrr, client_address, cpu_seconds, status_kib
from bench.sim import Sim
from pyrr.control.server import request

IPV4 = "ipv4-unicast"


class RR(Pyrr):
    """pyrr with bench's configuration (N passive clients 127.1.x.y on 127.0.0.1:PORT), its
    metrics on 127.0.0.1:METRICS_PORT, one log per start, restartable in the same work
    directory: the restart state file beside the control socket survives a kill -9."""

    def __init__(
        self, workdir: Path, port: int, clients: int, metrics_port: int, log_level: str = "warning"
    ) -> None:
        super().__init__(workdir, port, clients)
        self.metrics_port = metrics_port
        self.log_level = log_level
        self.starts = 0

    def argv(self) -> list[str]:
        argv = super().argv()
        argv[argv.index("--log-level") + 1] = self.log_level
        return [*argv, "--metrics", f"127.0.0.1:{self.metrics_port}"]

    def start(self, ready_timeout: float = 60.0) -> None:
        self.starts += 1
        self.log_path = self.workdir / f"pyrr-{self.starts}.log"
        super().start(ready_timeout)

    @property
    def socket(self) -> str:
        return str(self.workdir / "ctl.sock")

    def runtime(self) -> dict[str, Any]:
        return request(self.socket, {"cmd": "runtime"}, timeout=5)

    def status(self) -> dict[str, Any]:
        return request(self.socket, {"cmd": "status"}, timeout=10)

    def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as resp:
            text = resp.read().decode()
        out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                out[(s.name, frozenset(s.labels.items()))] = s.value
        return out

    def kill9(self) -> None:
        """SIGKILL by pid (a crash: no NOTIFICATION, no restart state written at the end)."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until the control socket answers (it opens just after the BGP port)."""
        deadline = time.monotonic() + timeout
        while True:
            dead = self.dead()
            if dead:
                raise RuntimeError(dead)
            try:
                self.runtime()
                return
            except (OSError, ValueError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace") for p in sorted(self.workdir.glob("pyrr-*.log"))
        )


# -- sampling ----------------------------------------------------------------------------------


@dataclass
class Sample:
    t: float  # seconds since the sampler started
    rss_kib: int
    fds: int
    cpu_s: float
    lag_last_ms: float = float("nan")
    lag_recent_max_ms: float = float("nan")
    established: int = -1
    routes: int = -1
    queues: dict[str, int] = field(default_factory=dict)


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


class Sampler:
    """Once a second: pyrr's RSS, open fds and CPU from /proc, and its event-loop lag, counts
    and queue sizes from the control socket (`{"cmd": "runtime"}`, no per-peer table). A
    sample that cannot be taken (pyrr restarting) is skipped."""

    def __init__(self, rr: RR, interval: float = 1.0) -> None:
        self.rr = rr
        self.interval = interval
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> list[Sample]:
        self._stop.set()
        self._thread.join(timeout=15)
        return self.samples

    def now(self) -> float:
        return time.monotonic() - self._t0

    def take(self) -> Sample | None:
        proc = self.rr.proc
        if proc is None or proc.poll() is not None:
            return None
        pid = proc.pid
        try:
            s = Sample(self.now(), status_kib(pid, "VmRSS"), fd_count(pid), cpu_seconds(pid))
        except (OSError, ValueError):
            return None
        with contextlib.suppress(OSError, ValueError):
            rt = self.rr.runtime()
            s.lag_last_ms = 1e3 * rt["loop_lag"]["last"]
            s.lag_recent_max_ms = 1e3 * rt["loop_lag"]["recent_max"]
            s.established = rt["established"]
            s.routes = rt["routes"]
            s.queues = rt["queues"]
        return s

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            s = self.take()
            if s is not None:
                self.samples.append(s)


def between(samples: list[Sample], t0: float, t1: float) -> list[Sample]:
    return [s for s in samples if t0 <= s.t <= t1]


def growth(values: list[float], head: int = 5) -> dict[str, float]:
    """How much a series grew: the median of its last `head` values against the median of
    its first `head` (the baseline), and its peak against the baseline; and the least-squares
    slope per hour, for the record."""
    if len(values) < 2:
        return {
            "baseline": float("nan"),
            "end": float("nan"),
            "peak": float("nan"),
            "growth": float("nan"),
            "peak_growth": float("nan"),
            "slope_per_hour": 0.0,
        }
    k = max(1, min(head, len(values) // 3))
    base = statistics.median(values[:k])
    end = statistics.median(values[-k:])
    peak = max(values)
    xs = list(range(len(values)))
    slope = statistics.linear_regression(xs, values).slope if len(set(values)) > 1 else 0.0
    return {
        "baseline": base,
        "end": end,
        "peak": peak,
        "growth": end / base - 1 if base else float("nan"),
        "peak_growth": peak / base - 1 if base else float("nan"),
        "slope_per_hour": slope * 3600.0,  # samples are a second apart
    }


def lag_summary(samples: list[Sample]) -> dict[str, float]:
    lags = [s.lag_recent_max_ms for s in samples if s.lag_recent_max_ms == s.lag_recent_max_ms]
    if not lags:
        return {"p50_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan")}
    lags.sort()
    return {
        "p50_ms": lags[len(lags) // 2],
        "p99_ms": lags[min(len(lags) - 1, int(0.99 * len(lags)))],
        "max_ms": lags[-1],
    }


def queue_max(samples: list[Sample]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in samples:
        for k, v in s.queues.items():
            out[k] = max(out.get(k, 0), v)
    return out


def cpu_share(samples: list[Sample]) -> float:
    """pyrr's CPU over the samples' span, as a share of one core."""
    if len(samples) < 2:
        return float("nan")
    return (samples[-1].cpu_s - samples[0].cpu_s) / (samples[-1].t - samples[0].t)


def samples_json(samples: list[Sample]) -> list[dict[str, Any]]:
    return [asdict(s) for s in samples]


# -- the numbers -------------------------------------------------------------------------------

# What pyrr counts per peer (metric, or status field), and what the client's own counters
# (bgpsim `clients`) must show for it.
PER_PEER_METRICS: tuple[tuple[str, tuple[tuple[str, str], ...], str], ...] = (
    ("pyrr_peer_messages_sent_total", (), "rx_msgs"),
    ("pyrr_peer_updates_sent_total", (), "rx_update"),
    ("pyrr_peer_bytes_sent_total", (), "rx_bytes"),
    ("pyrr_peer_messages_received_total", (), "tx_msgs"),
    ("pyrr_peer_updates_received_total", (), "tx_update_all"),
    ("pyrr_peer_flaps_total", (), "downs"),
    ("pyrr_peer_up", (), "up"),
    ("pyrr_peer_prefixes_sent", (("family", IPV4),), "held"),
    ("pyrr_peer_prefixes_received", (("family", IPV4),), "own"),
)
PER_PEER_STATUS: tuple[tuple[str, str], ...] = (
    ("prefixes_sent", "held"),
    ("prefixes_received", "own"),
    ("updates_received", "tx_update_all"),
    ("flaps", "downs"),
    ("up", "up"),
    ("established", "up"),  # state == "Established"
    ("ipv4_only", "up"),  # families == ["ipv4-unicast"] (bgpsim offers no other)
    ("hold_time", "hold"),  # negotiated; null while down
    ("router_id", "router_id"),  # the client's address, its BGP identifier
    ("asn", "asn"),
    ("stale", "zero"),  # routes kept for a restarting client: none
)


def _status_values(p: dict[str, Any]) -> dict[str, float]:
    """A `pyrr status` peer as numbers (-1: the field is missing)."""
    out = {
        name: float(p[name]) if name in p else -1.0
        for name in (
            "prefixes_sent",
            "prefixes_received",
            "updates_received",
            "flaps",
            "up",
            "asn",
            "stale",
        )
    }
    out["established"] = float(p.get("state") == "Established")
    out["ipv4_only"] = float(p.get("families") == [IPV4])
    out["hold_time"] = float(p.get("hold_time") or 0)
    out["router_id"] = float(int(ip_address(p["router_id"]))) if p.get("router_id") else 0.0
    return out


def parse_fields(line: str) -> dict[str, str]:
    return dict(w.split("=", 1) for w in line.split() if "=" in w)


def sim_clients(sim: Sim, n: int) -> list[dict[str, int]]:
    out = []
    for i, line in enumerate(sim.ask_lines(f"clients 0 {n}", "end clients", timeout=60)):
        f = parse_fields(line)
        c: dict[str, int] = {k: int(float(v)) for k, v in f.items() if k != "state"}
        c["up"] = int(f["state"] == "established")
        c["router_id"] = int(ip_address(client_address(i)))
        c["asn"] = ASN
        out.append(c)
    return out


def sim_totals(sim: Sim) -> dict[str, float]:
    return {k: float(v) for k, v in parse_fields(sim.ask("totals", timeout=30)).items()}


@dataclass
class CounterCheck:
    """pyrr's per-peer counters (metrics and `pyrr status`) against what each client counted
    on its current session, plus the totals and the whole-reflector figures."""

    peers: int = 0
    compared: int = 0  # (peer, counter) pairs compared
    attempts: int = 0
    mismatches: list[str] = field(default_factory=list)
    totals: dict[str, tuple[float, float]] = field(default_factory=dict)  # pyrr, clients
    client_totals: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.mismatches


def _peer_view(
    m: dict[tuple[str, frozenset[tuple[str, str]]], float], st: dict[str, Any], peer: str
) -> dict[str, float]:
    view: dict[str, float] = {}
    base = (("peer", peer), ("type", "client"))
    for name, extra, _ in PER_PEER_METRICS:
        view["m:" + name] = m.get((name, frozenset(base + extra)), 0.0)
    values = _status_values(st["peers"].get(peer, {}))
    for name, _ in PER_PEER_STATUS:
        view["s:" + name] = values[name]
    return view


# After a restart of pyrr its counters since start cover the clients' current sessions only.
SINCE_RESTART = {"tx_update_all": "tx_update", "downs": "zero"}


def _want(view_key: str, c: dict[str, int], since_restart: bool) -> float:
    kind, name = view_key.split(":", 1)
    table = PER_PEER_METRICS if kind == "m" else PER_PEER_STATUS
    for entry in table:
        if entry[0] == name:
            field_name = entry[-1]
            if since_restart:
                field_name = SINCE_RESTART.get(field_name, field_name)
            return 0.0 if field_name == "zero" else float(c[field_name])
    raise KeyError(view_key)


def check_counters(
    rr: RR, sim: Sim, n: int, attempts: int = 10, since_restart: bool = False
) -> CounterCheck:
    """Compare at a quiet moment: pyrr is read before and after the clients; a peer whose
    counters moved meanwhile (a KEEPALIVE) is compared again on the next attempt, and only a
    peer that never agreed in `attempts` tries is a mismatch. `since_restart`: pyrr was
    restarted during the run, and every client has had one session with it since."""
    res = CounterCheck(peers=n)
    pending = {client_address(i): i for i in range(n)}
    last: dict[str, list[str]] = {}
    for attempt in range(attempts):
        res.attempts = attempt + 1
        m1, st1 = rr.metrics(), _by_peer(rr.status())
        clients = sim_clients(sim, n)
        m2, st2 = rr.metrics(), _by_peer(rr.status())
        for peer, i in list(pending.items()):
            v1, v2 = _peer_view(m1, st1, peer), _peer_view(m2, st2, peer)
            if v1 != v2:
                last[peer] = ["moved while read"]
                continue
            want = {k: _want(k, clients[i], since_restart) for k in v1}
            bad = [f"{k}={v1[k]:g} client={want[k]:g}" for k in v1 if v1[k] != want[k]]
            if bad:
                last[peer] = bad
                continue
            res.compared += len(v1)
            del pending[peer]
        if not pending:
            break
        time.sleep(0.3)
    res.mismatches = [
        f"{peer} (client {i}): {', '.join(last[peer])}" for peer, i in pending.items()
    ]
    res.totals, res.client_totals = _totals(rr, sim, n, since_restart)
    for name, (pyrr_value, client_value) in res.totals.items():
        if pyrr_value != client_value:
            res.mismatches.append(f"total {name}: pyrr {pyrr_value:g}, clients {client_value:g}")
    return res


def _by_peer(st: dict[str, Any]) -> dict[str, Any]:
    return {**st, "peers": {p["address"]: p for p in st["peers"]}}


def _totals(
    rr: RR, sim: Sim, n: int, since_restart: bool
) -> tuple[dict[str, tuple[float, float]], dict[str, float]]:
    """Whole-reflector figures against the clients' totals (taken once, after the per-peer
    comparison settled: only counters that do not move with KEEPALIVEs are compared)."""
    m = rr.metrics()
    st = rr.status()
    tot = sim_totals(sim)

    def msum(name: str, **labels: str) -> float:
        want = set(labels.items())
        return sum(v for (k, lab), v in m.items() if k == name and want <= set(lab))

    pairs = {
        "established": (m[("pyrr_peers_established", frozenset())], tot["established"]),
        "rib prefixes": (m[("pyrr_rib_prefixes", frozenset({("family", IPV4)}))], tot["own"]),
        "status routes": (float(st["routes"].get(IPV4, 0)), tot["own"]),
        "prefixes sent": (msum("pyrr_peer_prefixes_sent", family=IPV4), tot["held"]),
        "prefixes received": (msum("pyrr_peer_prefixes_received", family=IPV4), tot["own"]),
        "flaps": (msum("pyrr_peer_flaps_total"), 0.0 if since_restart else tot["downs"]),
        "updates sent": (msum("pyrr_peer_updates_sent_total"), tot["rx_update"]),
        "stale (pyrr)": (msum("pyrr_peer_prefixes_stale"), 0.0),
        "rejected connections": (m[("pyrr_rejected_connections_total", frozenset())], 0.0),
        "peers": (m[("pyrr_peers", frozenset())], float(n)),
    }
    return pairs, tot


# -- helpers -----------------------------------------------------------------------------------


@contextlib.contextmanager
def sim_running(binary: Path, port: int) -> Iterator[Sim]:
    sim = Sim(binary, "127.0.0.1", port)
    try:
        yield sim
    finally:
        sim.quit()
