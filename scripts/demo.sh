#!/usr/bin/env bash
# The main job: set up .venv/ and run the pipeline on the bundled sample with the embedded
# defaults. Output goes under runs/demo/ (PROX_HOME overrides runs/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
export PROX_HOME="${PROX_HOME:-$PWD/runs}"
OUT="$PROX_HOME/demo"
mkdir -p "$OUT"
python scripts/stored_programs.py data/sample/sample.jsonl.gz "$OUT/with_programs.jsonl.gz"
prox execute --input "$OUT/with_programs.jsonl.gz" --output "$OUT/refined.jsonl.gz"
echo "refined corpus: $OUT/refined.jsonl.gz"
