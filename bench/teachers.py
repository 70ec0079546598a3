"""Quality and speed of each teacher against human gold (WCXB dev).

For every page: the teacher labels the raw text, the executor runs the programs, and the
output is scored against ``gold_text`` with word-level bag-of-words precision/recall/F1
(micro-averaged; a dropped page keeps nothing), beside the raw text's own score. Prints one
table per teacher (overall and per page type) and documents/s (labeling only, and labeling
plus execution), then one JSON line per teacher.

Usage (DATA_DIR: bench/README.md, "Data for the benches"):
    python bench/teachers.py --data DATA_DIR [--teachers rules,diff] [--half all|a|b] [--limit N]

``--half a`` / ``b`` split the pages by a hash of their id (the rules were developed on ``a``
and on trafilatura's snippets; ``b`` is the check).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.datadir import default, jsonl_rows, require  # noqa: E402
from prox_tasks.cli.arguments import positive_int  # noqa: E402
from prox_tasks.evaluation import word_prf_per_group  # noqa: E402
from prox_tasks.labeling import get_teacher  # noqa: E402
from prox_tasks.programs import execute  # noqa: E402

WCXB = "wcxb/wcxb_dev.jsonl.gz"
TRAFILATURA = "trafilatura_eval/trafilatura_eval.jsonl.gz"


def half_of(doc_id: str) -> str:
    return "a" if hashlib.sha1(doc_id.encode()).digest()[0] % 2 == 0 else "b"


def load(path: str, half: str, limit: int | None) -> list[dict]:
    rows = []
    for row in jsonl_rows(path):
        if half != "all" and half_of(row["id"]) != half:
            continue
        rows.append(row)
        if limit and len(rows) >= limit:
            break
    return rows


def table(title: str, scores: dict, raw: dict) -> str:
    out = [title, f"{'page type':<14}{'docs':>6}{'kept':>6}{'P':>7}{'R':>7}{'F1':>7}   raw P/R/F1"]
    for group, s in scores.items():
        r = raw[group]
        out.append(
            f"{group:<14}{s['docs']:>6}{s['docs_kept']:>6}{s['precision']:>7.3f}{s['recall']:>7.3f}"
            f"{s['f1']:>7.3f}   {r['precision']:.3f}/{r['recall']:.3f}/{r['f1']:.3f}"
        )
    return "\n".join(out)


def run_teacher(name: str, rows: list[dict], repeats: int) -> dict:
    teacher = get_teacher(name)
    texts = [r["text"] for r in rows]
    golds = [r.get("gold_text") or "" for r in rows]
    label_times, cpu_times = [], []
    for _ in range(repeats):
        if hasattr(teacher, "reset_cache"):
            teacher.reset_cache()  # every run starts cold
        start, cpu = time.perf_counter(), time.process_time()
        labels = teacher.label_many(texts, golds if name == "diff" else None)
        label_times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu)
    start = time.perf_counter()
    refined = [execute(t, lab.doc_program, lab.chunk_program).text for t, lab in zip(texts, labels)]
    exec_time = time.perf_counter() - start
    label_s = statistics.median(label_times)
    types = [r.get("page_type", "unknown") for r in rows]
    return {
        "scores": word_prf_per_group(refined, golds, types),
        "docs_per_s_label": len(rows) / label_s,
        "docs_per_cpu_s_label": len(rows) / statistics.median(cpu_times),
        "docs_per_s_label_and_execute": len(rows) / (label_s + exec_time),
        "label_s_runs": label_times,
    }


def snippet_scores(path: str) -> dict:
    """Rules teacher on multilingual pages with annotated snippets: the share of must-keep
    snippets still in the output, and of must-remove snippets gone from it."""
    squash = lambda s: re.sub(r"\s+", " ", s).strip()  # noqa: E731
    teacher = get_teacher("rules")
    kept = keep_total = removed = remove_total = pages = 0
    for row in load(path, "all", None):
        pages += 1
        label = teacher.label(row["text"])
        raw = squash(row["text"])
        out = squash(execute(row["text"], label.doc_program, label.chunk_program).text or "")
        for s in map(squash, row.get("gold_with") or []):
            if s and s in raw:
                keep_total, kept = keep_total + 1, kept + (s in out)
        for s in map(squash, row.get("gold_without") or []):
            if s and s in raw:
                remove_total, removed = remove_total + 1, removed + (s not in out)
    return {"pages": pages, "must_keep_kept": round(kept / keep_total, 4),
            "must_remove_removed": round(removed / remove_total, 4)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=default(), metavar="DATA_DIR",
                    help="the public page collections (default $PROX_BENCH_DATA)")
    ap.add_argument("--input", help=f"pages with gold (default DATA_DIR/{WCXB})")
    ap.add_argument("--teachers", default="rules,diff",
                    help="comma-separated teachers scored (default rules,diff)")
    ap.add_argument("--half", choices=["all", "a", "b"], default="all",
                    help="one half of the pages, split by a hash of the id (default all)")
    ap.add_argument("--limit", type=positive_int, help="only the first N pages (default all)")
    ap.add_argument("--repeats", type=positive_int, default=3, help="timing runs (median reported)")
    ap.add_argument(
        "--snippets",
        default=None,
        help=f"pages with must-keep/must-remove snippets (default DATA_DIR/{TRAFILATURA}; '' to skip)",
    )
    args = ap.parse_args(argv)
    needed = [f for f, given in ((WCXB, args.input), (TRAFILATURA, args.snippets)) if given is None]
    if needed:
        folder = require(args.data, *needed)
        args.input = args.input or str(folder / WCXB)
        args.snippets = str(folder / TRAFILATURA) if args.snippets is None else args.snippets
    rows = load(args.input, args.half, args.limit)
    golds = [r.get("gold_text") or "" for r in rows]
    types = [r.get("page_type", "unknown") for r in rows]
    raw = word_prf_per_group([r["text"] for r in rows], golds, types)
    print(f"{len(rows)} pages from {args.input} (half={args.half})\n")
    summary = {"raw": {k: raw["all"][k] for k in ("precision", "recall", "f1")}}
    for name in args.teachers.split(","):
        result = run_teacher(name, rows, args.repeats)
        print(table(f"teacher={name}", result["scores"], raw))
        print(
            f"docs/s: label {result['docs_per_s_label']:.0f} wall, "
            f"{result['docs_per_cpu_s_label']:.0f} per CPU-second; label+execute "
            f"{result['docs_per_s_label_and_execute']:.0f} wall (median of {args.repeats})\n"
        )
        a = result["scores"]["all"]
        summary[name] = {
            "precision": round(a["precision"], 4), "recall": round(a["recall"], 4),
            "f1": round(a["f1"], 4), "docs": a["docs"], "docs_kept": a["docs_kept"],
            "docs_per_s": round(result["docs_per_s_label"], 1),
            "docs_per_cpu_s": round(result["docs_per_cpu_s_label"], 1),
        }  # fmt: skip
    if args.snippets and "rules" in args.teachers.split(","):
        summary["rules_trafilatura"] = snippet_scores(args.snippets)
        print("rules on trafilatura's snippets:", json.dumps(summary["rules_trafilatura"]))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
