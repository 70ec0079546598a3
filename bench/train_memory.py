"""Peak RSS of ``prox train`` on a replicated seed set, for one or more checkouts side by side.

A built bench seed set (``bench/seedset.py``; its train and validation files) is replicated
with new ids into one JSONL.gz of ``--pages`` rows, split by ``--valid-percent``. Then, for
each ``--code`` folder (a checkout of prox: e.g. a ``git worktree`` of an earlier commit and
this tree), one after another: ``nice -n 19 /usr/bin/time -v python -m prox_tasks.cli train
--epochs 1 --threads 1 --no-promote --no-gold-gate --valid-percent P`` (plus ``--max-eval-docs``
when given). Figures: peak RSS (MiB), wall seconds, the artifact version, the SHA-256 of
``model.safetensors``, the calibrated threshold, and whether the metrics and the calibration
equal the first checkout's (timings left out).

Usage: ``python bench/train_memory.py --seed bench/out/seed-best --pages 12000 24000
--code /tmp/before .``
"""

from __future__ import annotations

import argparse
import glob
import gzip
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.datadir import jsonl_rows, seed_file  # noqa: E402

TIMINGS = ("predict_seconds", "docs_per_s")


def replicate(seed: str, pages: int, out: Path) -> Path:
    """``pages`` rows of ``seed``'s train and validation files, copies with new ids."""
    rows = [row for split in ("train", "validation") for row in jsonl_rows(seed_file(seed, split))]
    with gzip.open(out, "wt", encoding="utf-8", compresslevel=1) as fh:
        for k in range(pages):
            row = rows[k % len(rows)]
            fh.write(json.dumps({**row, "id": f"{row['id']}-r{k // len(rows)}"}) + "\n")
    return out


def train(code: str, seed: Path, work: Path, valid_percent: int, max_eval_docs: int | None) -> dict:
    """One ``prox train`` run of checkout ``code`` under ``/usr/bin/time -v``."""
    work.mkdir(parents=True)
    command = ["nice", "-n", "19", "/usr/bin/time", "-v", "python", "-m", "prox_tasks.cli",
               "train", "--seed", str(seed), "--output", str(work / "registry"), "--epochs", "1",
               "--threads", "1", "--no-promote", "--no-gold-gate", "--valid-percent",
               str(valid_percent), "--work-dir", str(work / "work"), "--json", "--no-progress"]
    if max_eval_docs:
        command += ["--max-eval-docs", str(max_eval_docs)]
    env = {**os.environ, "PYTHONPATH": os.path.abspath(code), "PROX_HOME": str(work / "home")}
    done = subprocess.run(command, cwd=code, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{code}: prox train failed ({done.returncode}):\n{done.stderr[-3000:]}")
    out = json.loads(done.stdout)
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)[1])
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", done.stderr)[1]
    seconds = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall.split(":"))))
    weights = glob.glob(str(work / "registry" / "**" / "model.safetensors"), recursive=True)[0]
    return {"rss_mib": rss / 1024, "seconds": seconds, "version": out["version"],
            "sha256": hashlib.sha256(Path(weights).read_bytes()).hexdigest(),
            "metrics": {k: v for k, v in out["metrics"].items() if k not in TIMINGS},
            "calibration": out["train"].get("calibration"),
            "valid": out["metrics"]["docs"], "gold": out["metrics"].get("gold_docs")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", required=True, help="a bench seed set folder (bench/seedset.py)")
    parser.add_argument("--pages", type=int, nargs="+", default=[12_000],
                        help="rows of the replicated seed set, a row of the table each "
                        "(default 12000)")
    parser.add_argument("--code", nargs="+", default=["."], help="checkouts of prox to compare")
    parser.add_argument("--valid-percent", type=int, default=20,
                        help="prox train --valid-percent (default 20)")
    parser.add_argument("--max-eval-docs", type=int,
                        help="prox train --max-eval-docs (default: prox train's)")
    args = parser.parse_args()
    for split in ("train", "validation"):
        seed_file(args.seed, split)  # before the table's header
    print("| pages | checkout | validation (gold) | peak RSS MiB | wall s | version | "
          "model.safetensors | threshold | metrics, calibration as the first |")
    print("|---:|---|---:|---:|---:|---|---|---:|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for pages in args.pages:
            seed = replicate(args.seed, pages, Path(tmp) / f"seed-{pages}.jsonl.gz")
            first = None
            for i, code in enumerate(args.code):
                run = train(code, seed, Path(tmp) / f"run-{pages}-{i}", args.valid_percent,
                            args.max_eval_docs)  # fmt: skip
                first = first or run
                same = (run["metrics"], run["calibration"]) == \
                    (first["metrics"], first["calibration"])
                threshold = (run["calibration"] or {}).get("threshold")
                # no gold page among those evaluated (the first --max-eval-docs): none counted
                gold = "none" if run["gold"] is None else f"{run['gold']:,}"
                print(f"| {pages:,} | {code} | {run['valid']:,} ({gold}) | "
                      f"{run['rss_mib']:.0f} | {run['seconds']:.0f} | {run['version']} | "
                      f"`{run['sha256'][:12]}` | {threshold} | {'yes' if same else 'NO'} |",
                      flush=True)


if __name__ == "__main__":
    main()
