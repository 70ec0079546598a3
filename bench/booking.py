"""Booking finished shards in the catalog (SQLite, a file).

``--workers 0`` (the default): the booking alone, for a run's shards started then finished:
one shard at a time (``ShardBooking.finish``) against a group at a time (``finish_many``).
``--workers N``: a real ``refine_shards`` of one-document shards with N workers (1: the
serial path, ``prox refine --workers 1``), booked in a catalog: the run's seconds, the
catalog transactions it began and the seconds spent in booking calls.

    python bench/booking.py --shards 2000
    python bench/booking.py --shards 200 --workers 1
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from prox_tasks.cli.arguments import count_or_zero, positive_int  # noqa: E402


def result(index: int) -> dict:
    return {"shard": index, "status": "refined", "wall_seconds": 1.0,
            "accounting": {"docs_read": 10, "docs_written": 9, "docs_kept": 8,
                           "docs_dropped": 1, "docs_quarantined": 1,
                           "quarantine_reasons": {"too_large": 1}, "uri": f"s3://b/{index}",
                           "bytes": 1000, "sha256": "0" * 64}}  # fmt: skip


def timed(n: int, grouped: bool) -> float:
    from bench.manifest_scale import build_manifest
    from prox_tasks.catalog import Catalog
    from prox_tasks.refine.booking import BOOKED_TOGETHER, ShardBooking, register_plan

    with tempfile.TemporaryDirectory() as tmp:
        catalog = Catalog(f"sqlite:///{tmp}/catalog.sqlite")
        register_plan(catalog, "snap", build_manifest(n, "s3://in", "s3://out"))
        booking = ShardBooking(catalog, "snap")
        for i in range(n):
            booking.start(i, False)
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
        return seconds


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shards", type=positive_int, default=2000)
    parser.add_argument("--workers", type=count_or_zero, default=0,
                        help="0: the booking alone; N: a real refine with N workers")
    args = parser.parse_args()
    n = args.shards
    if args.workers:
        refined(n, args.workers)
        return
    for grouped in (False, True):
        seconds = timed(n, grouped)
        print(f"{'grouped' if grouped else 'one by one'}: {n} shards booked in {seconds:.2f} s "
              f"({1000 * seconds / n:.2f} ms a shard; 100,000 shards: "
              f"{100_000 * seconds / n / 60:.1f} min)")


if __name__ == "__main__":
    main()
