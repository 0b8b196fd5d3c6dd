"""Coverage-guided fuzzing of the sans-IO BGP core with atheris (libFuzzer for Python).

One runner for the three targets of fuzz/targets.py::

    .venv/bin/python -m fuzz.run_atheris framer  -max_total_time=600
    .venv/bin/python -m fuzz.run_atheris update  -max_total_time=600
    .venv/bin/python -m fuzz.run_atheris session -max_total_time=600

``framer``: `fuzz_framer` (Framer + every message decoder, whole and byte by byte);
``update``: `fuzz_update` (the UPDATE body and attribute decoder in five session contexts);
``session``: `fuzz_session` (a `Session` in OpenSent or Established fed the bytes).

Every argument after the target name goes to libFuzzer (``-max_total_time``, ``-runs``,
``-jobs``...). The working corpus is ``build/fuzz/<target>/corpus`` (``--corpus DIR`` to
change it): on the first run it is seeded from ``fuzz/corpus/`` (generated) and
``fuzz/captured/`` (recorded from real daemons by fuzz/capture_corpus.py), each message cut to
the shape the target takes: whole framed messages for ``framer``, UPDATE bodies for ``update``,
a scenario octet plus a message stream for ``session`` (one stream per daemon: its OPEN,
KEEPALIVE and UPDATEs in the order they were captured). Crashes are written to
``build/fuzz/<target>/artifacts/``; replay one with ``python -m fuzz.targets FILE``.

``--coverage`` replays the working corpus under coverage.py instead of fuzzing and prints the
line coverage of pyrr/bgp (needs ``pip install coverage``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

FUZZ_DIR = Path(__file__).resolve().parent
REPO_ROOT = FUZZ_DIR.parent
SEED_DIRS = (FUZZ_DIR / "corpus", FUZZ_DIR / "captured")
WORK_DIR = REPO_ROOT / "build" / "fuzz"
TARGETS = ("framer", "update", "session")
_HEADER = 19
_OPEN, _UPDATE, _KEEPALIVE = 1, 2, 4
# fuzz_session's scenarios (fuzz/targets.py SESSION_SCENARIOS): 0 OpenSent, 1-2 Established.
_SCENARIOS = 3


def _messages() -> dict[str, bytes]:
    """Every seed file (one framed message each), by file name."""
    out: dict[str, bytes] = {}
    for d in SEED_DIRS:
        if d.is_dir():
            for p in sorted(d.glob("*.bin")):
                out[f"{d.name}-{p.stem}"] = p.read_bytes()
    return out


def seeds(target: str) -> dict[str, bytes]:
    """The initial corpus of one target (name -> input). Imports nothing from pyrr, so that
    atheris instruments pyrr when the target is imported afterwards."""
    msgs = _messages()
    if target == "framer":
        return dict(msgs)
    if target == "update":
        return {k: m[_HEADER:] for k, m in msgs.items() if len(m) > _HEADER and m[18] == _UPDATE}
    out: dict[str, bytes] = {}
    for k, m in msgs.items():
        for sc in range(_SCENARIOS):
            out[f"{k}-s{sc}"] = bytes((sc,)) + m
    # Whole conversations per daemon: OPEN + KEEPALIVE + its UPDATEs, in capture order, so the
    # OpenSent scenario gets past the handshake with real capability sets.
    streams: dict[str, list[bytes]] = {}
    for k, m in sorted(msgs.items()):
        if not k.startswith("captured-"):
            continue
        daemon = k.split("-", 1)[1].rsplit("_", 2)[0]
        streams.setdefault(daemon, []).append(m)
    keepalive = b"\xff" * 16 + b"\x00\x13\x04"
    for daemon, ms in streams.items():
        opens = [m for m in ms if m[18] == _OPEN]
        updates = [m for m in ms if m[18] == _UPDATE]
        if opens:
            out[f"stream-{daemon}"] = b"\x00" + opens[0] + keepalive + b"".join(updates)
        if updates:
            out[f"stream-{daemon}-est"] = b"\x01" + b"".join(updates)
    return out


def _target(name: str) -> Callable[[bytes], None]:
    from fuzz import targets

    return {
        "framer": targets.fuzz_framer,
        "update": targets.fuzz_update,
        "session": targets.fuzz_session,
    }[name]


def prepare(target: str, corpus: Path) -> int:
    corpus.mkdir(parents=True, exist_ok=True)
    n = 0
    for name, data in seeds(target).items():
        path = corpus / f"seed-{name}"
        if not path.exists():
            path.write_bytes(data)
            n += 1
    return n


def replay_coverage(target: str, corpus: Path) -> int:
    import coverage

    cov = coverage.Coverage(source=[str(REPO_ROOT / "pyrr" / "bgp")], branch=True)
    cov.start()
    fn = _target(target)
    files = sorted(p for p in corpus.iterdir() if p.is_file())
    for p in files:
        fn(p.read_bytes())
    cov.stop()
    print(f"{target}: replayed {len(files)} corpus inputs")
    cov.report(show_missing=False)
    return 0


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m fuzz.run_atheris",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("target", choices=TARGETS)
    ap.add_argument("--corpus", type=Path, help="working corpus directory")
    ap.add_argument("--coverage", action="store_true", help="replay the corpus under coverage.py")
    args, libfuzzer_args = ap.parse_known_args(argv)
    work = WORK_DIR / args.target
    corpus = args.corpus or work / "corpus"
    if args.coverage:
        return replay_coverage(args.target, corpus)
    added = prepare(args.target, corpus)
    artifacts = work / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    print(
        f"fuzz_{args.target}: corpus {corpus} ({added} seeds added), artifacts {artifacts}",
        flush=True,
    )

    import atheris

    with atheris.instrument_imports(include=["pyrr", "fuzz"]):
        fn = _target(args.target)
    lf_args = [
        sys.argv[0],
        f"-artifact_prefix={artifacts}/",
        "-max_len=4200",
        "-timeout=20",
        "-rss_limit_mb=3072",
        "-print_final_stats=1",
        *libfuzzer_args,
        str(corpus),
    ]
    atheris.Setup(lf_args, fn)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
