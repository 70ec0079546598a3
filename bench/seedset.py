"""Build the bench seed set: every document of ../shared/data labeled by the rules teacher.

Writes ``train.jsonl.gz`` (80%), ``validation.jsonl.gz`` (10%) and ``test.jsonl.gz`` (10%,
held out: never trained on, never used to pick a checkpoint; bench/train.py reports on it),
split by a hash of the document id, and ``manifest.json`` (version = hash of the three files).

    python bench/seedset.py --data ../shared/data --out bench/out/seed
"""

from __future__ import annotations

import argparse
import glob
import gzip
import hashlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from prox_tasks.labeling import get_teacher  # noqa: E402
from prox_tasks.training.seedset import id_bucket  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "../../shared/data"))
    parser.add_argument("--out", default="bench/out/seed")
    args = parser.parse_args()
    teacher = get_teacher("rules")
    splits: dict[str, list[dict]] = {"train": [], "validation": [], "test": []}
    start = time.perf_counter()
    for path in sorted(glob.glob(os.path.join(args.data, "**/*.jsonl.gz"), recursive=True)):
        for line in gzip.open(path, "rt", encoding="utf-8"):
            row = json.loads(line)
            label = teacher.label(row["text"])
            doc = {"id": row["id"], "text": row["text"], "doc_program": label.doc_program,
                   "chunk_program": label.chunk_program, "gold_text": row.get("gold_text") or None,
                   "source": row.get("source"), "page_type": row.get("page_type")}  # fmt: skip
            b = id_bucket(str(row["id"]))
            splits["test" if b < 10 else "validation" if b < 20 else "train"].append(doc)
    os.makedirs(args.out, exist_ok=True)
    digest = hashlib.sha256()
    for name, docs in splits.items():
        data = "".join(json.dumps(d, sort_keys=True) + "\n" for d in docs).encode()
        digest.update(data)
        with open(os.path.join(args.out, f"{name}.jsonl.gz"), "wb") as fh:
            fh.write(gzip.compress(data, mtime=0))
    manifest = {"version": f"rules-1-shared-data-{digest.hexdigest()[:12]}",
                "teacher": teacher.describe(),
                "splits": {"train": "train.jsonl.gz", "validation": "validation.jsonl.gz"},
                "held_out": {"test": "test.jsonl.gz"},
                "docs": {k: len(v) for k, v in splits.items()}}  # fmt: skip
    with open(os.path.join(args.out, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=2)
    print(json.dumps({"out": args.out, "version": manifest["version"], "docs": manifest["docs"],
                      "label_seconds": round(time.perf_counter() - start, 1)}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
