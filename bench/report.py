"""How long the PROX report takes to render its pages over many snapshots.

One real snapshot is refined (shipped line tagger), gated (Great Expectations) and released;
its folder is then copied into ``--snapshots`` snapshots (one per logical date), each booked in
the catalog as the DAG books it (plan, shards, gate report). The overview page, a snapshot page
and the document viewer are rendered as the plugin renders them (``prox_tasks.report``),
first with nothing cached (a fresh API server), then ``--repeats`` times (the median); each
with the files the render opened. Before/after in one run: build once with ``--keep DIR``, then
run it with ``PYTHONPATH=<the other checkout>`` and without.

    python bench/report.py --snapshots 200

``--viewer-docs N`` also books one snapshot whose single shard holds N documents (the sample's
pages again under new ids, refined by the shipped tagger) and times the viewer's first and
last page over it — a nightly shard holds 10,000 (the DAG's ``target_docs``) — and that
snapshot's page. ``--memory`` adds each page's peak of Python-allocated memory (tracemalloc,
one more render; it slows that render, not the timed ones).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if not any(Path(p, "prox_tasks").is_dir() for p in sys.path if p):
    sys.path.insert(0, str(ROOT))  # PYTHONPATH=<another checkout> measures that code instead
from prox_tasks.cli.arguments import count_or_zero, positive_int  # noqa: E402

SAMPLE = ROOT / "data" / "sample" / "sample.jsonl.gz"


def build(root: Path, snapshots: int, docs: int) -> str:
    """The catalog URL of ``snapshots`` booked snapshots under ``root``."""
    from prox_tasks.catalog import Catalog
    from prox_tasks.corpus import load_manifest, read_status
    from prox_tasks.pipeline import refresh
    from prox_tasks.refine.booking import register_plan
    from prox_tasks.refine.corpus import refine_corpus
    from prox_tasks.release import GATE_SUITE

    url = f"sqlite:///{root / 'catalog.sqlite'}"
    src = root / "in.jsonl"
    with gzip.open(SAMPLE, "rt") as f, open(src, "w") as out:
        for _, line in zip(range(docs), f):
            out.write(line)
    first = root / "corpus" / "snapshots" / "crawl-base"
    with Catalog(url) as catalog:
        refine_corpus(str(src), str(first), model="default", target_docs=max(1, docs // 4),
                      catalog=catalog, snapshot="crawl-base")
    base = {"name": "crawl-base", "output_uri": str(first), "catalog_url": url}
    gate = refresh.gate(base, {})
    day = date(2026, 1, 1)
    with Catalog(url) as catalog:
        for i in range(snapshots):
            name = f"crawl-{day + timedelta(days=i)}"
            folder = first.parent / name
            shutil.copytree(first, folder)
            manifest = load_manifest(str(folder))
            # the copy's own folder (its manifest still names the first one's)
            register_plan(catalog, name, manifest, logical_date=str(day + timedelta(days=i)),
                          dag_run_id=f"scheduled__{day + timedelta(days=i)}T00:00:00+00:00",
                          output_uri=folder.as_uri())
            for shard in manifest.shards:
                status = read_status(str(folder), shard.index)
                catalog.start_shard(name, shard.index)
                catalog.finish_shard(name, shard.index, status, 1.0)
            catalog.add_quality_report(name, GATE_SUITE, gate["passed"], stats=gate["metrics"],
                                       report_uri=gate["data_docs_uri"])
            catalog.update_snapshot(name, status="gated", model_version=status["model_version"])
    return url


def build_big_shard(root: Path, url: str, docs: int) -> str:
    """A booked snapshot (``crawl-big``) whose one shard holds ``docs`` documents."""
    from prox_tasks.catalog import Catalog
    from prox_tasks.corpus import read_rows
    from prox_tasks.refine.corpus import refine_corpus

    out = root / "corpus" / "snapshots" / "crawl-big"
    with Catalog(url) as catalog:
        if catalog.get_snapshot("crawl-big") is None:
            rows = [row for _, _, row in read_rows(str(SAMPLE))]
            src = root / "big.jsonl"
            with open(src, "w") as fh:
                for i in range(docs):
                    fh.write(json.dumps({"id": f"big-{i}", "text": rows[i % len(rows)]["text"]})
                             + "\n")
            refine_corpus(str(src), str(out), model="default", target_docs=docs,
                          catalog=catalog, snapshot="crawl-big")
    return "crawl-big"


class FileCounter:
    """Counts the files opened while active (any way of opening: an audit hook)."""

    active: FileCounter | None = None

    def __init__(self):
        self.count = 0

    def __enter__(self):
        FileCounter.active = self
        return self

    def __exit__(self, *exc):
        FileCounter.active = None


def _audit(event: str, args) -> None:
    if event == "open" and FileCounter.active is not None and isinstance(args[0], (str, bytes)):
        FileCounter.active.count += 1


sys.addaudithook(_audit)


def _clear_cache() -> None:
    try:
        from prox_tasks.report.cache import CACHE
    except ImportError:  # code from before the cache
        return
    CACHE.clear()


def _timed(render) -> tuple[float, int]:
    with FileCounter() as counter:
        started = time.perf_counter()
        html = render()
        seconds = time.perf_counter() - started
    assert html and "<html" in html
    return seconds, counter.count


def measure(render, repeats: int) -> dict:
    """The first render with nothing cached, then the median of ``repeats`` more."""
    _clear_cache()
    first, first_files = _timed(render)
    again = [_timed(render) for _ in range(repeats)]
    return {"first_ms": round(first * 1000, 1), "first_files": first_files,
            "median_ms": round(statistics.median(t for t, _ in again) * 1000, 1),
            "files": again[-1][1]}


def peak_mb(render) -> float:
    """Peak Python-allocated memory of one render with nothing cached, in MB."""
    import tracemalloc

    _clear_cache()
    tracemalloc.start()
    try:
        render()
        return round(tracemalloc.get_traced_memory()[1] / 1e6, 1)
    finally:
        tracemalloc.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshots", type=positive_int, default=200,
                        help="snapshots booked, one per logical date (default 200)")
    parser.add_argument("--docs", type=positive_int, default=40, help="documents per snapshot")
    parser.add_argument("--repeats", type=positive_int, default=5,
                        help="renders of each page after the first, the median printed (default 5)")
    parser.add_argument("--keep", default=None, help="build (or reuse) the catalog here")
    parser.add_argument("--memory", action="store_true",
                        help="also each page's peak Python memory (uncached render)")
    parser.add_argument("--viewer-docs", type=count_or_zero, default=0,
                        help="also a snapshot of one shard of this many documents")
    args = parser.parse_args(argv)

    from prox_tasks.catalog import Catalog
    from prox_tasks.report import RowFilter, documents_page, overview_page, snapshot_page

    root = Path(args.keep or tempfile.mkdtemp(prefix="prox-report-bench-"))
    url = f"sqlite:///{root / 'catalog.sqlite'}"
    # the report reads only snapshots below its roots (prox_tasks/report/roots.py), as the API
    # server would be configured for this corpus; the bench's snapshots live under root/corpus
    os.environ["PROX_REPORT_ROOTS"] = str((root / "corpus").resolve())
    started = time.perf_counter()
    if not (root / "catalog.sqlite").exists():
        root.mkdir(parents=True, exist_ok=True)
        build(root, args.snapshots, args.docs)
    import prox_tasks

    print(f"{args.snapshots} snapshots of {args.docs} documents under {root} "
          f"({time.perf_counter() - started:.0f} s to build); code: {prox_tasks.__file__}")
    name = f"crawl-{date(2026, 1, 1) + timedelta(days=args.snapshots // 2)}"
    pages = {
        "overview (page 1)": lambda c: overview_page(c, RowFilter(), 1, "/prox", ""),
        "overview (page 5)": lambda c: overview_page(c, RowFilter(), 5, "/prox", ""),
        "snapshot page": lambda c: snapshot_page(c, name, "/prox", ""),
        "document viewer": lambda c: documents_page(c, name, 0, "all", 1, "/prox", ""),
    }
    if args.viewer_docs:
        big = build_big_shard(root, url, args.viewer_docs)
        last = -(-args.viewer_docs // 10)
        pages[f"viewer, {args.viewer_docs:,}-doc shard, page 1"] = \
            lambda c: documents_page(c, big, 0, "all", 1, "/prox", "")
        pages[f"viewer, {args.viewer_docs:,}-doc shard, page {last}"] = \
            lambda c: documents_page(c, big, 0, "all", last, "/prox", "")
        pages[f"snapshot page, {args.viewer_docs:,}-doc shard"] = \
            lambda c: snapshot_page(c, big, "/prox", "")
    results = {}
    with Catalog(url) as catalog:
        for render in pages.values():  # imports and templates loaded before measuring
            render(catalog)
        for label, render in pages.items():
            m = results[label] = measure(lambda r=render: r(catalog), args.repeats)
            if args.memory:
                m["peak_mb"] = peak_mb(lambda r=render: r(catalog))
            print(f"  {label:18s} first {m['first_ms']:7.1f} ms ({m['first_files']:3d} files), "
                  f"then {m['median_ms']:7.1f} ms ({m['files']:3d} files; median of "
                  f"{args.repeats})" + (f", peak {m['peak_mb']:.1f} MB" if args.memory else ""))
    print(json.dumps(results))
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
