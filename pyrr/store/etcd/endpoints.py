"""etcd endpoints: the one `EtcdEndpoint` type, and `parse_endpoints` for callers with strings.

pyrr.store.file.environment checks the ETCD_ENDPOINTS variable strictly (a ConfigError naming
the variable and the entry) and makes `EtcdEndpoint`s; pyrr.store.calico.source hands those to
`EtcdStore` as they are. `parse_endpoints` is for direct callers of `EtcdStore` with strings,
lenient on purpose: a bare `host[:port]` is accepted (TLS when `tls_default`, i.e. when TLS
files were given), and the port defaults to etcd's client port `DEFAULT_PORT`.

Free of grpc and pyetcd, so importing it costs nothing (pyrr.store.file.environment imports it).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

__all__ = ["DEFAULT_PORT", "EtcdEndpoint", "parse_endpoints"]

DEFAULT_PORT: Final = 2379


@dataclass(frozen=True, slots=True)
class EtcdEndpoint:
    """One etcd endpoint; `url` is normalised to scheme://host:port."""

    scheme: str  # "http" or "https"
    host: str  # a DNS name or an IP literal (without brackets)
    port: int

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    @property
    def grpc_host(self) -> str:
        """The host as gRPC's channel target wants it: an IPv6 literal in brackets."""
        return f"[{self.host}]" if ":" in self.host else self.host

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.grpc_host}:{self.port}"

    def __str__(self) -> str:
        return self.url


def parse_endpoints(
    endpoints: Iterable[str | EtcdEndpoint], tls_default: bool = False
) -> list[EtcdEndpoint]:
    """`https://10.0.0.1:2379`, `http://[fd00::1]:2379`, `etcd:2379` (TLS if `tls_default`);
    an `EtcdEndpoint` is taken as it is.

    Raises ValueError naming the bad entry.
    """
    out: list[EtcdEndpoint] = []
    for raw in endpoints:
        if isinstance(raw, EtcdEndpoint):
            out.append(raw)
            continue
        text = raw.strip()
        if not text:
            continue
        parts = urllib.parse.urlsplit(text if "://" in text else f"//{text}")
        scheme = parts.scheme.lower()
        if scheme not in ("", "http", "https"):
            raise ValueError(f"etcd endpoint {raw!r}: scheme must be http or https")
        try:
            port = parts.port if parts.port is not None else DEFAULT_PORT
        except ValueError as err:
            raise ValueError(f"etcd endpoint {raw!r}: {err}") from None
        if port == 0:
            raise ValueError(f"etcd endpoint {raw!r}: port 0")
        host = parts.hostname
        if not host:
            raise ValueError(f"etcd endpoint {raw!r}: no host")
        if parts.path not in ("", "/"):
            raise ValueError(f"etcd endpoint {raw!r}: unexpected path {parts.path!r}")
        secure = scheme == "https" if scheme else tls_default
        out.append(EtcdEndpoint("https" if secure else "http", host, port))
    if not out:
        raise ValueError("no etcd endpoints specified")
    return out
