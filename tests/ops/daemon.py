"""Run `pyrr run` as a subprocess the way an operator would, on loopback, for the ops tests."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from pyrr.control.server import request

# The console script installed next to the interpreter running the tests (the venv's).
PYRR_BIN = Path(sys.executable).with_name("pyrr")


def write_config(
    path: Path, port: int, peers: Sequence[str] = (), extra: str = "", router_id: bool = True
) -> Path:
    """A loopback-only config: listen on 127.0.0.1:port, passive client peers."""
    text = "[bgp]\nasn = 64512\n"
    if router_id:
        text += 'router_id = "127.0.0.1"\n'
    text += f'listen = ["127.0.0.1"]\nport = {port}\n'
    for address in peers:
        text += f'[[peer]]\naddress = "{address}"\npassive = true\n'
    path.write_text(text + extra)
    return path


def pyrr_env(tmp: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test process's environment less anything that would leak into pyrr's behaviour."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "BGP_LOGSEVERITYSCREEN")
    }
    env["PYRR_CONTROL_SOCKET"] = str(tmp / "pyrr.sock")
    env.update(extra or {})
    return env


def sh(
    argv: Sequence[str],
    timeout: float = 60.0,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion, capturing its output; the caller checks the outcome."""
    return subprocess.run(
        list(argv),
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=None if env is None else dict(env),
        cwd=cwd,
    )


def wait_until(pred: Callable[[], object], timeout: float = 15.0, what: str = "it") -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if pred():
                return
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def status(sock: str | Path) -> dict[str, object]:
    return request(str(sock), {"cmd": "status"}, timeout=2.0)


class Daemon:
    """A started pyrr: the process and the file its stderr goes to (a file, not a pipe, so a
    chatty daemon can never block on a full pipe)."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.proc = proc
        self.log = log

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 5.0) -> tuple[int, float]:
        """SIGTERM; return (exit code, seconds it took to exit)."""
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        return code, time.monotonic() - t0


@contextlib.contextmanager
def running(
    argv: Sequence[str], env: Mapping[str, str], log: Path, sock: str | Path | None = None
) -> Iterator[Daemon]:
    """Start `argv`; wait for the control socket to answer when `sock` is given; always stop.

    Stops with SIGTERM then, after 5 s, SIGKILL, and only the process started here.
    """
    with log.open("wb") as err:
        proc = subprocess.Popen(
            list(argv), env=dict(env), stdin=subprocess.DEVNULL, stdout=err, stderr=err
        )
    daemon = Daemon(proc, log)
    try:
        if sock is not None:

            def up() -> bool:
                if proc.poll() is not None:
                    raise AssertionError(f"pyrr exited with {proc.returncode}: {daemon.stderr()}")
                return bool(status(sock))

            wait_until(up, what="the control socket")
        yield daemon
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def json_lines(text: str) -> list[dict[str, object]]:
    """Every stderr line parsed as JSON; a line that is not JSON fails the test."""
    out = []
    for line in text.splitlines():
        if line.strip():
            obj = json.loads(line)
            assert isinstance(obj, dict), line
            out.append(obj)
    return out
