"""Write the evaluation set with human gold that ships with the package (promotion on gold).

The pages: WCXB dev pages (CC-BY-4.0) with a gold main text whose id falls in the bench
seed sets' held-out ``test`` bucket (bench/seedset.py), so no shipped model trained on them.
Rows: ``id, url, page_type, text, gold_text``. The version is a hash of the rows; it is
recorded in every promotion decision.

    python bench/goldset.py --data DATA_DIR   # bench/README.md, "Data for the benches"
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from bench.datadir import default, jsonl_rows, require  # noqa: E402
from prox_tasks.evaluation.goldset import GOLD_DIR, GOLD_FILE  # noqa: E402
from prox_tasks.training.seedset import id_bucket  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=default(), metavar="DATA_DIR",
                        help="the public page collections (bench/README.md, Data for the benches; default $PROX_BENCH_DATA)")
    args = parser.parse_args()
    require(args.data, "wcxb/wcxb_dev.jsonl.gz")  # before the shipped file is touched
    rows = []
    for row in jsonl_rows(os.path.join(args.data, "wcxb", "wcxb_dev.jsonl.gz")):
        if row.get("gold_text") and id_bucket(str(row["id"])) < 10:
            rows.append({k: row.get(k) for k in ("id", "url", "page_type", "text", "gold_text")})
    rows.sort(key=lambda r: r["id"])
    data = "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in rows).encode()
    with open(GOLD_DIR / GOLD_FILE, "wb") as fh:
        fh.write(gzip.compress(data, mtime=0))
    print(json.dumps({"file": str(GOLD_DIR / GOLD_FILE), "docs": len(rows),
                      "sha256_12": hashlib.sha256(data).hexdigest()[:12],
                      "bytes": (GOLD_DIR / GOLD_FILE).stat().st_size}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
