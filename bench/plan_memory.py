"""Peak memory of ``prox plan`` over many small input files, and what writing its plan adds.

``--files`` one-line JSONL files (a delivery of many small files) are written once into
``--work``; then, in a fresh process, ``prox plan`` over them, as a user runs it: wall
seconds, tracemalloc's peak (Python allocations) and the process's peak RSS, and both per
input file. Then, on the plan it wrote: the peak of making its ``manifest.json`` text the
way it was made before (``json.dumps(_plain(asdict(plan)), indent=1, sort_keys=True)``:
every token of the whole plan its own string before the join, beside the plan as dicts) and
now (``Manifest.to_json``, a file and a shard at a time), and that both give the same bytes.
Usage: ``python bench/plan_memory.py [--files 20000] [--work DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from prox_tasks.cli.arguments import positive_int  # noqa: E402

#: Run in the child process: ``prox plan`` under tracemalloc, its figures as one JSON line.
CHILD = """
import json, resource, sys, time, tracemalloc
from prox_tasks.cli import main
tracemalloc.start()
start = time.perf_counter()
code = main(["plan", "--input", sys.argv[1], "--output", sys.argv[2], "--no-progress"])
seconds = time.perf_counter() - start
print(json.dumps({"code": code, "seconds": seconds, "peak": tracemalloc.get_traced_memory()[1],
                  "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def write_inputs(folder: Path, files: int) -> None:
    """``files`` one-line JSONL files in ``folder`` (kept: written once for every run)."""
    folder.mkdir(parents=True, exist_ok=True)
    if len(os.listdir(folder)) == files:
        return
    for i in range(files):
        (folder / f"part-{i:07d}.jsonl").write_text(
            json.dumps({"id": f"doc-{i}", "text": f"One line of page {i}."}) + "\n")


def plan_in_a_process(inputs: Path, output: Path) -> dict:
    """``prox plan`` of ``inputs`` into a new ``output``, in a fresh Python process."""
    import shutil

    shutil.rmtree(output, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PROX_HOME": str(output.parent / "home")}
    done = subprocess.run([sys.executable, "-c", CHILD, str(inputs), str(output)], env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def peak_of(make) -> tuple[object, int]:
    """What ``make()`` returns and the Python memory it allocated at its peak."""
    tracemalloc.start()
    try:
        made = make()
        return made, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=positive_int, default=20000,
                        help="one-line input files (default 20000)")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "out" / "plan_memory",
                        help="folder for the inputs (kept, reused) and the plan")
    args = parser.parse_args()
    from dataclasses import asdict

    from prox_tasks.corpus.manifest import _plain, load_manifest

    inputs = args.work / f"in-{args.files}"
    write_inputs(inputs, args.files)
    run = plan_in_a_process(inputs, args.work / "out")
    mb = 1024 * 1024
    print(f"prox plan of {args.files:,} one-line files: exit {run['code']}, "
          f"{run['seconds']:.1f} s, tracemalloc peak {run['peak'] / mb:.1f} MB "
          f"({run['peak'] / args.files / 1024:.2f} KB a file), peak RSS "
          f"{run['rss_kb'] / 1024:.0f} MB")
    written = (args.work / "out" / "manifest.json").read_text()
    plan = load_manifest(str(args.work / "out"))  # the planner's own reader
    start = time.perf_counter()
    before, before_peak = peak_of(
        lambda: json.dumps(_plain(asdict(plan)), indent=1, sort_keys=True) + "\n")
    before_s = time.perf_counter() - start
    start = time.perf_counter()
    after, after_peak = peak_of(plan.to_json)
    after_s = time.perf_counter() - start
    print(f"manifest.json ({len(written) / mb:.1f} MB) made: before {before_peak / mb:.1f} MB "
          f"peak, {before_s:.2f} s; now {after_peak / mb:.1f} MB peak, {after_s:.2f} s; "
          f"same bytes: {before == after == written}")
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
