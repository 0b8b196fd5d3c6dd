"""`EtcdStore`'s registrations: keys kept alive under leases (`EtcdStore.register`).

The RR cluster registration (calico issue #1887; the key layout is pyrr.store.calico.model's
`registration_key`) is one key per address under a lease of ttl seconds, refreshed every
ttl/3 s. `_LeaseKeeper` is the part of `EtcdStore` (its base class) that keeps them: it holds
the wanted state (`_command`: register/unregister change only that), and the worker's session
loop calls `_registrations_tick` on every turn to refresh each lease when it is due, re-create
a lease etcd has forgotten (after an outage longer than the TTL), rewrite a key whose value or
lease is not ours, and revoke the leases of forgotten or re-TTL'd registrations. All of it runs
on the worker thread; a failure is logged once and retried (at most 1 s later), never ending
the session. Revoking every lease on `stop()` is `EtcdStore._shutdown`'s.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from .errors import describe_error

# The logger EtcdStore uses: a registration's messages read as the store's.
log = structlog.get_logger("pyrr.etcd")


@dataclass
class _Registration:
    key: str
    value: bytes
    ttl: int
    lease: int | None = None
    lease_ttl: int = 0
    next_refresh: float = 0.0
    synced: bool = False  # checked (and written if needed) in the current session
    error: str = ""  # the last failure, logged once


class _Command(Protocol):
    """What `_command` reads of EtcdStore's queued message (its `_Msg`)."""

    kind: str
    extra: dict[str, Any]


class _LeaseKeeper:
    """The registrations of an `EtcdStore`; worker-thread state, set up by its __init__."""

    _regs: dict[str, _Registration]
    _stale_leases: set[int]  # old leases to revoke: unregistered, or replaced by a new TTL
    _stale_at: float  # when to try revoking them next

    def _command(self, msg: _Command, client: Any) -> None:
        """register/unregister: only the wanted state changes here; the timers write it."""
        key: str = msg.extra["key"]
        if msg.kind == "register":
            reg = self._regs.get(key)
            if reg is None:
                reg = self._regs[key] = _Registration(key, msg.extra["value"], msg.extra["ttl"])
            else:
                reg.value, reg.ttl = msg.extra["value"], msg.extra["ttl"]
            reg.synced, reg.next_refresh = False, 0.0
        elif msg.kind == "unregister":
            old = self._regs.pop(key, None)
            if old is not None and old.lease is not None:
                self._stale_leases.add(old.lease)
                self._stale_at = 0.0

    def _registrations_tick(self, client: Any, now: float) -> None:
        if self._stale_leases and now >= self._stale_at:
            try:
                self._revoke_stale(client)
            except Exception as exc:
                log.warning("revoking an old registration lease failed", error=describe_error(exc))
                self._stale_at = now + 1.0
        for reg in list(self._regs.values()):
            if now < reg.next_refresh:
                continue
            try:
                if not reg.synced or not self._keep_alive(client, reg):
                    self._ensure(client, reg)
            except Exception as exc:
                detail = describe_error(exc)
                if detail != reg.error:  # say it once, not at every retry
                    log.warning("registration not refreshed; retrying", key=reg.key, error=detail)
                reg.error = detail
                reg.next_refresh = time.monotonic() + min(1.0, reg.ttl / 3)
            else:
                reg.synced, reg.error = True, ""
                reg.next_refresh = time.monotonic() + reg.ttl / 3

    def _revoke_stale(self, client: Any) -> None:
        for lease in list(self._stale_leases):
            client.revoke_lease(lease)
            self._stale_leases.discard(lease)

    def _lease_ttl(self, client: Any, lease: int) -> int:
        """Refresh `lease`; its remaining TTL, 0 when etcd no longer knows it."""
        responses = list(client.refresh_lease(lease))
        return int(responses[0].TTL) if responses else 0

    def _keep_alive(self, client: Any, reg: _Registration) -> bool:
        """Refresh the lease; False when it is gone (or was never made) and must be redone."""
        if reg.lease is None or reg.lease_ttl != reg.ttl:
            return False
        if self._lease_ttl(client, reg.lease) > 0:
            return True
        log.warning("registration lease expired; re-creating it", key=reg.key)
        reg.lease = None
        return False

    def _ensure(self, client: Any, reg: _Registration) -> None:
        """Make the key exist with our value under a live lease of the right TTL."""
        if reg.lease is not None and reg.lease_ttl != reg.ttl:
            # A new TTL: a new lease; the old one is revoked once the key has moved.
            self._stale_leases.add(reg.lease)
            self._stale_at = 0.0
            reg.lease = None
        elif reg.lease is not None and not self._keep_alive(client, reg):
            reg.lease = None
        put = reg.lease is None
        if reg.lease is None:
            reg.lease = int(client.lease(reg.ttl).id)
            reg.lease_ttl = reg.ttl
        if not put:
            value, meta = client.get(reg.key)
            put = value != reg.value or meta is None or meta.lease_id != reg.lease
        if put:
            client.put(reg.key, reg.value, lease=reg.lease)
            log.info("registered", key=reg.key, ttl=reg.ttl, lease=reg.lease)
