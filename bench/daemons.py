"""The route reflectors under test: config generation, start, readiness, measurement, stop.

Every RR is an iBGP route reflector for AS 64512 with router id and cluster id 127.0.0.1,
listening on 127.0.0.1:PORT only, passive, with every client 127.1.x.y a route-reflector
client. Each runs in the foreground as one process the harness started (so it is measured and
killed by that pid), in a fresh temporary directory that holds its config, sockets and log.

Command lines (PORT, DIR from the harness):

    pyrr   .venv/bin/pyrr run --config DIR/pyrr.toml --log-level warning
               --control-socket DIR/ctl.sock
    bird   bird -f -c DIR/bird.conf -s DIR/bird.ctl -P DIR/bird.pid
    frr    /usr/lib/frr/bgpd -f DIR/bgpd.conf -i DIR/bgpd.pid --vty_socket DIR -P 0
               -p PORT -l 127.0.0.1 -Z -S
    gobgp  gobgpd -f DIR/gobgpd.toml -t toml --api-hosts 127.0.0.1:PORT+1 --pprof-disable
               -l warn -p

(FRR: `-Z` runs bgpd without zebra, `-S` skips the switch to user frr, `-P 0` opens no vty
TCP port, `-l` implies `-n`, no kernel routes. BIRD 2.0.12 has no `listen bgp`: `strict bind`
in the protocol makes it listen on the `local` address only.)
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import time
from pathlib import Path

ASN = 64512
ROUTER_ID = "127.0.0.1"
RR_HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parents[1]
CLK_TCK = os.sysconf("SC_CLK_TCK")

ANCHORS = ("bird", "frr", "gobgp")
ALL_RRS = ("pyrr", *ANCHORS)


def client_address(i: int) -> str:
    """Client i's source address (and BGP identifier): 127.1.(i//250).(i%250+1)."""
    return f"127.1.{i // 250}.{i % 250 + 1}"


class DaemonError(RuntimeError):
    """An RR could not be started or died."""


# -- /proc --------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """user+sys CPU of a process (all its threads), from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def status_kib(pid: int, key: str) -> int:
    """A `kB` line of /proc/PID/status, e.g. VmHWM (peak RSS) or VmRSS."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def _hex_addr(addr: str) -> str:
    return "".join(f"{int(b):02X}" for b in reversed(addr.split(".")))


def listening(host: str, port: int) -> bool:
    """Whether some socket listens on host:port (or on 0.0.0.0:port), per /proc/net/tcp."""
    wanted = {f"{_hex_addr(host)}:{port:04X}", f"00000000:{port:04X}"}
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                parts = line.split()
                if parts[3] == "0A" and parts[1] in wanted:
                    return True
    except OSError:
        return False
    return False


def raise_nofile(limit: int = 65536) -> int:
    """Raise this process's RLIMIT_NOFILE (children inherit it): 1000 sessions need > 1024.

    Returns the soft limit now in force (the RRs and bgpsim get that much; bgpsim raises its
    own to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if os.geteuid() == 0 and hard != resource.RLIM_INFINITY and hard < limit:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
            return limit
        except (ValueError, OSError):
            pass
    target = hard if hard == resource.RLIM_INFINITY else min(hard, max(soft, limit))
    if target == resource.RLIM_INFINITY:
        target = limit
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return max(soft, int(target))


# -- daemons ------------------------------------------------------------------------------------


class Daemon:
    """One RR process in its own work directory."""

    name = "?"
    config_name = "rr.conf"

    def __init__(self, workdir: Path, port: int, clients: int) -> None:
        self.workdir = workdir
        self.port = port
        self.clients = clients
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"{self.name}.log"
        self.config_path = workdir / self.config_name

    # What a subclass provides.
    def config_text(self) -> str:
        raise NotImplementedError

    def argv(self) -> list[str]:
        raise NotImplementedError

    def extra_ports(self) -> list[int]:
        return []

    @staticmethod
    def available() -> str | None:
        """None when this RR can run here, else why not."""
        return None

    @staticmethod
    def version() -> str:
        return "?"

    # Life cycle.
    def start(self, ready_timeout: float = 30.0) -> None:
        for p in [self.port, *self.extra_ports()]:
            if listening(RR_HOST, p):
                raise DaemonError(f"port {p} on {RR_HOST} is already in use")
        self.config_path.write_text(self.config_text())
        log = self.log_path.open("wb")
        try:
            self.proc = subprocess.Popen(
                self.argv(),
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a terminal Ctrl-C reaches the harness, which stops us
            )
        finally:
            log.close()
        deadline = time.monotonic() + ready_timeout
        while not listening(RR_HOST, self.port):
            dead = self.dead()
            if dead:
                raise DaemonError(dead)
            if time.monotonic() > deadline:
                raise DaemonError(
                    f"{self.name} not listening on {RR_HOST}:{self.port} after "
                    f"{ready_timeout:.0f} s; log tail:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def dead(self) -> str | None:
        """None while the RR runs, else a description with its log tail."""
        if self.proc is None:
            return f"{self.name} was not started"
        rc = self.proc.poll()
        if rc is None:
            return None
        return f"{self.name} exited with status {rc}; log tail:\n{self.log_tail()}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def peak_rss_mib(self) -> float:
        return status_kib(self.pid, "VmHWM") / 1024.0

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds; only our own pid."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


class Pyrr(Daemon):
    name = "pyrr"
    config_name = "pyrr.toml"

    @staticmethod
    def executable() -> list[str]:
        override = os.environ.get("PYRR_BIN")
        if override:
            return override.split()
        venv = REPO_ROOT / ".venv" / "bin" / "pyrr"
        if venv.exists():
            return [str(venv)]
        found = shutil.which("pyrr")
        return [found] if found else ["python3", "-m", "pyrr"]

    @staticmethod
    def version() -> str:
        try:
            out = subprocess.run(
                [*Pyrr.executable(), "--version"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except OSError:
            return "?"
        return out.stdout.strip() or out.stderr.strip()

    def config_text(self) -> str:
        lines = [
            "[bgp]",
            f"asn = {ASN}",
            f'router_id = "{ROUTER_ID}"',
            f'cluster_id = "{ROUTER_ID}"',
            f'listen = ["{RR_HOST}"]',
            f"port = {self.port}",
        ]
        for i in range(self.clients):
            lines += ["", "[[peer]]", f'address = "{client_address(i)}"', "passive = true"]
        return "\n".join(lines) + "\n"

    def argv(self) -> list[str]:
        return [
            *self.executable(),
            "run",
            "--config",
            str(self.config_path),
            "--log-level",
            "warning",
            "--control-socket",
            str(self.workdir / "ctl.sock"),
        ]


class Bird(Daemon):
    name = "bird"
    config_name = "bird.conf"

    @staticmethod
    def available() -> str | None:
        return None if shutil.which("bird") else "bird not found (apt-get install bird2)"

    @staticmethod
    def version() -> str:
        out = subprocess.run(
            ["bird", "--version"], capture_output=True, text=True, timeout=10, check=False
        )
        return (out.stdout + out.stderr).strip()

    def config_text(self) -> str:
        lines = [
            f"router id {ROUTER_ID};",
            "",
            "template bgp rrclient {",
            f"  local {RR_HOST} port {self.port} as {ASN};",
            "  strict bind;  # listen on the local address only",
            "  rr client;",
            f"  rr cluster id {ROUTER_ID};",
            "  passive;",
            "  ipv4 { import all; export all; };",
            "}",
            "",
        ]
        for i in range(self.clients):
            lines.append(
                f"protocol bgp c{i} from rrclient {{ neighbor {client_address(i)} as {ASN}; }}"
            )
        return "\n".join(lines) + "\n"

    def argv(self) -> list[str]:
        d = self.workdir
        return [
            "bird",
            "-f",
            "-c",
            str(self.config_path),
            "-s",
            str(d / "bird.ctl"),
            "-P",
            str(d / "bird.pid"),
        ]


FRR_BGPD = "/usr/lib/frr/bgpd"


class Frr(Daemon):
    name = "frr"
    config_name = "bgpd.conf"

    @staticmethod
    def available() -> str | None:
        return (
            None if os.access(FRR_BGPD, os.X_OK) else f"{FRR_BGPD} not found (apt-get install frr)"
        )

    @staticmethod
    def version() -> str:
        out = subprocess.run(
            [FRR_BGPD, "-v"], capture_output=True, text=True, timeout=10, check=False
        )
        return (
            (out.stdout + out.stderr).strip().splitlines()[0] if out.stdout or out.stderr else "?"
        )

    def config_text(self) -> str:
        # The peer-group must exist before `bgp listen range` names it; the listen limit
        # (dynamic neighbors) defaults to 100. Without zebra (-Z) each nexthop registration
        # logs an error, so only critical messages are logged.
        return "\n".join(
            [
                "hostname pyrr-bench-frr",
                "log stdout critical",
                "!",
                f"router bgp {ASN}",
                f" bgp router-id {ROUTER_ID}",
                f" bgp cluster-id {ROUTER_ID}",
                " no bgp ebgp-requires-policy",
                " no bgp network import-check",
                f" bgp listen limit {min(65535, max(100, self.clients + 10))}",
                " neighbor CLIENTS peer-group",
                f" neighbor CLIENTS remote-as {ASN}",
                " neighbor CLIENTS passive",
                " bgp listen range 127.1.0.0/16 peer-group CLIENTS",
                " !",
                " address-family ipv4 unicast",
                "  neighbor CLIENTS activate",
                "  neighbor CLIENTS route-reflector-client",
                " exit-address-family",
                "!",
                "",
            ]
        )

    def argv(self) -> list[str]:
        d = self.workdir
        return [
            FRR_BGPD,
            "-f",
            str(self.config_path),
            "-i",
            str(d / "bgpd.pid"),
            "--vty_socket",
            str(d),
            "-P",
            "0",
            "-p",
            str(self.port),
            "-l",
            RR_HOST,
            "-Z",
            "-S",
        ]


class Gobgp(Daemon):
    name = "gobgp"
    config_name = "gobgpd.toml"

    @staticmethod
    def available() -> str | None:
        return None if shutil.which("gobgpd") else "gobgpd not found (apt-get install gobgpd)"

    @staticmethod
    def version() -> str:
        out = subprocess.run(
            ["gobgpd", "--version"], capture_output=True, text=True, timeout=10, check=False
        )
        return out.stdout.strip()

    @property
    def api_port(self) -> int:
        return self.port + 1

    def extra_ports(self) -> list[int]:
        return [self.api_port]

    def config_text(self) -> str:
        return "\n".join(
            [
                "[global.config]",
                f"  as = {ASN}",
                f'  router-id = "{ROUTER_ID}"',
                f"  port = {self.port}",
                f'  local-address-list = ["{RR_HOST}"]',
                "",
                "[[peer-groups]]",
                "  [peer-groups.config]",
                '    peer-group-name = "clients"',
                f"    peer-as = {ASN}",
                "  [peer-groups.transport.config]",
                "    passive-mode = true",
                "  [peer-groups.route-reflector.config]",
                "    route-reflector-client = true",
                f'    route-reflector-cluster-id = "{ROUTER_ID}"',
                "  [[peer-groups.afi-safis]]",
                "    [peer-groups.afi-safis.config]",
                '      afi-safi-name = "ipv4-unicast"',
                "",
                "[[dynamic-neighbors]]",
                "  [dynamic-neighbors.config]",
                '    prefix = "127.1.0.0/16"',
                '    peer-group = "clients"',
                "",
            ]
        )

    def argv(self) -> list[str]:
        return [
            "gobgpd",
            "-f",
            str(self.config_path),
            "-t",
            "toml",
            "--api-hosts",
            f"{RR_HOST}:{self.api_port}",
            "--pprof-disable",
            "-l",
            "warn",
            "-p",
        ]


DAEMONS: dict[str, type[Daemon]] = {"pyrr": Pyrr, "bird": Bird, "frr": Frr, "gobgp": Gobgp}
