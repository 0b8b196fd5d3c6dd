"""The shape of the package (DESIGN.md, the architecture issue), checked so it stays that way:
no import circle between pyrr's modules (TYPE_CHECKING imports included), no module over 600
lines, no folder named `out`, the sans-IO layers free of asyncio, sockets and the clock, and the
linters' verdict (ruff with its complexity rules, mypy --strict) as part of the suite."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "pyrr"
MAX_LINES = 600
# Layers that take time and bytes as arguments and never touch the event loop or a socket.
SANS_IO = ("pyrr.bgp", "pyrr.rib", "pyrr.export", "pyrr.session", "pyrr.speaker", "pyrr.monitor")
IO_MODULES = {"asyncio", "socket", "selectors", "uvloop", "time"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path) -> Iterator[tuple[str, int]]:
    """Every module `name` imports, anywhere in the file (functions and TYPE_CHECKING blocks
    included), with the line of the import."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield target, node.lineno
            for alias in node.names:  # `from . import log` imports the module pyrr.log
                yield f"{target}.{alias.name}", node.lineno


def graph() -> dict[str, set[str]]:
    mods = modules()
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        for target, _line in imports_of(name, path):
            if target in mods and target != name:
                edges[name].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles_between_pyrr_modules() -> None:
    edges = graph()
    assert len(edges) > 50  # the walk found the package
    assert "pyrr.bgp.fsm" in edges["pyrr.session.neighbor"]  # and its imports
    assert cycles(edges) == []


def test_no_module_over_600_lines() -> None:
    long = {
        name: n
        for name, path in modules().items()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_no_folder_named_out() -> None:
    """`out/` reads as build output to people and tools."""
    for top in (PACKAGE, REPO / "tests"):
        assert [p for p in top.rglob("out") if p.is_dir() and any(p.glob("*.py"))] == []


def test_sans_io_layers_import_no_event_loop_socket_or_clock() -> None:
    bad = []
    for name, path in modules().items():
        if name.startswith(SANS_IO):
            for target, line in imports_of(name, path):
                if target.split(".")[0] in IO_MODULES:
                    bad.append(f"{name}:{line} imports {target}")
    assert bad == []


def _tool(name: str) -> str:
    exe = Path(sys.executable).parent / name
    found = str(exe) if exe.exists() else shutil.which(name)
    assert found, f"{name} is not installed: run scripts/setup.sh (pip install -e '.[dev]')"
    return found


def test_ruff_is_clean_with_the_complexity_rules() -> None:
    res = subprocess.run(
        [_tool("ruff"), "check", "--no-cache", "pyrr", "tests", "bench", "fuzz"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_mypy_strict_is_clean() -> None:
    res = subprocess.run(
        [_tool("mypy")], cwd=REPO, capture_output=True, text=True, timeout=600, check=False
    )
    assert res.returncode == 0, res.stdout + res.stderr
