"""etcd endpoints as `EtcdStore` takes them: `parse_endpoints` turns strings into `EtcdEndpoint`s.

Lenient on purpose, for direct callers of `EtcdStore`: a bare `host[:port]` is accepted (TLS
when `tls_default`, i.e. when TLS files were given), and the port defaults to etcd's client
port `DEFAULT_PORT`. An `EtcdEndpoint` keeps an IPv6 host in brackets, the form gRPC's
channel target wants. The strict, user-facing check of the ETCD_ENDPOINTS variable (ConfigError
naming the variable and the entry) is pyrr.store.env's; pyrr.store.calico_source hands the
store the URLs that check normalised.

Free of grpc and pyetcd, so importing it costs nothing.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

__all__ = ["DEFAULT_PORT", "EtcdEndpoint", "parse_endpoints"]

DEFAULT_PORT: Final = 2379


@dataclass(frozen=True)
class EtcdEndpoint:
    host: str  # as gRPC wants it: an IPv6 literal keeps its brackets
    port: int
    secure: bool

    @property
    def url(self) -> str:
        return f"{'https' if self.secure else 'http'}://{self.host}:{self.port}"


def parse_endpoints(endpoints: Iterable[str], tls_default: bool = False) -> list[EtcdEndpoint]:
    """`https://10.0.0.1:2379`, `http://[fd00::1]:2379`, `etcd:2379` (TLS if `tls_default`).

    Raises ValueError naming the bad entry.
    """
    out: list[EtcdEndpoint] = []
    for raw in endpoints:
        text = raw.strip()
        if not text:
            continue
        parts = urllib.parse.urlsplit(text if "://" in text else f"//{text}")
        scheme = parts.scheme.lower()
        if scheme not in ("", "http", "https"):
            raise ValueError(f"etcd endpoint {raw!r}: scheme must be http or https")
        try:
            port = parts.port or DEFAULT_PORT
        except ValueError as err:
            raise ValueError(f"etcd endpoint {raw!r}: {err}") from None
        host = parts.hostname
        if not host:
            raise ValueError(f"etcd endpoint {raw!r}: no host")
        if parts.path not in ("", "/"):
            raise ValueError(f"etcd endpoint {raw!r}: unexpected path {parts.path!r}")
        if ":" in host:
            host = f"[{host}]"
        secure = scheme == "https" if scheme else tls_default
        out.append(EtcdEndpoint(host, port, secure))
    if not out:
        raise ValueError("no etcd endpoints specified")
    return out
