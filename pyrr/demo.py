"""`pyrr demo`: the route reflector on loopback with a few simulated Calico nodes.

Each node is pyrr's own sans-IO `Session` acting as the peer, dialing from its 127.0.1.x address
and announcing a /26 pod block from 10.10.0.0/16 like calico-node's BIRD would. Once every node
has learned every other node's block through the reflector, the demo prints a peer table in the
style of `calicoctl node status` and the routes each node learned.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
import socket
import struct
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TextIO

from .bgp.attributes import PathAttrs
from .bgp.capabilities import Capabilities, GracefulRestart
from .bgp.constants import (
    DEFAULT_LOCAL_PREF,
    IPV4_ADDR_LEN,
    MAX_MESSAGE_LEN,
    AttrCode,
    AttrFlag,
    Origin,
)
from .bgp.encode import pack_announce
from .bgp.events import Established, Event, SessionDown, UpdateReceived
from .bgp.fsm import Session, SessionConfig
from .bgp.nlri import IPV4_UNICAST, prefix_from_str, prefix_to_str
from .config import Config
from .control import render, views
from .store.file.toml_config import load_text
from .transport.host import Host
from .transport.session_stream import SessionStream

DEMO_CONFIG = "demo.toml"


def demo_config(port: int | None = None) -> Config:
    text = (importlib.resources.files("pyrr") / "data" / DEMO_CONFIG).read_text("utf-8")
    cfg = load_text(text, source=DEMO_CONFIG, env={})
    if port is not None:
        cfg = replace(cfg, bgp=replace(cfg.bgp, port=port))
    return cfg


@dataclass
class SimNode:
    """A simulated Calico node: one BGP session to the reflector, one pod block."""

    name: str
    address: str
    asn: int
    block: str
    rr: tuple[str, int]
    loop: asyncio.AbstractEventLoop
    learned: dict[str, str] = field(default_factory=dict)  # prefix -> next hop
    conn: SessionStream | None = None
    established = False
    down_reason = ""

    def session(self) -> Session:
        caps = Capabilities(
            families=(IPV4_UNICAST,),
            route_refresh=True,
            four_octet_as=self.asn,
            graceful_restart=GracefulRestart(restart_time=120, families=((IPV4_UNICAST, True),)),
        )
        ip = socket.inet_aton(self.address)
        return Session(SessionConfig(self.asn, struct.unpack("!I", ip)[0], self.asn, caps, 240))

    async def connect(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.bind((self.address, 0))
        await self.loop.sock_connect(sock, self.rr)
        conn = SessionStream(self.session(), self, True, self.loop)
        self.conn = conn
        await self.loop.connect_accepted_socket(lambda: conn, sock)

    # SessionOwner
    def on_events(self, conn: SessionStream, events: list[Event]) -> None:
        for ev in events:
            if isinstance(ev, Established):
                self.established = True
                self._announce(conn)
            elif isinstance(ev, UpdateReceived):
                self._learn(ev)
            elif isinstance(ev, SessionDown):
                self.established = False
                self.down_reason = ev.reason

    def on_connection_lost(self, conn: SessionStream) -> None:
        self.established = False

    def _announce(self, conn: SessionStream) -> None:
        attrs = PathAttrs(
            [
                (AttrCode.ORIGIN, AttrFlag.TRANSITIVE, bytes((Origin.IGP,))),
                (AttrCode.AS_PATH, AttrFlag.TRANSITIVE, b""),
                (AttrCode.LOCAL_PREF, AttrFlag.TRANSITIVE, struct.pack("!I", DEFAULT_LOCAL_PREF)),
            ]
        )
        fam, pfx = prefix_from_str(self.block)
        nh = socket.inet_aton(self.address)
        conn.write_messages(pack_announce(fam, attrs.wire, nh, [pfx], MAX_MESSAGE_LEN))

    def _learn(self, ev: UpdateReceived) -> None:
        upd = ev.update
        for fam, prefixes in upd.withdrawn:
            for p in prefixes:
                self.learned.pop(prefix_to_str(p, fam), None)
        for fam, nh, prefixes in upd.announced:
            hop = socket.inet_ntoa(nh) if len(nh) == IPV4_ADDR_LEN else nh.hex()
            for p in prefixes:
                self.learned[prefix_to_str(p, fam)] = hop

    def close(self) -> None:
        if self.conn is not None:
            self.conn.abort()


def _nodes(cfg: Config, loop: asyncio.AbstractEventLoop) -> list[SimNode]:
    host = str(cfg.bgp.listen[0]) if cfg.bgp.listen else "127.0.0.1"
    nodes = []
    for i, pc in enumerate(cfg.peers, start=1):
        nodes.append(
            SimNode(
                name=pc.description or f"node{i}",
                address=str(pc.address),
                asn=pc.asn,
                block=f"10.10.{i}.0/26",
                rr=(host, cfg.bgp.port),
                loop=loop,
            )
        )
    return nodes


def _converged(nodes: Sequence[SimNode]) -> bool:
    blocks = {n.block for n in nodes}
    return all(n.established and n.learned.keys() >= blocks - {n.block} for n in nodes)


def peer_table(host: Host) -> str:
    """`calicoctl node status` style, from the same view `pyrr status` uses."""
    return render.table(render.peer_rows(views.status(host)["peers"]))


def routes_report(nodes: Sequence[SimNode]) -> str:
    out = []
    for n in nodes:
        out.append(f"{n.name} ({n.address}) announces {n.block}, learned through the reflector:")
        for prefix, hop in sorted(n.learned.items()):
            out.append(f"    {prefix:<18} via {hop}")
    return "\n".join(out)


async def run_demo(
    once: bool = False, port: int | None = None, timeout: float = 20.0, out: TextIO | None = None
) -> int:
    stream = out or sys.stdout
    loop = asyncio.get_running_loop()
    cfg = demo_config(port)
    host = Host(cfg, loop)
    await host.start()
    nodes = _nodes(cfg, loop)
    try:
        await asyncio.gather(*(n.connect() for n in nodes))
        deadline = loop.time() + timeout
        while not _converged(nodes):
            if loop.time() > deadline:
                print("demo: no convergence within %.0f s" % timeout, file=stream)
                for n in nodes:
                    print(
                        f"  {n.name}: established={n.established} learned={sorted(n.learned)}"
                        f" {n.down_reason}",
                        file=stream,
                    )
                return 1
            await asyncio.sleep(0.02)
        print(
            f"pyrr route reflector {cfg.bgp.router_id} (AS {cfg.bgp.asn}) on port {cfg.bgp.port}\n",
            file=stream,
        )
        print("IPv4 BGP status", file=stream)
        print(peer_table(host), file=stream)
        print("", file=stream)
        print(routes_report(nodes), file=stream)
        stream.flush()
        if not once:
            print("\nrunning; press Ctrl-C to stop", file=stream)
            stream.flush()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()
        return 0
    finally:
        for n in nodes:
            n.close()
        await host.stop()
