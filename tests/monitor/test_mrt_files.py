"""MRT files on disk: `pyrr run` with an [mrt] table writes a table dump on SIGUSR1 and on
`pyrr dump`, keeps the newest `keep`, and logs every UPDATE and state change to update files
that appear complete (tmp + rename); bgpdump reads them all. The update files rotate by size
and by time."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
import structlog

from pyrr.config import MrtConfig
from pyrr.transport.mrt_files import WRITE_BUFFER, TableDumps, UpdateFiles, prune

from ..ops.daemon import pyrr_env, running, write_config
from ..peer_sim import SimPeer, free_port, wait_for
from .tools import bgpdump

A, B = "127.0.2.1", "127.0.2.2"
PYRR_BIN = Path(sys.executable).with_name("pyrr")


def _files(d: Path, prefix: str) -> list[Path]:
    """The complete files (a dump being written is NAME.tmp until it is renamed)."""
    return sorted(
        p for p in d.iterdir() if p.name.startswith(prefix) and not p.name.endswith(".tmp")
    )


def test_pyrr_run_dumps_on_sigusr1_and_pyrr_dump_and_logs_updates(tmp_path: Path) -> None:
    port = free_port()
    mrt = tmp_path / "mrt"
    conf = write_config(
        tmp_path / "pyrr.toml",
        port,
        [A, B],
        extra=f'[mrt]\ndirectory = "{mrt}"\nupdates = true\nkeep = 2\n',
    )
    env = pyrr_env(tmp_path)
    sock = tmp_path / "pyrr.sock"
    argv = [str(PYRR_BIN), "run", "--config", str(conf), "--log-format", "json"]
    with running(argv, env, tmp_path / "pyrr.log", sock) as daemon:

        async def go() -> None:
            sims = [SimPeer(a, 64512, ("127.0.0.1", port)) for a in (A, B)]
            for s in sims:
                await s.connect()
            await wait_for(lambda: all(s.state.name == "ESTABLISHED" for s in sims))
            sims[0].announce(["10.10.1.0/26", "2001:db8:1::/64"])
            sims[1].announce(["10.10.2.0/26", "10.10.1.0/26"])
            await wait_for(lambda: len(sims[0].routes) == 1 and len(sims[1].routes) == 2)

            daemon.proc.send_signal(signal.SIGUSR1)
            await wait_for(lambda: len(_files(mrt, "rib.")) == 1, what="the SIGUSR1 dump")
            lines = bgpdump(_files(mrt, "rib.")[0])
            assert sorted((ln[3], ln[5], ln[8]) for ln in lines) == [
                (A, "10.10.1.0/26", A),
                (A, "2001:db8:1::/64", "2001:db8::1"),
                (B, "10.10.1.0/26", B),
                (B, "10.10.2.0/26", B),
            ]

            for n in (2, 3):
                cli = await asyncio.create_subprocess_exec(
                    str(PYRR_BIN),
                    "dump",
                    "--control-socket",
                    str(sock),
                    env=env,
                    stdout=asyncio.subprocess.PIPE,
                )
                out, _ = await asyncio.wait_for(cli.communicate(), 30)
                assert cli.returncode == 0
                path = Path(out.decode().strip())
                assert path.parent == mrt and path.exists()
                assert len(bgpdump(path)) == 4
                assert len(_files(mrt, "rib.")) == min(n, 2)  # keep = 2
            sims[1].withdraw(["10.10.2.0/26"])
            await wait_for(lambda: "10.10.2.0/26" not in sims[0].prefixes())
            for s in sims:
                s.close()

        asyncio.run(asyncio.wait_for(go(), 60))
        code, _took = daemon.stop()
        assert code == 0, daemon.stderr()
    assert not [p for p in mrt.iterdir() if p.name.endswith(".tmp")]
    [updates] = _files(mrt, "updates.")
    lines = bgpdump(updates)
    assert [(ln[5], ln[6]) for ln in lines if ln[2] == "STATE" and ln[3] == A] == [
        ("1", "4"),
        ("4", "5"),
        ("5", "6"),
        ("6", "1"),
    ]
    routes = sorted((ln[2], ln[3], ln[5]) for ln in lines if ln[2] in ("A", "W"))
    assert routes == [
        ("A", A, "10.10.1.0/26"),
        ("A", A, "2001:db8:1::/64"),
        ("A", B, "10.10.1.0/26"),
        ("A", B, "10.10.2.0/26"),
        ("W", B, "10.10.2.0/26"),
    ]


def test_update_files_rotate_by_size_and_time_and_keep_the_newest(tmp_path: Path) -> None:
    async def go() -> None:
        loop = asyncio.get_running_loop()
        now = [1_800_000_000.0]
        cfg = MrtConfig(
            directory=str(tmp_path),
            updates=True,
            updates_interval=3600,
            updates_max_bytes=1000,
            keep=3,
        )
        files = UpdateFiles(tmp_path, cfg, loop, clock=lambda: now[0])
        files.start()
        for _ in range(5):
            files.write(bytes(600))  # each second record fills a file
        # Five records of 600 bytes: a new file after every second one; the same second
        # gives the same name, so the later ones get .1, .2.
        names = sorted(p.name for p in tmp_path.iterdir())
        assert names == [
            "updates.20270115.080000.mrt",
            "updates.20270115.080000.mrt.1",
            "updates.20270115.080000.mrt.tmp",
        ]
        now[0] += 60
        assert files.rotate() is not None  # what the interval's timer does
        files.write(bytes(10))
        files.close()
        names = sorted(p.name for p in tmp_path.iterdir())
        # keep = 3: the oldest went.
        assert names == [
            "updates.20270115.080000.mrt.1",
            "updates.20270115.080000.mrt.2",
            "updates.20270115.080100.mrt",
        ]
        assert (tmp_path / "updates.20270115.080100.mrt").stat().st_size == 10

    asyncio.run(go())


def test_prune_leaves_other_files_alone(tmp_path: Path) -> None:
    for name in ("rib.1.mrt", "rib.2.mrt", "rib.3.mrt", "rib.4.mrt.tmp", "notes.txt"):
        (tmp_path / name).write_text(name)
    gone = prune(tmp_path, "rib.%s.mrt", 1)
    assert sorted(p.name for p in gone) == ["rib.1.mrt", "rib.2.mrt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "rib.3.mrt", "rib.4.mrt.tmp"]


def test_a_dump_without_an_mrt_directory_is_an_error_not_a_crash(tmp_path: Path) -> None:
    from pyrr.control.server import dump
    from pyrr.transport.host import Host

    from ..test_speaker import make_config

    async def go() -> None:
        host = Host(make_config(free_port(), []), asyncio.get_running_loop())
        await host.start()
        try:
            assert host.monitoring is None
            reply = await dump(host)
            assert reply == {
                "error": "no MRT directory configured: add an [mrt] table with a directory"
            }
            assert host.request_dump("SIGUSR1") is False
        finally:
            await host.stop()

    asyncio.run(asyncio.wait_for(go(), 30))


def _update_files(tmp_path: Path, loop: asyncio.AbstractEventLoop) -> UpdateFiles:
    cfg = MrtConfig(directory=str(tmp_path), updates=True, updates_max_bytes=1 << 30)
    return UpdateFiles(tmp_path, cfg, loop, clock=lambda: 1_800_000_000.0)


def test_a_full_disk_drops_update_records_and_never_raises_into_bgp(tmp_path: Path) -> None:
    """UpdateFiles.write runs inside a neighbour's UPDATE handling: an exception there would
    drop that BGP session. A write the disk refuses (ENOSPC, here /dev/full under the file's
    name) loses the log's records until the next file, and nothing else."""

    async def go() -> None:
        files = _update_files(tmp_path, asyncio.get_running_loop())
        (tmp_path / "updates.20270115.080000.mrt.tmp").symlink_to("/dev/full")
        big = bytes(WRITE_BUFFER + 1)  # past the buffer: written at once
        files.write(big)
        files.write(b"more")
        assert files.file is None and files.dropped == 2
        assert list(tmp_path.iterdir()) == []  # the incomplete file is gone
        assert files.rotate() is None  # the next file (the interval's timer) starts afresh
        files.write(b"record")
        assert files.close() == tmp_path / "updates.20270115.080000.mrt"
        assert (tmp_path / "updates.20270115.080000.mrt").read_bytes() == b"record"

    asyncio.run(go())


def test_a_missing_directory_drops_update_records_until_the_next_file(tmp_path: Path) -> None:
    async def go() -> None:
        d = tmp_path / "mrt"
        files = _update_files(d, asyncio.get_running_loop())
        for _ in range(3):
            files.write(b"lost")
        assert files.dropped == 3
        d.mkdir()
        files.rotate()
        files.write(b"kept")
        files.close()
        assert [p.read_bytes() for p in d.iterdir()] == [b"kept"]

    asyncio.run(go())


def test_status_counts_the_update_logs_records_and_those_dropped(tmp_path: Path) -> None:
    """`pyrr status` shows what the update log wrote and what write errors cost (the log never
    fails a BGP session, so this is where an operator sees a full disk)."""
    from pyrr.transport.host import Host

    from ..test_speaker import make_config

    async def go() -> None:
        d = tmp_path / "mrt"
        cfg = make_config(free_port(), [])
        mrt = MrtConfig(directory=str(d), updates=True, updates_max_bytes=1 << 30)
        host = Host(dataclasses.replace(cfg, mrt=mrt), asyncio.get_running_loop())
        await host.start()
        try:
            assert host.monitoring is not None and host.monitoring.updates is not None
            files = host.monitoring.updates
            files.write(b"record")
            st = host.monitoring.status()["mrt"]
            assert st["update_records"] == 1 and st["update_records_dropped"] == 0  # type: ignore[index]
            files.rotate()
            d.rename(tmp_path / "moved")  # the directory is gone: the next file fails
            files.write(b"lost")
            files.write(b"lost")
            st = host.monitoring.status()["mrt"]
            assert st["update_records"] == 1 and st["update_records_dropped"] == 2  # type: ignore[index]
        finally:
            await host.stop()

    asyncio.run(asyncio.wait_for(go(), 30))


def test_prune_skips_a_file_it_cannot_stat(tmp_path: Path) -> None:
    (tmp_path / "rib.1.mrt").symlink_to(tmp_path / "gone")  # dangling: stat() fails
    for name in ("rib.2.mrt", "rib.3.mrt"):
        (tmp_path / name).write_text(name)
    assert [p.name for p in prune(tmp_path, "rib.%s.mrt", 1)] == ["rib.2.mrt"]


def test_a_failed_periodic_dump_is_logged_and_the_next_period_dumps_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not only an OSError: whatever ends one dump, the periodic dumps go on, the failure is
    logged with its traceback, and stopping does not raise it again."""
    from pyrr.monitor.tables import table_dump as real

    from ..session.harness import World

    calls = 0

    def table_dump(*args: Any, **kw: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("an encoding bug")
        return real(*args, **kw)

    monkeypatch.setattr("pyrr.transport.mrt_files.table_dump", table_dump)

    async def go() -> None:
        cfg = MrtConfig(directory=str(tmp_path), dump_interval=1)
        dumps = TableDumps(tmp_path, cfg, World().speaker, asyncio.get_running_loop(), 0.0)
        with structlog.testing.capture_logs() as logs:
            dumps.start()
            try:
                await wait_for(lambda: dumps.last is not None, timeout=5, what="a second dump")
            finally:
                await dumps.stop()
        failed = [e for e in logs if e["event"] == "MRT table dump failed"]
        assert len(failed) == 1 and failed[0].get("exc_info")
        assert calls == 2 and not list(tmp_path.glob("*.tmp"))

    asyncio.run(asyncio.wait_for(go(), 20))
