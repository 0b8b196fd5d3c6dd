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
- pyrr as a Node (EnvSettings.node_name, NODENAME): every computation first reads pyrr's own
  Node (pyrr.store.calico.node_self). The speaker starts once the Node (or IP) gives an IPv4
  address; its router id, addresses, cluster id and port are fixed then (`started`), and a
  later change of them is logged as needing a restart. Labels (the peer set) and the AS
  follow the Node live.
- BGPPeer password secrets (pyrr.store.calico.secrets) are read at every computation, and
  the ones in use are looked at again every SECRET_POLL seconds: a secret mounted, changed or
  removed is applied within that time.
- What pyrr does not apply (unknown or ignored fields, the node-to-node mesh in Node mode) is
  logged once (pyrr.store.calico.reporting).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import replace
from ipaddress import IPv4Address
from typing import Any, Final, Protocol

import structlog

from ... import log as logmod
from ...config import Config, IPAddress
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
from .node_self import NodeSettings, Started, resolve
from .reporting import Reporter
from .resources import parse_resource
from .secrets import DEFAULT_SECRETS_DIR, SecretDir, digest

__all__ = ["DEBOUNCE", "REGISTRATION_TTL", "SECRET_POLL", "CalicoSource", "Reconfigurable"]

log = structlog.get_logger("pyrr.calico")

# Seconds a change waits for the rest of its burst before it is applied.
DEBOUNCE: Final = 0.1
# Lease of an RR cluster registration: a killed instance disappears after at most this long.
# etcd does not expire leases while it has no leader, so an etcd outage alone never does it.
REGISTRATION_TTL: Final = 15
# Seconds between looks at the mounted secrets in use (Kubernetes updates a mounted secret
# within about a minute of a change; this adds little to that).
SECRET_POLL: Final = 5.0


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
        secret_poll: float = SECRET_POLL,
    ) -> None:
        """`base` is the global configuration (pyrr.store.file.merge.merge); its peers and AS are
        replaced by the datastore's. `keep_log_level`: the command line or
        BGP_LOGSEVERITYSCREEN set the log level, so logSeverityScreen is ignored."""
        if not env.etcd_mode:
            raise ValueError("CalicoSource needs ETCD_ENDPOINTS")
        self.base = base
        self.env = env
        secrets_dir = env.secrets_dir or base.calico.secrets_dir or DEFAULT_SECRETS_DIR
        self.secrets = SecretDir(secrets_dir)
        self.identity = replace(Identity.from_settings(base, env), secrets=self.secrets.lookup)
        self.node_settings: NodeSettings | None = None
        if env.node_name is not None:
            self.node_settings = NodeSettings(
                name=env.node_name,
                template=self.identity,
                ip=env.ip,
                ip6=env.ip6,
                cluster_id=env.cluster_id,
                port=env.port,
                default_port=base.bgp.port,
            )
        self.started: Started | None = None  # Node mode: what the speaker runs with
        self._wanted_start: Started | None = None  # Node mode: what the Node asks for now
        self.secret_poll = secret_poll
        self._registered = False
        self._reporter = Reporter()
        self._secret_timer: asyncio.TimerHandle | None = None
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
        if self.node_settings is None:
            self._register(me.ip, me.ip6, self.base.bgp.cluster_id, self.base.bgp.port)
        log.info(
            "reading Calico's datastore",
            endpoints=[e.url for e in self.env.etcd_endpoints],
            node=self.env.node_name,
            ip=str(self.env.ip or me.ip) if self.env.ip or self.node_settings is None else None,
            ip6=str(me.ip6) if me.ip6 else None,
            rr_cluster=me.rr_cluster,
        )
        await self.store.start()

    def _register(
        self, ip: IPv4Address, ip6: IPAddress | None, cluster_id: IPv4Address, port: int
    ) -> None:
        if not self.identity.rr_cluster or self._registered:
            return
        self._registered = True
        for address in (ip, ip6):
            if address is None:
                continue
            key = registration_key(address)
            value = registration_value(address, cluster_id, port)
            self.store.register(key, value, ttl=self.registration_ttl)
            log.info("registering in the RR cluster", key=key, cluster_id=str(cluster_id))

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
        if self._secret_timer is not None:
            self._secret_timer.cancel()
            self._secret_timer = None
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

    def _who(self, model: CalicoModel) -> tuple[Identity | None, Config, tuple[Problem, ...]]:
        """Who pyrr is for this computation, the base Config, and problems with its Node."""
        settings = self.node_settings
        if settings is None:
            return self.identity, self.base, ()
        resolved = resolve(model, settings, self.started)
        if resolved.identity is None or resolved.wanted is None:
            self._reporter.waiting(resolved.waiting)
            return None, self.base, resolved.problems
        self._reporter.waiting("")
        run = self.started or resolved.wanted
        if self.started is not None:
            self._reporter.restart_needed(self.started.differences(resolved.wanted))
        listen = tuple(a for a in (run.ip, run.ip6) if a is not None)
        bgp = replace(
            self.base.bgp,
            router_id=run.router_id,
            cluster_id=run.cluster_id,
            listen=listen,
            port=run.port,
        )
        self._wanted_start = resolved.wanted
        return resolved.identity, replace(self.base, bgp=bgp), resolved.problems

    def compute(self) -> tuple[Desired, Config] | None:
        """What the datastore asks for now, and the Config that gives it; None while pyrr's
        Node (NODENAME) does not give it an address yet."""
        model = CalicoModel.from_resources(self.resources.values())
        me, base, problems = self._who(model)
        if me is None:
            self._reporter.datastore(
                self.unusable, Desired(local_as=0, log_level=None, peers=(), problems=problems)
            )
            return None
        wanted = desired(model, me)
        if problems:
            wanted = replace(wanted, problems=problems + wanted.problems)
        return wanted, wanted.apply(base, keep_log_level=self.keep_log_level)

    def apply(self) -> None:
        """Recompute; hand the speaker a new Config only if it differs from the running one."""
        self._timer = None
        computed = self.compute()
        if computed is None:
            return
        wanted, new = computed
        self.desired = wanted
        self.config = new
        self._reporter.datastore(self.unusable, wanted)
        self._watch_secrets(wanted)
        if not new.peers and (self._had_peers or not self._ready):
            log.warning(
                "no sessions: no BGPPeer in the datastore gives this reflector any", **self._hint()
            )
        self._had_peers = bool(new.peers)
        if new.log_level != self._log_level:
            self._log_level = new.log_level
            self._on_log_level(new.log_level)
            log.info("log level set by the datastore", level=new.log_level)
        self._reconfigure(new)
        if not self._ready:
            self._first(new)

    def _hint(self) -> dict[str, object]:
        me = self.identity
        if self.node_settings is not None:
            return {
                "node": self.node_settings.name,
                "hint": "a BGPPeer must select this Node: its peerSelector (or nodeSelector)"
                " must match the Node's labels, e.g. peerSelector: route-reflector == 'true'",
            }
        return {
            "peer_ip": [str(a) for a in (me.ip, me.ip6) if a is not None],
            "hint": "a BGPPeer's spec.peerIP must be this reflector's IP (or IP6)",
        }

    def _reconfigure(self, new: Config) -> None:
        speaker = self.speaker
        if speaker is None:
            return
        running = speaker.config
        if (
            set(new.peers) == set(running.peers)
            and new.bgp.asn == running.bgp.asn
            and new.log_level == running.log_level
            and new.bgp.no_export == running.bgp.no_export
        ):
            return
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

    def _first(self, new: Config) -> None:
        """The first usable computation: fix what the speaker cannot change, and say ready."""
        start = self._wanted_start
        if self.node_settings is not None and self.started is None and start is not None:
            self.started = start
            self._register(start.ip, start.ip6, start.cluster_id, start.port)
            log.info(
                "pyrr's Node read",
                node=self.node_settings.name,
                router_id=str(start.router_id),
                ip=str(start.ip),
                ip6=str(start.ip6) if start.ip6 else None,
                cluster_id=str(start.cluster_id),
                port=start.port,
            )
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

    # -- secrets -------------------------------------------------------------------------------

    def _watch_secrets(self, wanted: Desired) -> None:
        """Look at the secrets in use again in `secret_poll` seconds (none in use: stop)."""
        if self._secret_timer is not None:
            self._secret_timer.cancel()
            self._secret_timer = None
        if wanted.secrets and self._loop is not None:
            self._secret_timer = self._loop.call_later(self.secret_poll, self._poll_secrets)

    def _poll_secrets(self) -> None:
        self._secret_timer = None
        wanted = self.desired
        if wanted is None:
            return
        for name, key, seen in wanted.secrets:
            if digest(self.secrets.lookup(name, key).value) != seen:
                log.info("a BGPPeer password secret changed", secret=name, key=key)
                self.apply()
                return
        self._watch_secrets(wanted)
