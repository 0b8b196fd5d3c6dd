"""The etcd v3 store: Calico's resources as a snapshot, then a stream of changes.

`EtcdStore` lists the watched prefixes (by default Calico's v3 resources) at one revision R,
hands that snapshot to `on_snapshot`, then watches from R+1 and hands each put and delete to
`on_change`, in etcd's order, on the asyncio loop that called `start()`. It never blocks that
loop: every etcd call runs in one worker thread ("pyrr-etcd"), and pyetcd's own watch thread
only queues responses for it.

What it does when etcd misbehaves (docs/etcd.md has the long version):

- A member we talk to is lost (stream error, or a health probe times out) and another
  endpoint answers: fail over and resume every watch from the last revision seen, without a
  new snapshot.
- Every endpoint fails: `on_status("disconnected: ...")`, retry with exponential backoff
  (0.5 s doubling to 10 s), and on reconnection list again and deliver a fresh snapshot (the
  consumer reconciles by diff). Nothing the consumer holds is touched meanwhile.
- The revision to resume from has been compacted: list again, the same way.
- The member failed over to does not continue the history seen so far (a cluster restored
  from a backup: older revisions, another raft term or cluster id; pyrr.store.etcd.history):
  list again there.
- A callback that raises is logged with the key; the store carries on.

`register(key, value, ttl)` keeps a key alive under a lease refreshed every ttl/3 s (the RR
cluster registration, calico issue #1887; the key layout is pyrr.store.calico.model's
`registration_key`), re-creates it after an outage, and revokes it on
`stop()`.

Where things live (one idea per file):

- this module: `EtcdStore` itself (public API, delivery to the loop, the worker thread's
  connect / list / watch / probe / fail-over loop), `EtcdStats`, the callback types and
  `CALICO_PREFIX`;
- pyrr.store.etcd.endpoints: `EtcdEndpoint`, `parse_endpoints`, `DEFAULT_PORT`;
- pyrr.store.etcd.errors: `describe_error` (and `_rpc_error`, which digs out gRPC's error);
- pyrr.store.etcd.leases: the registrations' upkeep, `_LeaseKeeper`, EtcdStore's base class.

pyetcd facts this relies on (checked against pyetcd 0.0.7 and etcd 3.4):

- `MultiEndpointEtcd3Client(failover=True)` does not fail over watches: a watch belongs to
  the channel it was created on, a stream error is handed to the callback as the raw
  `grpc.RpcError`, and nothing re-creates it. So the store rotates endpoints itself.
- After one UNAVAILABLE / DEADLINE_EXCEEDED / INTERNAL error a client marks its endpoint
  failed for `time_retry` (default 300 s) and then raises `ValueError('Trying to use a failed
  node')`: the store builds a fresh client for each connection attempt.
- pyetcd's exceptions drop gRPC's details (`ConnectionFailedError` prints "etcd connection
  failed"); the original `grpc.RpcError` is the exception's `__context__`.
- A watch from a compacted revision is created normally, then its callback receives
  `RevisionCompactedError(compacted_revision)` and the watch is cancelled.
- A server that hangs (SIGSTOP, a partition) does not break a watch stream: only a request
  with a deadline notices, hence the periodic probe.
- A watch created with `progress_notify=True` gets its progress notifications (responses
  without events) through the same callback; the created/cancelled responses do not.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import queue
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import structlog

from .connect import EtcdAccess, connect
from .endpoints import EtcdEndpoint, parse_endpoints
from .errors import _rpc_error, describe_error
from .history import History
from .leases import _LeaseKeeper, _Registration

__all__ = [
    "CALICO_PREFIX",
    "ChangeCallback",
    "EtcdStats",
    "EtcdStore",
    "SnapshotCallback",
    "StatusCallback",
]

log = structlog.get_logger("pyrr.etcd")

CALICO_PREFIX: Final = "/calico/resources/v3/projectcalico.org/"

SnapshotCallback = Callable[[dict[str, bytes], int], None]
ChangeCallback = Callable[[str, bytes | None, int], None]
StatusCallback = Callable[[str], None]

# Keys per Range request while listing: bounded messages however big the datastore is.
LIST_PAGE: Final = 500
# Tries at listing when etcd compacts the revision being listed between two pages.
LIST_ATTEMPTS: Final = 3
# etcd's shortest lease: a registration under a shorter TTL would never be refreshed in time.
MIN_LEASE_TTL: Final = 2
_grpc: Any = importlib.import_module("grpc")  # no type stubs; pyetcd is untyped as well


def _pyetcd() -> Any:
    return importlib.import_module("pyetcd")


class _Stop(Exception):
    pass


class _Resync(Exception):
    """resync() was called: list again on the member in use."""


class _Compacted(Exception):
    def __init__(self, compacted: int) -> None:
        super().__init__(f"revision compacted (compact revision {compacted})")
        self.compacted = compacted


class _Broken(Exception):
    """A watch stream ended: the endpoint is lost."""

    def __init__(self, cause: BaseException | None) -> None:
        super().__init__(describe_error(cause))
        self.cause = cause


# -- the store -----------------------------------------------------------------------------
@dataclass
class EtcdStats:
    snapshots: int = 0  # snapshots delivered (first list, and every re-list)
    changes: int = 0  # puts and deletes delivered
    failovers: int = 0  # watches resumed on another member without re-listing
    disconnects: int = 0  # times every endpoint failed (each ends in a re-list)
    compactions: int = 0  # re-lists because the revision to resume from was compacted
    history_breaks: int = 0  # re-lists because a member's history was not ours (a restore)
    resyncs: int = 0  # re-lists asked for by resync()
    callback_errors: int = 0


@dataclass
class _Msg:
    kind: str  # "watch" | "register" | "unregister" | "resync" | "stop"
    gen: int = 0
    prefix: str = ""
    payload: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


class EtcdStore(_LeaseKeeper):
    """List, then watch, a few prefixes of etcd v3; deliver on the asyncio loop."""

    def __init__(
        self,
        endpoints: Sequence[str | EtcdEndpoint],
        ca: str | None = None,
        cert: str | None = None,
        key: str | None = None,
        user: str | None = None,
        password: str | None = None,
        prefixes: str | Sequence[str] = (CALICO_PREFIX,),
        *,
        on_snapshot: SnapshotCallback,
        on_change: ChangeCallback,
        on_status: StatusCallback | None = None,
        rpc_timeout: float = 5.0,
        probe_interval: float = 2.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
    ) -> None:
        if (cert is None) != (key is None):
            raise ValueError("etcd TLS: a client certificate needs its key, and a key its cert")
        if (user is None) != (password is None):
            raise ValueError("etcd auth: the username needs a password, and a password a user")
        tls_default = any(f is not None for f in (ca, cert, key))
        self._endpoints = parse_endpoints(endpoints, tls_default=tls_default)
        plist = [prefixes] if isinstance(prefixes, str) else list(prefixes)
        if not plist or any(not p for p in plist):
            raise ValueError("etcd: at least one non-empty prefix to watch")
        for a in plist:
            for b in plist:
                if a != b and b.startswith(a):
                    raise ValueError(f"etcd prefixes overlap: {a!r} contains {b!r}")
        self.prefixes: tuple[str, ...] = tuple(dict.fromkeys(plist))
        self._ca, self._cert, self._key = ca, cert, key
        self._user, self._password = user, password
        self._on_snapshot = on_snapshot
        self._on_change = on_change
        self._on_status = on_status
        self._rpc_timeout = rpc_timeout
        self._probe_interval = probe_interval
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max

        self.stats = EtcdStats()
        self.endpoint: str | None = None  # the member talked to now, None when disconnected
        self.status: str = "stopped"

        self._loop: Any = None
        self._thread: threading.Thread | None = None
        self._q: queue.Queue[_Msg] = queue.Queue()
        self._closed = False
        self._revoke_on_stop = True
        # Everything below belongs to the worker thread.
        self._client: Any = None
        self._gen = 0
        self._revs: dict[str, int] = {}
        self._history = History()
        self._need_list = True
        self._outage = False
        self._regs: dict[str, _Registration] = {}
        self._stale_leases: set[int] = set()
        self._stale_at = 0.0

    # -- public API (event-loop side) ------------------------------------------------------
    async def start(self) -> None:
        """Start the worker thread. Returns at once: the snapshot comes via `on_snapshot`."""
        if self._thread is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._closed = False
        self._revoke_on_stop = True
        self._need_list = True  # a restarted store starts from a snapshot again
        self._outage = False
        self._set_status("connecting")
        self._thread = threading.Thread(target=self._run, name="pyrr-etcd", daemon=True)
        self._thread.start()

    async def stop(self, revoke: bool = True) -> None:
        """Stop watching; revoke the registration leases unless `revoke` is False.

        `revoke=False` is what a crash looks like to the other RRs: the registrations stay
        until their leases run out (at most ttl seconds).
        """
        thread = self._thread
        if thread is None:
            return
        self._revoke_on_stop = revoke
        self._closed = True
        self._q.put(_Msg("stop"))
        # Bounded: an RPC in flight ends by its deadline, then one revoke per registration.
        limit = self._rpc_timeout * (2 + len(self._regs)) + 1.0
        await asyncio.get_running_loop().run_in_executor(None, thread.join, limit)
        if thread.is_alive():
            log.warning("etcd worker did not stop in time; abandoning it", timeout=limit)
        self._thread = None
        self.status = "stopped"

    def register(self, key: str, value: bytes, ttl: int = 15) -> None:
        """Keep `key` = `value` alive under a lease of `ttl` s (refreshed every ttl/3 s).

        Thread-safe and non-blocking; calling it again with a new value updates the key.
        """
        if ttl < MIN_LEASE_TTL:
            raise ValueError("registration ttl must be at least 2 s (etcd's minimum lease)")
        self._q.put(_Msg("register", extra={"key": key, "value": bytes(value), "ttl": ttl}))

    def resync(self) -> None:
        """List every prefix again and deliver a fresh snapshot (the consumer reconciles by
        diff); thread-safe and non-blocking. Without a connection it is a no-op: the next
        connection lists anyway."""
        self._q.put(_Msg("resync"))

    def unregister(self, key: str) -> None:
        """Forget a registration and revoke its lease (which deletes the key)."""
        self._q.put(_Msg("unregister", extra={"key": key}))

    # -- delivery to the loop --------------------------------------------------------------
    def _post(self, fn: Callable[..., None], what: str, *args: Any) -> None:
        loop = self._loop
        if loop is None or self._closed:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody to tell
            loop.call_soon_threadsafe(self._invoke, fn, what, args)

    def _invoke(self, fn: Callable[..., None], what: str, args: tuple[Any, ...]) -> None:
        if self._closed:
            return
        try:
            fn(*args)
        except Exception:
            self.stats.callback_errors += 1
            where: dict[str, Any] = {"callback": what}
            if what == "on_change":
                where["key"], where["revision"] = args[0], args[2]
            elif what == "on_snapshot":
                where["keys"], where["revision"] = len(args[0]), args[1]
            log.exception("etcd store callback failed; carrying on", **where)

    def _set_status(self, text: str) -> None:
        if text == self.status:
            return  # a retry that fails the same way again is not news
        self.status = text
        if self._on_status is not None:
            self._post(self._on_status, "on_status", text)

    # -- the worker ------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._main()
        except _Stop:
            pass
        except Exception:  # a bug: say so loudly, the loop side keeps running
            log.exception("etcd worker crashed")
            self._set_status("disconnected: internal error (see log)")
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        client = self._client
        if client is not None and self._revoke_on_stop:
            for reg in self._regs.values():
                if reg.lease is not None:
                    try:
                        client.revoke_lease(reg.lease)
                    except Exception as exc:
                        log.warning(
                            "revoking registration lease failed; it will expire",
                            key=reg.key,
                            error=describe_error(exc),
                        )
        self._close_client()

    def _close_client(self) -> None:
        client, self._client = self._client, None
        self._gen += 1  # whatever the old watches still send is stale
        self.endpoint = None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()

    def _main(self) -> None:
        n = len(self._endpoints)
        idx = random.randrange(n)  # spread several RRs over the members
        fails = 0
        backoff = self._backoff_initial
        while True:
            self._check_stop()
            ep = self._endpoints[idx]
            established = False

            def on_established(ep: EtcdEndpoint = ep) -> None:
                nonlocal established, fails, backoff
                established = True
                fails = 0
                backoff = self._backoff_initial

            try:
                self._session(ep, on_established)
            except _Stop:
                raise
            except _Resync:
                self._close_client()
                self.stats.resyncs += 1
                self._need_list = True
                log.info("etcd resync requested; listing again", endpoint=ep.url)
                continue
            except _Compacted as exc:
                self._close_client()
                self.stats.compactions += 1
                self._need_list = True
                log.warning("etcd watch revision compacted; listing again", error=str(exc))
                continue
            except Exception as exc:
                detail = describe_error(exc.cause if isinstance(exc, _Broken) else exc)
                self._close_client()
                fails += 1
                idx = (idx + 1) % n
                if established:
                    log.warning("etcd endpoint lost", endpoint=ep.url, error=detail)
                else:
                    log.info("etcd endpoint unavailable", endpoint=ep.url, error=detail)
                if fails < n:
                    continue  # try the next member at once
                fails = 0
                if not self._outage:
                    self._outage = True
                    self._need_list = True
                    self.stats.disconnects += 1
                    log.warning(
                        "etcd unreachable; keeping every session and route, retrying",
                        error=detail,
                    )
                self._set_status(f"disconnected: {detail}")
                self._sleep(backoff * random.uniform(0.9, 1.1))
                backoff = min(backoff * 2, self._backoff_max)

    def _check_stop(self) -> None:
        # Commands queued while no session runs still matter (register before start).
        while True:
            try:
                msg = self._q.get_nowait()
            except queue.Empty:
                return
            self._handle_idle(msg)

    def _handle_idle(self, msg: _Msg) -> None:
        if msg.kind == "stop":
            raise _Stop
        if msg.kind in ("register", "unregister"):
            self._command(msg, None)
        elif msg.kind == "resync":
            self._need_list = True  # the next connection lists instead of resuming
        # watch messages outside a session are stale

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = self._q.get(timeout=left)
            except queue.Empty:
                return
            self._handle_idle(msg)

    # -- one connection to one member --------------------------------------------------------
    def _connect(self, ep: EtcdEndpoint) -> Any:
        access = EtcdAccess(self._ca, self._cert, self._key, self._user, self._password)
        return connect(ep, access, self._rpc_timeout)

    def _session(self, ep: EtcdEndpoint, on_established: Callable[[], None]) -> None:
        client = self._client = self._connect(ep)
        self._check_history(client, ep)
        resumed = not self._need_list
        if self._need_list:
            snapshot, rev = self._list(client)
            self._revs = dict.fromkeys(self.prefixes, rev)
            self._need_list = False
            self.stats.snapshots += 1
            log.info("etcd snapshot", endpoint=ep.url, keys=len(snapshot), revision=rev)
            self._post(self._on_snapshot, "on_snapshot", snapshot, rev)
        self._gen += 1
        gen = self._gen
        for prefix in self.prefixes:
            try:
                client.add_watch_prefix_callback(
                    prefix,
                    functools.partial(self._on_watch, gen, prefix),
                    start_revision=self._revs[prefix] + 1,
                    progress_notify=True,
                )
            except Exception as exc:
                if isinstance(exc, _pyetcd().exceptions.RevisionCompactedError):
                    raise _Compacted(exc.compacted_revision) from None
                raise
        self.endpoint = ep.url
        if resumed and not self._outage:
            self.stats.failovers += 1
            log.warning("etcd failed over; watches resumed", endpoint=ep.url, revisions=self._revs)
        self._outage = False
        on_established()
        self._set_status(f"connected: {ep.url}")
        log.info("etcd watching", endpoint=ep.url, prefixes=list(self.prefixes))

        # Registrations are checked afresh on every member, right away. Their errors never
        # end the session: the watch stream and the probe judge the member's health, so a
        # member that waits for a new leader still counts as a good place to watch from.
        for reg in self._regs.values():
            reg.synced, reg.next_refresh = False, 0.0
        self._stale_at = 0.0
        next_probe = time.monotonic() + self._probe_interval
        while True:
            now = time.monotonic()
            due = min(
                [
                    next_probe,
                    *(r.next_refresh for r in self._regs.values()),
                    self._stale_at if self._stale_leases else next_probe,
                ]
            )
            try:
                msg = self._q.get(timeout=max(0.0, due - now))
            except queue.Empty:
                msg = None
            if msg is not None:
                if msg.kind == "stop":
                    raise _Stop
                if msg.kind == "resync":
                    raise _Resync
                if msg.kind == "watch":
                    if msg.gen == gen:
                        self._handle_watch(msg.prefix, msg.payload)
                else:
                    self._command(msg, client)
            # Timers run even while events keep coming: a busy watch must not starve them.
            now = time.monotonic()
            if now >= next_probe:
                # A linearizable read of one key: fails by its deadline when the member
                # hangs or has lost quorum, which a watch stream never reports.
                self._history.note(client.get_response(self.prefixes[0]).header)
                next_probe = time.monotonic() + self._probe_interval
            self._registrations_tick(client, now)

    def _check_history(self, client: Any, ep: EtcdEndpoint) -> None:
        """Resume only on the history we have seen: a linearizable read (its header is the
        cluster's; on a member without quorum it fails by its deadline, like the probe)."""
        if self._need_list:
            return  # listing anyway
        why = self._history.breaks(client.get_response(self.prefixes[0]).header)
        if why is not None:
            self.stats.history_breaks += 1
            self._need_list = True
            log.warning(
                "etcd history is not the one watched (restored from a backup?); listing again",
                endpoint=ep.url,
                why=why,
            )

    def _list(self, client: Any) -> tuple[dict[str, bytes], int]:
        for attempt in range(1, LIST_ATTEMPTS + 1):
            try:
                return self._list_once(client)
            except Exception as exc:
                rpc = _rpc_error(exc)
                # Compacted under our feet between two pages: start again at a new revision.
                compacted = rpc is not None and rpc.code() == _grpc.StatusCode.OUT_OF_RANGE
                if not compacted or attempt == LIST_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _list_once(self, client: Any) -> tuple[dict[str, bytes], int]:
        pyetcd = _pyetcd()
        snapshot: dict[str, bytes] = {}
        rev: int | None = None
        for prefix in self.prefixes:
            start = prefix.encode()
            end = pyetcd.utils.prefix_range_end(start)
            while True:
                resp = client.get_range_response(start, end, limit=LIST_PAGE, revision=rev)
                if rev is None:
                    rev = int(resp.header.revision)
                    self._history.restart(resp.header)
                for kv in resp.kvs:
                    snapshot[_key(kv.key)] = bytes(kv.value)
                if not resp.more or not resp.kvs:
                    break
                start = bytes(resp.kvs[-1].key) + b"\0"
        assert rev is not None
        return snapshot, rev

    def _on_watch(self, gen: int, prefix: str, payload: Any) -> None:
        # pyetcd's watch thread: only queue it, the worker does the rest in order.
        self._q.put(_Msg("watch", gen=gen, prefix=prefix, payload=payload))

    def _handle_watch(self, prefix: str, payload: Any) -> None:
        pyetcd = _pyetcd()
        if isinstance(payload, pyetcd.exceptions.RevisionCompactedError):
            raise _Compacted(payload.compacted_revision)
        if payload is None or isinstance(payload, BaseException):
            raise _Broken(payload)
        self._history.note(payload.header)
        if not payload.events:
            # A progress notification: etcd sends one (every 10 min by default) only to a
            # watch that has been sent every event up to the header's revision. Moving on to
            # it keeps a quiet prefix's resume point recent enough to survive compaction.
            rev = int(payload.header.revision)
            self._revs[prefix] = max(self._revs[prefix], rev)
            return
        for ev in payload.events:
            rev = int(ev.mod_revision)
            value = None if isinstance(ev, pyetcd.events.DeleteEvent) else bytes(ev.value)
            self.stats.changes += 1
            self._post(self._on_change, "on_change", _key(ev.key), value, rev)
            self._revs[prefix] = max(self._revs[prefix], rev)


def _key(raw: bytes) -> str:
    return bytes(raw).decode("utf-8", "backslashreplace")
