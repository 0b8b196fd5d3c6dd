"""The speaker: wires configured peers, the RIB and the update groups together, listens for
inbound connections and applies configuration changes. It owns listening sockets only."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from dataclasses import replace
from ipaddress import ip_address
from pathlib import Path

import structlog

from .bgp.capabilities import Capabilities, GracefulRestart, Negotiated
from .bgp.constants import BGP_PORT, CeaseSub, ErrCode, GRFlags
from .bgp.fsm import Session
from .bgp.messages import Notification
from .bgp.nlri import IPV4_UNICAST, IPV6_UNICAST
from .config import Config, PeerConfig
from .out.groups import GroupKey, Outbound
from .peer import Peer
from .recovery import DEFERRAL_BOUND, Recovery, load_state, save_state
from .rib.loc_rib import Rib
from .rib.reflect import Role
from .transport.protocol import Connection, ConnectionOwner

log = structlog.get_logger("pyrr.speaker")


class Speaker:
    def __init__(
        self,
        config: Config,
        loop: asyncio.AbstractEventLoop | None = None,
        state_path: Path | None = None,
    ) -> None:
        self.config = config
        self.state_path = state_path
        self.recovery: Recovery | None = None
        self.recovery_bound = DEFERRAL_BOUND
        self._state_timer: asyncio.TimerHandle | None = None
        self.loop = loop or asyncio.get_running_loop()
        self.rib = Rib()
        self.outbound = Outbound(self.rib, int(config.bgp.cluster_id), self._soon)
        self.peers: dict[str, Peer] = {}
        self.servers: list[asyncio.AbstractServer] = []
        self.rejected = 0
        self.started_at = self.loop.time()

    def _soon(self, fn: Callable[[], None]) -> None:
        self.loop.call_soon(fn)

    # -- configuration -----------------------------------------------------------------------

    def capabilities_for(self, peer: PeerConfig) -> Capabilities:
        g = self.config.bgp
        fams = (IPV4_UNICAST, IPV6_UNICAST)
        return Capabilities(
            families=fams,
            route_refresh=True,
            enhanced_route_refresh=True,
            four_octet_as=g.asn,
            # RFC 4724 §3: as a helper we list our families so a restarting peer knows we keep
            # its routes; F=1 because pyrr's forwarding state (none: an RR does not forward)
            # cannot be lost by a restart of the peer.
            graceful_restart=GracefulRestart(
                # RFC 4724 §4.1: the Restart State bit while we recover from a restart.
                flags=GRFlags.RESTART
                if self.recovery is not None and self.recovery.active
                else GRFlags.NONE,
                restart_time=g.restart_time,
                families=tuple((f, True) for f in fams),
            ),
            extended_message=True,
        )

    def group_key(self, peer: Peer, neg: Negotiated, conn: Connection) -> GroupKey:
        role = peer.role
        nh_self: tuple[tuple[tuple[int, int], bytes], ...] = ()
        ebgp_peer = ""
        if role == Role.EBGP:
            ebgp_peer = peer.key
            local = conn.local[0] if conn.local else None
            if local:
                addr = ip_address(local.split("%")[0])
                fam = IPV4_UNICAST if addr.version == 4 else IPV6_UNICAST
                nh_self = ((fam, addr.packed),)
        return GroupKey(
            role=role,
            families=neg.families,
            four_octet_as=neg.four_octet_as,
            extended_message=neg.extended_message,
            add_path_tx=neg.add_path_tx,
            ebgp_peer=ebgp_peer,
            local_as=self.config.bgp.asn,
            next_hop_self=nh_self,
        )

    def source_address_for(self, peer: PeerConfig) -> str | None:
        """Dial from a listen address of the peer's family, so the peer sees the address it has
        configured for us (Calico nodes configure the RR's IP)."""
        for a in self.config.bgp.listen:
            if a.version == peer.address.version:
                return str(a)
        return None

    def make_client_socket(self, peer: PeerConfig, local: str | None) -> socket.socket:
        fam = socket.AF_INET if peer.address.version == 4 else socket.AF_INET6
        sock = socket.socket(fam, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if local:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((local, 0))
        except OSError:
            sock.close()
            raise
        return sock

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self.state_path is not None:
            before = load_state(self.state_path, self.config.bgp.restart_time)
            if before is not None:
                configured = {p.key for p in self.config.peers}
                self.recovery = Recovery(self.loop, before & configured, self.recovery_bound)
        await self._listen()
        for pc in self.config.peers:
            self._add_peer(pc)
        log.info(
            "pyrr started",
            router_id=str(self.config.bgp.router_id),
            cluster_id=str(self.config.bgp.cluster_id),
            asn=self.config.bgp.asn,
            peers=len(self.peers),
            listen=[str(a) for a in self.config.bgp.listen] or ["*"],
            port=self.config.bgp.port,
        )

    async def _listen(self) -> None:
        g = self.config.bgp
        hosts: list[str] = [str(a) for a in g.listen] or ["0.0.0.0", "::"]
        for host in hosts:
            fam = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.socket(fam, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if fam == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind((host, g.port))
            except OSError:
                sock.close()
                raise
            sock.setblocking(False)
            # A deep backlog: a thousand nodes connecting at once must not lose SYNs (BIRD's
            # backlog of 8 costs it ~20 s at N=1000).
            server = await self.loop.create_server(
                lambda: Connection(None, self, False, self.loop), sock=sock, backlog=4096
            )
            self.servers.append(server)

    def _add_peer(self, pc: PeerConfig) -> Peer:
        p = Peer(self, pc)
        self.peers[pc.key] = p
        p.start()
        return p

    def sessions_changed(self) -> None:
        """Remember the Established peers (debounced) for the next start's recovery."""
        if self.state_path is None or self._state_timer is not None:
            return
        self._state_timer = self.loop.call_later(0.5, self._save_state)

    def established_peers(self) -> list[str]:
        return [k for k, p in self.peers.items() if p.established is not None]

    def _save_state(self) -> None:
        self._state_timer = None
        if self.state_path is not None:
            save_state(self.state_path, self.established_peers())

    async def stop_for_restart(self) -> None:
        """Stop so that peers keep our routes (RFC 4724 §4.2 on their side): no NOTIFICATION,
        just close every connection, and remember who was up for the next start."""
        if self._state_timer is not None:
            self._state_timer.cancel()
            self._state_timer = None
        up = self.established_peers()
        if self.state_path is not None:
            save_state(self.state_path, up)
        for srv in self.servers:
            srv.close()
        for p in self.peers.values():
            p.halt_for_restart()
        log.info("stopped for a graceful restart", established=len(up))

    async def stop(self, message: str = "pyrr shutting down") -> None:
        """RFC 4486 §4 / RFC 9003: Cease/Administrative Shutdown with a message to every peer.

        The peers flush our routes, so the next start is a cold one: no restart state is kept.
        """
        if self._state_timer is not None:
            self._state_timer.cancel()
            self._state_timer = None
        if self.state_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.state_path.unlink()
        for srv in self.servers:
            srv.close()
        for p in self.peers.values():
            p.stop(CeaseSub.ADMINISTRATIVE_SHUTDOWN, message)
        # Let the NOTIFICATIONs reach the sockets.
        await asyncio.sleep(0.05)
        for srv in self.servers:
            await srv.wait_closed()

    def reconfigure(self, new: Config) -> None:
        """Apply a new peer set: only peers whose config changed are touched."""
        old_peers = {p.key: p.config for p in self.peers.values()}
        new_peers = {p.key: p for p in new.peers}
        self.config = replace(self.config, peers=new.peers, log_level=new.log_level)
        for key, pc in old_peers.items():
            if key not in new_peers:
                log.info("peer removed", peer=key)
                self.peers.pop(key).stop(CeaseSub.PEER_DECONFIGURED)
            elif new_peers[key] != pc:
                log.info("peer changed", peer=key)
                self.peers.pop(key).stop(CeaseSub.OTHER_CONFIGURATION_CHANGE)
                self._add_peer(new_peers[key])
        for key, pc in new_peers.items():
            if key not in old_peers:
                log.info("peer added", peer=key)
                self._add_peer(pc)

    # -- inbound -----------------------------------------------------------------------------

    def accept(self, conn: Connection) -> tuple[Session, ConnectionOwner] | None:
        remote = conn.remote[0] if conn.remote else ""
        try:
            addr = ip_address(remote.split("%")[0])
            if addr.version == 6 and addr.ipv4_mapped is not None:
                addr = addr.ipv4_mapped
            key = str(addr)
        except ValueError:
            key = remote
        peer = self.peers.get(key)
        if peer is None or peer.stopped:
            # RFC 4486 §4: Cease / Connection Rejected for a host that is not a configured peer.
            self.rejected += 1
            log.info("connection rejected: not a configured peer", remote=remote)
            t = conn.transport
            if t is not None:
                t.write(Notification(ErrCode.CEASE, CeaseSub.CONNECTION_REJECTED).encode())
                conn.close()
            return None
        return peer.adopt_inbound(conn), peer


__all__ = ["BGP_PORT", "Speaker"]
