"""The benches read JSONL (DATA_DIR's collections, bench seed sets, the bundled sample, their
own corpora) with prox's one JSONL reader for rows (prox_tasks.corpus.read_rows, through
bench/datadir.jsonl_rows), not with a decoder of their own: the same rows, and a damaged
line named by its file and record."""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_damaged_line_in_the_data_is_named_by_its_file_and_record(tmp_path):
    (tmp_path / "wcxb").mkdir()
    with gzip.open(tmp_path / "wcxb" / "wcxb_dev.jsonl.gz", "wt") as fh:
        fh.write('{"id": "p0", "text": "Menu\\nBody", "gold_text": "Body"}\n{"id": broken\n')
    env = {k: v for k, v in os.environ.items() if k != "PROX_BENCH_DATA"}
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "executor.py"), "--data",
                           str(tmp_path), "--skip-parse", "--repeats", "1"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert done.returncode == 1
    assert f"{tmp_path / 'wcxb' / 'wcxb_dev.jsonl.gz'} record 1: malformed_json" in done.stderr


def test_no_bench_decodes_jsonl_lines_itself():
    decoding = re.compile(r"json\.loads\((line|raw|rows\[)|map\(json\.loads")
    own = [p.name for p in sorted((ROOT / "bench").glob("*.py"))
           if decoding.search(p.read_text(encoding="utf-8"))]
    assert own == []
