"""The benches that measure another checkout's code when ``PYTHONPATH`` names it first
(bench/refine.py, bench/limits.py, bench/batch_memory.py: ``PYTHONPATH=<checkout before>
python bench/X.py``) still take their own bench helpers from this checkout: the other one's
``bench/`` is older and may lack them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_benches_start_with_an_older_checkout_first_on_pythonpath(tmp_path):
    other = tmp_path / "before"
    (other / "bench").mkdir(parents=True)
    (other / "prox_tasks").symlink_to(ROOT / "prox_tasks")  # the code measured
    (other / "bench" / "datadir.py").write_text("def find():\n    return None\n")  # older
    env = {**os.environ, "PYTHONPATH": str(other)}
    for script in ("refine.py", "limits.py", "batch_memory.py"):
        done = subprocess.run([sys.executable, str(ROOT / "bench" / script), "--help"],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
        assert done.returncode == 0 and "usage:" in done.stdout, (script, done.stderr[-2000:])
