"""I/O benchmark: read and read+write throughput for JSONL.gz and Parquet, and peak memory.

The bundled sample (data/sample/sample.jsonl.gz) is replicated (ids suffixed) to ``--mb``
megabytes of JSONL text, written as JSONL.gz and as Parquet. For each format, in a fresh
process each (so peak RSS is that measurement's alone):

- read: ``read_documents`` over the whole input;
- read+write: ``plan_shards`` then, per shard, ``read_shard`` -> ``write_refined_shard``
  (every document kept unchanged) — the path a refine task takes, minus the model.

Shards are planned at 64 MB; a shard that starts inside a compressed JSONL file has to
decompress the file up to its start, so one huge .gz file split into many shards costs more
than the same bytes in several files (``--files``, default 4). Then the same on a smaller
input (``--small-fraction``: fewer files of the same size): peak memory must stay flat
(ratio near 1) while the input grows. Figures: documents/s and MB/s (MB of uncompressed JSONL
input), peak RSS. Usage: ``python bench/io.py [--mb 1000]`` (default 200 for a short run).

``--late-shard``: instead, one plain JSONL file of ``--mb`` megabytes planned into
``--shards`` shards (default 20), and the time ``read_shard`` takes to reach the first
document of the first and of the last shard: as planned (from the segment's
``byte_offset``) and with the offsets left out (the read from the file's start that a plan
without them makes), in one run. ``python bench/io.py --late-shard --mb 1000``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.datadir import jsonl_rows  # noqa: E402

DEFAULT_SAMPLE = ROOT / "data" / "sample" / "sample.jsonl.gz"
MB = 1_000_000


def build_inputs(sample: Path, megabytes: float, files: int, folder: Path) -> dict:
    """Replicate the sample to ``megabytes`` of JSONL in ``files`` parts, written as
    ``jsonl.gz/part-N.jsonl.gz`` and ``parquet/part-N.parquet``."""
    sys.path.insert(0, str(ROOT))
    from prox_tasks.corpus import write_documents

    info_path = folder / "info.json"
    if info_path.exists():
        return json.loads(info_path.read_text())
    rows = list(jsonl_rows(sample))
    info = {"docs": 0, "jsonl_bytes": 0, "jsonl.gz_bytes": 0, "parquet_bytes": 0}
    copy = 0
    for part in range(files):
        batch, size = [], 0
        while size < megabytes * MB / files:
            for row in rows:
                out = {**row, "id": f"{row.get('id', 'doc')}-r{copy}"}
                size += len(json.dumps(out, ensure_ascii=False).encode()) + 1
                batch.append(out)
                if size >= megabytes * MB / files:
                    break
            copy += 1
        for fmt, ext in (("jsonl.gz", "jsonl.gz"), ("parquet", "parquet")):
            path = folder / fmt / f"part-{part:03d}.{ext}"
            write_documents(str(path), batch)
            info[f"{fmt}_bytes"] += path.stat().st_size
        info["docs"] += len(batch)
        info["jsonl_bytes"] += size
    info_path.write_text(json.dumps(info))
    return info


def worker(mode: str, input_path: str, out_dir: str) -> dict:
    """One measurement in this process; returns its figures."""
    sys.path.insert(0, str(ROOT))
    import pyarrow.parquet  # noqa: F401  (one-time import cost stays out of the timing)

    from prox_tasks.corpus import (
        Quarantine,
        plan_shards,
        read_documents,
        read_shard,
        write_refined_shard,
    )

    start = time.perf_counter()
    docs = 0
    if mode == "read":
        quarantine = Quarantine()
        for _doc in read_documents(input_path, quarantine=quarantine):
            docs += 1
        docs += len(quarantine)
    else:
        manifest = plan_shards(input_path, out_dir, target_bytes=64 * 1024 * 1024,
                               overwrite=True)
        for shard in manifest.shards:
            quarantine = Quarantine()
            rows = ({"id": d.id, "text": d.text, "doc_program": "keep_doc()",
                     "chunk_program": None, "stats": {}, "source": d.source,
                     "offset": d.offset, "meta": d.meta}
                    for d in read_shard(manifest, shard.index, quarantine))
            docs += write_refined_shard(out_dir, shard.index, rows, quarantine=quarantine).docs_read
    seconds = time.perf_counter() - start
    return {"docs": docs, "seconds": seconds, "peak_rss_mb": peak_rss_kib() * 1024 / MB}


def peak_rss_kib() -> int:
    """This process's peak resident memory. VmHWM, not ru_maxrss: Linux carries ru_maxrss
    over from the parent across fork+exec, which would hide this process's own peak."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure(mode: str, path: Path, out_dir: Path) -> dict:
    cmd = [sys.executable, __file__, "--worker", mode, str(path), str(out_dir)]
    result = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def late_shard(sample: Path, megabytes: float, shards: int, workdir: Path) -> None:
    """Print the time to the first document of shard 0 and of the last shard of one plain
    JSONL file, read from each segment's ``byte_offset`` and from the file's start."""
    import dataclasses

    sys.path.insert(0, str(ROOT))
    from prox_tasks.corpus import Quarantine, plan_shards, read_shard

    path = workdir / f"late-{megabytes:g}mb.jsonl"
    if not path.exists():
        workdir.mkdir(parents=True, exist_ok=True)
        rows = list(jsonl_rows(sample))
        size, copy = 0, 0
        with open(path, "w", encoding="utf-8") as out:
            while size < megabytes * MB:
                for row in rows:
                    line = json.dumps({**row, "id": f"{row.get('id', 'doc')}-r{copy}"},
                                      ensure_ascii=False) + "\n"
                    size += out.write(line)
                copy += 1
    t0 = time.perf_counter()
    records = sum(1 for _ in open(path, "rb"))
    manifest = plan_shards(str(path), str(workdir / "late-out"), -(-records // shards),
                           write=False)
    print(f"# bench/io.py --late-shard  {path.stat().st_size:,} bytes, {records:,} records, "
          f"{len(manifest.shards)} shards (planned in {time.perf_counter() - t0:.1f} s)")
    old = dataclasses.replace(manifest, shards=[
        dataclasses.replace(s, segments=[dataclasses.replace(g, byte_offset=None)
                                         for g in s.segments]) for s in manifest.shards])
    for label, plan in (("offsets ignored (before)", old), ("byte_offset (after)", manifest)):
        for shard in (0, len(manifest.shards) - 1):
            t0 = time.perf_counter()
            docs = read_shard(plan, shard, Quarantine())  # the sample's blank texts
            first = next(docs)
            seconds = time.perf_counter() - t0
            docs.close()
            print(f"  {label:25s} shard {shard:4d}: first document ({first.source.rsplit('/', 1)[1]}"
                  f" record {first.offset:,}) after {seconds * 1000:,.1f} ms")


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from prox_tasks.cli.arguments import positive_int

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=200, help="input size, MB of JSONL (1000 = ~1 GB)")
    parser.add_argument("--files", type=positive_int, default=8,
                        help="input files of the full input (the small one has fewer files "
                             "of the same size, so only the input size changes)")
    parser.add_argument("--small-fraction", type=float, default=0.25,
                        help="size of the second input for the memory check")
    parser.add_argument("--sample", type=Path, default=None,
                        help="JSONL(.gz) the inputs are built from (default: the bundled "
                        "data/sample/sample.jsonl.gz)")
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out" / "io",
                        help="folder for the inputs and outputs (default bench/out/io)")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--late-shard", action="store_true",
                        help="time to the first document of the first and last shard of one "
                             "plain JSONL file of --mb MB, with and without byte offsets")
    parser.add_argument("--shards", type=positive_int, default=20, help="shards of --late-shard's file")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return 0
    sample = args.sample or DEFAULT_SAMPLE
    if args.late_shard:
        late_shard(sample, args.mb, args.shards, args.workdir)
        return 0
    small_files = max(1, round(args.files * args.small_fraction))
    sizes = {"full": (args.mb, args.files),
             "small": (args.mb * small_files / args.files, small_files)}
    print(f"# bench/io.py  sample={sample}  (MB, files)={sizes}  cpus={os.cpu_count()}")
    peaks: dict = {}
    for label, (mb, files) in sizes.items():
        folder = args.workdir / f"{mb:g}mb-{files}files"
        t0 = time.perf_counter()
        info = build_inputs(sample, mb, files, folder)
        print(f"[{label}] input: {info['docs']} docs in {files} files, "
              f"{info['jsonl_bytes'] / MB:.1f} MB JSONL, {info['jsonl.gz_bytes'] / MB:.1f} MB .gz, "
              f"{info['parquet_bytes'] / MB:.1f} MB parquet "
              f"(built in {time.perf_counter() - t0:.1f} s)")
        for fmt in ("jsonl.gz", "parquet"):
            for mode in ("read", "read+write"):
                r = measure(mode, folder / fmt, folder / f"refined-{fmt}")
                rate = info["jsonl_bytes"] / MB / r["seconds"]
                print(f"[{label}] {fmt:9s} {mode:10s} {r['docs']:8d} docs  {r['seconds']:7.2f} s  "
                      f"{r['docs'] / r['seconds']:9.0f} docs/s  {rate:7.1f} MB/s  "
                      f"peak RSS {r['peak_rss_mb']:7.1f} MB")
                peaks.setdefault((fmt, mode), {})[label] = r["peak_rss_mb"]
    print("# peak memory, full / small input (flat = near 1.0 while input grows "
          f"{args.files / small_files:g}x):")
    for (fmt, mode), p in peaks.items():
        print(f"  {fmt:9s} {mode:10s} {p['full']:7.1f} MB / {p['small']:7.1f} MB = "
              f"{p['full'] / p['small']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
