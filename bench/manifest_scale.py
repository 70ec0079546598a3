"""Refine DAG at web scale: what the plan, each refine task and collect read and hold.

A snapshot of S shards (10,000 documents each, 10 shards per input file) is planned into
``max_map_length`` work items (1,024, Airflow's default cap). For each S, on local disk and
on S3 (moto's ``ThreadedMotoServer`` over HTTP on 127.0.0.1), side by side in one run:

- plan: writing ``manifest.json`` (before) and also one part per work item (after);
- one refine task's read of its plan: the whole manifest (``load_manifest``, before) or its
  part (``load_plan``, after); bytes read by all tasks of a run;
- the work items' XCom bytes; collect: the refine tasks' XCom bytes and its aggregation.

And ``prox refine --workers N`` (``--cli-workers``): what a worker process read of the plan
before (the whole manifest, once per worker: ``load_manifest``) and what it is handed now
(each shard's part, ``Manifest.part``, pickled with the shard's task), and what making
those parts costs the calling process.

And ``prox refine``'s own collection of its shards' results (``--only results``): the
results of every shard held until the last one ended (before) or folded into
:class:`~prox_tasks.refine.stats.RunResults` as each ends (after); the work sent to the
workers, every shard's task submitted at once (before) or two a worker (after); and finding
the published shards among the planned ones (a list's ``in``, before; a set, after).

Time is the median of ``--repeats`` runs; peak memory is tracemalloc's (Python allocations)
over one more run. The manifest is built the real way (``Manifest`` of ``ShardPlan``,
``Segment``, ``InputFile``: what ``plan_shards`` builds), not by planning 10^9 documents.
Usage: ``python bench/manifest_scale.py [--shards 1000 10000 100000] [--repeats 3]
[--cli-workers 8] [--only dag|cli|results]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from prox_tasks.cli.arguments import positive_int  # noqa: E402

DOCS_PER_SHARD = 10_000
SHARDS_PER_FILE = 10


def build_manifest(n_shards: int, input_root: str, output_uri: str):
    from prox_tasks.corpus.manifest import InputFile, Manifest, Segment, ShardPlan

    files, shards = [], []
    for f in range(-(-n_shards // SHARDS_PER_FILE)):
        uri = f"{input_root}/crawl/part-{f:06d}.jsonl.gz"
        n = min(SHARDS_PER_FILE, n_shards - f * SHARDS_PER_FILE)
        files.append(InputFile(uri, "jsonl", 900_000_000, n * DOCS_PER_SHARD,
                               n * 400_000_000, f"etag:\"{f:032x}\"", f"{f:020d}-900000000"))
        for k in range(n):
            start = k * DOCS_PER_SHARD
            shards.append(ShardPlan(len(shards), DOCS_PER_SHARD, 400_000_000, [
                Segment(uri, "jsonl", start, start + DOCS_PER_SHARD, DOCS_PER_SHARD,
                        400_000_000)]))
    settings = {"target_docs": DOCS_PER_SHARD, "target_bytes": None, "text_field": "text",
                "id_field": "id", "format": None, "max_doc_bytes": 1_000_000}
    return Manifest(f"{input_root}/crawl/", output_uri, settings, files, shards)


def measure(fn, repeats: int) -> tuple[float, float, object]:
    """Median seconds over ``repeats`` calls, peak MB (tracemalloc) of one more, result."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return statistics.median(times), peak, result


def xcom_result(n: int) -> dict:
    """One refine task's XCom for ``n`` refined shards, built by ``refine_batch``'s own
    :func:`~prox_tasks.pipeline.refresh.task_result` from shard results as
    ``refine_shards`` returns them."""
    from prox_tasks.corpus.writer import ShardAccounting
    from prox_tasks.pipeline.refresh import task_result
    from prox_tasks.refine.stats import ShardStats

    acc = ShardAccounting(**{k: v for k, v in {
        "shard_index": 0, "uri": "s3://b/x", "quarantine_uri": None, "docs_read": 10_000,
        "docs_written": 9_000, "docs_quarantined": 10, "docs_dropped": 990,
        "docs_kept": 9_000, "sha256": "0" * 64, "bytes": 300_000_000,
    }.items() if k in ShardAccounting.__dataclass_fields__}).to_dict()
    results = [{"accounting": dict(acc, shard_index=i), "status": "refined",
                "model_version": "prox-refiner@7", "stats": ShardStats().to_dict(),
                "wall_seconds": 1234.5, "pid": 4242} for i in range(n)]
    return task_result("shards", results)


def run_cli(n_shards: int, output_uri: str, input_root: str, repeats: int,
            workers: int) -> dict:
    """``prox refine --workers``: one worker's plan read before (the whole manifest) and
    after (the parts of its share of the shards, sent with their tasks)."""
    import pickle

    from prox_tasks.corpus.manifest import load_manifest
    from prox_tasks.storage import size_of

    manifest = build_manifest(n_shards, input_root, output_uri)
    manifest.write()
    row = {"shards": n_shards, "workers": workers, "manifest_bytes": size_of(manifest.uri)}
    t, peak, _ = measure(lambda: load_manifest(output_uri), repeats)
    row.update(worker_before_s=t, worker_before_mb=peak)
    share = range(0, n_shards, workers)  # one worker's shards (every workers-th)

    def make_parts():  # in the calling process, a fresh plan's (no index built yet)
        fresh = load_manifest(output_uri)
        started = time.perf_counter()
        parts = [pickle.dumps(fresh.part([i])) for i in range(n_shards)]
        return time.perf_counter() - started, parts

    made = [make_parts()[0] for _ in range(repeats)]
    parts = make_parts()[1]
    row["parts_s"] = statistics.median(made)
    row["part_bytes"] = statistics.median(len(p) for p in parts)
    row["worker_after_bytes"] = sum(len(parts[i]) for i in share)
    middle = parts[n_shards // 2]
    t, peak, part = measure(lambda: pickle.loads(middle), repeats)
    assert part.id == manifest.id and [s.index for s in part.shards] == [n_shards // 2]
    row.update(worker_after_s=t, worker_after_mb=peak)
    return row


def print_cli_rows(store: str, rows: list[dict]) -> None:
    print(f"\n### prox refine --workers, {store}\n")
    print("| shards | workers | manifest MB | a worker's plan read MB before / after (its "
          "shards' parts) | plan read s before / a shard's part ms after | peak MB before / "
          "a shard's part KB after | part bytes | caller's parts s (all shards) |")
    print("|" + "---:|" * 8)
    for r in rows:
        print(f"| {r['shards']:,} | {r['workers']} | {r['manifest_bytes'] / 1e6:.1f} | "
              f"{r['manifest_bytes'] / 1e6:.1f} / {r['worker_after_bytes'] / 1e6:.2f} | "
              f"{r['worker_before_s']:.3f} / {r['worker_after_s'] * 1e3:.3f} | "
              f"{r['worker_before_mb']:.1f} / {r['worker_after_mb'] * 1e3:.1f} | "
              f"{r['part_bytes']:.0f} | {r['parts_s']:.2f} |", flush=True)


def run_one(n_shards: int, output_uri: str, input_root: str, repeats: int,
            max_map_length: int) -> dict:
    from prox_tasks.corpus.manifest import load_manifest, load_plan, part_uri
    from prox_tasks.pipeline.refresh import collect_totals, shard_batches
    from prox_tasks.storage import size_of, version_of

    manifest = build_manifest(n_shards, input_root, output_uri)
    batches = shard_batches(n_shards, max_map_length)
    row = {"shards": n_shards, "tasks": len(batches)}
    t, peak, _ = measure(manifest.write, repeats)
    row.update(plan_before_s=t, plan_before_mb=peak)

    def write_all():
        manifest.write()
        manifest.write_parts(batches)

    t, peak, _ = measure(write_all, 1)
    row.update(plan_after_s=t, plan_after_mb=peak)
    # a retried plan task: its parts are there, and only the listing of them is sent
    t, _peak, _ = measure(lambda: manifest.write_parts(batches), repeats)
    row["parts_retry_s"] = t
    row["manifest_bytes"] = size_of(manifest.uri)
    version = version_of(manifest.uri)
    middle = batches[len(batches) // 2]
    t, peak, _ = measure(lambda: load_manifest(output_uri), repeats)
    row.update(read_before_s=t, read_before_mb=peak)
    t, peak, part = measure(lambda: load_plan(output_uri, middle, manifest.id, version), repeats)
    assert part.id == manifest.id and [s.index for s in part.shards] == middle
    row.update(read_after_s=t, read_after_mb=peak)
    row["run_bytes_before"] = row["manifest_bytes"] * len(batches)
    row["run_bytes_after"] = sum(size_of(part_uri(output_uri, manifest.id, b)) for b in batches)
    items = [{"snapshot": "crawl-2026-01-05", "output_uri": output_uri,
              "catalog_url": "postgresql+psycopg2://prox@db/prox", "shards": b,
              "label": f"shards-{b[0]:05d}-{b[-1]:05d}", "workers": 1, "reprocess": False,
              "model": "s3://models/prox-refiner/7", "backend": None, "keep_threshold": None,
              "quality": "off", "limits": {}, "manifest_id": manifest.id,
              "manifest_version": version} for b in batches]
    row["work_items_bytes"] = len(json.dumps(items))
    results = [json.dumps(xcom_result(len(b))) for b in batches]
    row["collect_xcom_bytes"] = sum(map(len, results))

    def collect():  # what the collect task does with the pulled XComs, less the catalog
        return collect_totals([json.loads(r) for r in results])

    t, peak, _ = measure(collect, repeats)
    row.update(collect_s=t, collect_mb=peak)
    return row


def shard_result(index: int) -> dict:
    """A refined shard's result as ``refine_shards`` hands it over: status record, stats of
    a real refine's shape (failures, usage and seconds filled in), timing of its worker."""
    from prox_tasks.corpus.writer import ShardAccounting
    from prox_tasks.refine.stats import PHASES, ShardStats

    accounting = ShardAccounting(
        index, 10_000, 9_990, 9_000, 990, 10, {"not_an_object": 6, "too_long": 4},
        300_000_000, "0" * 64, "1" * 64, f"s3://b/out/shards/shard-{index:05d}.parquet",
        f"s3://b/out/quarantine/shard-{index:05d}.jsonl", "prox-refiner@7").to_dict()
    stats = ShardStats(docs_in=10_000, docs_kept=9_000, docs_dropped=990, docs_refined=7_000,
                       dropped_by_model=900, dropped_too_little_left=90,
                       docs_with_failures=12, chars_in=100_000_000, chars_out=80_000_000)
    stats.failures["doc"].update({"parse_error": 7, "unknown_function": 2})
    stats.failures["chunk"].update({"parse_error": 3})
    stats.usage = {level: {"requests": 10_000, "prompt_tokens": 9_000_000,
                           "completion_tokens": 200_000, "truncated": 3, "failed": 1,
                           "engine_seconds": 812.5} for level in ("doc", "chunk")}
    stats.seconds.update({phase: 123.456 for phase in PHASES} | {"total": 987.654})
    return {"shard": index, "status": "refined", "accounting": accounting,
            "stats": stats.to_dict(), "model_version": "prox-refiner@7", "backend": "tagger",
            "wall_seconds": 987.654, "pid": 4242 + index % 8,
            "started_at": 1_790_000_000.0 + index}  # fmt: skip


def run_results(n_shards: int, repeats: int, workers: int) -> dict:
    """``prox refine``'s collection of ``n_shards`` results, before and after (see the
    module's docstring). Each result is unpickled anew, as it comes from a worker."""
    import pickle
    from collections import deque

    from prox_tasks.refine.stats import RunResults
    from prox_tasks.refine.workers import published_among

    blobs = [pickle.dumps(shard_result(i)) for i in range(n_shards)]
    row = {"shards": n_shards, "workers": workers, "result_bytes": len(json.dumps(
        pickle.loads(blobs[0])))}

    def held():  # every result kept until the last shard ended, then summed
        results = {i: pickle.loads(b) for i, b in enumerate(blobs)}
        fold = RunResults()
        for i in range(n_shards):
            fold.add(results[i])
        return fold.totals()

    def folded():
        fold = RunResults()
        for blob in blobs:
            fold.add(pickle.loads(blob))
        return fold.totals()

    t, peak, before = measure(held, repeats)
    row.update(collect_before_s=t, collect_before_mb=peak)
    t, peak, after = measure(folded, repeats)
    assert before == after and after["shards_refined"] == n_shards
    row.update(collect_after_s=t, collect_after_mb=peak)

    manifest = build_manifest(n_shards, "file:///data", "file:///out")
    options = {"policy": None, "checkpoint_every": None, "limits": {}, "quality": "off",
               "force": False, "request": {"model": "prox-refiner@7"}}

    def task(i):
        return ("file:///out", i, {**options, "manifest": manifest.part([i])})

    def all_sent():  # the executor held every shard's task until it ran
        return len([task(i) for i in range(n_shards)])

    def window_sent():
        return len(deque((task(i) for i in range(n_shards)), maxlen=2 * workers))

    t, peak, _ = measure(all_sent, 1)
    row.update(sent_before_mb=peak)
    t, peak, _ = measure(window_sent, 1)
    row.update(sent_after_mb=peak)
    indexes = list(range(n_shards))  # all planned shards pending (a new snapshot)
    started = time.perf_counter()
    assert [i for i in indexes if i not in indexes] == []  # the old lookup
    row["published_before_s"] = time.perf_counter() - started
    t, _peak, _ = measure(lambda: published_among(indexes, indexes), repeats)
    row["published_after_s"] = t
    return row


def print_results_rows(rows: list[dict]) -> None:
    print("\n### prox refine's shard results (in its own process)\n")
    print("| shards | result JSON bytes | results held peak MB before / after | collect s "
          "before / after | tasks sent peak MB before / after (workers) | published-shard "
          "lookup s before / after |")
    print("|" + "---:|" * 6)
    for r in rows:
        print(f"| {r['shards']:,} | {r['result_bytes']:,} | "
              f"{r['collect_before_mb']:.1f} / {r['collect_after_mb']:.2f} | "
              f"{r['collect_before_s']:.2f} / {r['collect_after_s']:.2f} | "
              f"{r['sent_before_mb']:.1f} / {r['sent_after_mb']:.2f} ({r['workers']}) | "
              f"{r['published_before_s']:.2f} / {r['published_after_s']:.4f} |", flush=True)


def print_rows(store: str, rows: list[dict]) -> None:
    print(f"\n### {store}\n")
    print("| shards | tasks | manifest MB | plan s before / after | parts again s | plan peak "
          "MB before / after | task read s before / after | task read peak MB before / after | "
          "all tasks read MB before / after | work items KB | collect XCom MB | collect s | "
          "collect peak MB |")
    print("|" + "---:|" * 13)
    for r in rows:
        print(f"| {r['shards']:,} | {r['tasks']} | {r['manifest_bytes'] / 1e6:.1f} | "
              f"{r['plan_before_s']:.2f} / {r['plan_after_s']:.2f} | {r['parts_retry_s']:.2f} | "
              f"{r['plan_before_mb']:.0f} / {r['plan_after_mb']:.0f} | "
              f"{r['read_before_s']:.3f} / {r['read_after_s']:.4f} | "
              f"{r['read_before_mb']:.1f} / {r['read_after_mb']:.2f} | "
              f"{r['run_bytes_before'] / 1e6:,.0f} / {r['run_bytes_after'] / 1e6:.1f} | "
              f"{r['work_items_bytes'] / 1e3:.0f} | {r['collect_xcom_bytes'] / 1e6:.1f} | "
              f"{r['collect_s']:.2f} | {r['collect_mb']:.0f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=positive_int, nargs="+", default=[1_000, 10_000, 100_000],
                        help="snapshot sizes in shards, a row each (default 1000 10000 100000)")
    parser.add_argument("--repeats", type=positive_int, default=3,
                        help="timed runs, the median shown (default 3)")
    parser.add_argument("--max-map-length", type=positive_int, default=1024,
                        help="work items the plan makes at most (Airflow's default cap, 1024)")
    parser.add_argument("--no-s3", action="store_true",
                        help="local disk only, not S3 (moto over HTTP) too")
    parser.add_argument("--cli-workers", type=positive_int, default=8,
                        help="worker processes of the prox refine --workers rows")
    parser.add_argument("--only", choices=("dag", "cli", "results"),
                        help="only the DAG's rows, only prox refine --workers', or only "
                        "prox refine's shard results'")
    args = parser.parse_args()
    if args.only == "results":
        print_results_rows([run_results(n, args.repeats, args.cli_workers)
                            for n in args.shards])  # fmt: skip
        return
    run_all(args, "local disk", "file://{tmp}/local-{n}", "file:///data")
    if args.no_s3:
        return
    from bench.moto_s3 import moto_bucket

    with moto_bucket("bench"):
        run_all(args, "S3 (moto over HTTP)", "s3://bench/snapshots/s3-{n}", "s3://crawl")


def run_all(args, store: str, output: str, input_root: str) -> None:
    """The rows of every ``--shards`` on one store; ``output`` is formatted with the
    temporary folder ``tmp`` and the shards ``n``."""
    with tempfile.TemporaryDirectory() as tmp:
        if args.only != "cli":
            print_rows(store, [run_one(n, output.format(tmp=tmp, n=n), input_root,
                                       args.repeats, args.max_map_length)
                               for n in args.shards])  # fmt: skip
        if args.only != "dag":
            print_cli_rows(store, [run_cli(n, output.format(tmp=tmp, n=f"cli-{n}"),
                                           input_root, args.repeats, args.cli_workers)
                                   for n in args.shards])  # fmt: skip


if __name__ == "__main__":
    main()
