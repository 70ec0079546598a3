"""Peak memory and time of the snapshot-wide duplicate-id search, at web scale.

The plan's search (``corpus.duplicates.index_duplicates``) over ``--docs`` synthetic
documents (a cheap reader stands in for ``planner.read_snapshot``: ids ``doc-<n>``, 10,000
documents a shard, 100,000 a source file, every 1,000th document a copy of an earlier id),
or the gate's (``quality.documents.IdDigests.written_before``) with ``--stage gate``. Each
size runs in a process of its own, which prints its peak RSS (``ru_maxrss``), the RSS
before the search (the interpreter and numpy), the seconds, and a digest of what it wrote
(the same digest: the same duplicates, rows and order). Another checkout's code side by
side, alternating, medians of ``--repeats``::

    git -C . archive <before> | tar -x -C /tmp/dup-before
    python bench/duplicates.py --docs 1000000 5000000 10000000 --compare /tmp/dup-before \
        --budget-mb 64 --repeats 3

``--budget-mb`` runs this checkout (and ``--compare``'s) again with ``PROX_ID_SEARCH_MB`` at
each value (the default, 512 MiB, holds ~9 million documents of the plan in memory: past
them they are spilled).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
SHARD_DOCS, SOURCE_DOCS, EVERY = 10_000, 100_000, 1_000


def synthetic_snapshot(docs: int):
    """``(shard, document)`` as ``read_snapshot`` yields them: every ``EVERY``-th document
    repeats the id of the one half its position away (ids repeated across shards)."""
    doc = SimpleNamespace(id="", source="", offset=0, text="one line\nanother")
    for n in range(docs):
        doc.id = f"doc-{n // 2 if n % EVERY == EVERY - 1 else n}"
        doc.source = f"file:///crawl/part-{n // SOURCE_DOCS:05d}.jsonl.gz"
        doc.offset = n % SOURCE_DOCS
        yield n // SHARD_DOCS, doc


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(docs: int, stage: str) -> dict:
    """One search in this process: its figures and a digest of its result."""
    import numpy  # noqa: F401  (imported before the baseline RSS: both searches use it)

    from prox_tasks.corpus import planner

    before = _rss_mb()
    with tempfile.TemporaryDirectory(prefix="prox-bench-dup-") as out:
        start = time.perf_counter()
        if stage == "plan":
            from prox_tasks.corpus.duplicates import index_duplicates

            planner.read_snapshot = lambda manifest, quarantine=None: synthetic_snapshot(docs)
            manifest = SimpleNamespace(id="bench", output_uri=out)
            index = index_duplicates(manifest)
            seconds = time.perf_counter() - start
            digest = hashlib.sha256(json.dumps(index, sort_keys=True).encode())
            for path in sorted(Path(out, "_duplicate_ids").iterdir()):
                digest.update(path.read_bytes())
            found = index["occurrences"]
        else:
            from prox_tasks.quality.documents import IdDigests

            ids, shard = IdDigests(), []
            last = 0
            for index, doc in synthetic_snapshot(docs):
                if index != last:
                    ids.add_shard(last, shard)
                    shard, last = [], index
                shard.append(doc.id)
            ids.add_shard(last, shard)
            repeats = ids.written_before()
            seconds = time.perf_counter() - start
            digest = hashlib.sha256(json.dumps(repeats).encode())
            found = len(repeats)
    return {
        "docs": docs,
        "seconds": round(seconds, 2),
        "rss_before_mb": round(before, 1),
        "peak_rss_mb": round(_rss_mb(), 1),
        "found": found,
        "result": digest.hexdigest()[:16],
    }


def run_child(tree: Path, docs: int, stage: str, budget_mb: int | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    if budget_mb:
        env["PROX_ID_SEARCH_MB"] = str(budget_mb)
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(docs), "--stage", stage],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--docs",
        type=int,
        nargs="+",
        default=[1_000_000, 5_000_000, 10_000_000],
        help="snapshot sizes in documents, each searched in a process of its own "
        "(default 1M 5M 10M)",
    )
    parser.add_argument(
        "--stage",
        choices=("plan", "gate"),
        default="plan",
        help="the plan's duplicate-id list or the gate's repeated-id check (default plan)",
    )
    parser.add_argument("--compare", type=Path, help="another checkout, run alternately")
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="runs of each tree and size, alternating; medians printed (default 1)",
    )
    parser.add_argument(
        "--budget-mb",
        type=int,
        nargs="*",
        default=[],
        help="this tree (and --compare's) again with PROX_ID_SEARCH_MB at each of these",
    )
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.stage)))
        return
    trees = {"this": (ROOT, None)}
    trees.update({f"this, {mb} MiB": (ROOT, mb) for mb in args.budget_mb})
    if args.compare:
        trees["compare"] = (args.compare.resolve(), None)
        # the same budgets for the other tree: a peak is compared with its budget's
        trees.update({f"compare, {mb} MiB": (args.compare.resolve(), mb) for mb in args.budget_mb})
    print(f"{args.stage}: " + ", ".join(f"{name} = {tree}" for name, (tree, _) in trees.items()))
    print(
        "| tree | docs | s (median) | peak RSS MB (median) | RSS before MB | bytes a doc "
        "over it | found | result |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for docs in args.docs:
        runs = {name: [] for name in trees}
        for _ in range(args.repeats):
            for name, (tree, budget_mb) in trees.items():
                runs[name].append(run_child(tree, docs, args.stage, budget_mb))
        for name, rows in runs.items():
            peak = statistics.median(r["peak_rss_mb"] for r in rows)
            before = statistics.median(r["rss_before_mb"] for r in rows)
            print(
                f"| {name} | {docs:,} | {statistics.median(r['seconds'] for r in rows):.1f}"
                f" | {peak:.0f} | {before:.0f} | {(peak - before) * 2**20 / docs:.0f}"
                f" | {rows[0]['found']:,} | {', '.join(sorted({r['result'] for r in rows}))} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
