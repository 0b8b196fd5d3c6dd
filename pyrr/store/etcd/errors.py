"""etcd errors in one line: `describe_error` for logs and `EtcdStore`'s `on_status`.

pyetcd's exceptions drop gRPC's details (`ConnectionFailedError` prints "etcd connection
failed") and keep the original `grpc.RpcError` as their `__context__`; `_rpc_error` digs it
out, and `describe_error` says its status code and details, with a hint when they look like a
TLS failure (a wrong CA, or a client certificate etcd does not trust).
"""

from __future__ import annotations

import importlib
from typing import Any, Final

__all__ = ["describe_error"]

_grpc: Any = importlib.import_module("grpc")  # no type stubs

# How deep `_rpc_error` looks along __cause__ / __context__ (pyetcd wraps once or twice).
_MAX_CHAIN: Final = 5
_TLS_HINTS: Final = ("TSI_", "SSL", "ssl", "handshake", "certificate", "CERTIFICATE")


def _rpc_error(exc: BaseException | None) -> Any:
    """The grpc.RpcError behind `exc` (pyetcd wraps it and keeps it as __context__)."""
    seen = 0
    while exc is not None and seen < _MAX_CHAIN:
        if isinstance(exc, _grpc.RpcError) and hasattr(exc, "code"):
            return exc
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def describe_error(exc: BaseException | None) -> str:
    """One line for logs and `on_status`, with gRPC's code and details when there are any."""
    if exc is None:
        return "watch stream closed by the server"
    rpc = _rpc_error(exc)
    if rpc is not None:
        try:
            code = rpc.code()
            details = rpc.details() or ""
        except Exception:  # a broken RpcError object: fall through to the plain text
            rpc = None
        else:
            name = getattr(code, "name", str(code))
            text = f"{name}: {details}" if details else name
            if any(h in details for h in _TLS_HINTS):
                text += (
                    " (TLS failure: check that the CA file matches etcd's server certificate"
                    " and that the client certificate and key are ones etcd trusts)"
                )
            return text
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
