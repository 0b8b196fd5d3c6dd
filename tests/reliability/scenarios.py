"""The loopback reliability runs: soak, flap storm, kill -9 of pyrr under churn.

Each function starts pyrr (file mode, N passive clients, metrics on) and bgpsim, runs its
scenario, checks pyrr's counters against the clients' (harness.check_counters) and returns a
report: the parameters, the figures, and `failures` (empty when every promise held). The
pytest tests (test_loopback.py) run short versions; `python -m tests.reliability` runs any
size (docs/reliability.md has the commands of the full runs).

Time bounds are generous on purpose (the suite runs on a loaded 2-core machine): what is
judged strictly is what must never happen (a session lost, a route lost, a table not exact, a
counter that disagrees, memory that keeps growing); the timings are recorded.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.daemons import client_address, raise_nofile
from bench.sim import PhaseResult, Sim, build
from tests.peer_sim import free_port

from .harness import (
    RR,
    Sample,
    Sampler,
    between,
    check_counters,
    cpu_share,
    growth,
    lag_summary,
    queue_max,
    sim_running,
    sim_totals,
)

GRACE = 30  # seconds a churn or flap phase may take past its end to complete every change
# RSS and open fds after warm-up: the end of the run may exceed the start by at most this.
FLAT = 0.05
MIN_STEADY = 10  # samples (seconds) after warm-up, at least
# RSS after a flap storm against RSS at rest before it: the allocator keeps (and reuses) the
# pages the storm took (docs/reliability.md); a later storm must not add to them (FLAT).
MEMORY_BOUND = 0.15


@contextlib.contextmanager
def reflector(clients: int, keep: Path | None = None, log_level: str = "warning") -> Iterator[RR]:
    """pyrr with `clients` configured peers in a fresh directory (removed afterwards unless
    `keep` names one to copy the logs to)."""
    nofile = raise_nofile(max(65536, clients + 1024))
    if nofile < clients + 64:
        raise RuntimeError(f"open-files limit {nofile} is too low for {clients} clients")
    workdir = Path(tempfile.mkdtemp(prefix="pyrr-rel-"))
    rr = RR(workdir, free_port(), clients, free_port(), log_level)
    try:
        rr.start(ready_timeout=30 + clients / 100)
        rr.wait_ready()
        yield rr
    finally:
        rr.stop()
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            for f in workdir.glob("pyrr-*.log"):
                shutil.copy2(f, keep / f.name)
        shutil.rmtree(workdir, ignore_errors=True)


def prepare(sim: Sim, rr: RR, clients: int, hold: int, gr: int = 0) -> dict[str, float]:
    """Every client Established and holding every other client's four blocks."""
    sim.ask("timeout 300")
    sim.ask(f"hold {hold}")
    sim.ask(f"gr {gr}")
    t0 = time.monotonic()
    up = sim.phase(f"connect {clients}", timeout=330, alive=rr.dead)
    if not up.ok:
        raise RuntimeError(f"sessions did not come up: {up.line}")
    full = sim.phase("announce", timeout=330, alive=rr.dead)
    if not full.ok:
        raise RuntimeError(f"the announcements did not converge: {full.line}")
    return {"establish_s": up.wall, "announce_s": full.wall, "prepare_s": time.monotonic() - t0}


def no_session_trouble(name: str, res: PhaseResult, failures: list[str]) -> None:
    for key in ("reconnects", "closed", "notifications"):
        if int(res.fields.get(key, "0")) != 0:
            failures.append(f"{name}: {key}={res.fields[key]}")


def log_problems(rr: RR) -> list[str]:
    text = rr.logs()
    return (
        [f"pyrr logged a traceback:\n{text[text.index('Traceback') :][:2000]}"]
        if ("Traceback" in text)
        else []
    )


def summary(samples: list[Sample]) -> dict[str, Any]:
    return {
        "samples": len(samples),
        "rss_kib": growth([float(s.rss_kib) for s in samples]),
        "fds": growth([float(s.fds) for s in samples]),
        "cpu_share": cpu_share(samples),
        "loop_lag_1s_max": lag_summary(samples),
        "queues_max": queue_max(samples),
    }


# -- 1. soak ----------------------------------------------------------------------------------


def soak(
    clients: int = 300,
    seconds: int = 60,
    rate: int = 100,
    segment: int = 600,
    hold: int = 30,
    warmup: float | None = None,
    seed: int = 1,
    keep: Path | None = None,
) -> dict[str, Any]:
    """N clients under continuous churn (RATE changes a second) for SECONDS, in churn phases of
    at most SEGMENT s, each of which must complete every change and end with every table exact.
    pyrr is sampled every second; after WARMUP s (default a quarter of the run, at most 300 s)
    its RSS and open fds must stay flat (growth < 5 %)."""
    warm = warmup if warmup is not None else min(300.0, max(10.0, seconds / 4))
    failures: list[str] = []
    report: dict[str, Any] = {
        "scenario": "soak",
        "params": {
            "clients": clients,
            "seconds": seconds,
            "rate": rate,
            "segment": segment,
            "hold": hold,
            "warmup": warm,
            "seed": seed,
        },
    }
    t_start = time.monotonic()
    with reflector(clients, keep) as rr, sim_running(build(), rr.port) as sim:
        sampler = Sampler(rr).start()
        report["prepare"] = prepare(sim, rr, clients, hold)
        t0 = sampler.now()
        segments: list[dict[str, Any]] = []
        left = seconds
        while left > 0:
            seg = min(segment, left)
            res = sim.phase(
                f"churn {rate} {seg} {seed + len(segments)} {GRACE}",
                timeout=seg + GRACE + 120,
                alive=rr.dead,
            )
            segments.append({"ok": res.ok, **res.fields})
            name = f"churn segment {len(segments)}"
            if not res.ok:
                failures.append(f"{name}: {res.line}")
                break
            for key in ("lost", "skipped"):
                if int(res.fields[key]) != 0:
                    failures.append(f"{name}: {key}={res.fields[key]}")
            no_session_trouble(name, res, failures)
            left -= seg
        t1 = sampler.now()
        samples = sampler.stop()
        report["counters"] = check = check_counters(rr, sim, clients)
        status = rr.status()
        failures += log_problems(rr)
    steady = between(samples, t0 + warm, t1)
    report["segments"] = segments
    report["steady"] = summary(steady)
    report["whole"] = summary(between(samples, t0, t1))
    report["samples"] = samples
    report["pyrr_flaps"] = sum(p["flaps"] for p in status["peers"])
    if len(steady) < MIN_STEADY:
        failures.append(f"{len(steady)} samples after warm-up: run longer than {warm:g} s + 10 s")
    for what in ("rss_kib", "fds"):
        g = report["steady"][what]
        if not g["growth"] < FLAT:
            failures.append(f"{what} grew by {100 * g['growth']:.1f} % after warm-up: {g}")
    if report["pyrr_flaps"]:
        failures.append(f"pyrr counted {report['pyrr_flaps']} flaps")
    if not check.ok:
        failures += [f"counter: {m}" for m in check.mismatches]
    report["duration_s"] = time.monotonic() - t_start
    report["failures"] = failures
    return report


# -- 2. flap storm ----------------------------------------------------------------------------


def flap(
    clients: int = 300,
    flappers: int = 30,
    rate: int | None = None,
    seconds: int = 15,
    garbage: int | None = None,
    hold: int = 9,
    rest: float = 5.0,
    after: float = 8.0,
    storms: int = 2,
    keep: Path | None = None,
) -> dict[str, Any]:
    """STORMS storms of SECONDS each, AFTER s apart: FLAPPERS of the N clients end their session
    and dial again, RATE a second in all (default FLAPPERS: each once a second), GARBAGE of
    them (default a fifth) by sending a malformed message; the others must lose nothing.
    pyrr's RSS at rest before the first storm is the baseline: after each storm it must be
    back within MEMORY_BOUND of it, and a later storm must reuse what the first one took
    (growth under FLAT); its open fds must be back to their count at rest; its CPU is
    recorded."""
    rate = rate if rate is not None else flappers
    garbage = garbage if garbage is not None else flappers // 5
    failures: list[str] = []
    report: dict[str, Any] = {
        "scenario": "flap",
        "params": {
            "clients": clients,
            "flappers": flappers,
            "rate": rate,
            "seconds": seconds,
            "garbage": garbage,
            "hold": hold,
            "rest": rest,
            "after": after,
            "storms": storms,
        },
    }
    t_start = time.monotonic()
    results: list[tuple[PhaseResult, float, float, float]] = []  # result, start, calm, end
    with reflector(clients, keep) as rr, sim_running(build(), rr.port) as sim:
        sampler = Sampler(rr).start()
        report["prepare"] = prepare(sim, rr, clients, hold)
        t_rest = sampler.now()
        time.sleep(rest)
        for _ in range(storms):
            t_storm = sampler.now()
            res = sim.phase(
                f"flap {flappers} {rate} {seconds} {garbage} {GRACE}",
                timeout=seconds + GRACE + 120,
                alive=rr.dead,
            )
            t_calm = sampler.now()
            time.sleep(after)
            results.append((res, t_storm, t_calm, sampler.now()))
        samples = sampler.stop()
        report["counters"] = check = check_counters(rr, sim, clients)
        status = rr.status()
        failures += log_problems(rr)
    stable_peers = {client_address(i) for i in range(clients - flappers)}
    report["pyrr_stable_flaps"] = sum(
        p["flaps"] for p in status["peers"] if p["address"] in stable_peers
    )
    rest_s = between(samples, t_rest, results[0][1])
    base_rss = growth([float(s.rss_kib) for s in rest_s])["end"]
    report["rest"] = {"rss_kib": base_rss, "fds": rest_s[-1].fds, "cpu": cpu_share(rest_s)}
    report["storms"] = []
    for res, t0, t1, t2 in results:
        storm_s, after_s = between(samples, t0, t1), between(samples, t1, t2)
        end_rss = growth([float(s.rss_kib) for s in after_s])["end"]
        report["storms"].append(
            {
                "ok": res.ok,
                **res.fields,
                "cpu": cpu_share(storm_s),
                "cpu_after": cpu_share(after_s),
                "rss_peak_kib": max((s.rss_kib for s in storm_s), default=0),
                "rss_after_kib": end_rss,
                "rss_after_vs_rest": end_rss / base_rss - 1,
                "fds_after": after_s[-1].fds if after_s else -1,
                "runtime": summary(storm_s),
            }
        )
        failures += judge_storm(res, hold, len(report["storms"]))
    report["samples"] = samples
    failures += judge_memory(report["rest"], report["storms"])
    if report["pyrr_stable_flaps"]:
        failures.append(f"pyrr counted {report['pyrr_stable_flaps']} flaps of stable peers")
    if not check.ok:
        failures += [f"counter: {m}" for m in check.mismatches]
    report["duration_s"] = time.monotonic() - t_start
    report["failures"] = failures
    return report


def judge_storm(res: PhaseResult, hold: int, n: int) -> list[str]:
    f, name, out = res.fields, f"storm {n}", []
    if not res.ok:
        out.append(f"{name} did not end converged: {res.line}")
    for key in ("stable_lost", "stable_closed", "stable_notifications", "unanswered"):
        if int(f.get(key, "-1")) != 0:
            out.append(f"{name}: {key}={f.get(key)}")
    if f.get("answered") != f.get("garbage_sent"):
        out.append(f"{name}: garbage {f.get('garbage_sent')} sent, {f.get('answered')} answered")
    if int(f.get("flaps", "0")) < int(f.get("slots", "1")) // 2:
        out.append(f"{name}: too few flaps for a storm: {f.get('flaps')} of {f.get('slots')}")
    # RFC 4271 §4.4: a KEEPALIVE every third of the hold time (jittered below it, §10; see
    # pyrr.session.local), so no stable client waits that long, storm or not.
    ka_gap = float(f.get("stable_ka_gap_max_ms", "inf")) / 1e3
    if not ka_gap < hold / 3:
        out.append(f"{name}: a stable client heard no KEEPALIVE for {ka_gap:.1f} s (hold {hold})")
    return out


def judge_memory(rest: dict[str, Any], storms: list[dict[str, Any]]) -> list[str]:
    out = []
    for n, st in enumerate(storms, 1):
        if st["fds_after"] != rest["fds"]:
            out.append(f"storm {n}: open fds {rest['fds']} at rest, {st['fds_after']} after")
        if not st["rss_after_vs_rest"] < MEMORY_BOUND:
            out.append(f"storm {n}: RSS {100 * st['rss_after_vs_rest']:.1f} % above rest after it")
    if len(storms) > 1:
        again = storms[-1]["rss_after_kib"] / storms[0]["rss_after_kib"] - 1
        if not again < FLAT:
            out.append(f"RSS grew by {100 * again:.1f} % from the first storm to the last")
    return out


# -- 4. kill -9 of pyrr under churn -----------------------------------------------------------


def rrkill(
    clients: int = 300,
    rate: int = 100,
    seconds: int = 20,
    kill_at: float = 6.0,
    down: float = 0.0,
    hold: int = 30,
    gr: int = 120,
    keep: Path | None = None,
) -> dict[str, Any]:
    """Clients with graceful restart (bgpsim `gr`) under churn; KILL_AT s into it pyrr is
    killed (SIGKILL) and started again DOWN s later, as a supervisor would. The clients must
    keep every route meanwhile (no announced route ever withdrawn from or purged at a client),
    every change must complete, and at the end every table must be exact with no stale route
    left (purged at pyrr's End-of-RIB, none by the restart timer)."""
    failures: list[str] = []
    report: dict[str, Any] = {
        "scenario": "rrkill",
        "params": {
            "clients": clients,
            "rate": rate,
            "seconds": seconds,
            "kill_at": kill_at,
            "down": down,
            "hold": hold,
            "gr": gr,
        },
    }
    t_start = time.monotonic()
    with reflector(clients, keep, log_level="info") as rr, sim_running(build(), rr.port) as sim:
        sampler = Sampler(rr).start()
        report["prepare"] = prepare(sim, rr, clients, hold, gr=gr)
        before = sim_totals(sim)
        sim.send(f"churn {rate} {seconds} 1 {GRACE}")
        time.sleep(kill_at)
        routes_before = rr.runtime()["routes"]
        t_kill = time.monotonic()
        rr.kill9()
        time.sleep(down)
        rr.start(ready_timeout=30 + clients / 100)
        rr.wait_ready()
        t_back = time.monotonic()
        res = sim.result(timeout=seconds + GRACE + 120, alive=rr.dead)
        after = sim_totals(sim)
        samples = sampler.stop()
        report["counters"] = check = check_counters(rr, sim, clients, since_restart=True)
        failures += log_problems(rr)
        second_log = (rr.workdir / "pyrr-2.log").read_text(errors="replace")
    f = res.fields
    report["churn"] = {"ok": res.ok, **f}
    report["restart"] = {
        "routes_before_kill": routes_before,
        "restart_s": t_back - t_kill,
        "recovery_logged": "restart recovery finished" in second_log,
        "recovery_line": next(
            (ln for ln in second_log.splitlines() if "restart recovery finished" in ln), ""
        ),
    }
    report["clients"] = {
        key: after[key] - before.get(key, 0.0)
        for key in ("stale_purged", "stale_expired", "lost_active", "sessions", "downs")
    }
    report["clients"]["stale_left"] = after["stale"]
    report["clients"]["ok"] = after["ok"]
    report["samples"] = samples
    if not res.ok:
        failures.append(f"the churn did not complete: {res.line}")
    if int(f.get("lost", "-1")) != 0:
        failures.append(f"changes lost: {f.get('lost')}")
    c = report["clients"]
    if c["lost_active"]:
        failures.append(f"clients lost {c['lost_active']:g} announced routes")
    if c["stale_expired"]:
        failures.append(f"{c['stale_expired']:g} stale routes removed by the restart timer")
    if c["stale_left"]:
        failures.append(f"{c['stale_left']:g} stale routes left")
    if c["ok"] != clients:
        failures.append(f"only {c['ok']:g} of {clients} tables exact")
    if c["downs"] != clients or c["sessions"] != clients:
        failures.append(f"sessions: {c['downs']:g} down, {c['sessions']:g} up again; {clients}")
    if int(f.get("notifications", "-1")) != 0:
        failures.append(f"notifications={f.get('notifications')}")
    if not report["restart"]["recovery_logged"]:
        failures.append("pyrr did not log the end of its restart recovery")
    if not check.ok:
        failures += [f"counter: {m}" for m in check.mismatches]
    report["duration_s"] = time.monotonic() - t_start
    report["failures"] = failures
    return report
