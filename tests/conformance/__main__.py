"""Run the conformance lab against one or more route reflectors, or its Calico 3.3+ scenario
against pyrr; print and optionally write the results table (docs/conformance.md).

    sudo .venv/bin/python -m tests.conformance --rr pyrr,bird2,gobgp --write docs/conformance.md
    sudo .venv/bin/python -m tests.conformance --rr 'cmd:/usr/local/bin/my-rr --peers {peers}'
    sudo .venv/bin/python -m tests.conformance --scenario calico33 --write docs/conformance.md

Each scenario owns one part of the file: the reflectors' comparison everything before the
Calico 3.3+ heading, the Calico 3.3+ scenario that heading and what follows; writing one
scenario keeps the other's part as it is.

Needs root (network namespaces) and the daemons scripts/setup.sh installs.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

from pyrr import __version__
from tests.lab.netns import Lab

from .calico33 import Calico33Lab
from .lab import ConformanceLab, Result
from .reflectors import make_reflector

CALICO33_HEADING = "## Calico 3.3+: pyrr as two route-reflector Nodes"


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


def table(columns: dict[str, list[Result]], first: str = "client") -> str:
    rows: list[tuple[str, str]] = []
    for results in columns.values():
        for r in results:
            if (r.client, r.check) not in rows:
                rows.append((r.client, r.check))
    names = list(columns)
    out = [f"| {first} | check | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
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


def timing_table(timings: dict[str, dict[str, float]]) -> str:
    if not timings:
        return ""
    names = list(timings)
    keys = list(next(iter(timings.values())))
    text = "\n\n| timing | " + " | ".join(names) + " |\n|---|" + "---|" * len(names) + "\n"
    for k in keys:
        text += f"| {k} | " + " | ".join(f"{timings[n].get(k, 0):.1f}" for n in names) + " |\n"
    return text


def split_doc(text: str) -> tuple[str, str]:
    """(the reflectors' part, the Calico 3.3+ part) of docs/conformance.md."""
    at = text.find(CALICO33_HEADING)
    return (text, "") if at < 0 else (text[:at], text[at:])


def write_part(path: Path, part: str, scenario: str) -> None:
    old = path.read_text() if path.exists() else ""
    reflectors, calico33 = split_doc(old)
    if scenario == "calico33":
        calico33 = part
    else:
        reflectors = part
    path.write_text(reflectors.rstrip("\n") + "\n\n" + calico33 if calico33 else reflectors)


def reflectors_part(args: argparse.Namespace) -> tuple[str, bool]:
    columns = {}
    timings: dict[str, dict[str, float]] = {}
    for spec in args.rr.split(","):
        print(f"== {spec}", file=sys.stderr)
        columns[spec if not spec.startswith("cmd:") else "command"] = run_one(
            spec, not args.no_frr_gobgp, timings
        )
    text = table(columns) + timing_table(timings)
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
    return doc, all(r.ok for r in columns.get("pyrr", []))


def calico33_part(args: argparse.Namespace) -> tuple[str, bool]:
    print("== calico33 (pyrr)", file=sys.stderr)
    t0 = time.monotonic()
    with Lab(prefix="conf") as lab:
        scenario = Calico33Lab(lab)
        try:
            results = scenario.run()
        finally:
            scenario.close()
    scenario.timings["whole scenario: lab built to torn down (s)"] = time.monotonic() - t0
    text = table({"pyrr": results}, first="host") + timing_table({"pyrr": scenario.timings})
    doc = (
        f"{CALICO33_HEADING}\n\n"
        "`tests/conformance/calico33.py` (run once in CI by `test_calico33.py`): pyrr as two\n"
        "route-reflector Nodes of a Calico 3.3+ cluster whose configuration is in a real etcd\n"
        "over TLS: `pyrr init-node rr1|rr2` (label `route-reflector=true`, one\n"
        "routeReflectorClusterID), then `pyrr run` with `NODENAME` and the `ETCD_*` variables\n"
        "only (no `IP`), `PYRR_ADD_PATH_SEND=3` and a secrets directory. Five calico-nodes run\n"
        "BIRD 1.6 `bird` + `bird6` configured as calico-node 3.2x's confd renders them for this\n"
        "datastore (tests/lab/confd.py), a BIRD 2 top-of-rack router (AS 65001) peers with both\n"
        "reflectors. BGPPeers: the clients' (`nodeSelector: !has(bgp-session)`, `peerSelector:\n"
        "route-reflector == 'true'`, a BGPFilter rejecting one CIDR on import), the same with\n"
        "`ttlSecurity: 1` for node1 and with `password.secretKeyRef` for node2 (selectors that\n"
        "do not overlap: confd keeps either of two BGPPeers for one pair, in Go map order), and\n"
        "the ToR's (`nodeSelector: route-reflector == 'true'`, `peerIP`, `asNumber`). node1-3\n"
        "announce one service address, every node the serviceExternalIPs range. Every check\n"
        "reads the daemons' own views (`birdc`, `ip route`), or pyrr's control socket where\n"
        "the question is what pyrr holds. Each reflector holds the ToR's route from the ToR\n"
        "and from the other reflector, and sends both over ADD-PATH; a node never programs a\n"
        "service route into its kernel (calico makes every service range a reject CIDR), so\n"
        "the ECMP proof is the three BGP paths.\n\n"
        f"Generated {date.today().isoformat()} with pyrr {__version__} by\n\n"
        "    sudo .venv/bin/python -m tests.conformance "
        f"--scenario calico33 --write {args.write}\n\n" + text + "\n"
    )
    return doc, all(r.ok for r in results)


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.conformance")
    ap.add_argument(
        "--scenario",
        choices=("reflectors", "calico33"),
        default="reflectors",
        help="reflectors: the lab against each --rr; calico33: pyrr as Calico 3.3+ Nodes",
    )
    ap.add_argument("--rr", default="pyrr", help="comma list: pyrr, bird2, gobgp, cmd:COMMAND")
    ap.add_argument("--no-frr-gobgp", action="store_true", help="Calico and BIRD 2 clients only")
    ap.add_argument("--write", metavar="FILE", help="write the markdown results to FILE")
    args = ap.parse_args()
    part, ok = calico33_part(args) if args.scenario == "calico33" else reflectors_part(args)
    print(part)
    if args.write:
        write_part(Path(args.write), part, args.scenario)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
