"""systemd/pyrr.service: `systemd-analyze verify` and an offline security review pass, and pyrr
started the way the unit starts it (its Environment=, the env file, ExecStart with $PYRR_ARGS,
NOTIFY_SOCKET/WATCHDOG_USEC/WATCHDOG_PID as systemd sets them) goes through ready, watchdog,
reload (ExecReload's SIGHUP) and stop.

systemd is not PID 1 here, so the manager's side is played by a datagram socket in the test.
"""

from __future__ import annotations

import re
import shlex
import shutil
import signal
import socket
from pathlib import Path

import pytest

from ..peer_sim import free_port
from .daemon import PYRR_BIN, pyrr_env, running, sh, status, wait_until, write_config
from .test_sdnotify import Manager

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "pyrr.service"
ENV_EXAMPLE = REPO / "systemd" / "pyrr.env.example"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


@pytest.fixture
def require_analyze() -> None:
    if SYSTEMD_ANALYZE is None:
        pytest.fail("systemd-analyze not installed (Debian package systemd): run scripts/setup.sh")


needs_analyze = pytest.mark.usefixtures("require_analyze")


def unit_settings(text: str) -> dict[str, list[str]]:
    """Key -> values (in order) of every section; comments and blank lines skipped."""
    out: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, val = line.partition("=")
        out.setdefault(key.strip(), []).append(val.strip())
    return out


def local_copy(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this checkout's pyrr (verify checks it exists)."""
    text = UNIT.read_text().replace("ExecStart=/opt/pyrr/bin/pyrr ", f"ExecStart={PYRR_BIN} ")
    assert str(PYRR_BIN) in text
    copy = tmp_path / "pyrr.service"
    copy.write_text(text)
    return copy


def test_unit_has_what_the_service_needs() -> None:
    s = unit_settings(UNIT.read_text())
    want = {
        "Type": "notify",
        "WatchdogSec": "30",
        "Restart": "on-failure",
        "ExecReload": "/bin/kill -HUP $MAINPID",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "NoNewPrivileges": "yes",
        "PrivateTmp": "yes",
        "AmbientCapabilities": "CAP_NET_BIND_SERVICE",
        "CapabilityBoundingSet": "CAP_NET_BIND_SERVICE",
        "RuntimeDirectory": "pyrr",
        "RuntimeDirectoryPreserve": "restart",
        "User": "pyrr",
        "EnvironmentFile": "-/etc/pyrr/pyrr.env",
        "RestartPreventExitStatus": "2",
    }
    for key, val in want.items():
        assert s.get(key) == [val], (key, s.get(key))
    assert "PYRR_CONTROL_SOCKET=/run/pyrr/pyrr.sock" in s["Environment"]
    (exec_start,) = s["ExecStart"]
    assert shlex.split(exec_start)[1:] == ["run", "$PYRR_ARGS"]


@needs_analyze
def test_systemd_analyze_verify_is_clean(tmp_path: Path) -> None:
    assert SYSTEMD_ANALYZE is not None
    r = sh([SYSTEMD_ANALYZE, "verify", str(local_copy(tmp_path))])
    # verify exits 0 on unknown keys and only warns: any output at all is a finding.
    assert r.returncode == 0 and not r.stderr.strip() and not r.stdout.strip(), r.stderr


@needs_analyze
def test_systemd_analyze_verify_catches_a_bad_unit(tmp_path: Path) -> None:
    """The check above can fail: a misspelt key is reported."""
    assert SYSTEMD_ANALYZE is not None
    copy = local_copy(tmp_path)
    copy.write_text(copy.read_text().replace("Type=notify", "Typ=notify"))
    r = sh([SYSTEMD_ANALYZE, "verify", str(copy)])
    assert "Unknown key" in r.stderr


@needs_analyze
def test_security_exposure_is_low(tmp_path: Path) -> None:
    assert SYSTEMD_ANALYZE is not None
    r = sh([SYSTEMD_ANALYZE, "security", "--offline=yes", "--no-pager", str(local_copy(tmp_path))])
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", r.stdout + r.stderr)
    assert m is not None, r.stdout + r.stderr
    assert float(m.group(1)) <= 2.5, r.stdout  # systemd calls < 2.5 "OK"; 10 is no hardening


def test_env_example_is_environmentfile_syntax() -> None:
    """Every line a valid assignment of a variable pyrr reads (VARIABLES, the autodetection
    methods, the unit's PYRR_ARGS), and the ones an operator needs first all shown."""
    from pyrr.store.file.environment import VARIABLES

    readable = set(VARIABLES) | {"PYRR_ARGS", "IP_AUTODETECTION_METHOD", "IP6_AUTODETECTION_METHOD"}
    shown = {
        "PYRR_ARGS", "IP", "IP6", "IP_AUTODETECTION_METHOD", "IP6_AUTODETECTION_METHOD",
        "ETCD_ENDPOINTS", "ETCD_CA_CERT_FILE", "ETCD_CERT_FILE", "ETCD_KEY_FILE",
        "ETCD_USERNAME", "ETCD_PASSWORD", "BGP_LOGSEVERITYSCREEN", "NODENAME",
        "PYRR_SECRETS_DIR", "PYRR_ADD_PATH_SEND", "PYRR_BMP_STATIONS",
    }  # fmt: skip
    seen = set()
    for line in ENV_EXAMPLE.read_text().splitlines():
        if not line.strip() or line.startswith("# "):
            continue
        assignment = line.removeprefix("#")  # commented-out examples must be valid too
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*=[^\"']*", assignment), line
        seen.add(assignment.split("=", 1)[0])
    assert seen <= readable, seen - readable
    assert shown <= seen, shown - seen


def test_started_like_the_unit_starts_it(tmp_path: Path) -> None:
    s = unit_settings(UNIT.read_text())
    # The manager's end of NOTIFY_SOCKET.
    nsock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    nsock.bind(str(tmp_path / "notify"))
    manager = Manager(nsock, str(tmp_path / "notify"))
    cfg = write_config(tmp_path / "pyrr.toml", free_port(), peers=["127.0.6.1"])
    runtime_dir = tmp_path / "run-pyrr"  # RuntimeDirectory=pyrr
    runtime_dir.mkdir(mode=0o750)
    # Environment= lines, then the EnvironmentFile (which wins), as systemd applies them.
    env: dict[str, str] = {}
    for assignment in s["Environment"]:
        key, _, val = assignment.partition("=")
        env[key] = val.replace("/run/pyrr", str(runtime_dir))
    env["PYRR_ARGS"] = f"--config {cfg}"
    env["BGP_LOGSEVERITYSCREEN"] = "info"
    env["NOTIFY_SOCKET"] = manager.env_value
    env["WATCHDOG_USEC"] = str(int(s["WatchdogSec"][0]) * 1_000_000 // 100)  # 0.3 s, not 30
    # $PYRR_ARGS unquoted: split at whitespace into words, as systemd does.
    (exec_start,) = s["ExecStart"]
    argv = [str(PYRR_BIN) if w == "/opt/pyrr/bin/pyrr" else w for w in exec_start.split()]
    argv = [a for w in argv for a in (env["PYRR_ARGS"].split() if w == "$PYRR_ARGS" else [w])]
    # systemd sets WATCHDOG_PID to the service's own pid: a shell that execs keeps its pid.
    shell = ["/bin/sh", "-c", 'WATCHDOG_PID=$$ exec "$@"', "sh", *argv]
    sock = runtime_dir / "pyrr.sock"
    with nsock, running(shell, pyrr_env(tmp_path, env), tmp_path / "pyrr.log") as daemon:
        ready = manager.wait_for("READY=1")
        assert status(sock)["peers"], "READY=1 came before the control socket answered"
        assert any(line.startswith("STATUS=") for line in ready.split("\n"))
        manager.messages.clear()
        manager.wait_for("WATCHDOG=1", timeout=2.0)
        # ExecReload=/bin/kill -HUP $MAINPID, after adding a peer to the file.
        cfg.write_text(cfg.read_text() + '[[peer]]\naddress = "127.0.6.2"\npassive = true\n')
        manager.messages.clear()
        daemon.proc.send_signal(signal.SIGHUP)
        manager.wait_for("RELOADING=1")
        ready = manager.wait_for("READY=1")
        assert "STATUS=0/2 peers established, 0 prefixes" in ready.split("\n")
        wait_until(lambda: len(status(sock)["peers"]) == 2, what="the reload")  # type: ignore[arg-type]
        code, took = daemon.stop()
        manager.wait_for("STOPPING=1")
        assert code == 0 and took < 2.0, daemon.stderr()
    assert not sock.exists()  # the control socket is cleaned up on the way out
