"""A few etcd calls and done: what `pyrr init-node` needs (read one key, write it safely).

`EtcdOneShot` connects to the first endpoint that answers (each is tried in turn, as the
store does) and offers a read and two guarded writes: `create` succeeds only if the key does
not exist, `update` only if it has not changed since it was read (etcd's mod revision), so a
Node written meanwhile by calico-node or calicoctl is never overwritten blindly. Errors are
`EtcdError` with gRPC's reason (pyrr.store.etcd.errors.describe_error).
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any

from .connect import EtcdAccess, connect
from .endpoints import EtcdEndpoint
from .errors import describe_error

__all__ = ["EtcdError", "EtcdOneShot"]


class EtcdError(Exception):
    """etcd could not be reached, or refused a call."""


class EtcdOneShot:
    def __init__(
        self, endpoints: Sequence[EtcdEndpoint], access: EtcdAccess, timeout: float = 5.0
    ) -> None:
        self.endpoints = list(endpoints)
        self.access = access
        self.timeout = timeout
        self._client: Any = None
        self.endpoint: EtcdEndpoint | None = None

    def __enter__(self) -> EtcdOneShot:
        reasons: list[str] = []
        for ep in self.endpoints:
            try:
                client = connect(ep, self.access, self.timeout)
            except Exception as exc:
                reasons.append(f"{ep.url}: {describe_error(exc)}")
                continue
            try:
                client.get("/calico/")  # the connection is made on the first call
            except Exception as exc:
                reasons.append(f"{ep.url}: {describe_error(exc)}")
                client.close()
                continue
            self._client, self.endpoint = client, ep
            return self
        raise EtcdError("no etcd endpoint answered: " + "; ".join(reasons))

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if self._client is None:
            raise EtcdError("not connected")
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            raise EtcdError(f"{what} failed on {self.endpoint}: {describe_error(exc)}") from exc

    def get(self, key: str) -> tuple[bytes | None, int]:
        """(value, mod revision), or (None, 0) when the key does not exist."""
        value, meta = self._call(f"reading {key}", self._client.get, key)
        if value is None or meta is None:
            return None, 0
        return bytes(value), int(meta.mod_revision)

    def create(self, key: str, value: bytes) -> bool:
        """Write `key` only if it does not exist; False if it does."""
        return bool(self._call(f"creating {key}", self._client.put_if_not_exists, key, value))

    def update(self, key: str, value: bytes, mod_revision: int) -> bool:
        """Write `key` only if its mod revision is still `mod_revision`; False otherwise."""
        c = self._client
        status, _ = self._call(
            f"updating {key}",
            c.transaction,
            compare=[c.transactions.mod(key) == mod_revision],
            success=[c.transactions.put(key, value)],
            failure=[],
        )
        return bool(status)
