"""Build the bundled sample (data/sample/) from the benches' DATA_DIR, deterministically.

Run once by maintainers: ``python scripts/make_sample.py [--shared DATA_DIR]`` (DATA_DIR:
bench/README.md, "Data for the benches"; default ../shared/data, the developers' copy).
Picks a few hundred real pages, stratified by source and (for WCXB) page type, by a hash of
their id, so the same inputs always give the same sample.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
from collections import defaultdict
from pathlib import Path

# (file under shared/data, how many documents, stratify field or None)
PICKS = [
    ("wcxb/wcxb_dev.jsonl.gz", 161, "page_type"),
    ("trafilatura_eval/trafilatura_eval.jsonl.gz", 60, None),
    ("dolma_cc/dolma_cc_main_2019_30_extracted.jsonl.gz", 40, None),
    ("dclm_annotations/dclm_quality_annotations.jsonl.gz", 20, None),
    ("c4_samples/c4_samples.jsonl.gz", 10, None),
    ("commoncrawl_warc/cc_warc_pages_text.jsonl.gz", 9, None),
]
KEEP_FIELDS = ("id", "text", "source", "url", "gold_text", "gold_with", "gold_without",
               "page_type", "label_majority")  # fmt: skip


def _rank(doc_id: str) -> str:
    return hashlib.sha256(doc_id.encode()).hexdigest()


def pick(rows: list[dict], n: int, stratify: str | None) -> list[dict]:
    if stratify is None:
        return sorted(rows, key=lambda r: _rank(r["id"]))[:n]
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        if stratify == "page_type" and not row.get("gold_text"):
            continue  # keep pages whose gold exists
        groups[row.get(stratify) or "?"].append(row)
    for group in groups.values():
        group.sort(key=lambda r: _rank(r["id"]))
    out: list[dict] = []
    while len(out) < n and any(groups.values()):
        for key in sorted(groups):
            if groups[key] and len(out) < n:
                out.append(groups[key].pop(0))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", default="../shared/data",
                        help="the public page collections the sample is drawn from")
    parser.add_argument("--output", default="data/sample/sample.jsonl.gz",
                        help="the sample written (default data/sample/sample.jsonl.gz)")
    args = parser.parse_args()
    picked: list[dict] = []
    for rel, n, stratify in PICKS:
        with gzip.open(Path(args.shared) / rel, "rt", encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh]
        picked += pick(rows, n, stratify)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    # mtime=0: the same sample gives byte-identical files
    with gzip.GzipFile(args.output, "wb", mtime=0) as raw:
        for row in picked:
            out = {k: row[k] for k in KEEP_FIELDS if k == "text" or row.get(k) not in (None, "", [])}
            raw.write((json.dumps(out, ensure_ascii=False) + "\n").encode("utf-8"))
    print(f"wrote {len(picked)} documents to {args.output}")


if __name__ == "__main__":
    main()
