"""bench/train_memory.py on a tiny seed set built by bench/seedset.py: one row per checkout,
also when no page it evaluates has gold (the rules-labeled pages of a seed set without gold,
or the first --max-eval-docs of one with it)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_train_memory_bench_prints_a_row_when_no_evaluated_page_has_gold(tmp_path):
    (tmp_path / "data" / "pages").mkdir(parents=True)
    lines = ["Home | About | Contact", "Subscribe to our newsletter"]
    with gzip.open(tmp_path / "data" / "pages" / "pages.jsonl.gz", "wt") as fh:
        for i in range(40):
            # prose with stop words, which the rules teacher keeps: prox train refuses a
            # seed set whose every page is dropped
            text = "\n".join([*lines, f"Article {i} says that the story of the town is one "
                              "to read, and the people have seen it with their own eyes.",
                              f"It goes on for another sentence about topic {i % 7}.", "© 2024"])
            fh.write(json.dumps({"id": f"p{i}", "text": text}) + "\n")
    seed = tmp_path / "seed"
    built = subprocess.run([sys.executable, str(ROOT / "bench" / "seedset.py"), "--data",
                            str(tmp_path / "data"), "--out", str(seed), "--teacher", "rules"],
                           capture_output=True, text=True, timeout=300, cwd=ROOT)  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "train_memory.py"), "--seed",
                           str(seed), "--pages", "60", "--max-eval-docs", "5", "--code", str(ROOT)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| 60 |")]
    assert len(rows) == 1 and "(none)" in rows[0], done.stdout
