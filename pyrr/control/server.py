"""A Unix-socket control endpoint: one JSON request line in, one JSON reply line out.

Owner-only permissions (0600) by default: status shows the topology, and nothing here needs to
be reachable by other users.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from . import views

if TYPE_CHECKING:
    from ..transport.host import Host

log = structlog.get_logger("pyrr.control")
MAX_REQUEST = 4096


def default_socket_path() -> str:
    env = os.environ.get("PYRR_CONTROL_SOCKET")
    if env:
        return env
    if os.geteuid() == 0:
        return "/run/pyrr/pyrr.sock"
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "pyrr.sock")
    return f"/tmp/pyrr-{os.getuid()}.sock"


def handle(host: Host, request: dict[str, Any]) -> dict[str, Any]:
    cmd = request.get("cmd")
    if cmd == "status":
        return views.status(host)
    if cmd == "runtime":
        return views.runtime(host)
    if cmd == "routes":
        prefix = request.get("prefix")
        try:
            return views.routes(host, prefix if isinstance(prefix, str) else None)
        except ValueError as err:
            return {"error": f"bad prefix: {err}"}
    return {"error": f"unknown command {cmd!r}; expected 'status', 'runtime', 'routes' or 'dump'"}


async def dump(host: Host) -> dict[str, Any]:
    """An MRT table dump (RFC 6396 TABLE_DUMP_V2) written now: its path, or the error."""
    m = host.monitoring
    if m is None or m.dumps is None:
        return {"error": "no MRT directory configured: add an [mrt] table with a directory"}
    try:
        path = await m.dump()
    except OSError as err:
        return {"error": f"MRT table dump failed: {err}"}
    return {"path": str(path)}


class ControlServer:
    def __init__(self, host: Host, path: str, mode: int = 0o600) -> None:
        self.host = host
        self.path = path
        self.mode = mode
        self.server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        p = Path(self.path)
        p.parent.mkdir(parents=True, exist_ok=True)
        if p.is_socket():
            p.unlink()  # a stale socket from a previous run
        old = os.umask(0o077)
        try:
            self.server = await asyncio.start_unix_server(self._client, path=self.path)
        finally:
            os.umask(old)
        os.chmod(self.path, self.mode)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), timeout=5)
            try:
                req = json.loads(line[:MAX_REQUEST] or b"{}")
                if isinstance(req, dict) and req.get("cmd") == "dump":
                    reply = await dump(self.host)
                else:
                    reply = handle(self.host, req if isinstance(req, dict) else {})
            except json.JSONDecodeError as err:
                reply = {"error": f"bad request: {err}"}
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        except (TimeoutError, ConnectionError) as err:
            log.debug("control client dropped", error=str(err))
        finally:
            writer.close()


def request(path: str, req: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """Blocking client used by the CLI."""
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(json.dumps(req).encode() + b"\n")
        buf = bytearray()
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    reply = json.loads(buf)
    if not isinstance(reply, dict):
        raise ValueError("malformed reply")
    return reply
