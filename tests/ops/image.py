"""pyrr's container image in the tests: built and run with podman, no Docker engine and no
container registry.

- `ensure_base()`: a Debian bookworm root filesystem made from Debian's packages by mmdebstrap
  (python3 3.11, pip, ca-certificates, passwd), imported with `podman import`. It stands in for
  python:3.11-slim-bookworm (which no registry here serves): pip may install as root (no
  EXTERNALLY-MANAGED marker) and /usr/local/bin/python3 exists, as in the official image. The
  host's own extra CA certificates (an egress proxy's) are added, so that the build's pip and
  apt reach the package index the way the host does.
- `ensure_image()`: the project's Dockerfile built on that base (`--build-arg PYTHON_IMAGE=`),
  in Docker format so that HEALTHCHECK is kept.

Both live in a podman storage of their own under CACHE (PYRR_IMAGE_CACHE, default
/var/tmp/pyrr-image-cache), tagged by a hash of what they are made of: the base by its recipe,
the host's CAs and the Debian snapshot the host's apt sees; the image by the base, the
Dockerfile, .dockerignore and every file of the build context. A warm run finds both and
builds nothing. The machine's own podman storage and configuration are never touched.

Podman is run with runc and the cgroupfs manager (crun refuses hybrid cgroup v1/v2 hosts:
"cgroups in hybrid mode not supported"), and with this process's own rlimits (podman's default
RLIMIT_NOFILE of 1048576 needs CAP_SYS_RESOURCE, which a sandbox may not have).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import resource
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("PYRR_IMAGE_CACHE", "/var/tmp/pyrr-image-cache"))

SUITE = "bookworm"
SOURCES = (
    f"deb http://deb.debian.org/debian {SUITE} main",
    f"deb http://deb.debian.org/debian {SUITE}-updates main",
    f"deb http://deb.debian.org/debian-security {SUITE}-security main",
)
# minbase is debian:bookworm-slim's package set (Essential, Priority: required, apt).
BASE_PACKAGES = ("python3", "python3-pip", "ca-certificates")
# What debian:bookworm-slim leaves out (its /etc/dpkg/dpkg.cfg.d/docker).
DPKG_EXCLUDES = (
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/groff/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/lintian/*",
    "path-exclude=/usr/share/linda/*",
    "path-exclude=/usr/share/locale/*",
)
# Bump when the base recipe below changes in a way the hash cannot see.
BASE_RECIPE = "2"
HOST_CAS = Path("/usr/local/share/ca-certificates")
APT_LISTS = Path("/var/lib/apt/lists")

BASE_REPO = "localhost/pyrr-test-base"
IMAGE_REPO = "localhost/pyrr-test"
CONTAINER_PREFIX = "pyrr-test-"

# The Debian packages (scripts/setup.sh APT_PACKAGES) and the programs they bring.
TOOLS = {"podman": "podman", "runc": "runc", "conmon": "conmon", "mmdebstrap": "mmdebstrap"}

BASE_TIMEOUT = 600.0
BUILD_TIMEOUT = 600.0


def missing_tools() -> str | None:
    """Why the image tests cannot run here (with the fix), or None."""
    if os.geteuid() != 0:
        return "the image tests need root (podman storage, mmdebstrap): run them as root"
    missing = [pkg for pkg, exe in TOOLS.items() if not _which(exe)]
    if missing:
        return (
            f"not installed: {', '.join(missing)}: run scripts/setup.sh (its APT_PACKAGES has"
            " podman, runc and mmdebstrap; conmon comes with podman)"
        )
    return None


def _which(exe: str) -> str | None:
    found = shutil.which(exe)
    if found:
        return found
    for d in ("/usr/bin", "/usr/sbin", "/usr/libexec/podman"):
        if os.access(f"{d}/{exe}", os.X_OK):
            return f"{d}/{exe}"
    return None


def _digest(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()[:16]


class PodmanError(AssertionError):
    pass


class Podman:
    """podman with a storage and configuration of its own under `root`."""

    def __init__(self, root: Path = CACHE) -> None:
        self.root = root
        self.conf = root / "conf"
        self.conf.mkdir(parents=True, exist_ok=True)
        storage = root / "storage"
        (self.conf / "storage.conf").write_text(
            f'[storage]\ndriver = "overlay"\ngraphroot = "{storage}"\nrunroot = "{root / "run"}"\n'
        )
        (self.conf / "containers.conf").write_text(
            "[containers]\n"
            "# The host's HEALTHCHECK timers need systemd; the tests run the check themselves.\n"
            'log_driver = "k8s-file"\n'
            "[engine]\n"
            'runtime = "runc"\n'
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
            f'events_logfile_path = "{root / "events.log"}"\n'
            f'tmp_dir = "{root / "libpod-tmp"}"\n'
            f'static_dir = "{storage / "libpod"}"\n'
            f'volume_path = "{storage / "volumes"}"\n'
        )
        # Nothing is ever pulled: every image is built here.
        (self.conf / "registries.conf").write_text("unqualified-search-registries = []\n")

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONTAINERS_")}
        env["CONTAINERS_CONF"] = str(self.conf / "containers.conf")
        env["CONTAINERS_STORAGE_CONF"] = str(self.conf / "storage.conf")
        env["CONTAINERS_REGISTRIES_CONF"] = str(self.conf / "registries.conf")
        return env

    def argv(self, *args: str) -> list[str]:
        return ["podman", *args]

    def __call__(
        self, *args: str, timeout: float = 120.0, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(
            self.argv(*args),
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
        if check and r.returncode != 0:
            raise PodmanError(
                f"podman {' '.join(args)} failed ({r.returncode}):\n{r.stdout[-3000:]}"
                f"\n{r.stderr[-3000:]}\n(the tests' podman storage and configuration are in"
                f" {self.root}: delete it to start again from nothing)"
            )
        return r

    def exists(self, image: str) -> bool:
        return self("image", "exists", image, check=False).returncode == 0

    def inspect(self, image: str) -> dict[str, Any]:
        (info,) = json.loads(self("image", "inspect", image).stdout)
        assert isinstance(info, dict)
        return info

    def size(self, image: str) -> int:
        return int(self("image", "inspect", "--format", "{{.Size}}", image).stdout.strip())

    @contextlib.contextmanager
    def mounted(self, image: str) -> Iterator[Path]:
        path = Path(self("image", "mount", image).stdout.strip())
        try:
            yield path
        finally:
            self("image", "unmount", image, check=False)

    def tags(self, repo: str) -> list[str]:
        out = self("images", "--format", "{{.Repository}}:{{.Tag}}", repo, check=False).stdout
        return [line for line in out.split() if line.startswith(repo + ":")]

    def remove_stale_containers(self) -> None:
        """Containers of earlier runs (this storage is the tests' own) whose test process is
        gone, e.g. after a SIGKILL."""
        out = self("ps", "-a", "--format", "{{.Names}}", check=False).stdout
        for name in out.split():
            if not name.startswith(CONTAINER_PREFIX):
                continue
            pid = name[len(CONTAINER_PREFIX) :].split("-", 1)[0]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                self("rm", "-f", "-t", "0", name, check=False)


def ulimits() -> list[str]:
    """Limits for the container that a runtime without CAP_SYS_RESOURCE may set: podman's
    defaults (1048576) are above the hard limits of such a sandbox. This process's own hard
    limits, and RLIMIT_NPROC no higher than kernel.pid_max, since podman's runtime processes
    run with that (seen here: 32768, below the shell's 96362)."""
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    out = []
    for name, which, cap in (
        ("nofile", resource.RLIMIT_NOFILE, None),
        ("nproc", resource.RLIMIT_NPROC, pid_max),
    ):
        _soft, hard = resource.getrlimit(which)
        if hard == resource.RLIM_INFINITY:
            hard = cap if cap is not None else 1048576
        if cap is not None:
            hard = min(hard, cap)
        out += ["--ulimit", f"{name}={hard}:{hard}"]
    return out


# --- the base ---------------------------------------------------------------------------------


def debian_snapshot() -> str:
    """The Date of the Debian release file the host's apt last read (the package snapshot
    the base is built from), or "" when the host has no lists."""
    for path in sorted(APT_LISTS.glob(f"deb.debian.org_debian_dists_{SUITE}_*Release")):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("Date:"):
                return line.split(":", 1)[1].strip()
    return ""


def host_cas() -> list[Path]:
    return sorted(HOST_CAS.glob("*.crt")) if HOST_CAS.is_dir() else []


def base_hooks() -> list[str]:
    hooks = [
        # As in the official image: pip installs as root into /usr/local.
        'rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED',
        'ln -sf /usr/bin/python3 "$1"/usr/local/bin/python3',
    ]
    cas = host_cas()
    if cas:
        hooks.append(f"copy-in {' '.join(str(c) for c in cas)} /usr/local/share/ca-certificates/")
        hooks.append('chroot "$1" update-ca-certificates')
    return hooks


def base_key() -> str:
    return _digest(
        BASE_RECIPE,
        SUITE,
        *SOURCES,
        *BASE_PACKAGES,
        *DPKG_EXCLUDES,
        *base_hooks(),
        *(c.read_bytes() for c in host_cas()),
        debian_snapshot(),
    )


@dataclass
class Built:
    tag: str
    size: int
    seconds: float  # 0.0 when found in the cache
    log: str = ""


def ensure_base(podman: Podman, work: Path) -> Built:
    tag = f"{BASE_REPO}:{base_key()}"
    if podman.exists(tag):
        return Built(tag, podman.size(tag), 0.0)
    t0 = time.monotonic()
    tarball = work / "base.tar"
    argv = [
        "mmdebstrap", "--variant=minbase", "--mode=root", "--format=tar", "--quiet",
        '--aptopt=Apt::Install-Recommends "false"',
        *(f"--dpkgopt={opt}" for opt in DPKG_EXCLUDES),
        # merged /usr set up directly, as debootstrap does, not by usrmerge (and its perl).
        "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
        f"--include={','.join(BASE_PACKAGES)}",
        *(f"--customize-hook={hook}" for hook in base_hooks()),
        SUITE, str(tarball), *SOURCES,
    ]  # fmt: skip
    r = subprocess.run(
        argv, capture_output=True, text=True, timeout=BASE_TIMEOUT, check=False,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if r.returncode != 0:
        raise PodmanError(f"mmdebstrap failed ({r.returncode}):\n{r.stderr[-4000:]}")
    try:
        podman(
            "import",
            "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--change", "ENV LANG=C.UTF-8",
            "--change", 'CMD ["python3"]',
            str(tarball), tag,
            timeout=300,
        )  # fmt: skip
    finally:
        tarball.unlink(missing_ok=True)
    for old in podman.tags(BASE_REPO):
        if old != tag:
            podman("rmi", old, check=False)
    return Built(tag, podman.size(tag), time.monotonic() - t0, r.stderr)


# --- the image --------------------------------------------------------------------------------


def context_files() -> list[str]:
    from .test_docker import context_files as kept

    return kept()


def image_key(base: str) -> str:
    parts: list[bytes | str] = [base]
    for rel in ["Dockerfile", ".dockerignore", *context_files()]:
        parts += [rel, (REPO / rel).read_bytes()]
    return _digest(*parts)


def build_argv(tag: str, base: str, no_cache: bool = False) -> list[str]:
    return [
        "build", "--format", "docker", "--pull=never", "--network", "host",
        "--build-arg", f"PYTHON_IMAGE={base}", *ulimits(),
        *(["--no-cache"] if no_cache else []),
        "--tag", tag, "--file", str(REPO / "Dockerfile"), str(REPO),
    ]  # fmt: skip


def source_digest(files: Sequence[Path], root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in files
        if "__pycache__" not in p.parts
    }


def installed_matches_checkout(podman: Podman, tag: str) -> bool:
    """The pyrr package inside the image is this checkout's, file for file."""
    want = source_digest(sorted((REPO / "pyrr").rglob("*.py")), REPO)
    with podman.mounted(tag) as root:
        found = sorted(root.glob("usr/local/lib/python3*/*-packages/pyrr/cli.py"))
        if len(found) != 1:
            return False
        pkg = found[0].parent
        have = source_digest(sorted(pkg.rglob("*.py")), pkg.parent)
    return have == want


def ensure_image(podman: Podman, base: Built) -> Built:
    tag = f"{IMAGE_REPO}:{image_key(base.tag)}"
    if podman.exists(tag) and installed_matches_checkout(podman, tag):
        return Built(tag, podman.size(tag), 0.0)
    t0 = time.monotonic()
    r = podman(*build_argv(tag, base.tag), timeout=BUILD_TIMEOUT)
    log = r.stdout + r.stderr
    if not installed_matches_checkout(podman, tag):
        # A cached layer kept an older wheel: build again without the layer cache.
        r = podman(*build_argv(tag, base.tag, no_cache=True), timeout=BUILD_TIMEOUT)
        log += "\n--- rebuilt without the layer cache ---\n" + r.stdout + r.stderr
        assert installed_matches_checkout(podman, tag), "the image does not hold this checkout"
    for old in podman.tags(IMAGE_REPO):
        if old != tag:
            podman("rmi", old, check=False)
    # Build-cache layers not used for three days.
    podman("image", "prune", "--force", "--filter", "until=72h", check=False, timeout=300)
    return Built(tag, podman.size(tag), time.monotonic() - t0, log)
