"""Pathological documents through the refine step: peak memory and time, in a fresh process each.

Cases (each a one-file corpus refined by ``refine_corpus`` with the embedded tagger — reader,
limits, tagger, executor, Parquet writer — unless said otherwise):

- ``lines-N``: one legal document of N short lines (``"ab"``/``"c"``, 2.5 bytes a line;
  4M lines: ``"a"``, 2 bytes a line, 8 MB), refined with ``max_doc_lines`` raised to N: peak
  RSS above the baseline against the batch's bytes (``x batch``) and per line, and seconds
  per line, for growing N (linear growth means flat ratios).
- ``default-1M``, ``default-4M``: the same 1M- and 4M-line documents under the default limits:
  quarantined as ``too_many_lines`` (never a crash), at the memory of reading them.
- ``bytes-50MB``: one 50 MB document (prose lines): over ``max_doc_bytes`` it is quarantined
  by the reader as ``too_large`` without being held whole; ``bytes-50MB-raised`` (``--full``):
  refined, with the byte and line limits raised to admit it.
- ``batch``: a batch at the default ``max_batch_lines`` (2 documents of 100,000 lines): the
  largest batch the default limits admit.
- ``pages``: real pages, the heaviest default batch: the largest texts of DATA_DIR
  (``$PROX_BENCH_DATA``; bench/README.md, "Data for the benches"), at most 512 and 200,000
  lines (skipped where that folder is missing).
- ``program-K``: ``prox_tasks.programs.execute`` of a malformed K-byte program
  (``remove_lines(1, 2`` then spaces and ``x``), for K up to 1 MB: seconds per KB (linear
  parsing keeps it flat); a case over ``--program-timeout`` seconds is reported as such.

Memory is the peak RSS (``VmHWM``, reset after the tagger is loaded) above the RSS before
planning; time is planning plus refining; ``x batch`` is that memory divided by the text
bytes of the batch (the one batch each case refines). Usage: ``python bench/limits.py
[--lines 100000,200000,400000] [--full]`` (``--full`` adds the 1M- and 4M-line documents and
the 50 MB one refined with raised limits: minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MB = 1_000_000
# this checkout's bench helpers, even when PYTHONPATH names another checkout first (whose bench/
# may lack them)
sys.path.insert(0, str(ROOT))
from bench.datadir import find, page_texts, require  # noqa: E402

# appended, not prepended: PYTHONPATH=<another checkout> still measures that checkout's code
sys.path.remove(str(ROOT))
sys.path.append(str(ROOT))

# the public page collections ($PROX_BENCH_DATA, else beside the checkout; children inherit it)
SHARED = find()


def _largest_pages(n: int, max_lines: int) -> list[str]:
    """The largest pages, at most ``n`` of them and ``max_lines`` lines (one default batch)."""
    chosen, lines = [], 0
    for text in sorted(page_texts(SHARED), key=len, reverse=True):
        if len(chosen) == n or lines + text.count("\n") + 1 > max_lines:
            break
        chosen.append(text)
        lines += text.count("\n") + 1
    return chosen


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _lines_text(n: int, long: str = "ab") -> str:
    return "\n".join(long if i % 2 else "c" for i in range(n))


def build_input(folder: Path, spec: dict) -> tuple[int, int]:
    """Write the case's one-file corpus (in the parent: the child's peak is refining only);
    returns its text bytes and lines."""
    if spec["kind"] == "lines":
        texts = [_lines_text(spec["n"], spec.get("long", "ab"))]
    elif spec["kind"] == "bytes":
        line = "A plain sentence of prose that goes on for a while, as pages do. " * 2
        texts = ["\n".join([line] * (spec["n"] // len(line) + 1))]
    elif spec["kind"] == "batch":
        texts = [_lines_text(spec["n"]) for _ in range(spec["docs"])]
    elif spec["kind"] == "pages":
        texts = _largest_pages(spec["n"], 200_000)
    else:
        texts = ["one line"]
    with open(folder / "in.jsonl", "w") as f:
        for i, text in enumerate(texts):
            f.write(json.dumps({"id": f"d{i}", "text": text}) + "\n")
    return sum(len(t.encode()) for t in texts), sum(t.count("\n") + 1 for t in texts)


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def child_refine(spec: dict) -> dict:
    """Run in the child: load the tagger, reset the peak-RSS mark (Linux ``clear_refs``),
    then plan and refine the corpus; report the peak above the RSS before, and seconds."""
    sys.path.insert(0, str(ROOT))
    from prox_tasks.corpus import plan_shards
    from prox_tasks.inference import load_backend
    from prox_tasks.refine import refine_shard
    from prox_tasks.refine.limits import Limits

    folder = Path(spec["folder"])
    limits = Limits.resolve(spec.get("limits"))
    refiner = load_backend(None, "default")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # VmHWM := VmRSS
    before = _status_mb("VmRSS")
    start = time.perf_counter()
    plan_shards(str(folder / "in.jsonl"), str(folder / "out"), target_docs=1 << 30,
                max_doc_bytes=limits.max_doc_bytes)
    result = refine_shard(str(folder / "out"), 0, refiner=refiner, limits=limits.to_dict())
    seconds = time.perf_counter() - start
    acc = result["accounting"]
    return {"peak_mb": _status_mb("VmHWM"), "before_mb": before, "seconds": seconds,
            "written": acc["docs_written"], "quarantined": acc["quarantine_reasons"]}


def child_program(spec: dict) -> dict:
    sys.path.insert(0, str(ROOT))
    from prox_tasks.programs import execute

    half = spec["n"] // 2
    program = "remove_lines(1, 2" + " " * half + "x" * (spec["n"] - half - 17)
    start = time.perf_counter()
    result = execute("a\nb\nc\n", None, program)
    return {"seconds": time.perf_counter() - start, "peak_mb": _peak_mb(),
            "errors": dict(result.stats.errors), "bytes": len(program)}


def run_child(spec: dict, timeout: float) -> dict | None:
    command = [sys.executable, __file__, "--child", json.dumps(spec)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        raise RuntimeError(f"{spec}: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def refine_cases(args, folder: Path) -> None:
    def case(name: str, spec: dict) -> dict:
        sub = folder / name
        sub.mkdir()
        n_bytes, n_lines = build_input(sub, spec)
        result = run_child({**spec, "folder": str(sub)}, args.timeout)
        return result and {**result, "bytes": n_bytes, "lines": n_lines}

    base = case("baseline", {"kind": "one"})
    print(f"baseline (one-line document): RSS {base['before_mb']:.0f} MB with the tagger "
          f"loaded, +{base['peak_mb'] - base['before_mb']:.0f} MB to refine it, "
          f"{base['seconds']:.2f} s")
    print("+MB: peak RSS above the RSS before planning (tagger loaded); x batch: +MB divided "
          "by the batch's text bytes; +B/line: per line")
    print(f"{'case':<18}{'batch bytes':>12}{'lines':>10}{'+MB':>8}{'x batch':>9}"
          f"{'+B/line':>9}{'s':>8}{'us/line':>9}  outcome")

    def show(name: str, r: dict | None) -> None:
        if r is None:
            print(f"{name:<18} over {args.timeout:.0f} s")
            return
        extra = max(0.0, r["peak_mb"] - r["before_mb"])
        outcome = (f"written {r['written']}" + (f", quarantined {r['quarantined']}"
                                                  if r["quarantined"] else ""))  # fmt: skip
        print(f"{name:<18}{r['bytes']:>12,}{r['lines']:>10,}{extra:>8.0f}"
              f"{extra * 2**20 / r['bytes']:>9.1f}{extra * 2**20 / r['lines']:>9.0f}"
              f"{r['seconds']:>8.2f}{r['seconds'] / r['lines'] * 1e6:>9.2f}  {outcome}")

    sizes = [int(n) for n in args.lines.split(",")] + ([1_000_000, 4_000_000] if args.full
                                                        else [])  # fmt: skip
    for n in sizes:
        raised = {"max_doc_lines": max(n, 100_000), "max_batch_lines": max(n, 200_000)}
        show(f"lines-{n // 1000}k", case(f"lines-{n}", {"kind": "lines", "n": n,
                                                        "long": "a" if n >= 4_000_000 else "ab",
                                                        "limits": raised}))  # fmt: skip
    show("default-1M", case("default-1M", {"kind": "lines", "n": 1_000_000}))
    # one-character lines: 8 MB, a legal size, 4M lines
    show("default-4M", case("default-4M", {"kind": "lines", "n": 4_000_000, "long": "a"}))
    show("bytes-50MB", case("bytes-50MB", {"kind": "bytes", "n": 50 * MB}))
    if args.full:
        raised = {"max_doc_bytes": 64 * 2**20, "max_doc_lines": 400_000,
                  "max_batch_lines": 400_000}  # fmt: skip
        show("bytes-50MB-raised", case("bytes-50MB-raised", {"kind": "bytes", "n": 50 * MB,
                                                             "limits": raised}))
    show("batch-2x100k", case("batch", {"kind": "batch", "n": 100_000, "docs": 2}))
    if SHARED is not None:
        require(SHARED)  # $PROX_BENCH_DATA names a folder: a typo is an error, not a skip
        show("pages", case("pages", {"kind": "pages", "n": 512}))


def program_cases(args) -> None:
    print(f"\nexecute() of a malformed program (timeout {args.program_timeout:.0f} s each)")
    print(f"{'bytes':>10}{'s':>9}{'us/byte':>9}{'peak MB':>9}  errors")
    for kb in (64, 128, 256, 512, 1024):
        r = run_child({"kind": "program", "n": kb * 1024}, args.program_timeout)
        if r is None:
            print(f"{kb * 1024:>10,}  over {args.program_timeout:.0f} s")
            continue
        print(f"{r['bytes']:>10,}{r['seconds']:>9.3f}{r['seconds'] / r['bytes'] * 1e6:>9.3f}"
              f"{r['peak_mb']:>9.0f}  {r['errors']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--lines", default="100000,200000,400000",
                        help="comma-separated line counts of one document, refined with the "
                        "line limits raised to fit")
    parser.add_argument("--full", action="store_true",
                        help="also 1M and 4M lines and 50 MB, limits raised")
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="seconds a refine case may take before it is shown as over")
    parser.add_argument("--program-timeout", type=float, default=60.0,
                        help="seconds the execute() of one malformed program may take")
    parser.add_argument("--skip-refine", action="store_true",
                        help="only the malformed programs, no refine cases")
    args = parser.parse_args()
    if args.child:
        spec = json.loads(args.child)
        result = child_program(spec) if spec["kind"] == "program" else child_refine(spec)
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory(prefix="prox-bench-limits-") as tmp:
        if not args.skip_refine:
            refine_cases(args, Path(tmp))
        program_cases(args)


if __name__ == "__main__":
    main()
