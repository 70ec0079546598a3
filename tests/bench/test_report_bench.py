"""bench/report.py builds its snapshots, renders the report's pages over them and prints
their times, from a fresh checkout (no report roots configured)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_report_bench_renders_every_page_of_the_snapshots_it_builds(tmp_path):
    # the report's roots are what the bench sets, not this environment's
    env = {k: v for k, v in os.environ.items() if k not in ("PROX_REPORT_ROOTS", "PROX_CORPUS_ROOT")}
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "report.py"), "--snapshots", "2",
                          "--docs", "8", "--repeats", "1", "--keep", str(tmp_path / "rb")],
                         capture_output=True, text=True, timeout=300, cwd=ROOT,
                         env={**env, "PROX_HOME": str(tmp_path / "home")})  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(results) == {"overview (page 1)", "overview (page 5)", "snapshot page",
                            "document viewer"}
    assert all(r["median_ms"] > 0 for r in results.values()), results
