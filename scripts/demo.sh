#!/usr/bin/env bash
# Sets up pyrr in .venv (Python packages only) and runs its main job on the embedded default:
# `pyrr demo`, a route reflector on loopback with simulated Calico nodes. Needs no root, except
# to install Debian's python3-venv when it is missing. Extra arguments go to `pyrr demo`.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
PY="${PYTHON:-python3}"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { echo "demo: pyrr needs Python 3.11 or newer ($PY is older)" >&2; exit 1; }
if [[ ! -x .venv/bin/python ]]; then
    if ! "$PY" -m venv .venv 2>/dev/null; then
        rm -rf .venv
        if [[ "$(id -u)" -eq 0 ]]; then
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
            "$PY" -m venv .venv
        else
            echo "demo: python3 -m venv failed; install it: sudo apt-get install python3-venv" >&2
            exit 1
        fi
    fi
fi
if ! .venv/bin/python -c 'import pyrr, structlog' 2>/dev/null; then
    .venv/bin/pip install -q --disable-pip-version-check -e .
fi
exec .venv/bin/pyrr demo "$@"
