"""Refine benchmark: docs/s per core of `prox refine --model default` and its split, scaling
with workers, and peak memory against corpus size.

Corpus: real web pages — every record with a text of the public page collections (``--pages
DATA_DIR``, default ``$PROX_BENCH_DATA``; bench/README.md, "Data for the benches": WCXB, trafilatura, readability, Dolma, DCLM, C4, Common
Crawl; about 3,900 pages, 10 KB of text and 210 lines each on average), taken in file order
and cycled with new ids (``<id>~<copy>``) up to the size asked for, written as JSONL parts of
10,000 documents (built once into ``--work``, reused).

Each measurement runs the real command, ``python -m prox_tasks.cli refine --model default
--threads T --workers W``, in its own process: wall time, CPU time (user + system of the
command and its workers) and peak RSS (the largest process) come from the OS; the split
(read / features / forward / chunk programs / execute / checkpoint / write) from the shard
statistics the command prints. docs/s per core = documents / CPU seconds.

Workers: the speed runs cut the corpus into ``--shards-per-worker`` shards per worker of the
largest count compared. The fixed cost of a run (interpreter, imports, planning, each worker's
start and model load) is measured apart, by the same command on a corpus of one document per
shard, and the scaling is printed with and without it. What two processes can gain on this
machine at all is measured too (``ceiling``): the tagger scoring the same pages in one process,
then in two at once (no pipeline, no I/O), as a reference for the workers' scaling.

Usage::

    python bench/refine.py                          # 10K pages: speed, split, 1 vs 2 workers
    python bench/refine.py --sizes 10000,100000     # + peak RSS for each corpus size
    python bench/refine.py --sizes 10000,100000,1000000   # the 1M run takes hours on 2 cores
    # this checkout against another code tree, runs interleaved (e.g. main's commit):
    mkdir -p /tmp/base && git archive <commit> | tar -x -C /tmp/base
    python bench/refine.py --docs 2000 --workers '' --compare /tmp/base --repeats 5
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# this checkout's bench helpers, even when PYTHONPATH names another checkout first (whose bench/
# may lack them)
sys.path.insert(0, str(ROOT))
from bench.datadir import SAMPLE_ROOT, find, jsonl_rows, page_files, page_rows  # noqa: E402

# appended, not prepended: PYTHONPATH=<another checkout> still measures that checkout's code
sys.path.remove(str(ROOT))
sys.path.append(str(ROOT))
from prox_tasks.cli.arguments import count_or_zero, positive_int  # noqa: E402

PART_DOCS = 10_000


#: What a figure without the fixed cost reads when the run took no longer than that cost.
NOT_RESOLVED = "not resolved (the run took no longer than its fixed cost: give more --docs)"


def whole_numbers(text: str) -> list[int]:
    """A comma-separated list of positive whole numbers (``''``: none), for argparse."""
    return [positive_int(part) for part in text.split(",") if part.strip()]


def net_of_fixed(total: float, fixed: float) -> float | None:
    """``total`` (seconds) less the run's fixed cost (measured apart), or None where the run
    took no longer than that cost (a small corpus on a loaded machine): the difference is then
    noise, and a rate of it would read negative or infinite."""
    return total - fixed if total > fixed else None


def build_corpus(size: int, pages: Path, folder: Path, compress: bool = False) -> Path:
    """``size`` documents cycled from the pages, written once as JSONL parts (``.jsonl.gz``
    with ``compress``: the memory runs' corpora, 1M documents = ~10 GB of text). A corpus
    written before is reused only when built from the same pages folder: the folder is under
    ``--work``, shared by runs on DATA_DIR and on the bundled sample."""
    done = folder / "complete.json"
    source = str(Path(pages).resolve())
    built = json.loads(done.read_text()) if done.exists() else {}
    if built.get("docs") == size and built.get("from") == source:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    records = [{"id": str(row.get("id")), "text": row["text"], "source": row.get("source"),
                "url": row.get("url")} for row in page_rows(pages)]
    # each page serialized once, the new id put in front (1M rows: minutes, not an hour)
    bodies = [", " + json.dumps({k: v for k, v in r.items() if k != "id"}, ensure_ascii=False)[1:]
              + "\n" for r in records]  # fmt: skip
    written, part, out = 0, 0, None
    while written < size:
        if written % PART_DOCS == 0:
            if out:
                out.close()
            name = folder / f"part-{part:05d}.jsonl"
            out = (gzip.open(f"{name}.gz", "wt", encoding="utf-8", compresslevel=1)  # noqa: SIM115
                   if compress else open(name, "w", encoding="utf-8"))  # noqa: SIM115
            part += 1
        row, body = records[written % len(records)], bodies[written % len(records)]
        copy = written // len(records)
        out.write('{"id": ' + json.dumps(f"{row['id']}~{copy}") + body)
        written += 1
    out.close()
    text_mb = sum(len(r["text"].encode()) for r in records) / len(records) * size / 1e6
    done.write_text(json.dumps({"docs": size, "pages": len(records), "text_mb": round(text_mb),
                               "from": source}))
    return folder


def adopt_orphans() -> None:
    """Make this process the reaper of its descendants' orphans (Linux): the processes a
    command leaves behind when it exits (multiprocessing's fork server, which forks the
    workers, and its resource tracker) then come back to this process, which waits for
    them (:func:`reap_orphans`), so that their CPU time counts in ``RUSAGE_CHILDREN``."""
    import ctypes

    try:
        ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def reap_orphans(timeout: float = 60.0) -> None:
    """Wait for every descendant left behind by the command that just ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.01)
    raise RuntimeError("processes the command started were still running after it ended")


def run_refine(corpus: Path, out: Path, workers: int, threads: int, extra=(),
               code: Path = ROOT) -> dict:
    """One `prox refine` in a child process (of the code tree ``code``): figures from the
    OS and its summary."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "prox_tasks.cli", "refine", "--input", str(corpus),
           "--output", str(out), "--model", "default", "--json",
           "--workers", str(workers), "--threads", str(threads), *extra]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(code) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    started, started_at = time.perf_counter(), time.time()
    # run from the tree: `python -m` puts the working folder first on the module path
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, cwd=code)
    wall = time.perf_counter() - started
    reap_orphans()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    summary = json.loads(proc.stdout)
    split = summary.get("phase_seconds")  # every shard's; a tree before it: its results'
    if split is None:
        split = {}
        for result in summary["results"]:
            for key, value in ((result.get("stats") or {}).get("seconds") or {}).items():
                split[key] = split.get(key, 0.0) + value
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"docs": summary["docs_read"], "written": summary["docs_written"], "wall": wall,
            "cpu": cpu, "rss_mb": after.ru_maxrss / 1024, "split": split,
            "load": (load + os.getloadavg()[0]) / 2, "shards": summary["shards"],
            "timeline": timeline(summary, started_at, wall)}  # fmt: skip


def timeline(summary: dict, started_at: float, wall: float) -> str | None:
    """When the worker processes refined, from the command's start: their first shard's
    start, each one's last shard's end, the command's end (None without workers). From the
    summary's ``worker_timeline``, which covers every shard; a code tree from before it
    (``--compare``) from its ``results``, which above 1,000 shards hold a few only."""
    spans = summary.get("worker_timeline")
    if spans is None:
        spans = {}
        for r in summary["results"]:
            if "started_at" in r:
                first, last = spans.get(r["pid"], (r["started_at"], 0.0))
                spans[r["pid"]] = (min(first, r["started_at"]),
                                   max(last, r["started_at"] + r["wall_seconds"]))
        spans = [{"started_at": first, "ended_at": last} for first, last in spans.values()]
    if not spans:
        return None
    first = min(s["started_at"] for s in spans) - started_at
    ends = sorted(s["ended_at"] - started_at for s in spans)
    return (f"first shard started at {first:.1f} s, workers done at "
            f"{', '.join(f'{e:.1f}' for e in ends)} s, command ended at {wall:.1f} s")


def startup_corpus(corpus: Path, docs: int, folder: Path) -> Path:
    """The first ``docs`` documents of ``corpus`` (one per shard: the fixed cost of a run)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(next(iter(sorted(corpus.glob("*.jsonl")))), encoding="utf-8") as f:
        head = [next(f) for _ in range(docs)]
    (folder / "part-00000.jsonl").write_text("".join(head), encoding="utf-8")
    return folder


CEILING_CODE = """
import itertools, sys, time
from prox_tasks.corpus import read_rows
from prox_tasks.inference import load_backend
from prox_tasks.models import resolve_model
from prox_tasks.refine.workers import set_threads
set_threads(1)
texts = [row["text"] for _, _, row in itertools.islice(read_rows(sys.argv[1]), int(sys.argv[2]))]
tagger = load_backend(None, resolve_model("default").uri).inner
set_threads(1)
tagger.scores(texts[:16])
start = time.perf_counter()
tagger.scores(texts)
print(time.perf_counter() - start)
"""


def ceiling(corpus: Path, docs: int) -> tuple[float, float]:
    """(seconds of one process scoring ``docs`` pages, seconds of each of two doing it at
    once): what two processes gain here on the tagger's own work, nothing shared."""
    part = str(next(iter(sorted(corpus.glob("*.jsonl")))))
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-c", CEILING_CODE, part, str(docs)]

    def start():
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)

    alone = float(start().communicate()[0])
    pair = [start(), start()]
    together = [float(p.communicate()[0]) for p in pair]
    return alone, max(together)


def features_side_by_side(corpus: Path, docs: int) -> tuple[float, float]:
    """docs/s (CPU time) of the per-line Python reference and of the batch features."""
    sys.path.insert(0, str(ROOT))
    from prox_tasks.models.line_features import featurize_batch
    from tests.models import line_features_reference as reference

    texts = [row["text"] for row in jsonl_rows(next(iter(sorted(corpus.glob("*.jsonl")))))]
    texts = texts[:: max(1, len(texts) // docs)][:docs]  # every source, not the first files
    featurize_batch(texts[:8], 1 << 15)  # code-point tables, imports
    start = time.process_time()
    for i in range(0, len(texts), 512):
        featurize_batch(texts[i : i + 512], 1 << 15)
    batch = time.process_time() - start
    start = time.process_time()
    for text in texts:
        reference.featurize(text, 1 << 15)
    ref = time.process_time() - start
    return len(texts) / ref, len(texts) / batch


def compare(corpus: Path, trees: list[Path], args) -> None:
    """docs per CPU-second of each code tree's `prox refine` (1 worker, or each count of
    ``--compare-workers``), runs interleaved, medians, and whether each tree's refined shards
    at each count equal this one's at the first count, row for row; with several worker
    counts, each tree's scaling from the median wall times (measured under the same load,
    side by side)."""
    import statistics

    import pyarrow.parquet as pq

    counts = args.compare_workers
    # one worker: the default shards (a 10,000-document corpus is one shard); several: the
    # speed runs' shards, so that every count refines the same shards
    extra = ["--shards", str(max(counts) * args.shards_per_worker)] if len(counts) > 1 else []
    runs: dict[tuple, list] = {(t, w): [] for t in trees for w in counts}
    first: dict[tuple, list] = {}  # rows of each tree's first run at each count
    # not measured: a first run of each tree fills its caches (compiled kernels: once per
    # installed version of the code)
    tiny = startup_corpus(corpus, 8, args.work / "corpus-first-8")
    for i, tree in enumerate(trees):
        run_refine(tiny, args.work / f"out-warm-{i}", 1, args.threads, code=tree)
        shutil.rmtree(args.work / f"out-warm-{i}", ignore_errors=True)
    for _ in range(args.repeats):
        for i, tree in enumerate(trees):
            for workers in counts:
                out = args.work / f"out-compare-{i}"
                runs[tree, workers].append(run_refine(corpus, out, workers, args.threads, extra,
                                                      code=tree))  # fmt: skip
                if (tree, workers) not in first:
                    first[tree, workers] = [
                        pq.read_table(p, columns=["id", "text", "doc_program",
                                                  "chunk_program"]).to_pylist()
                        for p in sorted((out / "shards").glob("*.parquet"))]  # fmt: skip
                shutil.rmtree(out, ignore_errors=True)
    docs = runs[trees[0], counts[0]][0]["docs"]
    for workers in counts:
        mine = statistics.median(r["cpu"] for r in runs[trees[0], workers])
        for tree in trees:
            cpu = [r["cpu"] for r in runs[tree, workers]]
            median = statistics.median(cpu)
            print(f"compare: {tree}" + (f", workers {workers}" if len(counts) > 1 else "")
                  + f": CPU {', '.join(f'{c:.1f}' for c in cpu)} s, median "
                  f"{median:.1f} s = {docs / median:.0f} docs per CPU-second; this checkout "
                  f"{median / mine:.2f}x as fast; refined rows "
                  f"{'identical' if first[tree, workers] == first[trees[0], counts[0]] else 'DIFFERENT'}"  # noqa: E501
                  f" (to this checkout's, {counts[0]} worker{'s' * (counts[0] > 1)}); shard "
                  f"phases (wall s, medians): " + ", ".join(
                      f"{k} {statistics.median(r['split'].get(k, 0.0) for r in runs[tree, workers]):.2f}"  # noqa: E501
                      for k in ("features", "forward", "execute", "write", "total")),
                  flush=True)  # fmt: skip
    for tree in trees if len(counts) > 1 else ():
        walls = {w: statistics.median(r["wall"] for r in runs[tree, w]) for w in counts}
        lo, hi = min(counts), max(counts)
        print(f"compare: {tree}: wall s, medians: "
              + ", ".join(f"workers {w} {walls[w]:.1f}" for w in counts)
              + f"; scaling {lo} -> {hi} workers {walls[lo] / walls[hi]:.2f}x", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=positive_int, default=10_000, help="corpus of the speed runs")
    parser.add_argument("--sizes", type=whole_numbers, default=[], help="corpus sizes of the memory runs, e.g. "
                        "10000,100000,1000000 (empty: none)")
    parser.add_argument("--workers", type=whole_numbers, default=[1, 2], help="worker counts compared (empty: no "
                        "speed runs)")
    parser.add_argument("--threads", type=positive_int, default=1, help="threads per worker")
    parser.add_argument("--shards-per-worker", type=positive_int, default=4,
                        help="shards of the speed runs per worker of the largest count")
    parser.add_argument("--ceiling-docs", type=count_or_zero, default=1000,
                        help="pages of the two-process reference (0: skip)")
    parser.add_argument("--pages", type=Path, default=find() or SAMPLE_ROOT,
                        help="folder of */*.jsonl.gz page collections (DATA_DIR: bench/README.md, "
                        "Data for the benches; default $PROX_BENCH_DATA, else the bundled sample)")
    parser.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp"))
                        / "prox-bench-refine",
                        help="folder for the corpora and outputs (default $TMPDIR/prox-bench-refine)")
    parser.add_argument("--feature-docs", type=count_or_zero, default=1000,
                        help="documents of the features reference comparison (0: skip)")
    parser.add_argument("--memory-workers", type=positive_int, default=1,
                        help="workers of the memory runs (the peak is the largest process's)")
    parser.add_argument("--keep-corpora", action="store_true",
                        help="keep the memory runs' generated corpora (default: deleted)")
    parser.add_argument("--compare", default="", help="code trees (checkouts, e.g. from "
                        "`git worktree add` or `git archive`) whose `prox refine` runs "
                        "side by side with this one's on the speed corpus, 1 worker, "
                        "interleaved (docs per CPU-second, medians); comma-separated")
    parser.add_argument("--repeats", type=positive_int, default=3, help="runs per tree of --compare")
    parser.add_argument("--compare-workers", type=whole_numbers, default=[1], help="worker counts of --compare "
                        "(e.g. 1,2: each tree's scaling too, side by side; without --compare, "
                        "this checkout's, interleaved --repeats times: medians)")
    args = parser.parse_args()
    page_files(args.pages)  # a folder without pages stops here, not a run on other pages
    adopt_orphans()

    corpus = build_corpus(args.docs, args.pages, args.work / f"corpus-{args.docs}")
    info = json.loads((corpus / "complete.json").read_text())
    print(f"corpus: {info['docs']} documents cycled from {info['pages']} real pages "
          f"({info['text_mb']} MB of text), {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    if args.feature_docs:
        ref, new = features_side_by_side(corpus, args.feature_docs)
        print(f"features, {args.feature_docs} docs, docs per CPU-second: per-line reference "
              f"{ref:.0f}, batch {new:.0f} ({new / ref:.1f}x)")

    if args.compare or len(args.compare_workers) > 1:  # several counts: this checkout alone too
        compare(corpus, [ROOT] + [Path(t).resolve() for t in args.compare.split(",") if t],
                args)  # fmt: skip
    counts = args.workers
    shards = max(counts, default=1) * args.shards_per_worker
    runs, fixed = {}, {}
    tiny = startup_corpus(corpus, shards, args.work / f"corpus-first-{shards}")
    for workers in counts:
        fixed[workers] = run_refine(tiny, args.work / f"out-fixed-w{workers}", workers,
                                    args.threads, ["--shards", str(shards)])  # fmt: skip
        f = fixed[workers]
        print(f"fixed cost, workers {workers} ({shards} shards of 1 document): "
              f"{f['wall']:.1f} s wall, {f['cpu']:.1f} s CPU; load average {f['load']:.1f}"
              + (f"; {f['timeline']}" if f["timeline"] else ""), flush=True)  # fmt: skip
    for workers in counts:
        runs[workers] = run_refine(corpus, args.work / f"out-w{workers}", workers,
                                   args.threads, ["--shards", str(shards)])  # fmt: skip
        r = runs[workers]
        cpu = net_of_fixed(r["cpu"], fixed[workers]["cpu"])
        net = f"{r['docs'] / cpu:.0f}" if cpu else NOT_RESOLVED
        print(f"workers {workers} (threads {args.threads}, {r['shards']} shards): "
              f"{r['docs']} docs in {r['wall']:.1f} s wall = {r['docs'] / r['wall']:.0f} docs/s; "
              f"CPU {r['cpu']:.1f} s = {r['docs'] / r['cpu']:.0f} docs/s per core "
              f"({net} without the fixed cost); "
              f"peak RSS {r['rss_mb']:.0f} MiB; load average {r['load']:.1f}", flush=True)
        if r["timeline"]:
            print(f"workers {workers}: {r['timeline']}", flush=True)
        shutil.rmtree(args.work / f"out-w{workers}", ignore_errors=True)
    if runs:
        split = runs[min(runs)]["split"]
        order = ["read", "features", "forward", "chunk_phase", "execute", "checkpoint", "write"]
        total = split.get("total", sum(split.values()))
        print(f"split of the shard time (workers {min(runs)}): " + ", ".join(
            f"{k} {split.get(k, 0.0):.1f} s ({100 * split.get(k, 0.0) / total:.0f}%)"
            for k in order) + f"; total {total:.1f} s", flush=True)  # fmt: skip
    if len(runs) > 1:
        lo, hi = min(runs), max(runs)
        lo_net = net_of_fixed(runs[lo]["wall"], fixed[lo]["wall"])
        hi_net = net_of_fixed(runs[hi]["wall"], fixed[hi]["wall"])
        steady = f"{lo_net / hi_net:.2f}x" if lo_net and hi_net else NOT_RESOLVED
        print(f"scaling {lo} -> {hi} workers (wall time, same run): "
              f"{runs[lo]['wall'] / runs[hi]['wall']:.2f}x; without the fixed cost {steady}")
    if args.ceiling_docs and len(runs) > 1:
        alone, together = ceiling(corpus, args.ceiling_docs)
        print(f"ceiling: tagger scoring {args.ceiling_docs} pages, one process {alone:.1f} s, "
              f"two at once {together:.1f} s each: two processes do "
              f"{2 * alone / together:.2f}x the work of one here", flush=True)

    sizes = args.sizes
    batch_mb = None
    for size in [512] * bool(sizes) + sizes:  # 512: one batch, the baseline
        # compressed, and deleted after its run (1M documents: ~10 GB of text)
        folder = build_corpus(size, args.pages, args.work / f"corpus-{size}-gz", compress=True)
        r = run_refine(folder, args.work / f"out-size-{size}", args.memory_workers, args.threads)
        batch_mb = batch_mb or r["rss_mb"]
        print(f"memory: {size} documents, {r['shards']} shards, {args.memory_workers} worker(s): "
              f"peak RSS {r['rss_mb']:.0f} MiB "
              f"= {r['rss_mb'] / batch_mb:.2f}x one batch's ({r['docs'] / r['wall']:.0f} docs/s "
              f"wall, {r['docs'] / r['cpu']:.0f} per CPU-second, load average {r['load']:.1f})",
              flush=True)  # fmt: skip
        shutil.rmtree(args.work / f"out-size-{size}", ignore_errors=True)
        if not args.keep_corpora:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
