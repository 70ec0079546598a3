"""A rerun of a published snapshot on S3 (moto's server over HTTP): the wall time and the S3
requests of ``refine_shards`` finding every shard published, per shard.

    python bench/rerun_published.py --shards 300
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.moto_s3 import moto_bucket  # noqa: E402
from prox_tasks.cli.arguments import positive_int  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shards", type=positive_int, default=300,
                        help="published shards the rerun finds (default 300)")
    args = parser.parse_args()
    from prox_tasks.corpus import plan_shards
    from prox_tasks.refine.workers import refine_shards
    from prox_tasks.storage import get_client, put_atomic
    from tests.inference.helpers import build_tagger_artifact, short_docs

    with moto_bucket("bench"), tempfile.TemporaryDirectory() as tmp:
        model = str(build_tagger_artifact(Path(tmp) / "tagger"))
        rows = "".join(json.dumps(d) + "\n" for d in short_docs(args.shards, lines=3, width=60))
        put_atomic("s3://bench/in/part-0.jsonl", rows)
        out = "s3://bench/out"
        plan_shards("s3://bench/in/", out, target_docs=1)
        indexes = list(range(args.shards))
        refine_shards(out, indexes, model=model)
        sent = collections.Counter()
        get_client().meta.events.register("before-call.s3", lambda model, **_: sent.update(
            [model.name]))
        start = time.perf_counter()
        results = refine_shards(out, indexes, model=model)
        seconds = time.perf_counter() - start
        assert all(r["status"] == "skipped" for r in results)
        print(f"rerun of {args.shards} published shards: {seconds:.2f} s "
              f"({1000 * seconds / args.shards:.1f} ms a shard); requests: {dict(sent)}")


if __name__ == "__main__":
    main()
