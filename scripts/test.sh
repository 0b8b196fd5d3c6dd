#!/usr/bin/env bash
# The project's test command (README; .ci/run calls it): install/refresh what the tests
# need via scripts/setup.sh, then run pytest from the repo root with the given arguments.
#   bash scripts/test.sh                 # everything (lab tests need root)
#   bash scripts/test.sh -m 'not lab'    # no network namespaces / daemons
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
