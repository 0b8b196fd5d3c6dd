"""Run the conformance lab against one or more route reflectors; print and optionally write
the results table (docs/conformance.md).

    sudo .venv/bin/python -m tests.conformance --rr pyrr,bird2,gobgp --write docs/conformance.md
    sudo .venv/bin/python -m tests.conformance --rr 'cmd:/usr/local/bin/my-rr --peers {peers}'

Needs root (network namespaces) and the daemons scripts/setup.sh installs.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from pyrr import __version__
from tests.lab.netns import Lab

from .lab import ConformanceLab, Result
from .reflectors import make_reflector


def run_one(spec: str, with_frr_gobgp: bool, timings: dict[str, dict[str, float]]) -> list[Result]:
    rr = make_reflector(spec)
    with Lab(prefix="conf") as lab:
        conf = ConformanceLab(lab, rr, with_frr_gobgp=with_frr_gobgp)
        try:
            results = conf.run()
            timings[spec] = conf.timings
            return results
        finally:
            if not rr.alive():
                print(
                    f"{spec}: the route reflector exited; its log:\n{rr.log()[-2000:]}",
                    file=sys.stderr,
                )


def table(columns: dict[str, list[Result]]) -> str:
    rows: list[tuple[str, str]] = []
    for results in columns.values():
        for r in results:
            if (r.client, r.check) not in rows:
                rows.append((r.client, r.check))
    names = list(columns)
    out = ["| client | check | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for client, check in rows:
        cells = []
        for n in names:
            found = [r for r in columns[n] if (r.client, r.check) == (client, check)]
            if not found:
                cells.append("n/a")
            elif found[0].ok:
                cells.append("pass")
            else:
                detail = found[0].detail.replace("|", "/")[:80]
                cells.append(f"**fail** {detail}".strip())
        out.append(f"| {client} | {check} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.conformance")
    ap.add_argument("--rr", default="pyrr", help="comma list: pyrr, bird2, gobgp, cmd:COMMAND")
    ap.add_argument("--no-frr-gobgp", action="store_true", help="Calico and BIRD 2 clients only")
    ap.add_argument("--write", metavar="FILE", help="write the markdown results to FILE")
    args = ap.parse_args()
    columns = {}
    timings: dict[str, dict[str, float]] = {}
    for spec in args.rr.split(","):
        print(f"== {spec}", file=sys.stderr)
        columns[spec if not spec.startswith("cmd:") else "command"] = run_one(
            spec, not args.no_frr_gobgp, timings
        )
    text = table(columns)
    if timings:
        names = list(timings)
        keys = list(next(iter(timings.values())))
        text += "\n\n| timing | " + " | ".join(names) + " |\n|---|" + "---|" * len(names) + "\n"
        for k in keys:
            text += f"| {k} | " + " | ".join(f"{timings[n].get(k, 0):.1f}" for n in names) + " |\n"
    print(text)
    if args.write:
        doc = (
            "# Conformance results\n\n"
            "The conformance lab (`tests/conformance/`) builds a Calico-like cluster in network\n"
            "namespaces around one route reflector and reads every result from the clients' own\n"
            "views (`birdc`, `vtysh ... json`, `gobgp -j`). Clients: three calico-nodes (BIRD 1.6\n"
            "`bird` + `bird6` configured as calico-node 3.x renders them), BIRD 2, FRR bgpd and\n"
            "GoBGP; plus a BIRD 2 with the wrong AS and one that is not a configured peer.\n\n"
            f"Generated {date.today().isoformat()} with pyrr {__version__} by\n\n"
            "    sudo .venv/bin/python -m tests.conformance "
            f"--rr {args.rr} --write {args.write}\n\n" + text + "\n"
        )
        Path(args.write).write_text(doc)
    return 0 if all(r.ok for r in columns.get("pyrr", [])) else 1


if __name__ == "__main__":
    sys.exit(main())
