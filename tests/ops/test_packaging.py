"""pyrr installed the usual ways: `python -m build` makes an sdist and, from that sdist, a
wheel; the wheel, installed into a clean virtual environment with its dependencies from the
package index, runs `pyrr --version`, `pyrr check-config` on the bundled demo configuration
and `pyrr demo --once`, importing nothing from this checkout."""

from __future__ import annotations

import os
import shutil
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from pyrr import __version__

from ..peer_sim import free_port
from .daemon import sh

REPO = Path(__file__).resolve().parents[2]
# What setuptools reads (pyproject.toml names the readme and finds the packages under pyrr/).
SOURCES = ("pyproject.toml", "README.md", "pyrr")

pytestmark = pytest.mark.timeout(600)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without what would point Python at the checkout or at the
    test venv (the package index settings stay: they are how this machine reaches it)."""
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP", "PYTHONNOUSERSITE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return {**env, **extra}


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python -m build` on a copy of the sources: sdist, then the wheel built from it."""
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, src / name)
    out = tmp_path_factory.mktemp("dist")
    r = sh([sys.executable, "-m", "build", "--outdir", str(out), str(src)], timeout=300)
    if r.returncode != 0 and "No module named build" in r.stderr:
        pytest.fail("`build` is not installed: pip install -e '.[dev]' (scripts/setup.sh)")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return out


def test_sdist_and_wheel_hold_the_package(dist: Path) -> None:
    (sdist,) = dist.glob("pyrr-*.tar.gz")
    (wheel,) = dist.glob("pyrr-*.whl")
    assert sdist.name == f"pyrr-{__version__}.tar.gz"
    assert wheel.name == f"pyrr-{__version__}-py3-none-any.whl"
    with tarfile.open(sdist) as tar:
        members = {m.name.split("/", 1)[1] for m in tar.getmembers() if "/" in m.name}
    assert {"pyproject.toml", "README.md", "pyrr/cli.py", "pyrr/data/demo.toml"} <= members
    assert not [m for m in members if "__pycache__" in m or m.endswith(".pyc")]
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"pyrr/cli.py", "pyrr/py.typed", "pyrr/data/demo.toml"} <= names
    assert "pyrr/control/metrics.py" in names and "pyrr/store/calico/source.py" in names
    assert not [n for n in names if n.startswith(("tests/", "bench/", "fuzz/"))]
    info = f"pyrr-{__version__}.dist-info"
    meta = Parser().parsestr(zipfile.ZipFile(wheel).read(f"{info}/METADATA").decode())
    assert meta["Name"] == "pyrr" and meta["Requires-Python"] == ">=3.11"
    requires = " ".join(meta.get_all("Requires-Dist") or [])
    for dep in ("structlog", "pyroute2", "etcd-sdk-python", "protobuf", "prometheus-client"):
        assert dep in requires
    entry_points = zipfile.ZipFile(wheel).read(f"{info}/entry_points.txt").decode()
    assert "pyrr = pyrr.cli:main" in entry_points


def test_the_wheel_installs_and_runs_from_a_clean_venv(dist: Path, tmp_path: Path) -> None:
    (wheel,) = dist.glob("pyrr-*.whl")
    venv = tmp_path / "venv"
    r = sh([sys.executable, "-m", "venv", str(venv)], timeout=120, env=clean_env())
    assert r.returncode == 0, r.stderr
    py, pyrr = venv / "bin" / "python", venv / "bin" / "pyrr"
    # The dependencies come from the package index, as `pip install pyrr-*.whl` does anywhere.
    r = sh([str(py), "-m", "pip", "install", "--no-input", str(wheel)], timeout=400,
           env=clean_env(), cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]

    # Run from an empty directory: nothing of the checkout can be imported.
    work = tmp_path / "work"
    work.mkdir()
    r = sh([str(py), "-c", "import pyrr; print(pyrr.__file__)"], env=clean_env(), cwd=work)
    assert r.returncode == 0 and r.stdout.startswith(str(venv)), r.stdout + r.stderr

    r = sh([str(pyrr), "--version"], env=clean_env(), cwd=work)
    assert r.returncode == 0 and r.stdout.strip() == f"pyrr {__version__}", r.stdout + r.stderr

    where = "import importlib.resources as r; print(r.files('pyrr') / 'data' / 'demo.toml')"
    demo_toml = sh([str(py), "-c", where], env=clean_env(), cwd=work).stdout.strip()
    assert demo_toml.startswith(str(venv)) and Path(demo_toml).is_file(), demo_toml
    r = sh([str(pyrr), "check-config", demo_toml], env=clean_env(), cwd=work)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "OK: AS 64512, router id 127.0.0.1" in r.stdout and "3 peer(s)" in r.stdout

    r = sh([str(pyrr), "demo", "--once", "--port", str(free_port())], timeout=60,
           env=clean_env(), cwd=work)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Established" in r.stdout and "10.10." in r.stdout
