"""What a nightly catalog's growing release list costs the gate and the release.

Books ``--releases`` released snapshots (one gate report each) in a SQLite catalog file, as
a catalog holds after that many nights, then times what each night's run asks of it: the
gate's history (``refresh.released_history``, the last 10 releases' gate metrics) and the
release's catalog check (``release.catalog_refusal``); median of ``--repeats``, with the
queries each call sent. Another checkout's code over the same catalog::

    python bench/gate_history.py --releases 1000 --keep /tmp/gh.sqlite
    PYTHONPATH=<checkout before> python bench/gate_history.py --releases 1000 --keep /tmp/gh.sqlite
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if not any(Path(p, "prox_tasks").is_dir() for p in sys.path if p):
    sys.path.insert(0, str(ROOT))  # PYTHONPATH=<another checkout> measures that code instead
from prox_tasks.cli.arguments import positive_int  # noqa: E402


def book(catalog, releases: int) -> None:
    from prox_tasks.release import GATE_SUITE

    stats = {"docs_kept": 1000, "drop_rate": 0.1, "quarantine_rate": 0.0, **{
        f"metric_{i}": i / 10 for i in range(40)}}  # about a gate's metrics in size
    for n in range(releases):
        name = f"night-{n:05d}"
        catalog.register_snapshot(name, "in", f"/out/{name}", status="refined")
        report = catalog.add_quality_report(name, GATE_SUITE, True, stats)
        catalog.register_release(name, name, f"file:///r/{name}", quality_report_id=report)
    catalog.register_snapshot("tonight", "in", "/out/tonight", status="refined")
    catalog.add_quality_report("tonight", GATE_SUITE, True, stats)


def measure(fn, repeats: int, catalog) -> tuple[float, int]:
    from sqlalchemy import event

    sent = []

    def record(conn, cursor, statement, *_):
        sent.append(statement)

    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    event.listen(catalog.engine, "before_cursor_execute", record)
    fn()
    event.remove(catalog.engine, "before_cursor_execute", record)
    return statistics.median(times), sum(s.lstrip().upper().startswith("SELECT") for s in sent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--releases", type=positive_int, default=1000,
                        help="released snapshots booked in the catalog (default 1000)")
    parser.add_argument("--repeats", type=positive_int, default=5,
                        help="timed calls, the median printed (default 5)")
    parser.add_argument("--keep", type=Path, required=True, help="the SQLite catalog file")
    args = parser.parse_args()
    from prox_tasks.catalog import Catalog
    from prox_tasks.pipeline.refresh import released_history
    from prox_tasks.release.release import catalog_refusal

    fresh = not args.keep.exists()
    catalog = Catalog(f"sqlite:///{args.keep}")
    if fresh:
        book(catalog, args.releases)
    history = measure(lambda: released_history(catalog, "tonight", 10), args.repeats, catalog)
    refusal = measure(lambda: catalog_refusal(catalog, "tonight", "/out/tonight"),
                      args.repeats, catalog)
    code = Path(sys.modules["prox_tasks"].__file__).parents[1]
    print(f"{args.releases} releases, code {code}: gate history {history[0] * 1e3:.1f} ms, "
          f"{history[1]} queries; release check {refusal[0] * 1e3:.1f} ms, {refusal[1]} queries")
    catalog.close()


if __name__ == "__main__":
    main()
