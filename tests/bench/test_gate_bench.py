"""bench/gate.py runs end to end on a small snapshot and prints its figures."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gate_bench_prints_a_row_per_size_and_the_slope(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "gate.py"), "--docs", "400",
                          "--shard-docs", "100", "--keep", str(tmp_path)],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith("| ") and "True" in line]
    assert len(rows) == 2, out.stdout  # both sizes gated, and passed
    assert "memory per document (slope)" in out.stdout
    assert (tmp_path / "docs-400" / "snapshot" / "_quality" / "gate.json").exists()
