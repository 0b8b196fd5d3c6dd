"""Calico mode: the peers come from Calico's etcd v3 datastore and follow it live.

`CalicoSource` owns the `EtcdStore` (pyrr.store.etcd.client), keeps the resources it reports,
turns them into a Config with pyrr.store.calico.desired's `desired()`, and hands that Config to
the speaker whenever it differs from the running one. The speaker diffs peers by address, so a
change touches only the sessions it concerns.

Start-up (pyrr.runtime.serve): `initial_config(stop)` starts the store and waits for the first
snapshot (or for the runtime's `stop` event: signals are the runtime's business), then the
speaker starts with those peers (so listening, readiness and an RFC 4724 restart's recovery all
know the full peer set), then `attach(speaker)` hands it every later change.

- A snapshot (the first list, and every re-list after an etcd outage, a compaction or a
  resync) replaces the whole model and is applied at once: the diff against the running
  configuration is the reconciliation, so unchanged peers are never touched.
- A change (put or delete of one key) updates the model; changes are collected for DEBOUNCE
  seconds and applied together, so a burst of writes (calicoctl apply -f of many resources)
  costs one reconfiguration, and any change is applied within a second.
- A value that is not usable (corrupt JSON, wrong kind, bad field) is logged with its key and
  counts as absent: that one resource is skipped (a corrupt update of a node removes its
  session), nothing else is affected. libcalico-go does the same in effect (its etcdv3 List
  skips entries it cannot parse, and a watch error leads to a re-list).
- Problems and skipped nodes that desired() reports are logged once, when they appear (and
  once more at info level when they are gone), each with its etcd key.
- `bgpconfigurations/default` `asNumber` is the local AS (a change resets every session: see
  Speaker.reconfigure); its `logSeverityScreen` sets the log level unless the command line or
  BGP_LOGSEVERITYSCREEN chose one.
- etcd unreachable: nothing changes (every session and route stays), the status is logged,
  the store retries with backoff and re-lists on reconnection.
- RR clusters (EnvSettings.rr_cluster): this instance registers `/calico/bgp/v1/rr_v4/<IP>`
  (and rr_v6/<IP6>) under a lease of REGISTRATION_TTL seconds; every other registered
  instance becomes a non-client iBGP peer (see pyrr.store.calico.desired). A dead instance's
  lease runs out and its session is removed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol

import structlog

from ... import log as logmod
from ...config import Config
from ..etcd.client import EtcdStore
from ..file.environment import EnvSettings
from .desired import desired
from .model import (
    PREFIXES,
    CalicoModel,
    Desired,
    Identity,
    Problem,
    Resource,
    registration_key,
    registration_value,
)
from .resources import parse_resource

__all__ = ["DEBOUNCE", "REGISTRATION_TTL", "CalicoSource", "Reconfigurable"]

log = structlog.get_logger("pyrr.calico")

# Seconds a change waits for the rest of its burst before it is applied.
DEBOUNCE: Final = 0.1
# Lease of an RR cluster registration: a killed instance disappears after at most this long.
# etcd does not expire leases while it has no leader, so an etcd outage alone never does it.
REGISTRATION_TTL: Final = 15


class Reconfigurable(Protocol):
    """What CalicoSource needs of the speaker."""

    @property
    def config(self) -> Config: ...

    def reconfigure(self, new: Config) -> None: ...


def set_log_level(level: str) -> None:
    """Change the level of every pyrr logger at runtime (renderer and stream are kept)."""
    logmod.set_level(level)


class CalicoSource:
    """Keeps a speaker's peers equal to what Calico's datastore asks for."""

    def __init__(
        self,
        base: Config,
        env: EnvSettings,
        *,
        keep_log_level: bool = False,
        registration_ttl: int = REGISTRATION_TTL,
        debounce: float = DEBOUNCE,
        store_options: Mapping[str, Any] | None = None,
        on_log_level: Callable[[str], None] = set_log_level,
    ) -> None:
        """`base` is the global configuration (pyrr.store.file.merge.merge); its peers and AS are
        replaced by the datastore's. `keep_log_level`: the command line or
        BGP_LOGSEVERITYSCREEN set the log level, so logSeverityScreen is ignored."""
        if not env.etcd_mode:
            raise ValueError("CalicoSource needs ETCD_ENDPOINTS")
        self.base = base
        self.env = env
        self.identity = Identity.from_settings(base, env)
        self.keep_log_level = keep_log_level
        self.registration_ttl = registration_ttl
        self.debounce = debounce
        self._on_log_level = on_log_level
        self.store = EtcdStore(
            env.etcd_endpoints,
            env.etcd_ca_cert_file,
            env.etcd_cert_file,
            env.etcd_key_file,
            env.etcd_username,
            env.etcd_password,
            prefixes=PREFIXES,
            on_snapshot=self._on_snapshot,
            on_change=self._on_change,
            on_status=self._on_status,
            **dict(store_options or {}),
        )
        self.speaker: Reconfigurable | None = None
        self.resources: dict[str, Resource] = {}
        self.unusable: dict[str, str] = {}  # key -> why its value was skipped
        self.desired: Desired | None = None
        self.config: Config | None = None  # the Config the datastore asks for now
        self._log_level = base.log_level
        self._had_peers = False
        self.revision = 0  # of the last snapshot or change taken in
        self.status = "stopped"
        self.reconfigurations = 0  # times the speaker was handed a new Config
        self._ready = False
        self._when_ready: list[Callable[[], None]] = []
        self._reported: dict[tuple[str, str], str] = {}  # (key, message) -> "problem"/"skipped"
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """True once the first snapshot has been applied."""
        return self._ready

    def when_ready(self, callback: Callable[[], None]) -> None:
        """Call `callback` (on the loop) once the first snapshot is applied; now if it is."""
        if self._ready:
            callback()
        else:
            self._when_ready.append(callback)

    async def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait (bounded by `timeout`) for the first snapshot; True if it was applied."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def finish() -> None:
            if not done.done():
                done.set_result(None)

        self.when_ready(finish)
        try:
            await asyncio.wait_for(asyncio.shield(done), timeout)
        except TimeoutError:
            return False
        return True

    async def start(self) -> None:
        """Register (RR clusters) and start watching etcd; returns at once."""
        self._loop = asyncio.get_running_loop()
        me = self.identity
        if me.rr_cluster:
            cluster_id = self.base.bgp.cluster_id
            port = self.base.bgp.port
            for address in (me.ip, me.ip6):
                if address is None:
                    continue
                key = registration_key(address)
                value = registration_value(address, cluster_id, port)
                self.store.register(key, value, ttl=self.registration_ttl)
                log.info("registering in the RR cluster", key=key, cluster_id=str(cluster_id))
        log.info(
            "reading Calico's datastore",
            endpoints=[e.url for e in self.env.etcd_endpoints],
            ip=str(me.ip),
            ip6=str(me.ip6) if me.ip6 else None,
            rr_cluster=me.rr_cluster,
        )
        await self.store.start()

    async def initial_config(self, stop: asyncio.Event | None = None) -> Config | None:
        """Start, and wait for the first snapshot: the Config to start the speaker with.

        Waits as long as etcd stays unreachable (the store logs it and retries). When `stop`
        is set meanwhile (pyrr.runtime sets it on SIGTERM, SIGINT or SIGUSR2), stops the store
        and returns None; cancelled, stops the store and lets the cancellation through.
        """
        await self.start()
        waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(self.wait_ready())]
        if stop is not None:
            waits.append(asyncio.ensure_future(stop.wait()))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            await self.stop()
            raise
        finally:
            for waiting in waits:
                waiting.cancel()
        if not self._ready or self.config is None:
            log.info("stopped before Calico's datastore was read")
            await self.stop()
            return None
        return self.config

    def attach(self, speaker: Reconfigurable) -> None:
        """From now on keep `speaker` (started with `initial_config()`, or any other
        configuration) equal to what the datastore asks for; applies what changed meanwhile."""
        self.speaker = speaker
        if self._timer is not None:
            self._timer.cancel()
        self.apply()

    async def stop(self, *, graceful_restart: bool = False) -> None:
        """Stop watching. The registration is revoked (the other RRs drop this one at once)
        unless `graceful_restart`: then it stays, as the session state does on the peers."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self.store.stop(revoke=not graceful_restart)
        self.speaker = None

    def resync(self) -> None:
        """List the datastore again and reconcile (what SIGHUP does in etcd mode)."""
        log.info("re-reading Calico's datastore")
        self.store.resync()

    # -- what the store reports (on the loop) ----------------------------------------------------

    def _on_snapshot(self, snapshot: dict[str, bytes], revision: int) -> None:
        resources: dict[str, Resource] = {}
        unusable: dict[str, str] = {}
        for key, raw in snapshot.items():
            parsed = parse_resource(key, raw)
            if isinstance(parsed, Problem):
                unusable[key] = parsed.message
            else:
                resources[key] = parsed
        self.resources, self.unusable = resources, unusable
        self.revision = revision
        log.info(
            "datastore snapshot",
            revision=revision,
            resources=len(resources),
            unusable=len(unusable),
        )
        # A snapshot is a whole batch already: apply it now.
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.apply()

    def _on_change(self, key: str, value: bytes | None, revision: int) -> None:
        self.revision = revision
        if value is None:
            self.resources.pop(key, None)
            self.unusable.pop(key, None)
            log.debug("datastore delete", key=key, revision=revision)
        else:
            parsed = parse_resource(key, value)
            if isinstance(parsed, Problem):
                self.resources.pop(key, None)
                self.unusable[key] = parsed.message
            else:
                self.resources[key] = parsed
                self.unusable.pop(key, None)
            log.debug("datastore put", key=key, revision=revision)
        if self._timer is None and self._loop is not None:
            self._timer = self._loop.call_later(self.debounce, self.apply)

    def _on_status(self, status: str) -> None:
        self.status = status
        if status.startswith("disconnected"):
            log.warning("etcd status", status=status, peers="kept as they are")
        else:
            log.info("etcd status", status=status)

    # -- applying ------------------------------------------------------------------------------

    def compute(self) -> tuple[Desired, Config]:
        """What the datastore asks for now, and the Config that gives it."""
        model = CalicoModel.from_resources(self.resources.values())
        wanted = desired(model, self.identity)
        return wanted, wanted.apply(self.base, keep_log_level=self.keep_log_level)

    def apply(self) -> None:
        """Recompute; hand the speaker a new Config only if it differs from the running one."""
        self._timer = None
        wanted, new = self.compute()
        self.desired = wanted
        self.config = new
        self._report(wanted)
        if not new.peers and (self._had_peers or not self._ready):
            me = self.identity
            log.warning(
                "no sessions: no BGPPeer in the datastore points at this reflector",
                peer_ip=[str(a) for a in (me.ip, me.ip6) if a is not None],
                hint="a BGPPeer's spec.peerIP must be this reflector's IP (or IP6)",
            )
        self._had_peers = bool(new.peers)
        if new.log_level != self._log_level:
            self._log_level = new.log_level
            self._on_log_level(new.log_level)
            log.info("log level set by the datastore", level=new.log_level)
        speaker = self.speaker
        if speaker is not None:
            running = speaker.config
            if (
                set(new.peers) != set(running.peers)
                or new.bgp.asn != running.bgp.asn
                or new.log_level != running.log_level
            ):
                old = {p.key: p for p in running.peers}
                fresh = {p.key: p for p in new.peers}
                log.info(
                    "applying the datastore",
                    revision=self.revision,
                    asn=new.bgp.asn,
                    peers=len(fresh),
                    added=sorted(k for k in fresh if k not in old),
                    removed=sorted(k for k in old if k not in fresh),
                    changed=sorted(k for k in fresh if k in old and fresh[k] != old[k]),
                )
                speaker.reconfigure(new)
                self.reconfigurations += 1
        if not self._ready:
            self._ready = True
            log.info(
                "Calico datastore read",
                revision=self.revision,
                asn=new.bgp.asn,
                peers=len(new.peers),
            )
            callbacks, self._when_ready = self._when_ready, []
            for callback in callbacks:
                callback()

    def _report(self, wanted: Desired) -> None:
        """Log each problem once when it appears, and once when it is gone."""
        now: dict[tuple[str, str], str] = {}
        for key, message in self.unusable.items():
            now[(key, message)] = "unusable"
        for problem in wanted.problems:
            now[(problem.key, problem.message)] = "problem"
        for skip in wanted.skipped:
            now[(skip.key, skip.message)] = "skipped"
        for (key, message), kind in now.items():
            if (key, message) in self._reported:
                continue
            if kind == "unusable":
                log.warning("datastore value skipped", key=key, problem=message)
            elif kind == "problem":
                log.warning("datastore problem", key=key, problem=message)
            else:
                log.info("no session for a node", key=key, reason=message)
        for (key, message), kind in self._reported.items():
            if (key, message) not in now and kind != "skipped":
                log.info("datastore problem resolved", key=key, problem=message)
        self._reported = now
