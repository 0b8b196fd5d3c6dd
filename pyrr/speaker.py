"""The speaker, sans-IO: the configured neighbours, the RIB and the export layer of one pyrr,
and the decisions that concern more than one neighbour (who an inbound connection belongs to,
what a new configuration changes, the restart deferral).

The asyncio host (pyrr.transport.host) feeds it every input with the time and carries out
what comes out: `take_effects()` (dials, state saves) and `next_timer()` / `handle_timer(now)`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import replace
from ipaddress import IPv6Address, ip_address

import structlog

from .bgp.attributes import PathAttrs
from .bgp.constants import CeaseSub
from .bgp.nlri import Family
from .bgp.update import Update
from .config import Config, PeerConfig
from .export.export import Export
from .export.import_filter import filter_update, import_matchers
from .export.policy import as_path_looped, is_looped
from .rib.housekeeping import Housekeeping
from .rib.loc_rib import Rib, Run, run_changes
from .rib.path import Source
from .session.effects import Dial, Effect
from .session.link import Link, Sink
from .session.local import Local
from .session.neighbor import Neighbor
from .session.ports import Monitor
from .session.recovery import DEFERRAL_BOUND, Recovery
from .session.timers import Timers

log = structlog.get_logger("pyrr.speaker")

# "connection rejected" lines per second at most: a flood of connections from unconfigured
# addresses must not become a flood of log lines (the count is in `Speaker.rejected`).
REJECT_LOG_RATE = 5.0


class Speaker:
    def __init__(
        self,
        config: Config,
        now: float,
        schedule: Callable[[Callable[[], None]], None],
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.local = Local(config.bgp, rng)
        self.rib = Rib()
        self.housekeeping = Housekeeping(self.rib)
        self.export = Export(
            self.rib,
            int(config.bgp.cluster_id),
            schedule,
            add_path_send=config.bgp.add_path_send,
            no_export=config.bgp.no_export,
        )
        self.timers = Timers()
        self.effects: list[Effect] = []
        self.peers: dict[str, Neighbor] = {}
        self.recovery: Recovery | None = None
        self.started_at = now
        self.rejected = 0
        self.monitor: Monitor | None = None  # BMP / MRT (pyrr.monitor), when configured
        self._reject_log_budget = REJECT_LOG_RATE
        self._reject_log_at = now
        self._reject_log_suppressed = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(
        self, now: float, up_before: set[str] | None = None, bound: float = DEFERRAL_BOUND
    ) -> None:
        """Start every neighbour. `up_before`: the peers that were Established when pyrr last
        stopped for a graceful restart (RFC 4724 §4.1 recovery), None for a cold start."""
        if up_before is not None:
            configured = {p.key for p in self.config.peers}
            self.recovery = Recovery(up_before & configured, now, bound)
            self.local.deferral = self.recovery
            self.timers.update(self.recovery)
        for pc in self.config.peers:
            self._add_peer(pc, now)
        g = self.config.bgp
        log.info(
            "pyrr started",
            router_id=str(g.router_id),
            cluster_id=str(g.cluster_id),
            asn=g.asn,
            peers=len(self.peers),
            listen=[str(a) for a in g.listen] or ["*"],
            port=g.port,
        )

    def stop(self, now: float, message: str) -> None:
        """RFC 4486 §4 / RFC 9003: Cease/Administrative Shutdown with a message to every peer."""
        for n in self.peers.values():
            n.stop(now, CeaseSub.ADMINISTRATIVE_SHUTDOWN, message)

    def halt_for_restart(self) -> None:
        for n in self.peers.values():
            n.halt_for_restart()

    def established_peers(self) -> list[str]:
        return [k for k, n in self.peers.items() if n.established is not None]

    def take_effects(self) -> list[Effect]:
        # Cleared in place: every neighbour holds this very list.
        effects = self.effects[:]
        self.effects.clear()
        return effects

    def next_timer(self) -> float | None:
        return self.timers.next_at()

    def handle_timer(self, now: float) -> None:
        self.timers.run(now)

    def attach_monitor(self, monitor: Monitor | None) -> None:
        """Tell `monitor` what every neighbour and the Loc-RIB do from now on (None: stop);
        the neighbours read it here (`Routes.monitor`)."""
        self.monitor = monitor

    def _add_peer(self, pc: PeerConfig, now: float) -> Neighbor:
        n = Neighbor(pc, self.local, self, self.export, self.effects, self.timers, self.recovery)
        self.peers[pc.key] = n
        n.start(now)
        self.timers.update(n)
        return n

    def _stop_peer(self, key: str, now: float, subcode: int) -> None:
        n = self.peers.pop(key)
        n.stop(now, subcode)
        self.timers.update(n)

    def reconfigure(self, new: Config, now: float) -> None:
        """Apply a new peer set: only peers whose config changed are touched.

        A new local AS (Calico's bgpconfigurations/default asNumber) changes every session's
        OPEN and every peer's iBGP/eBGP role, so every session is reset with Cease/Other
        Configuration Change (RFC 4486 §4) and started again. No-export prefixes (Calico's
        IPPool disableBGPExport) apply at once: what they now cover is withdrawn, what they no
        longer cover is sent. Other global settings (router id, listen addresses, port, the
        ADD-PATH send count offered in every OPEN) need a restart and are kept.
        """
        if new.bgp.no_export != self.config.bgp.no_export:
            log.info("no-export prefixes changed", prefixes=[str(n) for n in new.bgp.no_export])
            self.export.set_no_export(new.bgp.no_export)
            self.config = replace(
                self.config, bgp=replace(self.config.bgp, no_export=new.bgp.no_export)
            )
        if new.bgp.add_path_send != self.config.bgp.add_path_send:
            log.warning(
                "the ADD-PATH send count changes at the next restart",
                running=self.config.bgp.add_path_send,
                configured=new.bgp.add_path_send,
            )
        if new.bgp.asn != self.config.bgp.asn:
            log.warning(
                "local AS changed; resetting every session",
                old_asn=self.config.bgp.asn,
                new_asn=new.bgp.asn,
                peers=len(self.peers),
            )
            for key in list(self.peers):
                self._stop_peer(key, now, CeaseSub.OTHER_CONFIGURATION_CHANGE)
            self.config = replace(self.config, bgp=replace(self.config.bgp, asn=new.bgp.asn))
        self.local.set_global(self.config.bgp)
        old_peers = {k: n.config for k, n in self.peers.items()}
        new_peers = {p.key: p for p in new.peers}
        self.config = replace(self.config, peers=new.peers, log_level=new.log_level)
        for key, pc in old_peers.items():
            if key not in new_peers:
                log.info("peer removed", peer=key)
                self._stop_peer(key, now, CeaseSub.PEER_DECONFIGURED)
            elif new_peers[key] != pc:
                log.info("peer changed", peer=key)
                self._stop_peer(key, now, CeaseSub.OTHER_CONFIGURATION_CHANGE)
                self._add_peer(new_peers[key], now)
        for key, pc in new_peers.items():
            if key not in old_peers:
                log.info("peer added", peer=key)
                self._add_peer(pc, now)

    # -- inputs, each handed to one neighbour ------------------------------------------------

    def neighbor_for(self, remote: str, now: float) -> Neighbor | None:
        """The neighbour an inbound connection from `remote` belongs to, or None (counted and
        logged: RFC 4486 §4 Connection Rejected is the host's to send)."""
        # The kernel's spelling of an address is the canonical one for IPv4 and nearly always
        # for IPv6; parse it only when it is not a peer's key as it stands (a scope, a mapped
        # IPv4 address).
        n = self.peers.get(remote)
        if n is None:
            try:
                addr = ip_address(remote.partition("%")[0])
            except ValueError:
                key = remote
            else:
                mapped = addr.ipv4_mapped if isinstance(addr, IPv6Address) else None
                key = str(mapped or addr)
            n = self.peers.get(key)
        if n is None or n.stopped:
            self.rejected += 1
            self._log_rejected(remote, now)
            return None
        return n

    def accept(self, n: Neighbor, sink: Sink, now: float) -> Link:
        link = n.accept(sink, now)
        self.timers.update(n)
        return link

    def connected(self, dial: Dial, sink: Sink, now: float) -> tuple[Neighbor, Link] | None:
        """A dial succeeded: the neighbour's new link, or None when it is no longer wanted."""
        n = self.peers.get(dial.neighbor.key)
        if n is not dial.neighbor:
            return None  # de-configured meanwhile
        link = n.connected(dial.attempt, sink, now)
        self.timers.update(n)
        return (n, link) if link is not None else None

    def dial_failed(self, dial: Dial, now: float, error: str) -> None:
        n = self.peers.get(dial.neighbor.key)
        if n is dial.neighbor:
            n.dial_failed(dial.attempt, now, error)
            self.timers.update(n)

    def connection_lost(self, n: Neighbor, link: Link, now: float, reason: str) -> None:
        n.connection_lost(link, now, reason)
        self.timers.update(n)

    def write_paused(self, n: Neighbor, link: Link, now: float) -> None:
        n.write_paused(link, now)
        self.timers.update(n)

    def write_resumed(self, n: Neighbor, link: Link, now: float) -> None:
        n.write_resumed(link, now)

    # -- Routes (session.ports): what neighbours learn ---------------------------------------

    def apply(
        self, source: Source, update: Update, add_path_rx: frozenset[Family], now: float
    ) -> None:
        self._apply(source, update, add_path_rx)
        if self.rib.untidy and self.housekeeping.arm(now):
            self.timers.update(self.housekeeping)

    def _apply(self, source: Source, update: Update, add_path_rx: frozenset[Family]) -> None:
        attrs = update.attrs
        if attrs is not None and self._looped(source, attrs):
            # RFC 4456 §8 (a reflected route came back to us) or RFC 4271 §9.1.2 (our AS in
            # AS_PATH): drop (= withdraw) it.
            update.withdrawn.extend((fam, pfx) for fam, _nh, pfx in update.announced)
            update.announced = []
            update.attrs = None
        n = self.peers.get(source.key) if update.announced else None
        if n is not None and n.config.filters and n.source is source:
            matchers = import_matchers(n.config.filters)
            if matchers:
                # The peer's import filters (Calico BGPFilter), for the peer the routes come
                # from: a rejected route is withdrawn, an accepted one may be changed.
                changes = []
                for part in filter_update(update, matchers, source.ibgp, add_path_rx):
                    changes += self.rib.apply_update(source, part, add_path_rx)
                if changes:
                    self.export.changes(changes)
                    if self.monitor is not None:
                        self.monitor.loc_rib_changes(changes)
                return
        runs: list[Run] = []
        changes = self.rib.apply_update(source, update, add_path_rx, runs)
        if runs:
            # Withdrawn runs first: the RIB applied them before the changes (apply_update).
            self.export.gone(runs)
            if self.monitor is not None:
                self.monitor.loc_rib_changes(run_changes(runs))
        if changes:
            self.export.changes(changes)
            if self.monitor is not None:
                self.monitor.loc_rib_changes(changes)

    def _looped(self, source: Source, attrs: PathAttrs) -> bool:
        local = self.local
        if source.ibgp and is_looped(attrs, local.router_id, local.cluster_id):
            return True
        if not attrs.as_path:
            return False  # a Calico node's own routes: nothing to scan
        n = self.peers.get(source.key)
        if n is None:
            return False
        return bool(as_path_looped(attrs, local.local_as(n.config), n.config.allow_local_as))

    def mark_stale(self, source: Source, families: Iterable[Family] | None = None) -> int:
        return self.rib.mark_stale(source, families)

    def sweep_stale(self, source: Source, family: Family) -> int:
        changes = self.rib.sweep_stale(source, family)
        self.export.changes(changes)
        if changes and self.monitor is not None:
            self.monitor.loc_rib_changes(changes)
        return len(changes)

    def drop(self, source: Source) -> None:
        changes = self.rib.drop_source(source)
        self.export.changes(changes)
        if changes and self.monitor is not None:
            self.monitor.loc_rib_changes(changes)

    # -- logging -----------------------------------------------------------------------------

    def _log_rejected(self, remote: str, now: float) -> None:
        """Log a rejected connection, at most REJECT_LOG_RATE lines a second (token bucket);
        what a flood suppresses is counted in the next line that gets through."""
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
