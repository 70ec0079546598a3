"""Quality gate at scale: wall time and peak memory of ``run_gate`` as a snapshot grows.

A snapshot of ``--docs`` documents (the bundled sample's pages again under new ids, each cut
to its first 20 lines) is planned in shards of ``--shard-docs`` and refined by the real
executor with a fixed program per document (every 7th dropped, the first line removed from
the rest) — no model: the gate reads what any refiner writes. The gate then runs in a fresh
process per size (so its peak RSS is its own), at ``--docs`` and at a quarter of it: the
memory a document adds is the slope between the two. Usage::

    python bench/gate.py --docs 200000          # about 3 minutes here

Before/after in one run: ``--keep DIR`` keeps the snapshots; run the gate of another
checkout over them with ``PYTHONPATH=<checkout> python bench/gate.py --reuse DIR``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if not any(Path(p, "prox_tasks").is_dir() for p in sys.path if p):
    sys.path.insert(0, str(ROOT))  # PYTHONPATH=<another checkout> measures that code instead
from prox_tasks.cli.arguments import positive_int  # noqa: E402

SAMPLE = ROOT / "data" / "sample" / "sample.jsonl.gz"


def build_snapshot(folder: Path, docs: int, shard_docs: int) -> str:
    """Write ``docs`` refined documents under ``folder``; return the snapshot's URI."""
    from prox_tasks.corpus import (
        Quarantine,
        plan_shards,
        read_rows,
        read_shard,
        write_refined_shard,
    )
    from prox_tasks.programs import execute

    texts = ["\n".join(row["text"].splitlines()[:20]) for _, _, row in read_rows(str(SAMPLE))]
    folder.mkdir(parents=True, exist_ok=True)
    src = folder / "in.jsonl"
    with open(src, "w") as out:
        for i in range(docs):
            out.write(json.dumps({"id": f"page-{i}", "text": texts[i % len(texts)]}) + "\n")
    snapshot = str(folder / "snapshot")
    manifest = plan_shards(str(src), snapshot, target_docs=shard_docs)
    for shard in manifest.shards:
        quarantine, rows = Quarantine(), []
        for n, doc in enumerate(read_shard(manifest, shard.index, quarantine)):
            program = ("drop_doc()", "") if n % 7 == 6 else (
                "keep_doc()", "remove_lines(line_start=0, line_end=0)")
            result = execute(doc.text, *program)
            rows.append({"id": doc.id, "text": result.text, "doc_program": program[0],
                         "chunk_program": program[1], "stats": result.stats.to_dict(),
                         "source": doc.source, "offset": doc.offset})
        write_refined_shard(snapshot, shard.index, rows, quarantine=quarantine,
                            model_version="bench")
    return snapshot


def _gate_child(snapshot: str) -> None:
    """Run the gate once in this process; print its figures as one JSON line."""
    import resource

    from prox_tasks.quality import run_gate

    start = time.perf_counter()
    result = run_gate(snapshot)
    print(json.dumps({"seconds": round(time.perf_counter() - start, 2),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF)
                                           .ru_maxrss / 1024, 1),
                      "passed": result.passed, "docs": result.metrics["docs_written"],
                      "checks": len(result.checks),
                      "code": str(Path(sys.modules["prox_tasks"].__file__).parents[1])}))


def measure(snapshot: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", snapshot], check=True,
                         capture_output=True, text=True, env={**os.environ,
                                                              "PYTHONPATH": os.pathsep.join(
                                                                  p for p in sys.path if p)})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=positive_int, default=200_000,
                        help="documents of the larger snapshot (default 200,000; also a quarter of it)")
    parser.add_argument("--shard-docs", type=positive_int, default=10_000,
                        help="documents a shard (default 10,000)")
    parser.add_argument("--keep", type=Path, help="build the snapshots here and keep them")
    parser.add_argument("--reuse", type=Path, help="snapshots built earlier with --keep")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _gate_child(args.child)
    root = args.reuse or args.keep or Path(tempfile.mkdtemp(prefix="prox-bench-gate-"))
    sizes = (max(1, args.docs // 4), args.docs)
    missing = [f"docs-{docs}/snapshot" for docs in sizes
               if args.reuse and not (args.reuse / f"docs-{docs}" / "snapshot").is_dir()]
    if missing:
        parser.error(f"--reuse {args.reuse} lacks {', '.join(missing)}: build the snapshots "
                     f"with --keep {args.reuse} --docs {args.docs} first (the same --docs)")
    rows = []
    for docs in sizes:
        folder = root / f"docs-{docs}"
        if args.reuse is None:
            start = time.perf_counter()
            build_snapshot(folder, docs, args.shard_docs)
            print(f"built {docs} documents in {time.perf_counter() - start:.1f} s",
                  file=sys.stderr)
        rows.append(measure(str(folder / "snapshot")))
    print("| documents | gate s | peak RSS MB | passed | checks |")
    print("|---:|---:|---:|---|---:|")
    for row in rows:
        print(f"| {row['docs']:,} | {row['seconds']} | {row['peak_rss_mb']} | {row['passed']} "
              f"| {row['checks']} |")
    small, large = rows
    slope = (large["peak_rss_mb"] - small["peak_rss_mb"]) * 1e6 / max(1, large["docs"]
                                                                       - small["docs"])
    print(f"memory per document (slope): {slope / 1e3:.2f} KB (gate code: {large['code']})")
    if args.keep is None and args.reuse is None:
        import shutil

        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
