"""Benchmark: documents per second of parse + execute on one core.

Documents: the real pages of ``wcxb_dev.jsonl.gz``; programs derived from their gold (every
line whose text is absent from ``gold_text`` is removed, consecutive lines as one
``remove_lines`` range). Beside prox's strict parser, a reference executor in the style of the
ProX paper's released one (split each call on commas, ``int()`` the pieces) runs the same
programs in the same process, so the ratio is measured side by side.

Usage: ``python bench/executor.py [--data PATH] [--repeats 5] [--limit N]``
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import time
from pathlib import Path

from prox_tasks.programs import execute

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/data/wcxb/wcxb_dev.jsonl.gz"


def gold_program(text: str, gold: str) -> str:
    gold_norm = " ".join(gold.split())
    ranges: list[list[int]] = []
    for i, line in enumerate(text.split("\n")):
        norm = " ".join(line.split())
        if norm and norm in gold_norm:
            continue
        if ranges and ranges[-1][1] == i - 1:
            ranges[-1][1] = i
        else:
            ranges.append([i, i])
    return "\n".join(f"remove_lines(line_start={a}, line_end={b})" for a, b in ranges)


def comma_split_reference(text: str, program: str) -> str:
    """A ProX-style executor: split calls on commas (wrong for strings with commas)."""
    lines = text.split("\n")
    removed = set()
    for call in program.split("\n"):
        if call.startswith("remove_lines("):
            a, b = call[len("remove_lines(") : -1].split(",")
            start, end = int(a.split("=")[-1]), int(b.split("=")[-1])
            removed.update(range(start, end + 1))
    return "\n".join(line for i, line in enumerate(lines) if i not in removed)


def timed(fn, docs) -> float:
    start = time.perf_counter()
    for text, program in docs:
        fn(text, program)
    return len(docs) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    docs = []
    with gzip.open(args.data, "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if row.get("gold_text"):
                docs.append((row["text"], gold_program(row["text"], row["gold_text"])))
    if args.limit:
        docs = docs[: args.limit]
    n_lines = statistics.mean(len(t.split("\n")) for t, _ in docs)
    n_calls = statistics.mean(p.count("\n") + 1 if p else 0 for _, p in docs)
    print(f"{len(docs)} documents, {n_lines:.0f} lines and {n_calls:.1f} calls on average")
    strict, reference = [], []
    for _ in range(args.repeats):  # interleaved, so both see the same machine noise
        strict.append(timed(lambda t, p: execute(t, "keep_doc()", p), docs))
        reference.append(timed(comma_split_reference, docs))
    s, r = statistics.median(strict), statistics.median(reference)
    print(f"prox strict parse + execute : {s:10,.0f} docs/s (median of {args.repeats})")
    print(f"comma-split reference       : {r:10,.0f} docs/s")
    print(f"ratio strict / reference    : {s / r:10.2f}x")
    print(json.dumps({"docs": len(docs), "strict_docs_per_s": round(s),
                      "reference_docs_per_s": round(r), "target_docs_per_s": 10000}))  # fmt: skip


if __name__ == "__main__":
    main()
