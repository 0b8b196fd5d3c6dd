#!/usr/bin/env bash
# The project's single install step (README, scripts/test.sh and CI call it).
#
# Idempotent: on a machine where everything is already in place it does no apt or pip work
# and finishes in about a second. Safe to call from any directory.
#
#   - Debian packages the test lab needs (BIRD 2, FRR, GoBGP, etcd, iproute2 with tc, iptables
#     for the etcd partition faults, Python venv), and
#     what builds and runs the container image in the tests without Docker (podman with runc,
#     mmdebstrap for a Debian base image), and the readers of pyrr's monitoring output that the
#     tests check it with (pmacct's pmbmpd, a BMP station; bgpdump, for MRT files).
#   - BIRD 1.6 (what calico-node 3.x runs) unpacked beside BIRD 2 in $PYRR_BIRD16_DIR
#     (default /opt/bird16): Debian's `bird` package conflicts with `bird2`, so it is never
#     installed, only extracted.
#   - No daemon from those packages left running: a temporary policy-rc.d stops maintainer
#     scripts from starting services, and ports 179/2379 are checked afterwards.
#   - .venv in the repo root with `pip install -e '.[dev]'`.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIRD16_DIR="${PYRR_BIRD16_DIR:-/opt/bird16}"
VENV="$REPO_ROOT/.venv"
# Bump when the venv recipe below changes, so warm machines redo the pip step.
STAMP_VERSION=1

APT_PACKAGES=(
    python3-venv python3-dev iproute2 iptables bird2 frr gobgpd etcd-server etcd-client openssl
    procps systemd gcc libc6-dev podman runc mmdebstrap pmacct bgpdump
)

say() { printf 'setup: %s\n' "$*"; }
warn() { printf 'setup: WARNING: %s\n' "$*" >&2; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

is_root() { [[ "$(id -u)" -eq 0 ]]; }

pkg_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

APT_UPDATED=0
apt_update_once() {
    if [[ "$APT_UPDATED" -eq 0 ]]; then
        say "apt-get update"
        apt-get update -qq
        APT_UPDATED=1
    fi
}

# Maintainer scripts call invoke-rc.d / deb-systemd-invoke, which both honour policy-rc.d:
# exit code 101 means "don't start anything". Install one for the duration of apt work
# unless the machine already has one (Docker images usually do), and remove only our own.
OUR_POLICY_RC=""
block_service_starts() {
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\n# temporary, written by pyrr scripts/setup.sh\nexit 101\n' \
            >/usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        OUR_POLICY_RC=/usr/sbin/policy-rc.d
    fi
}
unblock_service_starts() {
    if [[ -n "$OUR_POLICY_RC" ]]; then
        rm -f "$OUR_POLICY_RC"
        OUR_POLICY_RC=""
    fi
}

TMP_DIRS=()
cleanup() {
    unblock_service_starts
    local d
    for d in "${TMP_DIRS[@]+"${TMP_DIRS[@]}"}"; do
        rm -rf "$d"
    done
}
trap cleanup EXIT

install_apt_packages() {
    local missing=() p
    for p in "${APT_PACKAGES[@]}"; do
        pkg_installed "$p" || missing+=("$p")
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        say "Debian packages: all present"
        return
    fi
    if ! is_root; then
        warn "not root: cannot install missing Debian packages: ${missing[*]}"
        return
    fi
    say "installing Debian packages: ${missing[*]}"
    block_service_starts
    apt_update_once
    # Only the missing ones: naming an installed package would upgrade it (and whatever it
    # pulls in) as a side effect.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Use-Pty=0 "${missing[@]}"
    unblock_service_starts
}

bird16_ok() {
    [[ -x "$BIRD16_DIR/usr/sbin/bird" && -x "$BIRD16_DIR/usr/sbin/bird6" \
        && -x "$BIRD16_DIR/usr/sbin/birdc" ]] \
        && "$BIRD16_DIR/usr/sbin/bird" --version 2>&1 | grep -q 'BIRD version 1\.6'
}

install_bird16() {
    if bird16_ok; then
        say "BIRD 1.6: present in $BIRD16_DIR"
        return
    fi
    if ! is_root && [[ ! -w "$(dirname "$BIRD16_DIR")" ]]; then
        warn "not root: cannot unpack BIRD 1.6 into $BIRD16_DIR (set PYRR_BIRD16_DIR)"
        return
    fi
    say "BIRD 1.6: unpacking Debian's bird package into $BIRD16_DIR"
    local tmp deb
    tmp="$(mktemp -d)"
    TMP_DIRS+=("$tmp")
    # apt's download sandbox user (_apt) must be able to write here, or apt warns.
    chmod 0777 "$tmp"
    # `apt-get download` needs package lists; a fresh machine may have none yet.
    if ! (cd "$tmp" && apt-get download -q bird >/dev/null 2>&1); then
        is_root || die "apt-get download bird failed (and not root, so cannot apt-get update)"
        apt_update_once
        (cd "$tmp" && apt-get download -q bird >/dev/null)
    fi
    deb="$(ls "$tmp"/bird_*.deb)"
    # Extract beside the final place and rename, so an interrupted run never leaves a
    # half-filled $BIRD16_DIR that bird16_ok would have to second-guess.
    rm -rf "$BIRD16_DIR.new"
    mkdir -p "$BIRD16_DIR.new"
    dpkg-deb -x "$deb" "$BIRD16_DIR.new"
    rm -rf "$BIRD16_DIR"
    mv "$BIRD16_DIR.new" "$BIRD16_DIR"
    bird16_ok || die "BIRD 1.6 in $BIRD16_DIR does not run: $("$BIRD16_DIR/usr/sbin/bird" --version 2>&1 || true)"
    say "BIRD 1.6: $("$BIRD16_DIR/usr/sbin/bird" --version 2>&1)"
}

# Packages may have started their daemons before we got here (a machine without policy-rc.d
# where they were installed earlier, or an admin's own services). The lab runs its daemons
# inside network namespaces, so a host listener does not break the tests, but it is worth
# knowing about. Never stop or kill anything here: it may not be ours.
check_ports() {
    command -v ss >/dev/null 2>&1 || return 0
    local port lines
    for port in 179 2379; do
        lines="$(ss -Hltnp "sport = :$port" 2>/dev/null || true)"
        if [[ -n "$lines" ]]; then
            warn "something already listens on TCP port $port in the root namespace (not started by us; left alone):"
            printf '    %s\n' "$lines" >&2
        fi
    done
}

setup_venv() {
    local stamp="$VENV/.pyrr-setup-stamp" want
    want="$STAMP_VERSION $(sha256sum "$REPO_ROOT/pyproject.toml" | cut -d' ' -f1)"
    if [[ ! -x "$VENV/bin/python" ]]; then
        command -v python3 >/dev/null 2>&1 || die "python3 not found on PATH"
        python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
            || die "python3 on PATH is older than 3.11: $(python3 --version 2>&1)"
        say "creating $VENV with $(command -v python3) ($(python3 --version 2>&1))"
        python3 -m venv "$VENV"
    fi
    # Skip pip when pyproject.toml hasn't changed since the last successful install and the
    # package still imports: a warm machine then does no network work at all.
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
        && "$VENV/bin/python" -c 'import pyrr, pytest' >/dev/null 2>&1; then
        say "venv: up to date"
        return
    fi
    say "venv: pip install -e '.[dev]'"
    # The build backend prints pages of deprecation warnings even on success: keep pip's
    # output in a file and show it only when the install fails.
    local log
    log="$(mktemp)"
    TMP_DIRS+=("$log")
    if ! "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
        -e "$REPO_ROOT[dev]" >"$log" 2>&1; then
        cat "$log" >&2
        die "pip install -e '.[dev]' failed"
    fi
    printf '%s\n' "$want" >"$stamp"
}

main() {
    is_root || warn "not root: skipping apt steps; lab tests (network namespaces) need root"
    install_apt_packages
    install_bird16
    check_ports
    setup_venv
    say "done"
}

main "$@"
