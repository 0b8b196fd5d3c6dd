"""Logs as an operator sees them from `pyrr run`: JSON lines when stderr is not a terminal, one
line per session state change carrying the reason, and where the level comes from."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pyrr.bgp.constants import CeaseSub, ErrCode, State

from ..peer_sim import SimPeer, free_port, wait_for
from .daemon import PYRR_BIN, json_lines, pyrr_env, running, write_config

PEER = "127.0.5.1"


def test_json_lines_session_changes_with_reasons_and_sigterm(tmp_path: Path) -> None:
    port = free_port()
    cfg = write_config(tmp_path / "rr.toml", port, peers=[PEER])
    sock = tmp_path / "pyrr.sock"
    argv = [str(PYRR_BIN), "run", "--config", str(cfg)]
    with running(argv, pyrr_env(tmp_path), tmp_path / "pyrr.log", sock) as daemon:

        async def sessions() -> tuple[SimPeer, SimPeer]:
            first = SimPeer(PEER, 64512, ("127.0.0.1", port))
            await first.connect()
            await wait_for(lambda: first.state == State.ESTABLISHED, what="first session")
            first.close()  # an abort: the RR sees the connection drop
            await wait_for(lambda: "session down" in daemon.stderr(), what="session down")
            second = SimPeer(PEER, 64512, ("127.0.0.1", port))
            await second.connect()
            await wait_for(lambda: second.state == State.ESTABLISHED, what="second session")
            # SIGTERM while it is up: Cease/Administrative Shutdown with a message, exit 0.
            loop = asyncio.get_running_loop()
            stopped = loop.run_in_executor(None, daemon.stop)
            await wait_for(lambda: second.lost, timeout=5, what="the RR to close")
            code, took = await stopped
            assert code == 0 and took < 1.5, (code, took)
            return first, second

        _first, second = asyncio.run(sessions())
    note = second.notification_received()
    assert note is not None
    assert (note.code, note.subcode) == (ErrCode.CEASE, CeaseSub.ADMINISTRATIVE_SHUTDOWN)
    assert note.shutdown_message  # RFC 9003: a human-readable reason

    lines = json_lines(daemon.stderr())  # every line is JSON: stderr was a file, not a TTY
    assert all({"event", "level", "timestamp"} <= set(line) for line in lines)
    ups = [x for x in lines if x["event"] == "session established"]
    downs = [x for x in lines if x["event"] == "session down"]
    # One line per change, each naming the peer and why.
    assert len(ups) == 2, ups
    assert len(downs) == 2, downs
    for line in ups + downs:
        assert line["peer"] == PEER
        assert isinstance(line["reason"], str) and line["reason"], line
    assert downs[0]["level"] == "warning" and downs[0]["was_established"] is True
    # The shutdown's line says what the peers were told.
    assert note.shutdown_message in str(downs[1]["reason"])
    assert [x["event"] for x in lines].count("shutting down") == 1


def levels_seen(tmp_path: Path, name: str, args: list[str], env: dict[str, str],
                config_level: str | None = None) -> set[str]:  # fmt: skip
    """Start pyrr with this level setup, stop it, and return the levels of its log lines."""
    extra = f'log_level = "{config_level}"\n' if config_level else ""
    cfg = tmp_path / f"{name}.toml"
    # A peer we dial (a closed loopback port) makes debug lines: "session state" changes.
    dialed = f'[[peer]]\naddress = "127.0.5.9"\nport = {free_port()}\n'
    cfg.write_text(extra + write_config(cfg, free_port(), extra=dialed).read_text())
    sock = tmp_path / "pyrr.sock"
    argv = [str(PYRR_BIN), "run", "--config", str(cfg), *args]
    with running(argv, pyrr_env(tmp_path, env), tmp_path / f"{name}.log", sock) as daemon:
        code, _took = daemon.stop()
        assert code == 0
    return {str(x["level"]) for x in json_lines(daemon.stderr())}


def test_log_level_precedence(tmp_path: Path) -> None:
    # The config says error: nothing at info.
    assert "info" not in levels_seen(tmp_path, "cfg", [], {}, "error")
    # BGP_LOGSEVERITYSCREEN (calico/routereflector's variable) beats the config.
    assert "info" in levels_seen(tmp_path, "env", [], {"BGP_LOGSEVERITYSCREEN": "Info"}, "error")
    # --log-level beats both.
    assert "info" not in levels_seen(
        tmp_path, "flag", ["--log-level", "warning"], {"BGP_LOGSEVERITYSCREEN": "debug"}, "info"
    )
    assert "debug" in levels_seen(
        tmp_path, "debug", ["--log-level", "debug"], {"BGP_LOGSEVERITYSCREEN": "error"}
    )


def test_log_format_console(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "rr.toml", free_port())
    argv = [str(PYRR_BIN), "run", "--config", str(cfg), "--log-format", "console"]
    with running(argv, pyrr_env(tmp_path), tmp_path / "c.log", tmp_path / "pyrr.sock") as daemon:
        assert daemon.stop()[0] == 0
    text = daemon.stderr()
    assert "pyrr started" in text and not text.lstrip().startswith("{")


def test_level_change_reaches_loggers_already_used() -> None:
    """logSeverityScreen from Calico changes the level at runtime: a module's logger that has
    already logged (and is cached) must follow, in both directions."""
    import io
    import json

    import structlog

    from pyrr import log as logmod
    from pyrr.store.calico.source import set_log_level

    out = io.StringIO()
    logmod.setup("warning", out, json=True)
    try:
        lg = structlog.get_logger("pyrr.test.level")
        lg.info("hidden at warning")
        lg.warning("shown at warning")
        set_log_level("debug")
        lg.debug("shown at debug")
        assert logmod.enabled(logmod.DEBUG)
        set_log_level("error")
        lg.warning("hidden at error")
        lg.error("shown at error")
        set_log_level("none")
        lg.critical("hidden at none")
    finally:
        logmod.setup("info", io.StringIO(), json=True)
    events = [json.loads(line)["event"] for line in out.getvalue().splitlines()]
    assert events == ["shown at warning", "shown at debug", "shown at error"]
