"""Monitoring wired to a running speaker: the sans-IO hub (pyrr.monitor.hub), a connection
per configured BMP station (bmp_station) and the MRT files (mrt_files).

The hub is attached to the speaker only while something listens (a station is connected, or
the update log is on): with every station down, BGP calls nothing at all.
"""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import structlog

from ..config import Config
from ..monitor.hub import Endpoints, Hub, no_endpoints
from ..session.link import Link
from ..speaker import Speaker
from .bmp_station import StationClient
from .mrt_files import TableDumps, UpdateFiles
from .stream import Stream

log = structlog.get_logger("pyrr.monitor")


class NotConfigured(Exception):
    """Asked for MRT files with no [mrt] directory configured."""


def stream_endpoints(link: Link) -> Endpoints:
    """A connection's addresses and ports for BMP Peer Up (RFC 7854 §4.10)."""
    sink = link.sink
    if not isinstance(sink, Stream):
        return no_endpoints(link)
    local, remote = sink.local, sink.remote
    endpoints = no_endpoints(link)
    return endpoints[0], local[1] if local else 0, remote[1] if remote else 0


class Monitoring:
    def __init__(
        self,
        speaker: Speaker,
        config: Config,
        loop: asyncio.AbstractEventLoop,
        wall_offset: float,
    ) -> None:
        self.speaker = speaker
        self.loop = loop
        self.hub = Hub(speaker, time.time, socket.gethostname(), stream_endpoints)
        self.stations = [StationClient(c, self.hub, loop, self._attach) for c in config.bmp]
        mrt = config.mrt
        self.updates: UpdateFiles | None = None
        self.dumps: TableDumps | None = None
        if mrt.directory:
            directory = Path(mrt.directory)
            self.dumps = TableDumps(directory, mrt, speaker, loop, wall_offset)
            if mrt.updates:
                self.updates = UpdateFiles(directory, mrt, loop)
        self.directory = Path(mrt.directory) if mrt.directory else None

    @staticmethod
    def wanted(config: Config) -> bool:
        return bool(config.bmp or config.mrt.directory)

    def start(self) -> None:
        """Start the stations' connections and the files (the directory is made if missing;
        an OSError says it cannot be)."""
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
        if self.updates is not None:
            self.hub.update_log = self.updates
            self.updates.start()
        if self.dumps is not None:
            self.dumps.start()
        for st in self.stations:
            st.start()
        self._attach()

    async def stop(self, note: str) -> None:
        """Termination to every station (RFC 7854 §4.5), the update log's last file closed."""
        for st in self.stations:
            await st.stop(note)
        if self.dumps is not None:
            await self.dumps.stop()
        if self.updates is not None:
            self.hub.update_log = None
            self.updates.close()
        self.speaker.attach_monitor(None)

    async def dump(self) -> Path:
        if self.dumps is None:
            raise NotConfigured("no MRT directory configured ([mrt] directory)")
        return await self.dumps.dump()

    def status(self) -> dict[str, object]:
        return {
            "bmp": [
                {
                    "station": st.config.key,
                    "connected": st.connection is not None,
                    "connections": st.connects,
                    "dropped_slow": st.drops,
                    "queued_bytes": st.connection.buffered() if st.connection else 0,
                }
                for st in self.stations
            ],
            "mrt": {
                "directory": str(self.directory) if self.directory else "",
                "last_dump": str(self.dumps.last) if self.dumps and self.dumps.last else "",
                "update_file": self.updates.name if self.updates and self.updates.file else "",
                # Records written to the update log, and lost to write errors (a full disk).
                "update_records": self.updates.records if self.updates else 0,
                "update_records_dropped": self.updates.dropped if self.updates else 0,
            },
        }

    def _attach(self) -> None:
        hub = self.hub
        self.speaker.attach_monitor(hub if hub.active else None)
