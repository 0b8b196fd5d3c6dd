"""The `pyrr` command: run | status | routes | dump | check-config | init-node | decode | demo.

Exit codes: 0 success, 1 runtime failure, 2 bad usage or bad configuration (with one line naming
the field and the fix, never a traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import __version__
from .config import Config, ConfigError

if TYPE_CHECKING:
    from .store.file.environment import EnvSettings

EXIT_CONFIG = 2
# `pyrr dump` waits this long by default: a full table with every candidate path takes a while.
DUMP_TIMEOUT = 600.0
# The longest wait a command accepts: a day (a socket timeout must be a finite positive number).
MAX_WAIT = 86400.0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pyrr", description="A BGP route reflector for Calico.")
    p.add_argument("--version", action="version", version=f"pyrr {__version__}")
    sub = p.add_subparsers(dest="verb", required=True, metavar="VERB")

    run = sub.add_parser("run", help="run the route reflector in the foreground")
    run.add_argument("--config", "-c", metavar="FILE", help="static TOML configuration file")
    run.add_argument(
        "--log-level", metavar="LEVEL", help="debug, info, warning, error, fatal or none"
    )
    run.add_argument("--control-socket", metavar="PATH", help="control socket path")
    run.add_argument(
        "--metrics", metavar="ADDR:PORT", type=_host_port, help="serve Prometheus /metrics there"
    )
    run.add_argument(
        "--log-format",
        choices=("auto", "console", "json"),
        default="auto",
        help="auto (default): console lines on a terminal, JSON lines otherwise",
    )

    st = sub.add_parser("status", help="peer table of the running daemon")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.add_argument(
        "--check",
        action="store_true",
        help="health probe: one summary line; exit 0 if the daemon answers, 1 if not",
    )
    st.add_argument("--control-socket", metavar="PATH", help="control socket path")

    rt = sub.add_parser("routes", help="best path (and why) and all paths per prefix")
    rt.add_argument("prefix", nargs="?", metavar="PREFIX")
    rt.add_argument("--json", action="store_true", help="machine-readable output")
    rt.add_argument("--control-socket", metavar="PATH", help="control socket path")

    dmp = sub.add_parser(
        "dump",
        help="write an MRT table dump (RFC 6396) of the running daemon's routes now",
        description="Ask the running daemon for a TABLE_DUMP_V2 file of its Loc-RIB with every"
        " candidate path, written to the [mrt] directory; prints the file's path.",
    )
    dmp.add_argument("--control-socket", metavar="PATH", help="control socket path")
    dmp.add_argument(
        "--timeout",
        type=_seconds,
        default=DUMP_TIMEOUT,
        metavar="SECONDS",
        help=f"how long to wait (default {DUMP_TIMEOUT:g})",
    )

    chk = sub.add_parser(
        "check-config", help="validate a configuration file, or the environment (--env)"
    )
    chk.add_argument("file", metavar="FILE", nargs="?")
    chk.add_argument(
        "--env",
        action="store_true",
        help="validate the environment variables (IP, ETCD_ENDPOINTS, ...) as `pyrr run` reads"
        " them, merged with FILE if given; etcd is not contacted",
    )

    ini = sub.add_parser(
        "init-node",
        help="create (or update) pyrr's own Calico Node in etcd, for NODENAME",
        description="Write the Calico Node resource a reflector needs (addresses, cluster id,"
        " labels) to the etcd of ETCD_ENDPOINTS. Run it again freely: a Node it created is"
        " updated, or left alone when nothing changes; another Node is refused without --force.",
    )
    ini.add_argument("name", nargs="?", metavar="NAME", help="the Node's name (default: $NODENAME)")
    ini.add_argument(
        "--ip", metavar="ADDR[/LEN]", help="IPv4 address (default: $IP); autodetect looks one up"
    )
    ini.add_argument("--ip6", metavar="ADDR[/LEN]", help="IPv6 address (default: $IP6)")
    ini.add_argument(
        "--cluster-id",
        metavar="ID",
        help="routeReflectorClusterID (default: $CLUSTER_ID, else the IPv4 address)",
    )
    ini.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a label for BGPPeer selectors; repeat it (default: route-reflector=true)",
    )
    ini.add_argument("--as-number", metavar="AS", help="spec.bgp.asNumber (default: the cluster's)")
    ini.add_argument("--force", action="store_true", help="update a Node init-node did not create")
    ini.add_argument(
        "--dry-run",
        action="store_true",
        help="print the Node and what would be done; write nothing",
    )

    dec = sub.add_parser("decode", help="decode BGP messages given in hex, for humans")
    dec.add_argument("hex", nargs="+", metavar="HEX")
    dec.add_argument("--as2", action="store_true", help="the session had no 4-octet AS")
    dec.add_argument("--add-path", action="store_true", help="NLRI carry ADD-PATH path ids")

    demo = sub.add_parser("demo", help="run pyrr on loopback with simulated Calico nodes")
    demo.add_argument("--once", action="store_true", help="exit after convergence")
    demo.add_argument("--port", type=_port, default=None, help="RR port (default from demo.toml)")
    return p


def _seconds(text: str) -> float:
    """A wait in seconds, above 0 and up to MAX_WAIT: socket.settimeout overflows on inf,
    refuses nan and negatives, and takes 0 as "non-blocking" (a connect that fails at once)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= MAX_WAIT:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected a number of seconds above 0 and up to {MAX_WAIT:g}"
        )
    return value


def _port(text: str) -> int:
    from .store.limits import PORT_RANGE, valid_port

    if not (text.isascii() and text.isdigit() and valid_port(int(text))):
        raise argparse.ArgumentTypeError(f"{text!r}: expected {PORT_RANGE}")
    return int(text)


def _host_port(text: str) -> str:
    from .store.limits import parse_host_port

    try:
        parse_host_port(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r}: {err} (e.g. 127.0.0.1:9179)") from err
    return text


def _load(path: str) -> Config:
    from .store.file.toml_config import load_file

    return load_file(path)


def _config_error(source: str, err: ConfigError) -> int:
    print(f"pyrr: configuration error in {source}: {err}", file=sys.stderr)
    return EXIT_CONFIG


def cmd_run(args: argparse.Namespace) -> int:
    from . import log
    from .runtime import new_event_loop, serve

    if not args.config or os.environ.get("ETCD_ENDPOINTS", "").strip():
        # Calico mode (calico/routereflector's environment), the file if any ranking below.
        return _run_calico(args)
    try:
        cfg = _load(args.config)
    except ConfigError as err:
        return _config_error(args.config, err)
    if args.metrics:
        from dataclasses import replace

        cfg = replace(cfg, control=replace(cfg.control, metrics=args.metrics))
    try:
        level = _file_mode_log_level(args.log_level, cfg.log_level)
    except ConfigError as err:
        return _env_error(err)
    log.setup(level, json={"auto": None, "console": False, "json": True}[args.log_format])
    loop = new_event_loop()
    try:
        return loop.run_until_complete(
            serve(cfg, reload=lambda: _load(args.config), control_socket=args.control_socket)
        )
    except OSError as err:
        print(f"pyrr: cannot start: {err}", file=sys.stderr)
        return 1
    finally:
        loop.close()


def _file_mode_log_level(option: str | None, file_level: str) -> str:
    """--log-level, then calico/routereflector's BGP_LOGSEVERITYSCREEN, then the file's
    log_level; a spelling pyrr does not know is a ConfigError naming the option or variable,
    as in Calico mode (pyrr.store.file.merge), not a silent "info"."""
    from .store.file.text_values import parse_log_level

    if option is not None:
        level = parse_log_level(option, "--log-level")
    else:
        level = parse_log_level(os.environ.get("BGP_LOGSEVERITYSCREEN", "").strip() or None)
    return level or file_level


def _env_error(err: ConfigError) -> int:
    print(f"pyrr: configuration error: {err}", file=sys.stderr)
    return EXIT_CONFIG


def _calico_settings(args: argparse.Namespace, file: str | None) -> tuple[Config, EnvSettings]:
    """The environment merged with `file` and the command line (CLI > env > file)."""
    from .store.file.environment import from_environment
    from .store.file.merge import merge

    env = from_environment(os.environ)
    if not env.etcd_mode and file is None:
        raise ConfigError(
            "ETCD_ENDPOINTS",
            "not set and no --config FILE given: set ETCD_ENDPOINTS=https://<etcd>:2379 (and"
            " IP) to read Calico's datastore, or run with --config FILE (docs/configuration.md)",
        )
    try:
        file_cfg = _load(file) if file is not None else None
    except ConfigError as err:
        raise ConfigError(f"{file}: {err.field}", err.message) from None
    overrides: dict[str, object] = {
        "log_level": getattr(args, "log_level", None),
        "control_socket": getattr(args, "control_socket", None),
    }
    return merge(file_cfg, env, overrides), env


def _run_calico(args: argparse.Namespace) -> int:
    """`pyrr run` configured by the environment: peers from Calico's etcd, live."""
    from dataclasses import replace

    import structlog

    from . import log
    from .runtime import new_event_loop, serve
    from .store.calico.source import CalicoSource

    try:
        cfg, env = _calico_settings(args, args.config)
    except ConfigError as err:
        return _env_error(err)
    if args.metrics:
        cfg = replace(cfg, control=replace(cfg.control, metrics=args.metrics))
    log.setup(cfg.log_level, json={"auto": None, "console": False, "json": True}[args.log_format])
    for warning in env.warnings:
        structlog.get_logger("pyrr").warning("environment", warning=warning)
    if not env.etcd_mode:  # --config FILE without ETCD_ENDPOINTS never gets here
        return _env_error(ConfigError("ETCD_ENDPOINTS", "not set"))
    # --log-level or BGP_LOGSEVERITYSCREEN outrank the datastore's logSeverityScreen.
    source = CalicoSource(cfg, env, keep_log_level=bool(args.log_level or env.log_level))
    loop = new_event_loop()
    try:
        return loop.run_until_complete(
            serve(cfg, control_socket=args.control_socket, source=source)
        )
    except OSError as err:
        print(f"pyrr: cannot start: {err}", file=sys.stderr)
        return 1
    finally:
        loop.close()


def _ask(
    args: argparse.Namespace, req: dict[str, object], timeout: float = 10.0
) -> dict[str, object] | None:
    from .control.server import default_socket_path, request

    path = args.control_socket or default_socket_path()
    try:
        reply = request(path, req, timeout)
    except (OSError, ValueError) as err:
        print(f"pyrr: cannot reach the daemon at {path}: {err}", file=sys.stderr)
        return None
    if "error" in reply:
        print(f"pyrr: {reply['error']}", file=sys.stderr)
        return None
    return reply


def cmd_status(args: argparse.Namespace) -> int:
    from .control.render import status_text

    reply = _ask(args, {"cmd": "status"})
    if reply is None:
        return 1
    if args.check:
        peers = reply.get("peers")
        peers = peers if isinstance(peers, list) else []
        up = sum(1 for p in peers if isinstance(p, dict) and p.get("up"))
        print(f"pyrr ok: router id {reply.get('router_id')}, {up}/{len(peers)} peers established")
        return 0
    print(
        json.dumps(reply, indent=2) if args.json else status_text(reply),
        end="\n" if args.json else "",
    )
    return 0


def cmd_routes(args: argparse.Namespace) -> int:
    from .control.render import routes_text

    req: dict[str, object] = {"cmd": "routes"}
    if args.prefix:
        req["prefix"] = args.prefix
    reply = _ask(args, req)
    if reply is None:
        return 1
    print(
        json.dumps(reply, indent=2) if args.json else routes_text(reply),
        end="\n" if args.json else "",
    )
    return 0


def cmd_dump(args: argparse.Namespace) -> int:
    reply = _ask(args, {"cmd": "dump"}, timeout=args.timeout)
    if reply is None:
        return 1
    print(reply.get("path"))
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    if args.env:
        return _check_env(args)
    if args.file is None:
        print("pyrr check-config: give FILE, or --env to check the environment", file=sys.stderr)
        return EXIT_CONFIG
    try:
        cfg = _load(args.file)
    except ConfigError as err:
        return _config_error(args.file, err)
    g = cfg.bgp
    print(
        f"{args.file}: OK: AS {g.asn}, router id {g.router_id}, cluster id {g.cluster_id}, "
        f"{len(cfg.peers)} peer(s)"
    )
    return 0


def _check_env(args: argparse.Namespace) -> int:
    try:
        cfg, env = _calico_settings(args, args.file)
    except ConfigError as err:
        return _env_error(err)
    g = cfg.bgp
    if env.node_name is not None:
        print(
            f"environment: OK: Calico mode as Node {env.node_name!r}, etcd"
            f" {', '.join(e.url for e in env.etcd_endpoints)}"
            f" ({'TLS client certificate' if env.etcd_cert_file else 'no client certificate'});"
            f" router id and addresses {env.ip or 'from the Node'}"
            f"{f' and {env.ip6}' if env.ip6 else ''}; the labels, cluster id, AS and peers come"
            " from etcd"
        )
    elif env.etcd_mode:
        listen = ", ".join(str(a) for a in g.listen) or "all addresses"
        print(
            f"environment: OK: Calico mode, etcd {', '.join(e.url for e in env.etcd_endpoints)}"
            f" ({'TLS client certificate' if env.etcd_cert_file else 'no client certificate'}),"
            f" router id {g.router_id}, listen {listen} port {g.port}, cluster id"
            f" {g.cluster_id}, RR cluster {'on' if env.rr_cluster else 'off'}; the AS and the"
            " peers come from etcd"
        )
    else:
        # Without ETCD_ENDPOINTS `pyrr run --config FILE` runs with the file as it is (IP is
        # only the default of a missing bgp.router_id): say that, not the merge above, where
        # IP, CLUSTER_ID and PYRR_PORT outrank the file.
        try:
            g = _load(args.file).bgp
        except ConfigError as err:
            return _config_error(args.file, err)
        print(
            f"environment: OK: static file {args.file}: AS {g.asn}, router id {g.router_id},"
            f" cluster id {g.cluster_id}, {len(cfg.peers)} peer(s)"
        )
    for warning in env.warnings:
        print(f"warning: {warning}")
    return 0


def cmd_init_node(args: argparse.Namespace) -> int:
    from .store.calico.init_node import InitNodeError, node_key, plan
    from .store.etcd.connect import EtcdAccess
    from .store.etcd.oneshot import EtcdError, EtcdOneShot
    from .store.file.init_node_args import node_request

    try:
        env, request = node_request(args, os.environ)
    except ConfigError as err:
        return _env_error(err)
    access = EtcdAccess(
        env.etcd_ca_cert_file,
        env.etcd_cert_file,
        env.etcd_key_file,
        env.etcd_username,
        env.etcd_password,
    )
    try:
        with EtcdOneShot(env.etcd_endpoints, access) as etcd:
            current, revision = etcd.get(node_key(request.name))
            todo = plan(current, request)
            if args.dry_run:
                print(json.dumps(todo.value, indent=2))
                print(f"pyrr init-node: would {todo.action} Node {request.name!r} (--dry-run)")
                return 0
            if todo.action == "unchanged":
                print(f"Node {request.name!r} unchanged ({todo.key})")
                return 0
            if todo.action == "create":
                done = etcd.create(todo.key, todo.encode())
            else:
                done = etcd.update(todo.key, todo.encode(), revision)
    except InitNodeError as err:
        print(f"pyrr init-node: {err}", file=sys.stderr)
        return EXIT_CONFIG
    except EtcdError as err:
        print(f"pyrr init-node: {err}", file=sys.stderr)
        return 1
    if not done:
        print(
            f"pyrr init-node: Node {request.name!r} was written by someone else meanwhile;"
            " nothing was changed, run it again",
            file=sys.stderr,
        )
        return 1
    labels = ",".join(f"{k}={v}" for k, v in request.labels.items())
    print(
        f"Node {request.name!r} {todo.action}d ({todo.key}): ipv4Address {request.ipv4},"
        f" routeReflectorClusterID {request.cluster_id}, labels {labels or 'none'}"
    )
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    from .bgp.decode import decode_hex

    try:
        print(decode_hex(" ".join(args.hex), four_octet_as=not args.as2, add_path=args.add_path))
    except ValueError as err:
        print(f"pyrr decode: {err}", file=sys.stderr)
        return EXIT_CONFIG
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from . import log
    from .demo import run_demo
    from .runtime import new_event_loop

    log.setup("warning")
    loop = new_event_loop()
    try:
        return loop.run_until_complete(run_demo(once=args.once, port=args.port))
    except KeyboardInterrupt:
        return 0
    except OSError as err:
        print(f"pyrr demo: {err}", file=sys.stderr)
        return 1
    finally:
        loop.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    verbs = {
        "run": cmd_run,
        "status": cmd_status,
        "routes": cmd_routes,
        "dump": cmd_dump,
        "check-config": cmd_check_config,
        "init-node": cmd_init_node,
        "decode": cmd_decode,
        "demo": cmd_demo,
    }
    return verbs[args.verb](args)


if __name__ == "__main__":
    sys.exit(main())
