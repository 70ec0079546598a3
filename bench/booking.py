"""Booking finished shards in the catalog (SQLite, a file): one shard at a time
(``ShardBooking.finish``) against a group at a time (``finish_many``, as ``refine_shards``
books them now), for a run's shards started then finished.

    python bench/booking.py --shards 2000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def result(index: int) -> dict:
    return {"shard": index, "status": "refined", "wall_seconds": 1.0,
            "accounting": {"docs_read": 10, "docs_written": 9, "docs_kept": 8,
                           "docs_dropped": 1, "docs_quarantined": 1,
                           "quarantine_reasons": {"too_large": 1}, "uri": f"s3://b/{index}",
                           "bytes": 1000, "sha256": "0" * 64}}  # fmt: skip


def timed(n: int, grouped: bool) -> float:
    from bench.manifest_scale import build_manifest
    from prox_tasks.catalog import Catalog
    from prox_tasks.refine.booking import ShardBooking, register_plan
    from prox_tasks.refine.workers import BOOKED_TOGETHER

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shards", type=int, default=2000)
    n = parser.parse_args().shards
    for grouped in (False, True):
        seconds = timed(n, grouped)
        print(f"{'grouped' if grouped else 'one by one'}: {n} shards booked in {seconds:.2f} s "
              f"({1000 * seconds / n:.2f} ms a shard; 100,000 shards: "
              f"{100_000 * seconds / n / 60:.1f} min)")


if __name__ == "__main__":
    main()
