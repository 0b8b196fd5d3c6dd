"""One pyetcd client to one etcd member: TLS files, credentials and gRPC options in one place.

`EtcdStore` (pyrr.store.etcd.client) makes a fresh client per connection attempt (a pyetcd
client that saw one error must not be reused); `pyrr init-node` (pyrr.store.etcd.oneshot)
makes one for a few calls. Certificate files are read at every connect, so renewed files are
picked up.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Final

from .endpoints import EtcdEndpoint

__all__ = ["GRPC_OPTIONS", "MAX_MESSAGE", "EtcdAccess", "connect"]

# gRPC's default of 4 MiB is too little for one watch response carrying a large transaction.
MAX_MESSAGE: Final = 64 * 1024 * 1024
GRPC_OPTIONS: Final = [
    ("grpc.max_receive_message_length", MAX_MESSAGE),
    # Each client gets its own subchannels: a fresh client after an outage must not inherit
    # a shared subchannel that sits in gRPC's reconnect backoff (up to 120 s by default).
    ("grpc.use_local_subchannel_pool", 1),
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.min_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 2000),
]

_grpc: Any = importlib.import_module("grpc")  # no type stubs; pyetcd is untyped as well


def _pyetcd() -> Any:
    return importlib.import_module("pyetcd")


@dataclass(frozen=True, slots=True)
class EtcdAccess:
    """How to reach etcd: TLS files (PEM paths) and credentials (ETCD_* variables)."""

    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)


def _credentials(access: EtcdAccess) -> Any:
    def read(path: str | None, what: str) -> bytes | None:
        if path is None:
            return None
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError as err:
            raise OSError(f"cannot read etcd {what} {path}: {err.strerror}") from None

    return _grpc.ssl_channel_credentials(
        root_certificates=read(access.ca, "CA certificate"),
        private_key=read(access.key, "client key"),
        certificate_chain=read(access.cert, "client certificate"),
    )


def connect(ep: EtcdEndpoint, access: EtcdAccess, timeout: float) -> Any:
    """A pyetcd client to `ep` alone (pyetcd authenticates in the constructor)."""
    pyetcd = _pyetcd()
    creds = _credentials(access) if ep.tls else None
    endpoint = pyetcd.Endpoint(
        ep.grpc_host, ep.port, secure=ep.tls, creds=creds, time_retry=0.0, opts=GRPC_OPTIONS
    )
    try:
        client = pyetcd.MultiEndpointEtcd3Client(
            endpoints=[endpoint],
            timeout=timeout,
            user=access.user,
            password=access.password,
        )
    except BaseException:
        endpoint.close()
        raise
    if not ep.tls:
        # gRPC refuses call credentials on a plain channel; the token still goes as metadata.
        client.call_credentials = None
    return client
