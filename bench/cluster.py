"""Celery on loopback: docs/s of the nightly DAG's refine phase with 1 and 2 workers.

One run of ``prox_refine_snapshot`` per worker count, on the same input, each on a fresh
deployment of the live-test harness (``tests/deploy``): PostgreSQL metadata DB and catalog,
Redis broker, scheduler + dag-processor + api-server, N ``airflow celery worker`` processes
with one task slot each (a worker stands for one machine). Printed per worker count: the
refine phase (first shard start to last shard end, from the task instances), its docs/s,
the median refine task's seconds, how many cores the machine kept busy over the refine
phase (all processes: workers, task processes, scheduler, broker, database; ``/proc/stat``),
the whole run's wall time, and how many shards each worker ran; then whether the refined
shards are byte-identical across worker counts.

    python bench/cluster.py                       # 2,400 docs in 8 shards, 1 then 2 workers
    python bench/cluster.py --docs 20000 --shards 16 --workers 1,2,4

Needs Debian's ``postgresql`` and ``redis-server``. On 2 cores two workers can at best double
the one-worker figure; the scheduler, API server and broker share the same cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from prox_tasks.cli.arguments import positive_int  # noqa: E402

DAG = "prox_refine_snapshot"


def refine_phase(tis: list[dict]) -> tuple[datetime, datetime]:
    """The first refine task's start and the last one's end."""
    starts = [datetime.fromisoformat(t["start_date"]) for t in tis]
    ends = [datetime.fromisoformat(t["end_date"]) for t in tis]
    return min(starts), max(ends)


def task_seconds(ti: dict) -> float:
    return (datetime.fromisoformat(ti["end_date"])
            - datetime.fromisoformat(ti["start_date"])).total_seconds()


class MachineCpu:
    """Busy CPU seconds of the whole machine (``/proc/stat``), sampled every 0.5 s."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    @staticmethod
    def busy_seconds() -> float:
        with open("/proc/stat") as stat:
            ticks = [int(v) for v in stat.readline().split()[1:]]
        idle = ticks[3] + ticks[4]  # idle, iowait
        return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), self.busy_seconds()))
            self._stop.wait(0.5)

    def cores_busy(self, start: datetime, end: datetime) -> float:
        """Mean busy cores between two instants (the nearest samples inside them)."""
        inside = [s for s in self.samples if start.timestamp() <= s[0] <= end.timestamp()]
        if len(inside) < 2:
            return float("nan")
        (t0, b0), (t1, b1) = inside[0], inside[-1]
        return (b1 - b0) / (t1 - t0)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def run_once(workers: int, crawl: Path, docs: int, shard_docs: int, root: Path, postgres,
             redis) -> dict:
    from tests.dags.services import no_scheduled_run
    from tests.deploy.deployment import Deployment, DeploymentConfig

    config = DeploymentConfig(executor="CeleryExecutor", workers=workers, worker_concurrency=1,
                              pools={"gpu": workers, "teacher_api": 4}, parallelism=workers + 2,
                              env=no_scheduled_run())
    output = root / f"out-{workers}"
    conf = {"input_uri": str(crawl), "output_root": str(output), "snapshot_name": "bench",
            "target_docs": shard_docs, "max_drop_rate": 0.95, "dry_run": True}
    with Deployment(config, root / f"deploy-{workers}", postgres, redis=redis) as d:
        d.airflow.unpause(DAG)
        cpu = MachineCpu()
        try:
            run_id = d.airflow.trigger(DAG, conf)
            run = d.airflow.wait_run(DAG, run_id, timeout=7200, poll=5)
        finally:
            cpu.stop()
        if run["state"] != "success":
            raise RuntimeError(f"run failed with {workers} workers:\n{d.airflow.tail()}")
        tis = [t for t in d.airflow.task_instances(DAG, run_id) if t["task_id"] == "refine_shard"]
    first, last = refine_phase(tis)
    phase = (last - first).total_seconds()
    wall = (datetime.fromisoformat(run["end_date"])
            - datetime.fromisoformat(run["start_date"])).total_seconds()
    shards = sorted((output / "snapshots" / "bench" / "shards").glob("*.parquet"))
    return {"workers": workers, "phase_s": phase, "docs_per_s": docs / phase, "wall_s": wall,
            "task_s": statistics.median(map(task_seconds, tis)),
            "cores_busy": cpu.cores_busy(first, last),
            "per_worker": dict(sorted(Counter(t["hostname"] for t in tis).items())),
            "shards": {p.name: p.read_bytes() for p in shards}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=positive_int, default=2400,
                        help="documents of the input refined (default 2400)")
    parser.add_argument("--shards", type=positive_int, default=8,
                        help="shards the input is planned into (default 8)")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    args = parser.parse_args()
    from tests.dags.crawl import repeated_rows, write_jsonl
    from tests.deploy.postgres import PostgresServer
    from tests.deploy.redis import RedisServer

    counts = [int(n) for n in args.workers.split(",")]
    shard_docs = -(-args.docs // args.shards)
    root = Path(tempfile.mkdtemp(prefix="prox-bench-cluster-"))
    crawl = write_jsonl(root / "crawl" / "part-0.jsonl", repeated_rows(args.docs))
    postgres, redis = PostgresServer().start(), RedisServer().start()
    try:
        results = [run_once(n, crawl, args.docs, shard_docs, root, postgres, redis)
                   for n in counts]
    finally:
        redis.stop()
        postgres.stop()
    print(f"\nCelery on loopback: {args.docs} docs in {args.shards} shards of {shard_docs}, "
          f"one task slot per worker, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"{'workers':>7} {'refine phase s':>14} {'docs/s':>8} {'vs 1':>6} {'task s':>6} "
          f"{'cores busy':>10} {'run wall s':>10}  shards per worker")
    base = results[0]["docs_per_s"]
    for r in results:
        print(f"{r['workers']:>7} {r['phase_s']:>14.1f} {r['docs_per_s']:>8.1f} "
              f"{r['docs_per_s'] / base:>5.2f}x {r['task_s']:>6.1f} {r['cores_busy']:>10.2f} "
              f"{r['wall_s']:>10.1f}  {r['per_worker']}")
    identical = all(r["shards"] == results[0]["shards"] for r in results)
    print(f"refined shards byte-identical across worker counts: {'yes' if identical else 'NO'}")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
