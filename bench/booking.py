"""Booking finished shards in the catalog (SQLite, a file).

``--workers 0`` (the default): the booking alone, for a run's shards started then finished:
one shard at a time (``ShardBooking.finish``) against a group at a time (``finish_many``).
``--workers N``: a real ``refine_shards`` of one-document shards with N workers (1: the
serial path, ``prox refine --workers 1``), booked in a catalog: the run's seconds, the
catalog transactions it began and the seconds spent in booking calls.
``--nights N``: a catalog of N nightly snapshots of ``--shards`` shards each, booked as a
run books them (the plan, then its shards done in groups), kept in ``--keep FILE`` (built once,
then reused); then the PROX report's snapshot list (the ``snapshot_summary`` report, every
view of the overview) and the overview page itself, timed (``--repeats``, median) with the
code on ``PYTHONPATH`` (before/after: copy the file, run each checkout on its own copy;
opening the copy applies the code's pending migrations first, timed apart).

    python bench/booking.py --shards 2000
    python bench/booking.py --shards 200 --workers 1
    python bench/booking.py --nights 365 --shards 500 --keep /tmp/nights.sqlite
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if not any(Path(p, "prox_tasks").is_dir() for p in sys.path if p):
    sys.path.insert(0, str(ROOT))  # PYTHONPATH=<another checkout> measures that code instead
sys.path.append(str(ROOT))  # the bench package (bench.manifest_scale), whichever code
from prox_tasks.cli.arguments import count_or_zero, positive_int  # noqa: E402


def result(index: int) -> dict:
    return {"shard": index, "status": "refined", "wall_seconds": 1.0,
            "accounting": {"docs_read": 10, "docs_written": 9, "docs_kept": 8,
                           "docs_dropped": 1, "docs_quarantined": 1,
                           "quarantine_reasons": {"too_large": 1}, "uri": f"s3://b/{index}",
                           "bytes": 1000, "sha256": "0" * 64}}  # fmt: skip


def timed(n: int, grouped: bool) -> tuple[float, float]:
    from bench.manifest_scale import build_manifest
    from prox_tasks.catalog import Catalog
    from prox_tasks.refine.booking import BOOKED_TOGETHER, ShardBooking, register_plan

    with tempfile.TemporaryDirectory() as tmp:
        catalog = Catalog(f"sqlite:///{tmp}/catalog.sqlite")
        register_plan(catalog, "snap", build_manifest(n, "s3://in", "s3://out"))
        booking = ShardBooking(catalog, "snap")
        start = time.perf_counter()
        for i in range(n):
            booking.start(i, False)
        started = time.perf_counter() - start
        start = time.perf_counter()
        if grouped:
            for first in range(0, n, BOOKED_TOGETHER):
                booking.finish_many([result(i) for i in range(first, min(n, first + BOOKED_TOGETHER))])
        else:
            for i in range(n):
                booking.finish(i, result(i))
        seconds = time.perf_counter() - start
        assert {s["status"] for s in catalog.get_shards("snap")} == {"done"}
        catalog.close()
        return seconds, started


def refined(n: int, workers: int) -> None:
    """A real run of ``n`` one-document shards with ``workers``, booked in a catalog."""
    import threading

    from sqlalchemy import event

    from prox_tasks.catalog import Catalog
    from prox_tasks.corpus import plan_shards
    from prox_tasks.refine.booking import ShardBooking, register_plan
    from prox_tasks.refine.workers import refine_shards
    from tests.inference.helpers import build_tagger_artifact, short_docs, write_jsonl

    spent, lock = [0.0], threading.Lock()

    class TimedBooking(ShardBooking):  # the seconds spent in each booking call, any thread
        pass

    for name in ("start", "finish", "finish_many", "fail", "not_run"):
        def timed_call(self, *args, _real=getattr(ShardBooking, name), **kwargs):
            started = time.perf_counter()
            try:
                return _real(self, *args, **kwargs)
            finally:
                with lock:
                    spent[0] += time.perf_counter() - started
        setattr(TimedBooking, name, timed_call)

    with tempfile.TemporaryDirectory() as tmp:
        model = str(build_tagger_artifact(Path(tmp) / "tagger"))
        docs = short_docs(n, lines=3, width=60)
        assert len(docs) == n, f"the sample holds {len(docs)} documents: ask for fewer shards"
        source = write_jsonl(Path(tmp) / "in.jsonl", docs)
        out = str(Path(tmp) / "out")
        catalog = Catalog(f"sqlite:///{tmp}/catalog.sqlite")
        register_plan(catalog, "snap", plan_shards(str(source), out, target_docs=1))
        begun = []
        event.listen(catalog.engine, "begin", lambda conn: begun.append(1))
        start = time.perf_counter()
        results = refine_shards(out, list(range(n)), model=model, workers=workers,
                                threads=1, booking=TimedBooking(catalog, "snap"))
        seconds = time.perf_counter() - start
        assert [r["status"] for r in results] == ["refined"] * n
        assert {s["status"] for s in catalog.get_shards("snap")} == {"done"}
        catalog.close()
    print(f"--workers {workers}: {n} shards refined in {seconds:.2f} s; catalog transactions "
          f"{len(begun)} ({len(begun) / n:.2f} a shard); booking calls {spent[0]:.2f} s "
          f"({1000 * spent[0] / n:.2f} ms a shard)")


def book_nights(path: Path, nights: int, shards: int) -> None:
    """Book ``nights`` snapshots of ``shards`` shards, each done, in the catalog ``path``."""
    from bench.manifest_scale import build_manifest
    from prox_tasks.catalog import Catalog
    from prox_tasks.refine.booking import BOOKED_TOGETHER, ShardBooking, register_plan

    with Catalog(f"sqlite:///{path}") as catalog:
        for night in range(nights):
            name = f"crawl-{night:04d}"
            register_plan(catalog, name, build_manifest(shards, "s3://in", f"s3://out/{name}"))
            booking = ShardBooking(catalog, name)
            for first in range(0, shards, BOOKED_TOGETHER):
                booking.finish_many([result(i)
                                     for i in range(first, min(shards, first + BOOKED_TOGETHER))])
            catalog.update_snapshot(name, status="refined")


def overview(path: Path, nights: int, shards: int, repeats: int) -> None:
    """Time the report's snapshot list and overview page over the catalog ``path``."""
    import prox_tasks

    if not path.exists():
        started = time.perf_counter()
        book_nights(path, nights, shards)
        print(f"booked {nights} nights of {shards} shards in "
              f"{time.perf_counter() - started:.0f} s")
    from prox_tasks.catalog import Catalog
    from prox_tasks.release import GATE_SUITE
    from prox_tasks.report import RowFilter, overview_page

    started = time.perf_counter()
    catalog = Catalog(f"sqlite:///{path}")
    opened = time.perf_counter() - started

    def timed(call) -> list[float]:
        call()  # imports, caches
        out = []
        for _ in range(repeats):
            started = time.perf_counter()
            call()
            out.append(1000 * (time.perf_counter() - started))
        return out

    listed = timed(lambda: catalog.report("snapshot_summary", suite=GATE_SUITE, snapshot=None))
    page = timed(lambda: overview_page(catalog, RowFilter(), 1, "/prox", ""))
    rows = catalog.engine.connect().exec_driver_sql("SELECT COUNT(*) FROM shards").scalar()
    catalog.close()
    print(f"code {prox_tasks.__file__}: {rows:,} shard rows; catalog opened (migrations) in "
          f"{1000 * opened:.0f} ms; snapshot_summary median {statistics.median(listed):.1f} ms "
          f"({', '.join(f'{t:.0f}' for t in listed)}); overview page 1 median "
          f"{statistics.median(page):.1f} ms ({', '.join(f'{t:.0f}' for t in page)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shards", type=positive_int, default=2000,
                        help="shards booked (a snapshot's, with --nights) (default 2000)")
    parser.add_argument("--workers", type=count_or_zero, default=0,
                        help="0: the booking alone; N: a real refine with N workers")
    parser.add_argument("--nights", type=count_or_zero, default=0,
                        help="N: time the report's overview over N nights of --shards shards")
    parser.add_argument("--keep", type=Path, default=None,
                        help="with --nights: the catalog file (built when missing)")
    parser.add_argument("--repeats", type=positive_int, default=5,
                        help="--nights: timed calls of each, the median printed (default 5)")
    args = parser.parse_args()
    n = args.shards
    if args.nights:
        with tempfile.TemporaryDirectory() as tmp:
            overview(args.keep or Path(tmp) / "nights.sqlite", args.nights, n, args.repeats)
        return
    if args.workers:
        refined(n, args.workers)
        return
    for grouped in (False, True):
        seconds, started = timed(n, grouped)
        print(f"{'grouped' if grouped else 'one by one'}: {n} shards booked in {seconds:.2f} s "
              f"({1000 * seconds / n:.2f} ms a shard; 100,000 shards: "
              f"{100_000 * seconds / n / 60:.1f} min); started (an attempt each) in "
              f"{started:.2f} s ({1000 * started / n:.2f} ms a shard)")


if __name__ == "__main__":
    main()
