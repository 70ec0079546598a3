#!/usr/bin/env bash
# The main job: set up .venv/ and run the whole life cycle on the bundled sample with the
# embedded defaults, through the real Airflow DAGs (dag.test() on a SQLite metadata DB):
# seed labeling -> refiner training -> sharded refinement -> quality gate -> release.
# Everything goes under runs/ (PROX_HOME overrides it). Extra arguments go to main_job.py.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
export PROX_HOME="${PROX_HOME:-$PWD/runs}"
exec python scripts/main_job.py "$@"
