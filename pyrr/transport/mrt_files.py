"""MRT files (RFC 6396) on disk: table dumps (on a period, on SIGUSR1, on `pyrr dump`) and the
update log, in the configured directory. The records come from the sans-IO side
(pyrr.monitor.tables, pyrr.monitor.hub); this module names, writes, renames and prunes files.

Every file appears under its name only once it is complete: it is written as NAME.tmp and
renamed, which is atomic within a directory, so a reader never sees half a file. Beyond `keep`
files of a kind (those the name pattern matches), the oldest are removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import structlog

from ..config import MrtConfig
from ..monitor.naming import name_matcher
from ..monitor.tables import table_dump
from ..speaker import Speaker

log = structlog.get_logger("pyrr.mrt")

TMP_SUFFIX = ".tmp"
# Update records buffered in memory before they are written (a write per UPDATE otherwise).
WRITE_BUFFER = 1 << 20


def file_name(pattern: str, when: float) -> str:
    """The strftime pattern in UTC (the convention of route collectors' archives)."""
    return time.strftime(pattern, time.gmtime(when))


def prune(directory: Path, pattern: str, keep: int) -> list[Path]:
    """Remove the oldest files `pattern` names beyond the newest `keep` (0: keep all)."""
    if keep <= 0:
        return []
    match = name_matcher(pattern).fullmatch
    files: list[tuple[float, str, Path]] = []
    for p in directory.iterdir():
        if match(p.name):
            try:
                files.append((p.stat().st_mtime, p.name, p))
            except OSError:
                continue  # gone since the listing (or a dangling link): nothing to order
    files.sort()
    gone = [p for _mtime, _name, p in files[: max(0, len(files) - keep)]]
    for p in gone:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    return gone


def _free_name(directory: Path, name: str) -> Path:
    """`name`, or `name.1`, `name.2`, ... when a file of this name exists already (two files
    made within the pattern's resolution)."""
    path = directory / name
    n = 0
    while path.exists():
        n += 1
        path = directory / f"{name}.{n}"
    return path


class UpdateFiles:
    """The BGP4MP update log (the hub's `UpdateLog`): a new file every `updates_interval`
    seconds (on the interval's boundaries) or `updates_max_bytes` bytes, whichever is first.

    `write` runs inside a neighbour's UPDATE handling, so it never raises: an exception there
    would end that BGP session. A file the system refuses to write (a full disk, a directory
    removed) is abandoned, and the records are dropped (counted, logged once) until the next
    file is due, which tries again.
    """

    def __init__(
        self,
        directory: Path,
        config: MrtConfig,
        loop: asyncio.AbstractEventLoop,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = directory
        self.config = config
        self.loop = loop
        self.clock = clock
        self.file: BinaryIO | None = None
        self.name = ""
        self.size = 0
        self.records = 0
        self.dropped = 0  # records lost to write errors
        self._failed = False  # the current file failed: drop records until the next one
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._arm()

    def write(self, record: bytes) -> None:
        f = self.file
        try:
            if f is None:
                if self._failed:
                    self.dropped += 1
                    return
                f = self._open()
            f.write(record)
        except OSError as err:
            self.dropped += 1
            self._abandon("MRT update log: cannot write; records dropped until the next file", err)
            return
        self.size += len(record)
        self.records += 1
        if self.size >= self.config.updates_max_bytes:
            self.rotate()

    def rotate(self) -> Path | None:
        """Close the current file under its name (None when there was none); the next record
        starts a new file, even after a failed one."""
        self._failed = False
        f = self.file
        if f is None:
            return None
        try:
            f.close()
            final = _free_name(self.directory, self.name)
            os.replace(self._tmp(), final)
        except OSError as err:
            self._abandon("MRT update file not completed", err)
            self._failed = False
            return None
        self.file = None
        log.debug("MRT update file completed", path=str(final), bytes=self.size)
        try:
            prune(self.directory, self.config.updates_name, self.config.keep)
        except OSError as err:
            log.error("MRT update files not pruned", directory=str(self.directory), error=str(err))
        return final

    def close(self) -> Path | None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return self.rotate()

    def _open(self) -> BinaryIO:
        self.name = file_name(self.config.updates_name, self.clock())
        self.size = 0
        f = open(self._tmp(), "wb", buffering=WRITE_BUFFER)  # noqa: SIM115
        self.file = f
        return f

    def _tmp(self) -> Path:
        return self.directory / (self.name + TMP_SUFFIX)

    def _abandon(self, what: str, err: OSError) -> None:
        """The current file failed: close it and remove it (an incomplete file never appears
        under its name, and a NAME.tmp would never be pruned)."""
        log.error(what, file=self.name, error=str(err), dropped=self.dropped)
        f, self.file = self.file, None
        self._failed = True
        if f is not None:
            with contextlib.suppress(OSError):
                f.close()  # its buffer fails to flush again; the descriptor is closed anyway
        with contextlib.suppress(OSError):
            self._tmp().unlink()

    def _arm(self) -> None:
        interval = self.config.updates_interval
        now = self.clock()
        boundary = math.floor(now / interval + 1) * interval
        self._timer = self.loop.call_later(boundary - now, self._tick)

    def _tick(self) -> None:
        self.rotate()
        self._arm()


class TableDumps:
    """TABLE_DUMP_V2 files of the Loc-RIB with every candidate path (pyrr.monitor.tables)."""

    def __init__(
        self,
        directory: Path,
        config: MrtConfig,
        speaker: Speaker,
        loop: asyncio.AbstractEventLoop,
        wall_offset: float,
    ) -> None:
        self.directory = directory
        self.config = config
        self.speaker = speaker
        self.loop = loop
        self.wall_offset = wall_offset  # Unix time minus loop time
        self.last: Path | None = None
        self._running: asyncio.Task[Path] | None = None
        self._periodic: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.config.dump_interval > 0:
            self._periodic = self.loop.create_task(self._every())

    async def stop(self) -> None:
        for task in (self._periodic, self._running):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):  # logged by _write
                    await task

    async def dump(self) -> Path:
        """Write a dump now; a dump already under way is the answer to a second request."""
        if self._running is None or self._running.done():
            self._running = self.loop.create_task(self._write())
        return await asyncio.shield(self._running)

    async def _every(self) -> None:
        interval = self.config.dump_interval
        while True:
            now = time.time()
            await asyncio.sleep(math.floor(now / interval + 1) * interval - now)
            with contextlib.suppress(Exception):  # logged by _write; the next period tries again
                await self.dump()

    async def _write(self) -> Path:
        sp = self.speaker
        started = time.time()
        final = _free_name(self.directory, file_name(self.config.dump_name, started))
        tmp = final.with_name(final.name + TMP_SUFFIX)
        peers = list(sp.peers.values())
        originated = {
            n.source: int(n.established_at + self.wall_offset)
            for n in peers
            if n.established_at is not None
        }
        router_id = int(sp.config.bgp.router_id)
        records = 0
        try:
            with open(tmp, "wb", buffering=WRITE_BUFFER) as f:
                sources = [n.source for n in peers]
                for chunk in table_dump(sp.rib, sources, router_id, int(started), originated):
                    f.write(b"".join(chunk))
                    records += len(chunk)
                    await asyncio.sleep(0)  # BGP goes on between chunks
                f.flush()
                await self.loop.run_in_executor(None, os.fsync, f.fileno())
            os.replace(tmp, final)
        except BaseException as err:
            with contextlib.suppress(OSError):
                tmp.unlink()
            if isinstance(err, OSError):
                log.error("MRT table dump failed", path=str(final), error=str(err))
            elif isinstance(err, Exception):  # a bug: with its traceback (not a cancellation)
                log.exception("MRT table dump failed", path=str(final))
            raise
        self.last = final
        prune(self.directory, self.config.dump_name, self.config.keep)
        log.info(
            "MRT table dump written",
            path=str(final),
            prefixes=records - 1,
            peers=len(peers),
            seconds=round(time.time() - started, 3),
        )
        return final
