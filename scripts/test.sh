#!/usr/bin/env bash
# Set up .venv/ and run lint and the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
ruff check .
# pytest exits 5 when it collects no test: with `set -e` that fails the run, as it must.
python -m pytest "$@"
