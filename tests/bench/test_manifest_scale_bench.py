"""bench/manifest_scale.py --only cli on a tiny plan: its table's cells are bare numbers in
the units their header names (a cell read '0.006 / 0.037 ms' under 's before / s after')."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_cli_table_names_each_unit_once_in_its_header():
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "manifest_scale.py"), "--only",
                           "cli", "--shards", "10", "--repeats", "1", "--no-s3"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    header = next(line for line in done.stdout.splitlines() if line.startswith("| shards"))
    assert "plan read s before / a shard's part ms after" in header
    assert "peak MB before / a shard's part KB after" in header
    row = next(line for line in done.stdout.splitlines() if line.startswith("| 10 |"))
    assert not re.search(r"\d (ms|KB) \|", row), row
