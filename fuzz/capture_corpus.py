"""Record real BGP messages from BIRD 1.6 (Calico-style), BIRD 2, FRR and GoBGP as fuzz seeds.

Run as root from the repository root::

    .venv/bin/python -m fuzz.capture_corpus            # writes fuzz/captured/*.bin
    .venv/bin/python -m fuzz.capture_corpus --out DIR --seconds 20
    PYRR_CAPTURE_LOG=/tmp/listener.log .venv/bin/python -m fuzz.capture_corpus  # keep its log

It builds a throw-away lab (tests/lab: network namespaces, 198.18.0.0/15 and 2001:db8::/32
only) with one capture host and four client hosts:

* ``cap``: this module in ``--listen`` mode: a BGP listener on port 179 (IPv4 and IPv6) that
  answers with pyrr's own sans-IO `Session` (OPEN with IPv4/IPv6 unicast, route refresh,
  enhanced route refresh, 4-octet AS, graceful restart, ADD-PATH send/receive, extended
  messages) and writes every message it receives, byte for byte, to one file;
* ``bird16``: calico-node's BIRD 1.6 (``bird`` and ``bird6``, two sessions);
* ``bird2``: BIRD 2 with one IPv4 and one IPv6 session, static routes carrying communities,
  large communities and MED;
* ``frr``: FRR bgpd, both families on one IPv4 session (IPv6 next hops in MP_REACH_NLRI);
* ``gobgp``: gobgpd, both families, a route with communities and MED through its CLI.

While the sessions are up the listener sends each peer a ROUTE-REFRESH per family (BIRD
answers with BoRR/EoRR, RFC 7313), the drivers withdraw one route each (withdrawal UPDATEs), and
finally every daemon is stopped (its Cease NOTIFICATION is recorded). The listener writes
``<daemon>_<nnn>_<type>.bin``: one complete framed message per file, identical messages once.

The files go to ``fuzz/captured/`` rather than ``fuzz/corpus/``: the generated seed corpus in
``fuzz/corpus/`` is pinned file for file by ``tests/bgp/test_fuzz_invariants.py``. The atheris
runners (``fuzz/run_atheris.py``) seed from both directories.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import signal
import sys
import time
from collections.abc import Callable
from ipaddress import IPv4Address, ip_address
from pathlib import Path

from pyrr.bgp.capabilities import Capabilities, GracefulRestart
from pyrr.bgp.constants import MAX_EXTENDED_MESSAGE_LEN, AddPathMode, MsgType, State
from pyrr.bgp.encode import end_of_rib
from pyrr.bgp.errors import BGPError
from pyrr.bgp.fsm import Session, SessionConfig
from pyrr.bgp.messages import Framer, RouteRefresh, decode_open
from pyrr.bgp.nlri import IPV4_UNICAST, IPV6_UNICAST
from tests.lab.bird import Bird2, CalicoBird, Neighbor
from tests.lab.frr import Frr
from tests.lab.gobgp import Gobgp
from tests.lab.netns import Lab, wait_until

REPO_ROOT = Path(__file__).resolve().parents[1]
CAPTURE_DIR = Path(__file__).resolve().parent / "captured"
ASN = 64512
_TYPE_NAMES = {int(t): t.name.lower() for t in MsgType}


# ---------------------------------------------------------------------------------------------
# The listener (runs inside the lab's capture host)


class _Recorder:
    """Writes each distinct message once, named after the peer that sent it."""

    def __init__(self, out: Path, names: dict[str, str]) -> None:
        self.out = out
        self.names = names
        self.seen: set[bytes] = set()
        self.counts: dict[str, int] = {}

    def record(self, peer: str, mtype: int, wire: bytes) -> None:
        digest = hashlib.sha256(wire).digest()
        if digest in self.seen:
            return
        self.seen.add(digest)
        name = self.names.get(peer, "peer_" + peer.replace(":", "_").replace(".", "_"))
        n = self.counts.get(name, 0)
        self.counts[name] = n + 1
        kind = _TYPE_NAMES.get(mtype, f"type{mtype}")
        (self.out / f"{name}_{n:03d}_{kind}.bin").write_bytes(wire)
        print(f"recorded {name} #{n} {kind} ({len(wire)} octets)", flush=True)


def _listener_caps() -> Capabilities:
    fams = (IPV4_UNICAST, IPV6_UNICAST)
    return Capabilities(
        families=fams,
        route_refresh=True,
        enhanced_route_refresh=True,
        four_octet_as=ASN,
        graceful_restart=GracefulRestart(restart_time=120, families=tuple((f, True) for f in fams)),
        add_path=tuple((f, AddPathMode.BOTH) for f in fams),
        extended_message=True,
    )


class _CaptureProtocol(asyncio.Protocol):
    """One accepted connection: record every framed message, answer with a pyrr Session."""

    def __init__(self, recorder: _Recorder, router_id: int) -> None:
        self.recorder = recorder
        self.router_id = router_id
        self.framer = Framer(MAX_EXTENDED_MESSAGE_LEN)
        self.session: Session | None = None
        self.pending = bytearray()
        self.transport: asyncio.Transport | None = None
        self.peer = ""
        self.refreshed = False
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.peer = str(ip_address(transport.get_extra_info("peername")[0]))
        print(f"connection from {self.peer}", flush=True)
        self._tick()

    def data_received(self, data: bytes) -> None:
        # Until the OPEN is complete there is no session: keep the bytes for it.
        self.pending += data
        self.framer.feed(data)
        try:
            while (msg := self.framer.next_message()) is not None:
                mtype, body = msg
                wire = b"\xff" * 16 + (19 + len(body)).to_bytes(2, "big") + bytes((mtype,)) + body
                self.recorder.record(self.peer, mtype, wire)
                if self.session is None and mtype == MsgType.OPEN:
                    self._start_session(body)
        except BGPError as err:
            print(f"{self.peer}: framing error {err}", flush=True)
        if self.session is None:
            return
        now = asyncio.get_running_loop().time()
        self.session.receive_data(bytes(self.pending), now)
        self.pending.clear()
        self._flush()

    def _start_session(self, body: bytes) -> None:
        try:
            peer_as = decode_open(body).asn
        except BGPError:
            peer_as = ASN
        cfg = SessionConfig(
            local_as=ASN,
            router_id=self.router_id,
            peer_as=peer_as,
            capabilities=_listener_caps(),
            hold_time=90,
        )
        s = Session(cfg)
        s.connection_made(asyncio.get_running_loop().time())
        self.session = s
        # Everything received so far (the OPEN and what followed it in the same segment) goes
        # to the session once data_received continues.

    def _flush(self) -> None:
        s = self.session
        t = self.transport
        if s is None or t is None:
            return
        out = s.data_to_send()
        if out and not t.is_closing():
            t.write(out)
        for ev in s.events():
            print(f"{self.peer}: {ev}", flush=True)
        if s.state == State.ESTABLISHED and not self.refreshed and s.negotiated is not None:
            self.refreshed = True
            # RFC 4724 §2: End-of-RIB for each family (we have nothing to send). BIRD 1.6,
            # started with -R as calico-node does, sends nothing before every peer's EoR.
            for fam in s.negotiated.families:
                s.send_message(end_of_rib(fam))
            t.write(s.data_to_send())
            loop = asyncio.get_running_loop()
            loop.call_later(3.0, self._refresh)
        if s.closing and not t.is_closing():
            t.close()

    def _refresh(self) -> None:
        s = self.session
        if s is None or s.state != State.ESTABLISHED or s.negotiated is None:
            return
        for fam in s.negotiated.families:
            s.send_message(RouteRefresh(fam[0], fam[1]).encode())
        self._flush()

    def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        s = self.session
        if s is not None and not s.closing:
            s.handle_timer(loop.time())
            self._flush()
        self.timer = loop.call_later(0.5, self._tick)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        print(f"{self.peer}: connection lost", flush=True)


async def _listen(addresses: list[str], out: Path, names: dict[str, str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    recorder = _Recorder(out, names)
    loop = asyncio.get_running_loop()
    router_id = int(IPv4Address(next(a for a in addresses if ":" not in a)))
    servers = [
        await loop.create_server(lambda: _CaptureProtocol(recorder, router_id), a, 179)
        for a in addresses
    ]
    print("listening on " + ", ".join(addresses), flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    for srv in servers:
        srv.close()
    print(
        "stopped: " + ", ".join(f"{k}={v}" for k, v in sorted(recorder.counts.items())), flush=True
    )


# ---------------------------------------------------------------------------------------------
# The lab (runs in the root namespace, as root)


def _capture(out: Path, seconds: float) -> int:
    if os.geteuid() != 0:
        print("capture_corpus needs root (network namespaces)", file=sys.stderr)
        return 2
    out = out.resolve()
    tmp = out.with_name(out.name + ".tmp")
    if tmp.exists():
        for p in tmp.iterdir():
            p.unlink()
    with Lab(prefix="pyrrcap") as lab:
        cap = lab.add_host("cap", "198.18.0.104/24", "2001:db8::104/64")
        h16 = lab.add_host("bird16", "198.18.0.101/24", "2001:db8::101/64")
        h2 = lab.add_host("bird2", "198.18.0.102/24", "2001:db8::102/64")
        hf = lab.add_host("frr", "198.18.0.103/24", "2001:db8::103/64")
        hg = lab.add_host("gobgp", "198.18.0.105/24", "2001:db8::105/64")
        names = {
            h16.ip4: "bird16v4", h16.ip6: "bird16v6",
            h2.ip4: "bird2v4", h2.ip6: "bird2v6",
            hf.ip4: "frr", hf.ip6: "frrv6",
            hg.ip4: "gobgp", hg.ip6: "gobgpv6",
        }  # fmt: skip
        argv = [
            sys.executable,
            "-m",
            "fuzz.capture_corpus",
            "--listen",
            cap.ip4,
            cap.ip6,
            "--out",
            str(tmp),
        ]
        for addr, name in names.items():
            argv += ["--name", f"{addr}={name}"]
        listener = cap.popen(
            argv,
            log="listener.log",
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )
        wait_until(lambda: "listening" in listener.log_text(), 15, 0.2, "the listener")

        b16 = CalicoBird(
            h16, [cap.ip4, cap.ip6], ["10.10.1.0/26", "10.10.1.64/26", "2001:db8:1001::/64"]
        )
        b16.start()
        b2 = _Bird2WithAttributes(
            h2,
            [Neighbor(cap.ip4), Neighbor(cap.ip6)],
            ["10.10.2.0/26", "10.10.2.128/25", "2001:db8:1002::/64", "2001:db8:1003::/64"],
        ).start()
        frr = Frr.client(hf, cap.ip4, ["10.10.3.0/26", "10.10.3.64/26", "2001:db8:1004::/64"])
        frr.start()
        gob = Gobgp.client(hg, cap.ip4, ["10.10.4.0/26", "2001:db8:1005::/64"]).start()
        gob.gobgp(
            "global",
            "rib",
            "add",
            "-a",
            "ipv4",
            "10.10.4.64/26",
            "nexthop",
            hg.ip4,
            "community",
            "64512:300,65535:65281",
            "med",
            "20",
            "large-community",
            "64512:1:2",
            "origin",
            "incomplete",
        )
        b16.wait_established(60)
        b2.wait_established(timeout=60)
        frr.wait_established(timeout=60)
        gob.wait_established(timeout=60)
        print("all sessions established; capturing", flush=True)
        time.sleep(max(seconds / 2, 4.0))  # route refresh (3 s after Established) included
        b16.remove_route("10.10.1.64/26")
        b2.remove_route("10.10.2.128/25")
        frr.remove_network("10.10.3.64/26")
        gob.remove_route("2001:db8:1005::/64")
        time.sleep(max(seconds / 2, 4.0))
        stops: list[Callable[[], None]] = [b16.stop, b2.stop, frr.stop, gob.stop]
        for stop in stops:
            with contextlib.suppress(Exception):
                stop()
        time.sleep(1.0)
        listener.terminate(10)
        if os.environ.get("PYRR_CAPTURE_LOG"):
            Path(os.environ["PYRR_CAPTURE_LOG"]).write_text(listener.log_text())
    files = sorted(tmp.iterdir()) if tmp.exists() else []
    if not files:
        print("nothing captured", file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    for p in out.glob("*.bin"):
        p.unlink()
    for p in files:
        p.replace(out / p.name)
    tmp.rmdir()
    print(f"{len(files)} messages written to {out}")
    return 0


class _Bird2WithAttributes(Bird2):
    """BIRD 2 whose static routes carry communities, large communities and a MED."""

    def render_config(self) -> str:
        text = super().render_config()
        attrs = (
            "{ bgp_community.add((64512, 100)); bgp_community.add((65535, 65282)); "
            "bgp_large_community.add((64512, 7, 9)); bgp_med = 50; }"
        )
        out = []
        for line in text.splitlines():
            if line.strip().startswith("route ") and line.rstrip().endswith("blackhole;"):
                out.append(line.rstrip()[:-1] + " " + attrs + ";")
            else:
                out.append(line)
        return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m fuzz.capture_corpus",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--out", type=Path, default=CAPTURE_DIR, help="where to write the .bin files")
    ap.add_argument("--seconds", type=float, default=12.0, help="capture time once all are up")
    ap.add_argument("--listen", nargs="+", metavar="ADDR", help=argparse.SUPPRESS)
    ap.add_argument("--name", action="append", default=[], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.listen:
        names = dict(n.split("=", 1) for n in args.name)
        asyncio.run(_listen(args.listen, args.out, names))
        return 0
    return _capture(args.out, args.seconds)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
