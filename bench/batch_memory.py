"""Resident memory between refine batches: does it level off, and what oneDNN's cache adds.

The shipped tagger scores ``--batches`` batches of ``--docs`` real pages drawn at random
(seeded) from the shared corpora, in a fresh process per setting, the heap trimmed after each
batch as the refine step does (:mod:`prox_tasks.refine.memory`). It prints the RSS after
every ``--every``-th batch and the seconds of features and forward passes, per setting:

- ``refine``: what a refine process runs with (importing :mod:`prox_tasks` turns oneDNN's
  primitive cache off and keeps one entry in torch's (ideep's) convolution cache,
  :mod:`prox_tasks.models.torch_caches`; ``bound_heap`` fixes the allocator's thresholds);
- ``onednn-cache``: the same with oneDNN's default cache (1,024 primitives);
- ``ideep-cache``: the same with ideep's default cache (1,024 convolutions);
- ``default-caches``: both caches at torch's defaults;
- ``no-onednn``: torch's own convolutions (``torch.backends.mkldnn.enabled = False``).

The settings run one after another, so their seconds are comparable only as ratios on a quiet
machine. Usage: ``python bench/batch_memory.py [--batches 150] [--docs 256]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# this checkout's bench helpers, even when PYTHONPATH names another checkout first (whose bench/
# may lack them)
sys.path.insert(0, str(ROOT))
from bench.datadir import SAMPLE_ROOT, find, page_files, page_texts  # noqa: E402

# appended, not prepended: PYTHONPATH=<another checkout> still measures that checkout's code
sys.path.remove(str(ROOT))
sys.path.append(str(ROOT))
from prox_tasks.cli.arguments import positive_int  # noqa: E402

SETTINGS = ("refine", "onednn-cache", "ideep-cache", "default-caches", "no-onednn")


def rss_mib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024
    return 0


def measure(setting: str, batches: int, docs: int, every: int, root: Path) -> dict:
    """One setting, in this process (run by :func:`main` in a fresh one)."""
    import torch

    from prox_tasks.models.line_tagger import LineTaggerRefiner
    from prox_tasks.models.resolver import shipped_default
    from prox_tasks.models.torch_caches import IDEEP_CACHE_ENV, ONEDNN_CACHE_ENV
    from prox_tasks.refine.memory import bound_heap, release_free_memory

    if setting in ("onednn-cache", "default-caches"):
        os.environ[ONEDNN_CACHE_ENV] = "1024"
    if setting in ("ideep-cache", "default-caches"):
        os.environ[IDEEP_CACHE_ENV] = "1024"
    if setting == "no-onednn":
        torch.backends.mkldnn.enabled = False
    bound_heap()
    texts, rng = page_texts(root), random.Random(0)
    tagger = LineTaggerRefiner(shipped_default().uri, threads=1)
    start, series = rss_mib(), []
    for i in range(batches):
        tagger.scores(rng.sample(texts, docs))
        release_free_memory()
        if i % every == 0 or i == batches - 1:
            series.append(rss_mib())
    return {"setting": setting, "start": start, "series": series,
            "features_s": round(tagger.phases["features"], 1),
            "forward_s": round(tagger.phases["forward"], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=positive_int, default=150,
                        help="batches of --docs random pages run in each setting (default 150)")
    parser.add_argument("--docs", type=positive_int, default=256, help="pages per batch")
    parser.add_argument("--every", type=positive_int, default=10, help="print the RSS every N batches")
    parser.add_argument("--pages", type=Path, default=find() or SAMPLE_ROOT,
                        help="folder of */*.jsonl.gz page collections (DATA_DIR: bench/README.md, "
                        "Data for the benches; default $PROX_BENCH_DATA, else the bundled sample)")
    parser.add_argument("--settings", default=",".join(SETTINGS),
                        help="comma-separated settings, each in a fresh process (default: all, "
                        f"{','.join(SETTINGS)})")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a child process: one setting
    args = parser.parse_args()
    page_files(args.pages)  # a folder without pages stops here, not in each setting's child
    if args.one:
        print(json.dumps(measure(args.one, args.batches, args.docs, args.every, args.pages)))
        return
    print(f"{args.batches} batches of {args.docs} random pages, RSS (MiB) after every "
          f"{args.every}th batch")
    env = {k: v for k, v in os.environ.items()
           if k not in ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "LRU_CACHE_CAPACITY")}
    for setting in args.settings.split(","):
        out = subprocess.run([sys.executable, __file__, "--one", setting,
                              "--batches", str(args.batches), "--docs", str(args.docs),
                              "--every", str(args.every), "--pages", str(args.pages)],
                             env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True,
                             text=True, check=True)  # fmt: skip
        r = json.loads(out.stdout.strip().splitlines()[-1])
        series = r["series"]
        print(f"{r['setting']:>14}: model loaded {r['start']}, after batches "
              f"{' '.join(map(str, series))}; rise {series[-1] - series[0]} MiB; "
              f"features {r['features_s']} s, forward {r['forward_s']} s")


if __name__ == "__main__":
    main()
