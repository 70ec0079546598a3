"""Build a bench seed set: every document of DATA_DIR labeled by a teacher mix.

DATA_DIR holds the public page collections (bench/README.md, "Data for the benches").

Writes ``train.jsonl.gz`` (80%), ``validation.jsonl.gz`` (10%) and ``test.jsonl.gz`` (10%,
held out: never trained on, never used to pick a checkpoint; bench/train.py reports on it),
split by a hash of the document id (the same documents in every mix), and ``manifest.json``
(version = hash of the three files, counts per labeling teacher).

Mixes (``--teacher``):

- ``rules``: the rules teacher everywhere (the seed set of the earlier defaults).
- ``best``: per document the best label it has (``prox_tasks.labeling.best``): ``diff`` from
  the human gold (WCXB ``gold_text``) or the reference extraction (Readability's expected
  text), ``html`` for the WARC pages (HTML from the WARC files beside them) and, with
  ``--trafilatura-html``, for the trafilatura evaluation pages (no full gold), else ``rules``.
- ``diff``: only the documents with a clean text, diff-labeled (no rules labels at all).
- ``html``: no human gold at all: ``html`` where the page HTML is at hand (the WARC pages,
  and WCXB pages when ``--wcxb-html`` gives their HTML), else ``rules`` — what a crawl with
  its WARC files gets with no human and no LLM.

    python bench/seedset.py --data DATA_DIR --out bench/out/seed                 # rules
    python bench/seedset.py --data DATA_DIR --teacher best --out bench/out/seed-best
    python bench/seedset.py --data DATA_DIR --teacher html --out bench/out/seed-html \
        --wcxb-html /path/to/web-content-extraction-benchmark/dev/html
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

from bench.datadir import default, jsonl_rows, require, require_html  # noqa: E402
from prox_tasks.labeling import get_teacher  # noqa: E402
from prox_tasks.training.seedset import id_bucket  # noqa: E402

REFERENCE_FIELDS = ("gold_text", "readability_expected_text")  # a clean version of the page


def warc_html(data: str) -> dict:
    """{(url, date): [html, ...]} of every WARC response in the data folder."""
    from prox_tasks.labeling.warc import html_by_capture

    warcs = [p for p in glob.glob(os.path.join(data, "**/*.warc.gz"), recursive=True)
             if not p.endswith((".wet.gz", ".wat.gz"))]  # fmt: skip
    return html_by_capture(sorted(warcs))


def extras_of(row: dict, mode: str, captures: dict, wcxb_html: str | None,
              trafilatura_root: str | None = None) -> dict:
    """What the teacher mix may use for this row: its clean text and its HTML."""
    gold = next((row[f] for f in REFERENCE_FIELDS if row.get(f)), None)
    html = None
    key = (row.get("url"), row.get("warc_date"))
    if row.get("warc_date") and captures.get(key):
        html = captures[key].pop(0)
    elif wcxb_html and mode == "html" and str(row["id"]).startswith("wcxb-dev-"):
        html = page_html(row, os.path.join(wcxb_html, str(row["id"]).rsplit("-", 1)[-1] + ".html.gz"))
    elif trafilatura_root and mode in ("best", "html") and row.get("orig_file"):
        # tests/eval/… or tests/cache/… of the checkout
        html = page_html(row, os.path.join(trafilatura_root, row["orig_file"]))
    return {"gold": None if mode == "html" else gold, "html": html}


def page_html(row: dict, path: str) -> str | None:
    """The page's HTML file (gzipped or not) in the encoding its row records; None when absent."""
    if not os.path.exists(path):
        return None
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as fh:
        return fh.read().decode(row.get("html_encoding") or "utf-8", "replace")


def resplit(source: str, out: str, validation_percent: int) -> dict:
    """A built seed set with a larger validation split, without labeling again: training
    documents whose id bucket is below ``10 + validation_percent`` move to validation (kept
    first, in their order); test is untouched. Version: the source's + ``-valid<percent>``."""
    splits = {}
    for name in ("train", "validation", "test"):
        splits[name] = list(jsonl_rows(os.path.join(source, f"{name}.jsonl.gz")))
    moved = [d for d in splits["train"] if id_bucket(str(d["id"])) < 10 + validation_percent]
    splits["train"] = [d for d in splits["train"] if id_bucket(str(d["id"])) >= 10 + validation_percent]
    splits["validation"] = moved + splits["validation"]
    os.makedirs(out, exist_ok=True)
    for name, docs in splits.items():
        data = "".join(json.dumps(d, sort_keys=True) + "\n" for d in docs).encode()
        with open(os.path.join(out, f"{name}.jsonl.gz"), "wb") as fh:
            fh.write(gzip.compress(data, mtime=0))
    with open(os.path.join(source, "manifest.json")) as fh:
        manifest = json.load(fh)
    manifest["version"] += f"-valid{validation_percent}"
    manifest["docs"] = {k: len(v) for k, v in splits.items()}
    with open(os.path.join(out, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=2)
    return {"out": out, "version": manifest["version"], "docs": manifest["docs"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=default(), metavar="DATA_DIR",
                        help="the public page collections (bench/README.md, Data for the benches; default $PROX_BENCH_DATA)")
    parser.add_argument("--out", default="bench/out/seed",
                        help="seed set folder written (default bench/out/seed)")
    parser.add_argument("--teacher", choices=["rules", "best", "diff", "html"], default="rules",
                        help="the teacher that labels the pages (default rules)")
    parser.add_argument("--wcxb-html", default=None, help="WCXB dev/html folder (--teacher html)")
    parser.add_argument("--trafilatura-html", default=None,
                        help="a checkout of adbar/trafilatura at the commit bench/README.md names: the "
                        "trafilatura_eval pages' HTML (tests/eval, tests/cache) for the html "
                        "teacher (--teacher best or html)")
    parser.add_argument("--validation-percent", type=int, default=10,
                        help="share of documents (by id hash, after the fixed 10%% test split) "
                        "in validation, where the keep threshold is calibrated")
    parser.add_argument("--resplit-from", help="a built seed set to re-split with "
                        "--validation-percent instead of labeling again")
    args = parser.parse_args()
    if args.resplit_from:
        print(json.dumps(resplit(args.resplit_from, args.out, args.validation_percent)))
        return 0
    if not glob.glob(os.path.join(args.data, "**/*.jsonl.gz"), recursive=True):
        require(args.data, "wcxb/wcxb_dev.jsonl.gz")  # no collection at all: say what to get
    for option, folder in (("--wcxb-html", args.wcxb_html),
                           ("--trafilatura-html", args.trafilatura_html)):
        if folder:
            require_html(folder, option)
    rules = get_teacher("rules")
    teacher = rules if args.teacher == "rules" else get_teacher("best", fallback=rules)
    captures = warc_html(args.data) if args.teacher in ("best", "html") else {}
    splits: dict[str, list[dict]] = {"train": [], "validation": [], "test": []}
    by_teacher: dict[str, int] = {}
    start = time.perf_counter()
    for path in sorted(glob.glob(os.path.join(args.data, "**/*.jsonl.gz"), recursive=True)):
        for row in jsonl_rows(path):
            if not isinstance(row.get("text"), str) or not row["text"].strip():
                continue
            extras = extras_of(row, args.teacher, captures, args.wcxb_html, args.trafilatura_html)
            b = id_bucket(str(row["id"]))
            split = "test" if b < 10 else "validation" if b < 10 + args.validation_percent else "train"
            if args.teacher == "diff" and extras["gold"] is None and split != "test":
                continue
            label = teacher.label_rows([row["text"]], [extras])[0]
            labeled_by = label.meta.get("teacher", teacher.name)
            by_teacher[labeled_by] = by_teacher.get(labeled_by, 0) + 1
            doc = {"id": row["id"], "text": row["text"], "doc_program": label.doc_program,
                   "chunk_program": label.chunk_program, "gold_text": row.get("gold_text") or None,
                   "source": row.get("source"), "page_type": row.get("page_type"),
                   "teacher": labeled_by, "has_html": extras["html"] is not None}  # fmt: skip
            splits[split].append(doc)
    os.makedirs(args.out, exist_ok=True)
    digest = hashlib.sha256()
    for name, docs in splits.items():
        data = "".join(json.dumps(d, sort_keys=True) + "\n" for d in docs).encode()
        digest.update(data)
        with open(os.path.join(args.out, f"{name}.jsonl.gz"), "wb") as fh:
            fh.write(gzip.compress(data, mtime=0))
    prefix = "rules-1" if args.teacher == "rules" else args.teacher
    manifest = {"version": f"{prefix}-shared-data-{digest.hexdigest()[:12]}",
                "teacher": teacher.describe(), "by_teacher": by_teacher,
                "splits": {"train": "train.jsonl.gz", "validation": "validation.jsonl.gz"},
                "held_out": {"test": "test.jsonl.gz"},
                "docs": {k: len(v) for k, v in splits.items()}}  # fmt: skip
    with open(os.path.join(args.out, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=2)
    print(json.dumps({"out": args.out, "version": manifest["version"], "docs": manifest["docs"],
                      "by_teacher": by_teacher,
                      "label_seconds": round(time.perf_counter() - start, 1)}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
