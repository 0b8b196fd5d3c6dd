"""The `pyrr` command: run | check-config | decode | demo.

Exit codes: 0 success, 1 runtime failure, 2 bad usage or bad configuration (with one line naming
the field and the fix, never a traceback).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__
from .config import Config, ConfigError

EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pyrr", description="A BGP route reflector for Calico.")
    p.add_argument("--version", action="version", version=f"pyrr {__version__}")
    sub = p.add_subparsers(dest="verb", required=True, metavar="VERB")

    run = sub.add_parser("run", help="run the route reflector in the foreground")
    run.add_argument("--config", "-c", metavar="FILE", help="static TOML configuration file")
    run.add_argument("--log-level", metavar="LEVEL", help="debug, info, warning, error")
    run.add_argument("--control-socket", metavar="PATH", help="control socket path")

    st = sub.add_parser("status", help="peer table of the running daemon")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.add_argument("--control-socket", metavar="PATH", help="control socket path")

    rt = sub.add_parser("routes", help="best path (and why) and all paths per prefix")
    rt.add_argument("prefix", nargs="?", metavar="PREFIX")
    rt.add_argument("--json", action="store_true", help="machine-readable output")
    rt.add_argument("--control-socket", metavar="PATH", help="control socket path")

    chk = sub.add_parser("check-config", help="validate a configuration file")
    chk.add_argument("file", metavar="FILE")

    dec = sub.add_parser("decode", help="decode BGP messages given in hex, for humans")
    dec.add_argument("hex", nargs="+", metavar="HEX")
    dec.add_argument("--as2", action="store_true", help="the session had no 4-octet AS")
    dec.add_argument("--add-path", action="store_true", help="NLRI carry ADD-PATH path ids")

    demo = sub.add_parser("demo", help="run pyrr on loopback with simulated Calico nodes")
    demo.add_argument("--once", action="store_true", help="exit after convergence")
    demo.add_argument("--port", type=int, default=None, help="RR port (default from demo.toml)")
    return p


def _load(path: str) -> Config:
    from .store.static import load_file

    return load_file(path)


def _config_error(source: str, err: ConfigError) -> int:
    print(f"pyrr: configuration error in {source}: {err}", file=sys.stderr)
    return EXIT_CONFIG


def cmd_run(args: argparse.Namespace) -> int:
    from . import log
    from .runtime import new_event_loop, serve

    if not args.config:
        print("pyrr run: --config FILE is required (see docs/configuration.md)", file=sys.stderr)
        return EXIT_CONFIG
    try:
        cfg = _load(args.config)
    except ConfigError as err:
        return _config_error(args.config, err)
    log.setup(args.log_level or cfg.log_level)
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


def _ask(args: argparse.Namespace, req: dict[str, object]) -> dict[str, object] | None:
    from .control.server import default_socket_path, request

    path = args.control_socket or default_socket_path()
    try:
        reply = request(path, req)
    except (OSError, ValueError) as err:
        print(f"pyrr: cannot reach the daemon at {path}: {err}", file=sys.stderr)
        return None
    if "error" in reply:
        print(f"pyrr: {reply['error']}", file=sys.stderr)
        return None
    return reply


def cmd_status(args: argparse.Namespace) -> int:
    import json

    from .control.render import status_text

    reply = _ask(args, {"cmd": "status"})
    if reply is None:
        return 1
    print(
        json.dumps(reply, indent=2) if args.json else status_text(reply),
        end="\n" if args.json else "",
    )
    return 0


def cmd_routes(args: argparse.Namespace) -> int:
    import json

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


def cmd_check_config(args: argparse.Namespace) -> int:
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
        "check-config": cmd_check_config,
        "decode": cmd_decode,
        "demo": cmd_demo,
    }
    return verbs[args.verb](args)


if __name__ == "__main__":
    sys.exit(main())
