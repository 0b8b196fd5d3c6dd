"""Building and driving bgpsim, the C client simulator (bench/bgpsim.c).

The binary is built with `gcc -O2` into a cache directory (``$PYRR_BENCH_CACHE``, else
``$XDG_CACHE_HOME/pyrr-bench``, else ``~/.cache/pyrr-bench``) under a name derived from the
source's SHA-256, so an edited bgpsim.c is rebuilt and an unchanged one is not.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

SOURCE = Path(__file__).resolve().with_name("bgpsim.c")


class SimError(RuntimeError):
    """The simulator could not be built, started, or stopped answering."""


def cache_dir() -> Path:
    env = os.environ.get("PYRR_BENCH_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "pyrr-bench"


def build(source: Path = SOURCE, cc: str | None = None) -> Path:
    """Compile bgpsim (if this exact source has not been built yet) and return its path."""
    compiler = cc or os.environ.get("CC") or "gcc"
    if shutil.which(compiler) is None:
        raise SimError(f"C compiler {compiler!r} not found (apt-get install gcc libc6-dev)")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    out_dir = cache_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    binary = out_dir / f"bgpsim-{digest}"
    if binary.exists() and os.access(binary, os.X_OK):
        with contextlib.suppress(OSError):
            os.utime(binary)  # in use: not stale (see _prune)
        return binary
    fd, tmp = tempfile.mkstemp(prefix="bgpsim-", dir=out_dir)
    os.close(fd)
    try:
        res = subprocess.run(
            [compiler, "-O2", "-Wall", "-o", tmp, str(source)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if res.returncode != 0:
            raise SimError(f"building {source.name} failed:\n{res.stderr}")
        os.chmod(tmp, 0o755)
        os.replace(tmp, binary)  # atomic: concurrent builders agree on the result
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    _prune(out_dir, binary)
    return binary


# Builds of other sources are removed only once unused this long: two checkouts (a branch and
# main) share the cache, and removing the other's binary under it fails its running benchmark.
STALE_BUILD_SECONDS = 7 * 24 * 3600


def _prune(out_dir: Path, keep: Path) -> None:
    cutoff = time.time() - STALE_BUILD_SECONDS
    for old in out_dir.glob("bgpsim-*"):
        if old == keep or len(old.name) != len(keep.name):  # not a finished build
            continue
        with contextlib.suppress(OSError):
            if old.stat().st_mtime < cutoff:
                old.unlink()


@dataclass
class PhaseResult:
    """What bgpsim printed for one phase: `done ...` or `timeout ...` with its key=values."""

    phase: str
    ok: bool
    wall: float
    cpu: float
    fields: dict[str, str] = field(default_factory=dict)
    line: str = ""


def parse_result(line: str) -> PhaseResult:
    words = line.split()
    verdict, phase = words[0], words[1] if len(words) > 1 else "?"
    fields = dict(w.split("=", 1) for w in words[2:] if "=" in w)
    return PhaseResult(
        phase=phase,
        ok=verdict == "done",
        wall=float(fields.get("wall", "nan")),
        cpu=float(fields.get("cpu", "nan")),
        fields=fields,
        line=line,
    )


class Sim:
    """One bgpsim process, talked to line by line over its stdin/stdout."""

    def __init__(self, binary: Path, host: str, port: int) -> None:
        self.proc = subprocess.Popen(
            [str(binary), host, str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,  # a Ctrl-C in the terminal is handled by the harness
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.events: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        first = self._next_line(10.0, None)
        if not first.startswith("ready"):
            self.kill()
            raise SimError(f"bgpsim did not start: {first!r}")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _next_line(self, timeout: float, alive: Callable[[], str | None] | None) -> str:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SimError(f"bgpsim gave no answer within {timeout:.0f} s")
            try:
                line = self.lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                if alive is not None:
                    dead = alive()
                    if dead:
                        raise SimError(dead) from None
                continue
            if line is None:
                raise SimError(f"bgpsim exited (status {self.proc.poll()})")
            if line.startswith("event "):
                if len(self.events) < 200:
                    self.events.append(line[6:])
                continue
            return line

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError) as err:
            raise SimError(f"bgpsim is gone: {err}") from err

    def ask(self, command: str, timeout: float = 10.0) -> str:
        """A command answered by one line (timeout, status)."""
        self.send(command)
        return self._next_line(timeout, None)

    def phase(
        self, command: str, timeout: float, alive: Callable[[], str | None] | None = None
    ) -> PhaseResult:
        """Run one phase; `alive` returns a reason when the RR died, which ends the wait."""
        self.send(command)
        return self.result(timeout, alive)

    def result(self, timeout: float, alive: Callable[[], str | None] | None = None) -> PhaseResult:
        """Wait for the end of a phase started with `send` (something else may happen
        meanwhile: the reliability runs kill the RR in the middle of one)."""
        while True:
            line = self._next_line(timeout, alive)
            if line.startswith(("done ", "timeout ")):
                return parse_result(line)
            if line.startswith(("error", "fatal")):
                raise SimError(f"bgpsim: {line}")

    def ask_lines(self, command: str, end: str, timeout: float = 30.0) -> list[str]:
        """A command answered by several lines and then one starting with `end`."""
        self.send(command)
        out: list[str] = []
        while True:
            line = self._next_line(timeout, None)
            if line.startswith(end):
                return out
            if line.startswith(("error", "fatal")):
                raise SimError(f"bgpsim: {line}")
            out.append(line)

    def quit(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(timeout=5)
            except (SimError, subprocess.TimeoutExpired):
                pass
        self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self._reader.join(timeout=5)  # it ends at EOF, which the exit just caused
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
