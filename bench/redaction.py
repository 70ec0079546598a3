"""Microseconds per log record through prox's redaction (``prox_tasks.redaction``).

A logger whose handler formats each record into memory, side by side in one run:

- ``no filter``: the handler alone (what formatting a record costs anyway);
- ``before``: the :class:`~prox_tasks.redaction.RedactingFilter` reading the environment's
  secrets again for every record, as it did before they were kept (the bench forgets the
  kept ones before each record: the same scan, sort and encoding);
- ``now``: the filter as it is, the environment read again only when it changed.

Records alternate a plain one and one with a URL holding a password (redacted). The
environment is this process's, plus ``--variables`` extra ones (a worker's environment
holds dozens to hundreds). Time: median of ``--repeats`` passes of ``--records`` each.
Usage: ``python bench/redaction.py [--records 5000] [--repeats 7] [--variables 100]``.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if not any(Path(p, "prox_tasks").is_dir() for p in sys.path if p):
    sys.path.insert(0, str(ROOT))
from prox_tasks.cli.arguments import count_or_zero, positive_int  # noqa: E402


def per_record(logger: logging.Logger, records: int, repeats: int, before=None) -> float:
    """Median microseconds per record of ``repeats`` passes of ``records`` records;
    ``before``: called ahead of each record (not timed apart: it is the old work)."""
    passes = []
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(records):
            if before is not None:
                before()
            if i % 2:
                logger.info("GET %s took %d ms", "https://u:Pw-0123456@h/v1/x", i)
            else:
                logger.info("shard %d of %s refined", i, "s3://bucket/snap")
        passes.append((time.perf_counter() - start) / records * 1e6)
    return statistics.median(passes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--records", type=positive_int, default=5000, help="records logged per pass"
    )
    parser.add_argument("--repeats", type=positive_int, default=7, help="passes (median)")
    parser.add_argument(
        "--variables",
        type=count_or_zero,
        default=100,
        help="extra environment variables, a few named like secrets",
    )
    args = parser.parse_args()
    from prox_tasks import redaction

    for i in range(args.variables):  # a worker's environment: mostly settings, some secrets
        name = f"BENCH_SECRET_{i}_API_KEY" if i % 10 == 0 else f"BENCH_SETTING_{i}"
        os.environ[name] = f"value-{i:04d}-{'x' * 20}"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("botocore.bench")
    logger.propagate, logger.level = False, logging.INFO
    logger.addHandler(handler)

    def forget() -> None:
        redaction._ENVIRONMENT.seen = None

    plain = per_record(logger, args.records, args.repeats)
    stream.seek(0), stream.truncate()  # what the filtered passes write: no password
    handler.addFilter(redaction.RedactingFilter())
    rows = [
        ("no filter", plain),
        (
            "before: environment read per record",
            per_record(logger, args.records, args.repeats, before=forget),
        ),
        ("now: environment read when changed", per_record(logger, args.records, args.repeats)),
    ]
    assert "Pw-0123456" not in stream.getvalue()
    print(
        f"{len(os.environ)} environment variables, {args.records} records x "
        f"{args.repeats} passes (median)"
    )
    for name, micros in rows:
        print(f"{name:<40} {micros:8.1f} µs/record")


if __name__ == "__main__":
    main()
