"""S3 requests and time per file opened through ``prox_tasks.storage`` (moto over HTTP).

On moto's ``ThreadedMotoServer`` over HTTP on 127.0.0.1, in the bench's process, side by
side in one run:

- ``open_uri``: ``--files`` JSONL files (``--kb`` each), each opened and read whole.
  Before, opening sent a HEAD (the object's length and ETag) ahead of the first ranged GET;
  the "before" column sends that HEAD (``size_of``, the same ``HeadObject``) then opens.
  Files are at most 64 KiB, so that is exactly the old requests (a larger file's open now
  GETs its first 64 KiB where the old one GETted its first block: a GET replaces the HEAD).
- ``read_shard``: a snapshot planned from those files, one shard per file, each shard read
  (what a refine task reads of its input). Each file was HEADed twice (its version against
  the plan's, then to open it), then once (its version); now the opening GET's ETag and
  Content-Range total stand for that HEAD. The "before" column sends the HEAD of the
  version check (``version_of``, the same ``HeadObject``) ahead of each shard's read.

- ``plan``/``replan``: planning those files, then planning them again unchanged (a rerun,
  a retried plan task). Each planned file was HEADed three times (its size, ETag and
  version: ``size_of``, ``content_fingerprint``, ``version_of``), and once again by each
  rerun (its version); now the listing that names the files gives all three. The "before"
  column sends those HEADs beside the plan.

Requests are counted by operation on the storage layer's client (botocore's ``before-call``
event: what was really sent). Time: median of ``--repeats`` passes over all files.
Usage: ``python bench/s3_opens.py [--files 200] [--kb 8] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from prox_tasks.cli.arguments import positive_int  # noqa: E402


def timed(fn, repeats: int) -> tuple[float, collections.Counter]:
    """Median seconds of ``repeats`` calls of ``fn``, and the S3 calls of one of them."""
    from prox_tasks.storage import get_client

    sent: collections.Counter = collections.Counter()

    def hook(model, **_):
        sent[model.name] += 1

    events = get_client().meta.events
    times = []
    for i in range(repeats):
        if i == repeats - 1:
            events.register("before-call.s3", hook, unique_id="bench-s3-calls")
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    events.unregister("before-call.s3", unique_id="bench-s3-calls")
    return statistics.median(times), sent


def run(files: int, kb: int, repeats: int) -> list[dict]:
    from prox_tasks.corpus import plan_shards, read_shard
    from prox_tasks.storage import open_uri, put_atomic, size_of, version_of

    def row(f: int, n: int) -> str:
        return json.dumps({"id": f"{f:05d}-{n:05d}", "text": f"document {n} of file {f} " * 8})

    n = max(1, kb * 1000 // (len(row(0, 0)) + 1))  # records a file: a shard of one file each
    uris = []
    for f in range(files):
        uri = f"s3://bench/in/part-{f:05d}.jsonl"
        put_atomic(uri, "".join(row(f, i) + "\n" for i in range(n)))
        uris.append(uri)
    manifest = plan_shards("s3://bench/in/", "s3://bench/out", target_docs=n)
    assert len(manifest.shards) == files

    def read_all(head_first: bool):
        for uri in uris:
            if head_first:
                size_of(uri)
            with open_uri(uri, "rb", compression="infer") as fh:
                fh.read()

    def read_shards(head_first: bool):
        for shard in manifest.shards:
            if head_first:
                version_of(shard.segments[0].file)
            for _ in read_shard(manifest, shard.index):
                pass

    from prox_tasks.storage import content_fingerprint, remove

    def plan(head_first: bool, again: bool):
        if not again:  # a first plan: no manifest yet
            remove("s3://bench/out/manifest.json")
        plan_shards("s3://bench/in/", "s3://bench/out", target_docs=n)
        for uri in uris if head_first else ():
            if not again:
                size_of(uri)
                content_fingerprint(uri)
            version_of(uri)

    rows = []
    for name, fn in (("open_uri", read_all), ("read_shard", read_shards),
                     ("plan", lambda head_first: plan(head_first, False)),
                     ("replan", lambda head_first: plan(head_first, True))):
        before_s, before = timed(lambda fn=fn: fn(True), repeats)
        after_s, after = timed(lambda fn=fn: fn(False), repeats)
        rows.append({"what": name, "files": files, "before_s": before_s, "after_s": after_s,
                     "before": before, "after": after})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=positive_int, default=200,
                        help="JSONL files opened, one shard each (default 200)")
    parser.add_argument("--kb", type=positive_int, default=8, help="size of each file (KB)")
    parser.add_argument("--repeats", type=positive_int, default=3,
                        help="timed runs, the median printed (default 3)")
    args = parser.parse_args()
    if args.kb * 1000 > 64 * 1024:
        parser.error("--kb: at most 65 (a file above 64 KiB is not read as before plus a HEAD)")
    from bench.moto_s3 import moto_bucket

    with moto_bucket("bench"):
        rows = run(args.files, args.kb, args.repeats)
    print(f"\n{args.files} files of {args.kb} KB on moto over HTTP, median of {args.repeats}\n")
    print("| what | files | HEAD a file before / after | GET a file before / after | "
          "ms a file before / after |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        n = r["files"]
        print(f"| {r['what']} | {n} | {r['before']['HeadObject'] / n:.1f} / "
              f"{r['after']['HeadObject'] / n:.1f} | {r['before']['GetObject'] / n:.1f} / "
              f"{r['after']['GetObject'] / n:.1f} | {r['before_s'] / n * 1e3:.2f} / "
              f"{r['after_s'] / n * 1e3:.2f} |")


if __name__ == "__main__":
    main()
