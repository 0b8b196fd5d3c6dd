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
from .bgp.fsm import OPEN_WAIT_TIME, Session
from .bgp.messages import Notification
from .bgp.nlri import IPV4_UNICAST, IPV6_UNICAST
from .config import Config, IPAddress, PeerConfig
from .out.groups import GroupKey, Outbound
from .peer import Peer
from .recovery import DEFERRAL_BOUND, Recovery, load_state, save_state
from .rib.loc_rib import Rib
from .rib.reflect import Role
from .transport.protocol import Connection, ConnectionOwner
from .transport.sockopts import (
    GTSM_TTL,
    clear_md5,
    min_ttl_for,
    set_gtsm,
    set_md5,
    set_min_ttl,
    set_ttl,
)

log = structlog.get_logger("pyrr.speaker")

# "connection rejected" lines per second at most: a flood of connections from unconfigured
# addresses must not become a flood of log lines (the count is in `Speaker.rejected`).
REJECT_LOG_RATE = 5.0


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
        self._caps_cache: dict[bool, Capabilities] = {}  # by "recovering"; same for every peer
        self._state_timer: asyncio.TimerHandle | None = None
        self.loop = loop or asyncio.get_running_loop()
        self.rib = Rib()
        self.outbound = Outbound(self.rib, int(config.bgp.cluster_id), self._soon)
        self.peers: dict[str, Peer] = {}
        self.servers: list[asyncio.AbstractServer] = []
        # The listening sockets, and the RFC 2385 keys set on each (by fd): see _secure_listener.
        self.listen_sockets: list[socket.socket] = []
        self._listen_keys: dict[int, dict[IPAddress, str]] = {}
        self._listen_ttl_255: set[int] = set()  # IP versions whose listeners send TTL 255
        self.rejected = 0
        self._reject_log_budget = REJECT_LOG_RATE
        self._reject_log_at = self.loop.time()
        self._reject_log_suppressed = 0
        # RFC 4271 §10's "large value" for the hold timer in OpenSent: how long a connection
        # may take to send a whole OPEN (tests shorten it).
        self.open_wait = OPEN_WAIT_TIME
        self.started_at = self.loop.time()

    def _soon(self, fn: Callable[[], None]) -> None:
        self.loop.call_soon(fn)

    # -- configuration -----------------------------------------------------------------------

    def capabilities_for(self, peer: PeerConfig) -> Capabilities:
        restarting = self.recovery is not None and self.recovery.active
        caps = self._caps_cache.get(restarting)
        if caps is None:
            caps = self._caps_cache[restarting] = self._capabilities(peer)
        return caps

    def _capabilities(self, peer: PeerConfig) -> Capabilities:
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
            # Before connect(): the SYN is signed (RFC 2385) and the SYN-ACK TTL-checked
            # (RFC 5082).
            if peer.password:
                set_md5(sock, peer.address, peer.password)
            if peer.ttl_security:
                set_gtsm(sock, peer.ttl_security)
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
            try:
                # Keys and TTLs before listen(): no SYN is ever accepted without them.
                self._secure_listener(sock)
            except OSError as err:
                sock.close()
                raise OSError(
                    err.errno, f"TCP MD5 keys / TTL security on {host}: {err.strerror}"
                ) from err
            sock.setblocking(False)
            self.listen_sockets.append(sock)
            # A deep backlog: a thousand nodes connecting at once must not lose SYNs (BIRD's
            # backlog of 8 costs it ~20 s at N=1000).
            server = await self.loop.create_server(
                lambda: Connection(None, self, False, self.loop), sock=sock, backlog=4096
            )
            self.servers.append(server)

    def _secure_listener(self, sock: socket.socket) -> None:
        """RFC 2385 keys and RFC 5082 TTLs on one listening socket, from the configured peers
        of its family; called at start and on every reconfiguration.

        - TCP MD5: one key per peer with a password (an accepted connection inherits its
          peer's key); the keys of peers that are gone or lost their password are removed.
        - GTSM: when any peer of this family uses it, the listener sends with TTL 255 (its
          SYN-ACKs must pass that peer's own minimum TTL check, which a GTSM speaker sets
          before connecting). A listener cannot check the minimum TTL per source address, so
          it checks one only when *every* peer of its family uses GTSM (the loosest of their
          minimums); each accepted connection then gets its own peer's minimum in accept().
        """
        version = 6 if sock.family == socket.AF_INET6 else 4
        peers = [p for p in self.config.peers if p.address.version == version]
        keys = {p.address: p.password for p in peers if p.password}
        had = self._listen_keys.get(sock.fileno(), {})
        for addr in had.keys() - keys.keys():
            clear_md5(sock, addr)
        for addr, password in keys.items():
            if had.get(addr) != password:
                set_md5(sock, addr, password)
        self._listen_keys[sock.fileno()] = keys
        hops = [p.ttl_security for p in peers]
        set_ttl(sock, GTSM_TTL if any(hops) else None)
        if any(hops):
            self._listen_ttl_255.add(version)
        else:
            self._listen_ttl_255.discard(version)
        set_min_ttl(sock, min_ttl_for(max(hops)) if hops and all(hops) else 0)

    def _secure_listeners(self) -> None:
        for sock in self.listen_sockets:
            try:
                self._secure_listener(sock)
            except OSError as err:
                log.error(
                    "cannot set TCP MD5 keys / TTL security on a listening socket",
                    listen=str(sock.getsockname()[0]),
                    error=str(err),
                )

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
        """Apply a new peer set: only peers whose config changed are touched.

        A new local AS (Calico's bgpconfigurations/default asNumber) changes every session's
        OPEN and every peer's iBGP/eBGP role, so every session is reset with Cease/Other
        Configuration Change (RFC 4486 §4) and started again. Other global settings (router
        id, listen addresses, port) need a restart and are kept.
        """
        self._caps_cache.clear()  # the AS or restart time may change
        if new.bgp.asn != self.config.bgp.asn:
            log.warning(
                "local AS changed; resetting every session",
                old_asn=self.config.bgp.asn,
                new_asn=new.bgp.asn,
                peers=len(self.peers),
            )
            for key in list(self.peers):
                self.peers.pop(key).stop(CeaseSub.OTHER_CONFIGURATION_CHANGE)
            self.config = replace(self.config, bgp=replace(self.config.bgp, asn=new.bgp.asn))
        old_peers = {p.key: p.config for p in self.peers.values()}
        new_peers = {p.key: p for p in new.peers}
        self.config = replace(self.config, peers=new.peers, log_level=new.log_level)
        self._secure_listeners()  # before any peer (re)starts: new keys in place first
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
        # The kernel's spelling of an address is the canonical one for IPv4 and nearly always
        # for IPv6; parse it only when it is not a peer's key as it stands (a scope, a mapped
        # IPv4 address).
        peer = self.peers.get(remote)
        if peer is None:
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
            self._log_rejected(remote)
            t = conn.transport
            if t is not None:
                t.write(Notification(ErrCode.CEASE, CeaseSub.CONNECTION_REJECTED).encode())
                conn.close()
            return None
        if not self._secure_accepted(conn, peer.config):
            return None
        return peer.adopt_inbound(conn), peer

    def _secure_accepted(self, conn: Connection, pc: PeerConfig) -> bool:
        """RFC 5082 on an accepted connection, before any of its bytes is read: TTL 255 out,
        the peer's minimum TTL in. (Its TCP MD5 key came with it from the listener.)"""
        if not pc.ttl_security and pc.address.version not in self._listen_ttl_255:
            return True  # nothing to set (and uvloop builds a socket object per lookup)
        t = conn.transport
        sock = t.get_extra_info("socket") if t is not None else None
        if sock is None:
            return True
        try:
            if pc.ttl_security:
                set_gtsm(sock, pc.ttl_security)
            elif pc.address.version in self._listen_ttl_255:
                # The listener sends TTL 255 for the GTSM peers (see _secure_listener);
                # this peer's connection is an ordinary one.
                set_ttl(sock, None)
                set_min_ttl(sock, 0)
        except OSError as err:
            log.warning("cannot set TTL security: connection closed", peer=pc.key, error=str(err))
            conn.abort()
            return False
        return True

    def _log_rejected(self, remote: str) -> None:
        """Log a rejected connection, at most REJECT_LOG_RATE lines a second (token bucket);
        what a flood suppresses is counted in the next line that gets through."""
        now = self.loop.time()
        self._reject_log_budget = min(
            REJECT_LOG_RATE,
            self._reject_log_budget + (now - self._reject_log_at) * REJECT_LOG_RATE,
        )
        self._reject_log_at = now
        if self._reject_log_budget < 1.0:
            self._reject_log_suppressed += 1
            return
        self._reject_log_budget -= 1.0
        suppressed, self._reject_log_suppressed = self._reject_log_suppressed, 0
        if suppressed:
            log.info(
                "connection rejected: not a configured peer",
                remote=remote,
                suppressed=suppressed,
                rejected_total=self.rejected,
            )
        else:
            log.info("connection rejected: not a configured peer", remote=remote)


__all__ = ["BGP_PORT", "Speaker"]
