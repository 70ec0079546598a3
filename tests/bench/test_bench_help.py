"""Every bench starts as bench/README.md runs it from a fresh checkout: ``python bench/X.py``
with the virtual environment active and nothing on ``PYTHONPATH``, from any folder (each
script puts its checkout on ``sys.path`` itself)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HELPERS = {"datadir.py", "moto_s3.py"}  # imported by the benches, not run


def test_every_bench_prints_its_help_without_pythonpath(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    failed = {}
    for script in sorted((ROOT / "bench").glob("*.py")):
        if script.name in HELPERS:
            continue
        done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True,
                              text=True, timeout=120, cwd=tmp_path, env=env)  # fmt: skip
        if done.returncode != 0 or "usage:" not in done.stdout:
            failed[script.name] = done.stderr.strip().splitlines()[-1:]
    assert failed == {}
