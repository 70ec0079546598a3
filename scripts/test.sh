#!/usr/bin/env bash
# Set up .venv/ and run lint and the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
ruff check .
# pytest exits 5 when it collects no test: with `set -e` that fails the run, as it must.
# pytest-xdist: PROX_TEST_WORKERS processes (2: this project's 2-core CI; 0 runs in this one);
# tests/xdist_groups.py keeps the tests that start a vLLM engine on one worker.
python -m pytest -n "${PROX_TEST_WORKERS:-2}" "$@"
