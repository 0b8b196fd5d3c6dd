"""`python -m tests.reliability SCENARIO [options]`: the loopback reliability runs at any size.

    python -m tests.reliability soak --clients 1000 --seconds 3600 --rate 100 --json soak.json
    python -m tests.reliability flap --clients 1000 --flappers 100 --seconds 300 --json flap.json
    python -m tests.reliability rrkill --clients 1000 --seconds 60 --kill-at 20 --json kill.json

Prints a summary (the figures docs/reliability.md quotes) and exits 0 when every promise held,
1 otherwise, naming what failed. `--json FILE` writes the whole report, samples included.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from . import scenarios


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m tests.reliability",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = ap.add_subparsers(dest="scenario", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--clients", type=int, default=300)
    common.add_argument("--json", type=Path, help="write the whole report here")
    common.add_argument("--keep", type=Path, help="copy pyrr's logs into this directory")
    s = sub.add_parser("soak", parents=[common], help="continuous churn, sampled every second")
    s.add_argument("--seconds", type=int, default=60)
    s.add_argument("--rate", type=int, default=100, help="changes a second")
    s.add_argument("--segment", type=int, default=600, help="seconds per churn phase")
    s.add_argument("--hold", type=int, default=30)
    s.add_argument("--warmup", type=float, help="default: a quarter of the run, at most 300 s")
    f = sub.add_parser("flap", parents=[common], help="a flap storm beside stable clients")
    f.add_argument("--flappers", type=int, default=30)
    f.add_argument("--rate", type=int, help="reconnections a second (default: --flappers)")
    f.add_argument("--seconds", type=int, default=15, help="seconds per storm")
    f.add_argument("--garbage", type=int, help="flappers sending garbage (default: a fifth)")
    f.add_argument("--hold", type=int, default=9)
    f.add_argument("--rest", type=float, default=5.0, help="seconds at rest before the storm")
    f.add_argument("--after", type=float, default=8.0, help="seconds measured after each")
    f.add_argument("--storms", type=int, default=2)
    k = sub.add_parser("rrkill", parents=[common], help="kill -9 of pyrr under churn")
    k.add_argument("--rate", type=int, default=100)
    k.add_argument("--seconds", type=int, default=20)
    k.add_argument("--kill-at", type=float, default=6.0)
    k.add_argument("--down", type=float, default=0.0, help="seconds before pyrr is restarted")
    k.add_argument("--hold", type=int, default=30)
    k.add_argument("--gr", type=int, default=120, help="the clients' graceful restart time")
    return ap.parse_args(argv)


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.scenario == "soak":
        return scenarios.soak(
            args.clients,
            args.seconds,
            args.rate,
            args.segment,
            args.hold,
            args.warmup,
            keep=args.keep,
        )
    if args.scenario == "flap":
        return scenarios.flap(
            args.clients,
            args.flappers,
            args.rate,
            args.seconds,
            args.garbage,
            args.hold,
            args.rest,
            args.after,
            args.storms,
            keep=args.keep,
        )
    return scenarios.rrkill(
        args.clients,
        args.rate,
        args.seconds,
        args.kill_at,
        args.down,
        args.hold,
        args.gr,
        keep=args.keep,
    )


def jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return jsonable(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    return obj


def brief(report: dict[str, Any]) -> dict[str, Any]:
    """The report without the per-second samples."""
    return {k: v for k, v in jsonable(report).items() if k != "samples"}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    report = run(args)
    if args.json:
        args.json.write_text(json.dumps(jsonable(report), indent=1) + "\n")
    print(json.dumps(brief(report), indent=1))
    failures = report["failures"]
    print(f"{args.scenario}: {'PASS' if not failures else 'FAIL'} in {report['duration_s']:.0f} s")
    for line in failures:
        print(f"  - {line}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
