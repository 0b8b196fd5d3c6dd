"""The `pyrr` command line as a user runs it: real subprocesses, real exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pyrr.bgp.messages import KEEPALIVE, Open

from .peer_sim import free_port

PYRR = [sys.executable, "-m", "pyrr"]


def pyrr(
    *args: str, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PYRR, *args], capture_output=True, text=True, timeout=timeout, check=False, env=env
    )


def clean_env(**variables: str) -> dict[str, str]:
    """Only PATH and `variables`: no ETCD_ENDPOINTS or other pyrr variable of the caller's."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **variables}


def test_demo_once_converges_and_prints_the_peer_table() -> None:
    r = pyrr("demo", "--once", "--port", str(free_port()))
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "IPv4 BGP status" in out
    assert out.count("| up    |") == 3
    assert out.count("Established") == 3
    for n, others in ((1, (2, 3)), (2, (1, 3)), (3, (1, 2))):
        section = out.split(f"node{n} (127.0.1.{n})")[1].split("node")[0]
        for o in others:
            assert f"10.10.{o}.0/26       via 127.0.1.{o}" in section
        assert f"10.10.{n}.0/26       via" not in section


def test_check_config_ok(tmp_path: Path) -> None:
    f = tmp_path / "rr.toml"
    f.write_text(
        '[bgp]\nasn = 61234\nrouter_id = "198.18.0.104"\n[[peer]]\naddress = "198.18.0.101"\n'
    )
    r = pyrr("check-config", str(f))
    assert r.returncode == 0, r.stderr
    assert "AS 61234" in r.stdout and "1 peer" in r.stdout


def test_check_config_error_names_field_and_exits_2(tmp_path: Path) -> None:
    f = tmp_path / "rr.toml"
    f.write_text(
        '[bgp]\nasn = 61234\nrouter_id = "198.18.0.104"\n'
        '[[peer]]\naddress = "198.18.0.101"\nhold_time = 2\n'
    )
    r = pyrr("check-config", str(f))
    assert r.returncode == 2
    assert "peer[0].hold_time" in r.stderr
    assert "Traceback" not in r.stderr


def test_run_with_bad_config_exits_2_without_traceback(tmp_path: Path) -> None:
    f = tmp_path / "rr.toml"
    f.write_text('[bgp]\nasn = "x"\n')
    r = pyrr("run", "--config", str(f))
    assert r.returncode == 2
    assert "bgp.asn" in r.stderr and "Traceback" not in r.stderr


def test_run_missing_file_exits_2(tmp_path: Path) -> None:
    r = pyrr("run", "--config", str(tmp_path / "nope.toml"))
    assert r.returncode == 2
    assert "nope.toml" in r.stderr


def test_decode_open_and_keepalive() -> None:
    msg = Open(asn=61234, hold_time=240, router_id=0xC6120068).encode() + KEEPALIVE
    r = pyrr("decode", msg.hex())
    assert r.returncode == 0, r.stderr
    assert "OPEN" in r.stdout and "61234" in r.stdout and "198.18.0.104" in r.stdout
    assert "KEEPALIVE" in r.stdout


def test_decode_bad_hex_exits_2() -> None:
    r = pyrr("decode", "zz")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr


def test_dump_timeout_and_demo_port_are_refused_before_use(tmp_path: Path) -> None:
    # A socket timeout of inf raised OverflowError, and a port past 65535 reached bind(): both
    # were tracebacks. Now argparse refuses them: exit 2, naming the option.
    socket_path = str(tmp_path / "none.sock")
    for argv in (
        ("dump", "--control-socket", socket_path, "--timeout", "inf"),
        ("dump", "--control-socket", socket_path, "--timeout", "0"),
        ("dump", "--control-socket", socket_path, "--timeout", "nan"),
        ("demo", "--once", "--port", "99999"),
    ):
        r = pyrr(*argv)
        assert r.returncode == 2, (argv, r.stderr)
        assert "Traceback" not in r.stderr
        assert f"argument {argv[-2]}: {argv[-1]!r}: expected" in r.stderr, r.stderr


def test_run_file_mode_refuses_an_unknown_log_level(tmp_path: Path) -> None:
    # File mode took any --log-level or BGP_LOGSEVERITYSCREEN and ran at "info" when it did not
    # know the word; Calico mode refused it. Now both stop at once naming what to fix.
    f = tmp_path / "rr.toml"
    f.write_text(
        f'[bgp]\nasn = 61234\nrouter_id = "198.18.0.104"\nlisten = ["127.0.0.1"]\n'
        f"port = {free_port()}\n"
    )
    sock = str(tmp_path / "s")
    for argv, env, named in (
        (("--log-level", "verbose"), clean_env(), "--log-level"),
        ((), clean_env(BGP_LOGSEVERITYSCREEN="loud"), "BGP_LOGSEVERITYSCREEN"),
    ):
        r = pyrr("run", "--config", str(f), "--control-socket", sock, *argv, env=env, timeout=10)
        assert r.returncode == 2, r.stderr
        assert r.stderr.startswith(f"pyrr: configuration error: {named}: must be one of debug")


def test_check_config_env_without_etcd_shows_what_run_uses(tmp_path: Path) -> None:
    # Without ETCD_ENDPOINTS, `pyrr run --config FILE` takes bgp.router_id and cluster id from
    # the file; check-config --env reported IP and CLUSTER_ID instead.
    f = tmp_path / "rr.toml"
    f.write_text('[bgp]\nasn = 61234\nrouter_id = "198.18.0.104"\n')
    env = clean_env(IP="198.18.0.2", CLUSTER_ID="198.18.0.3")
    r = pyrr("check-config", "--env", str(f), env=env)
    assert r.returncode == 0, r.stderr
    assert "router id 198.18.0.104, cluster id 198.18.0.104," in r.stdout, r.stdout


def test_readme_command_table_lists_every_verb_and_option() -> None:
    import argparse
    import re

    from pyrr.cli import _parser

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    # The first cell of each row of the command table: `pyrr VERB [OPTIONS]`.
    commands = re.findall(r"^\| `(pyrr [^`]*)`", readme, re.MULTILINE)
    verbs = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    for verb, parser in verbs.choices.items():
        rows = " ".join(c for c in commands if c.split()[1] == verb)
        assert rows, f"README's command table has no row for pyrr {verb}"
        for action in parser._actions:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help":
                    assert option in rows, f"README's pyrr {verb} row lacks {option}"
