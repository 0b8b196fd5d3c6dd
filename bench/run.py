"""pyrr route-reflector benchmark against BIRD 2, FRR and GoBGP (see bench/README.md).

    python -m bench.run                              # all four RRs, N=1000, 3 reps (35-65 min)
    python -m bench.run --rr pyrr,bird --repeat 1    # a subset
    python -m bench.run --quick                      # smoke run: N=20, full table 2000

For each repetition and each RR (one at a time, never concurrently): a fresh RR process runs
the phases establish, announce, withdraw, reannounce and one churn phase per `--churn` rate
against bgpsim's N clients; then another fresh RR process runs the full-table phase with 10
clients. Per phase it records the wall time (bgpsim's, from the command to convergence), the
RR's CPU (user+sys from /proc/PID/stat, read before the command and `--settle` seconds after
convergence), the RR's peak RSS so far in that process (VmHWM), and bgpsim's own CPU; a churn
phase adds the latency percentiles bgpsim measured per change. All traffic stays on
127.0.0.0/8.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType

from .daemons import ALL_RRS, DAEMONS, RR_HOST, DaemonError, raise_nofile
from .sim import PhaseResult, SimError, build
from .sim import Sim as SimProcess

MAIN_PHASES = ("establish", "announce", "withdraw", "reannounce")
FULL_PHASE = "fulltable"
FULL_WITHDRAW_PHASE = "ft-withdraw"  # half the full table withdrawn
FULL_CLIENTS = 10
METRICS = (
    ("wall", "wall s"),
    ("rr_cpu", "RR CPU s"),
    ("rr_peak_mib", "RR peak MiB"),
    ("sim_cpu", "sim CPU s"),
)
RATIO_METRICS = (("wall", "wall"), ("rr_cpu", "RR CPU"), ("rr_peak_mib", "RR peak RSS"))
# A churn phase lasts --churn-seconds whatever the RR does: its wall time says nothing, the
# latency of each change (until the last other client has it) does.
CHURN_METRICS = (
    ("p50_ms", "latency p50 ms"),
    ("p99_ms", "latency p99 ms"),
    ("max_ms", "latency max ms"),
    ("changes", "changes"),
    ("rr_cpu", "RR CPU s"),
    ("rr_cpu_ms_per_change", "RR CPU ms/change"),
    ("rr_peak_mib", "RR peak MiB"),
    ("sim_cpu", "sim CPU s"),
)
CHURN_RATIO_METRICS = (
    ("p50_ms", "latency p50"),
    ("p99_ms", "latency p99"),
    ("max_ms", "latency max"),
    ("rr_cpu", "RR CPU"),
    ("rr_peak_mib", "RR peak RSS"),
)
# bgpsim's churn fields kept per phase (PhaseRecord.extra; judge_churn says which must be 0).
CHURN_FIELDS = (
    "changes",
    "announces",
    "withdraws",
    "completed",
    "lost",
    "skipped",
    "p50_ms",
    "p99_ms",
    "max_ms",
    "ann_p50_ms",
    "ann_p99_ms",
    "wd_p50_ms",
    "wd_p99_ms",
    "lag_max_ms",
    "drain",
    "reconnects",
    "closed",
    "notifications",
)
SESSION_TROUBLE = ("reconnects", "closed", "notifications")


def churn_phase(rate: int) -> str:
    return f"churn-{rate}"


def is_churn(phase: str) -> bool:
    return phase.startswith("churn-")


def metrics_for(phase: str) -> tuple[tuple[str, str], ...]:
    return CHURN_METRICS if is_churn(phase) else METRICS


def ratio_metrics_for(phase: str) -> tuple[tuple[str, str], ...]:
    return CHURN_RATIO_METRICS if is_churn(phase) else RATIO_METRICS


@dataclass
class PhaseRecord:
    phase: str
    ok: bool
    wall: float
    rr_cpu: float
    rr_peak_mib: float
    sim_cpu: float
    sim_line: str
    extra: dict[str, float] = field(default_factory=dict)  # churn: CHURN_FIELDS and per change

    def metric(self, name: str) -> float | None:
        if name in self.extra:
            return self.extra[name]
        value = getattr(self, name, None)
        return float(value) if isinstance(value, int | float) else None


@dataclass
class RunRecord:
    rr: str
    rep: int
    kind: str  # "main" (establish .. reannounce, the churn phases) or "fulltable"
    clients: int
    phases: list[PhaseRecord] = field(default_factory=list)
    error: str | None = None
    events: list[str] = field(default_factory=list)
    log_tail: str = ""


# -- running ------------------------------------------------------------------------------------


def one_run(
    rr: str,
    rep: int,
    kind: str,
    *,
    clients: int,
    steps: Sequence[tuple[str, str]],
    binary: Path,
    args: argparse.Namespace,
) -> RunRecord:
    """Start a fresh RR, run `steps` (phase name, bgpsim command) with one bgpsim, stop both."""
    rec = RunRecord(rr=rr, rep=rep, kind=kind, clients=clients)
    workdir = Path(tempfile.mkdtemp(prefix=f"pyrr-bench-{rr}-"))
    daemon = DAEMONS[rr](workdir, args.port, clients)
    sim: SimProcess | None = None
    try:
        # Reading 10,000 peers' config (and BIRD's 10,000 protocols) takes a while.
        daemon.start(ready_timeout=30.0 + clients / 100)
        sim = SimProcess(binary, RR_HOST, args.port)
        sim.ask(f"timeout {math.ceil(args.phase_timeout)}")
        sim.ask(f"opentimeout {math.ceil(args.open_timeout)}")
        for phase, command in steps:
            cpu0 = daemon.cpu()
            res = sim.phase(command, timeout=phase_wait(phase, args), alive=daemon.dead)
            if args.settle > 0:
                time.sleep(args.settle)
            dead = daemon.dead()
            if dead:
                raise DaemonError(dead)
            record = PhaseRecord(
                phase=phase,
                ok=res.ok,
                wall=res.wall,
                rr_cpu=daemon.cpu() - cpu0,
                rr_peak_mib=daemon.peak_rss_mib(),
                sim_cpu=res.cpu,
                sim_line=res.line,
            )
            problem = judge_churn(record, res) if is_churn(phase) else None
            if problem is None and not res.ok:
                problem = f"did not converge: {res.line}"
            rec.phases.append(record)
            if problem is not None:
                rec.error = f"{phase} {problem}"
                break
    except (DaemonError, SimError, OSError) as err:
        rec.error = str(err)
    finally:
        try:
            if sim is not None:
                rec.events = list(sim.events)
                sim.quit()
        finally:
            if rec.error:
                rec.log_tail = daemon.log_tail()
            daemon.stop()
            if args.keep:
                print(f"  kept {workdir}", file=sys.stderr)
            else:
                shutil.rmtree(workdir, ignore_errors=True)
    return rec


def phase_wait(phase: str, args: argparse.Namespace) -> float:
    """How long to wait for bgpsim's answer to a phase command (it has its own deadline)."""
    if is_churn(phase):
        return float(args.churn_seconds + args.churn_grace + 60)
    return float(args.phase_timeout + 30)


def judge_churn(record: PhaseRecord, res: PhaseResult) -> str | None:
    """Copy bgpsim's churn figures into `record`; why the phase failed, or None.

    Failed: changes lost (not complete GRACE s after the last was due), slots skipped (every
    prefix was in flight at once: the RR fell that far behind, and skipping lowered the rate it
    was offered), a client not exact at the end, or any session trouble (a reconnect, a closed
    session, a NOTIFICATION)."""
    for key in CHURN_FIELDS:
        with contextlib.suppress(KeyError, ValueError):
            record.extra[key] = float(res.fields[key])
    changes = record.extra.get("changes", 0.0)
    if changes > 0:
        record.extra["rr_cpu_ms_per_change"] = 1e3 * record.rr_cpu / changes
    trouble = [
        f"{k}={res.fields.get(k)}"
        for k in (*SESSION_TROUBLE, "skipped")
        if res.fields.get(k) != "0"
    ]
    if res.ok and not trouble:
        return None
    record.ok = False
    lost = res.fields.get("lost", "?")
    return (
        f"failed: lost {lost} of {res.fields.get('changes', '?')} changes, "
        f"ok={res.fields.get('ok', '?')} {' '.join(trouble)}".rstrip()
    )


def progress(rec: RunRecord) -> None:
    parts = [
        f"{p.phase} p99 {p.extra.get('p99_ms', math.nan):.1f}ms/{p.rr_cpu:.2f}cpu"
        if is_churn(p.phase)
        else f"{p.phase} {p.wall:.3f}s/{p.rr_cpu:.2f}cpu"
        for p in rec.phases
    ]
    status = "ok" if rec.error is None else "FAILED"
    print(
        f"  {rec.rr:5} rep {rec.rep + 1} {rec.kind:9} {status}: {', '.join(parts)}",
        file=sys.stderr,
        flush=True,
    )
    if rec.error:
        print(f"    error: {rec.error}", file=sys.stderr)
        for ev in rec.events[:10]:
            print(f"    sim event: {ev}", file=sys.stderr)


def run_all(args: argparse.Namespace, binary: Path) -> list[RunRecord]:
    records: list[RunRecord] = []
    main_steps = [
        ("establish", f"connect {args.clients} {args.connect_window}"),
        ("announce", "announce"),
        ("withdraw", "withdraw-half"),
        ("reannounce", "reannounce"),
    ] + [
        (
            churn_phase(rate),
            f"churn {rate} {args.churn_seconds} {args.churn_seed} {args.churn_grace}",
        )
        for rate in args.churn
    ]
    full_steps = [
        ("ft-establish", f"connect {FULL_CLIENTS}"),
        (FULL_PHASE, f"fulltable {args.full_table}"),
        (FULL_WITHDRAW_PHASE, "fulltable-withdraw"),
    ]
    for rep in range(args.repeat):
        for rr in args.rr:
            if rep >= args.limit_repeat.get(rr, args.repeat):
                continue
            print(
                f"[{time.strftime('%H:%M:%S')}] {rr} repetition {rep + 1}/{args.repeat}",
                file=sys.stderr,
                flush=True,
            )
            rec = one_run(
                rr, rep, "main", clients=args.clients, steps=main_steps, binary=binary, args=args
            )
            progress(rec)
            records.append(rec)
            if args.full_table > 0:
                rec = one_run(
                    rr,
                    rep,
                    "fulltable",
                    clients=FULL_CLIENTS,
                    steps=full_steps,
                    binary=binary,
                    args=args,
                )
                progress(rec)
                records.append(rec)
    return records


# -- summary ------------------------------------------------------------------------------------


def values(records: Sequence[RunRecord], rr: str, phase: str, metric: str) -> list[float]:
    out = []
    for rec in records:
        if rec.rr != rr:
            continue
        for p in rec.phases:
            value = p.metric(metric) if p.phase == phase and p.ok else None
            if value is not None and not math.isnan(value):
                out.append(value)
    return out


def summary(
    records: Sequence[RunRecord], rrs: Sequence[str], phases: Sequence[str]
) -> dict[str, object]:
    """{rr: {phase: {metric: {median, min, max, n}}}} over the converged phases."""
    out: dict[str, object] = {}
    for rr in rrs:
        per_phase: dict[str, object] = {}
        for phase in phases:
            per_metric: dict[str, object] = {}
            for metric, _ in metrics_for(phase):
                vals = values(records, rr, phase, metric)
                if vals:
                    per_metric[metric] = {
                        "median": statistics.median(vals),
                        "min": min(vals),
                        "max": max(vals),
                        "n": len(vals),
                    }
            per_phase[phase] = per_metric
        out[rr] = per_phase
    return out


def _median(records: Sequence[RunRecord], rr: str, phase: str, metric: str) -> float | None:
    vals = values(records, rr, phase, metric)
    return statistics.median(vals) if vals else None


def _fmt(v: float) -> str:
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    if v >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def _cell(records: Sequence[RunRecord], rr: str, phase: str, metric: str, repeat: int) -> str:
    vals = values(records, rr, phase, metric)
    if not vals:
        return "FAIL" if any(r.rr == rr for r in records) else "-"
    med = _fmt(statistics.median(vals))
    if len(vals) > 1:
        med += f" ({_fmt(min(vals))}-{_fmt(max(vals))})"
    if len(vals) < repeat:
        med += f" [{len(vals)}/{repeat}]"
    return med


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def report(records: Sequence[RunRecord], args: argparse.Namespace, phases: Sequence[str]) -> str:
    rrs: list[str] = list(args.rr)
    churn = (
        f"churn {'+'.join(str(r) for r in args.churn)} changes/s for {args.churn_seconds} s; "
        if args.churn
        else ""
    )
    out = [
        f"pyrr RR benchmark: N={args.clients} clients; {churn}full table {args.full_table} "
        f"prefixes to {FULL_CLIENTS - 1} clients; {args.repeat} repetition(s); "
        "median (min-max) of converged runs",
        "",
        _metrics_table(records, rrs, phases, args.repeat),
    ]
    out += _ratio_section(records, rrs, phases)
    out += _sim_load_section(records, rrs)
    out += _failures_section(records)
    return "\n".join(out)


def _metrics_table(
    records: Sequence[RunRecord], rrs: Sequence[str], phases: Sequence[str], repeat: int
) -> str:
    """Every metric of every phase, one column per RR."""
    rows = [["phase", "metric", *rrs]]
    for phase in phases:
        for i, (metric, label) in enumerate(metrics_for(phase)):
            rows.append(
                [phase if i == 0 else "", label]
                + [_cell(records, rr, phase, metric, repeat) for rr in rrs]
            )
    return _table(rows)


def _ratio_section(
    records: Sequence[RunRecord], rrs: Sequence[str], phases: Sequence[str]
) -> list[str]:
    """pyrr's medians over each anchor's (nothing unless pyrr and another RR ran)."""
    anchors = [a for a in rrs if a != "pyrr"]
    if "pyrr" not in rrs or not anchors:
        return []
    rows = [["phase", "metric", *[f"/{a}" for a in anchors]]]
    for phase in phases:
        for i, (metric, label) in enumerate(ratio_metrics_for(phase)):
            mine = _median(records, "pyrr", phase, metric)
            theirs = [_median(records, a, phase, metric) for a in anchors]
            rows.append([phase if i == 0 else "", label, *(_ratio(mine, t) for t in theirs)])
    return ["", "pyrr / anchor (ratio of medians; > 1 means pyrr needs more)", "", _table(rows)]


def _ratio(mine: float | None, theirs: float | None) -> str:
    if mine is None or theirs is None or theirs <= 0:
        return "-"
    return f"{mine / theirs:.2f}x"


def _sim_load_section(records: Sequence[RunRecord], rrs: Sequence[str]) -> list[str]:
    """How much of the machine the simulator took, per RR: a busy simulator slows every RR."""
    out = [
        "",
        "simulator load (sum over converged phases: sim CPU / (sim + RR CPU); "
        "max over phases of sim CPU / wall)",
    ]
    for rr in rrs:
        converged = [p for rec in records if rec.rr == rr for p in rec.phases if p.ok]
        sim = sum((p.sim_cpu for p in converged), 0.0)
        rrcpu = sum((p.rr_cpu for p in converged), 0.0)
        busiest = max([0.0, *(p.sim_cpu / p.wall for p in converged if p.wall > 0.05)])
        share = sim / (sim + rrcpu) if sim + rrcpu > 0 else 0.0
        out.append(f"  {rr:6} sim share {share:6.1%}   sim busiest {busiest:6.1%} of wall")
    return out


def _failures_section(records: Sequence[RunRecord]) -> list[str]:
    failures = [r for r in records if r.error]
    if not failures:
        return []
    out = ["", "failures:"]
    for r in failures:
        first = (r.error or "").splitlines()[0]
        out.append(f"  {r.rr} rep {r.rep + 1} {r.kind}: {first}")
    return out


# -- command line -------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Benchmark pyrr against BIRD 2, FRR and GoBGP as route reflectors "
        "(loopback only).",
    )
    p.add_argument(
        "--rr",
        default=",".join(ALL_RRS),
        help=f"comma-separated RRs to run, from {','.join(ALL_RRS)} (default: all)",
    )
    p.add_argument("--clients", "-n", type=int, default=None, help="clients N (default 1000)")
    p.add_argument("--repeat", type=int, default=None, help="repetitions (default 3)")
    p.add_argument(
        "--limit-repeat",
        metavar="RR=N",
        action="append",
        default=[],
        help="run RR in the first N repetitions only (e.g. gobgp=1: it takes 10-20 min a run)",
    )
    p.add_argument(
        "--full-table",
        type=int,
        default=None,
        metavar="COUNT",
        help="prefixes in the full-table phase, 0 to skip (default 250000)",
    )
    p.add_argument("--json", metavar="FILE", help="write every measurement to FILE")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: N=20, full table 2000, 1 repetition, 60 s phase timeout",
    )
    p.add_argument("--port", type=int, default=17900, help="RR port on 127.0.0.1 (default 17900)")
    p.add_argument(
        "--phase-timeout",
        type=float,
        default=None,
        help="seconds before a phase counts as not converged (default 900; GoBGP needs 200-510 s "
        "for announce at N=1000)",
    )
    p.add_argument(
        "--settle",
        type=float,
        default=0.5,
        help="seconds after convergence before the RR's CPU is read (default 0.5)",
    )
    p.add_argument(
        "--connect-window",
        type=int,
        default=0,
        metavar="K",
        help="at most K sessions connecting at once (default 0: all N at once)",
    )
    p.add_argument(
        "--open-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="bgpsim closes and retries a connection not Established after S seconds (default 10)",
    )
    p.add_argument(
        "--churn",
        metavar="RATE[,RATE...]",
        default=None,
        help="one churn phase per rate (changes/s) after reannounce; 0 skips churn "
        "(default 50,500; --quick 50,200)",
    )
    p.add_argument(
        "--churn-seconds",
        type=int,
        default=None,
        metavar="S",
        help="how long each churn phase issues changes (default 30; --quick 3)",
    )
    p.add_argument(
        "--churn-grace",
        type=int,
        default=10,
        metavar="S",
        help="after the last change is due, S more seconds before an incomplete change counts "
        "as lost (default 10)",
    )
    p.add_argument(
        "--churn-seed",
        type=int,
        default=1,
        help="seed of the order in which prefixes are changed (default 1)",
    )
    p.add_argument("--keep", action="store_true", help="keep the RR work directories")
    args = p.parse_args(argv)
    _churn_args(p, args)
    args.rr = [r.strip() for r in args.rr.split(",") if r.strip()]
    unknown = [r for r in args.rr if r not in DAEMONS]
    if unknown or not args.rr:
        p.error(f"--rr: unknown {unknown}; choose from {','.join(ALL_RRS)}")
    defaults = (20, 1, 2000, 60.0) if args.quick else (1000, 3, 250_000, 900.0)
    if args.clients is None:
        args.clients = defaults[0]
    if args.repeat is None:
        args.repeat = defaults[1]
    if args.full_table is None:
        args.full_table = defaults[2]
    if args.phase_timeout is None:
        args.phase_timeout = defaults[3]
    if not 1 <= args.clients <= 64000:
        p.error("--clients must be 1..64000 (client addresses 127.1.x.y, prefixes in 10/8)")
    if not 0 <= args.full_table <= 262144:
        p.error("--full-table must be 0..262144 (/26 prefixes inside 10.0.0.0/8)")
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    limits: dict[str, int] = {}
    for item in args.limit_repeat:
        name, _, count = item.partition("=")
        if name not in ALL_RRS or not count.isdigit() or int(count) < 1:
            p.error(f"--limit-repeat {item!r}: expected RR=N with RR in {','.join(ALL_RRS)}")
        limits[name] = int(count)
    args.limit_repeat = limits
    if not 1024 <= args.port <= 65534:
        p.error("--port must be 1024..65534 (GoBGP's API uses PORT+1)")
    return args


def _churn_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    text = args.churn if args.churn is not None else ("50,200" if args.quick else "50,500")
    try:
        rates = [int(r) for r in text.split(",") if r.strip()]
    except ValueError:
        p.error(f"--churn {text!r}: expected changes per second, e.g. 50,500")
    rates = [r for r in rates if r != 0]
    if any(not 1 <= r <= 100_000 for r in rates) or len(set(rates)) != len(rates):
        p.error(f"--churn {text!r}: distinct rates between 1 and 100000 changes/s (0 skips)")
    args.churn = rates
    if args.churn_seconds is None:
        args.churn_seconds = 3 if args.quick else 30
    if not 1 <= args.churn_seconds <= 3600 or not 0 <= args.churn_grace <= 3600:
        p.error("--churn-seconds must be 1..3600 and --churn-grace 0..3600")
    if any(r * args.churn_seconds > 10_000_000 for r in rates):
        p.error("--churn RATE times --churn-seconds must stay under 10,000,000 changes")
    if not 0 <= args.churn_seed < 2**63:
        p.error("--churn-seed must be 0..2^63-1")


def _on_signal(signum: int, frame: FrameType | None) -> None:
    # Once: a second Ctrl-C must not interrupt the cleanup that the first one started.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    raise KeyboardInterrupt  # unwinds through every finally: each RR and bgpsim is stopped


def versions(rrs: Sequence[str]) -> dict[str, str]:
    out = {}
    for rr in rrs:
        try:
            out[rr] = DAEMONS[rr].version()
        except (OSError, IndexError):
            out[rr] = "?"
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    missing = {rr: why for rr in args.rr if (why := DAEMONS[rr].available())}
    for rr, why in missing.items():
        print(f"skipping {rr}: {why}", file=sys.stderr)
    args.rr = [rr for rr in args.rr if rr not in missing]
    if not args.rr:
        return 2
    try:
        binary = build()
    except SimError as err:
        print(f"bench: {err}", file=sys.stderr)
        return 2
    # bgpsim and the RR each hold one socket per client; both inherit this process's limit.
    nofile = raise_nofile(max(65536, args.clients + 1024))
    if nofile < args.clients + 64:
        print(
            f"bench: the open-files limit is {nofile}, below the {args.clients + 64} that "
            f"{args.clients} sessions need in bgpsim and in the RR; raise the hard limit "
            "(ulimit -Hn, or run as root)",
            file=sys.stderr,
        )
        return 2
    # Even when started with SIGINT ignored (a `cmd &` in a script): every way of being asked
    # to stop unwinds through the finally blocks that stop the RR and bgpsim.
    stop_signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    old = {sig: signal.signal(sig, _on_signal) for sig in stop_signals}
    started = time.time()
    try:
        records = run_all(args, binary)
    except KeyboardInterrupt:
        print("bench: interrupted; every process it started has been stopped", file=sys.stderr)
        return 130
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    phases = (
        list(MAIN_PHASES)
        + [churn_phase(r) for r in args.churn]
        + ([FULL_PHASE, FULL_WITHDRAW_PHASE] if args.full_table > 0 else [])
    )
    text = report(records, args, phases)
    print(text)
    if args.json:
        doc = {
            "params": {
                "rr": args.rr,
                "clients": args.clients,
                "repeat": args.repeat,
                "full_table": args.full_table,
                "full_table_clients": FULL_CLIENTS,
                "connect_window": args.connect_window,
                "open_timeout": args.open_timeout,
                "settle": args.settle,
                "phase_timeout": args.phase_timeout,
                "churn": args.churn,
                "churn_seconds": args.churn_seconds,
                "churn_grace": args.churn_grace,
                "churn_seed": args.churn_seed,
            },
            "host": {
                "kernel": platform.release(),
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
                "seconds": round(time.time() - started, 1),
            },
            "versions": versions(args.rr),
            "skipped": missing,
            "summary": summary(records, args.rr, phases),
            "runs": [asdict(r) for r in records],
        }
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
    return 0 if all(r.error is None for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
