"""Benchmark: prox's executor against the ProX paper's, and parse time on hostile programs.

Part 1, executor speed (one core). Documents: the real pages of ``wcxb_dev.jsonl.gz``.
Programs derived from their gold: every line whose text is absent from ``gold_text`` is
removed, consecutive lines as one ``remove_lines`` range, in two shapes:

- ``flat``: one program of keyword-form calls, the paper's format;
- ``chunked``: per-chunk programs joined with ``# chunk A-B`` markers, as production writes
  them (the paper's executor skips the marker lines).

Beside prox's ``execute`` (parse + execute), the same process runs a faithful
re-implementation of the executor released with the ProX paper
(:func:`prox_tasks.programs.reference.paper_execute`: line splitting, a set of removed line
numbers, document-wide ``str.replace``, word counts for the drop rule) and, as a floor, its
edit step alone without the drop rule (``paper_edits``). Runs are interleaved, the median of
``--repeats`` is quoted; first, every output is checked to be identical to the paper's.

Part 2, parse time of hostile programs (the issue: 1 MB of ``remove_lines(1, 2`` then spaces
took minutes): each shape at 64 KiB, 256 KiB and 1 MiB (the default size cap), best of 3, with
the call-count cap lifted so that every line is parsed. Linear parsing gives a 1 MiB / 64 KiB
ratio near 16; quadratic would give 256.

Part 3, execution time of the programs a model stuck in a loop writes (:data:`LOOPING`: a
normalization matching 100k times or across every line break, hundreds of normalizations, a
scope per line, overlapping removals past the document) over 64 KiB and 1 MiB of document,
and the worst of them. The caps (``max_normalize_reads``, ``max_program_calls``) bound it.

Usage: ``python bench/executor.py [--data DATA_DIR] [--repeats 7] [--limit N] [--skip-parse]``
(``DATA_DIR``: bench/README.md, "Data for the benches"; a ``wcxb_dev.jsonl.gz`` file works too)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.datadir import default as default_data  # noqa: E402
from bench.datadir import jsonl_rows, require  # noqa: E402
from prox_tasks.cli.arguments import count_or_zero, positive_int  # noqa: E402
from prox_tasks.labeling.emit import write_chunk_program  # noqa: E402
from prox_tasks.programs import execute, parse  # noqa: E402
from prox_tasks.programs.reference import paper_edits, paper_execute  # noqa: E402

WCXB = "wcxb/wcxb_dev.jsonl.gz"

HOSTILE = {
    "remove_lines(1, 2 + spaces + x": lambda n: "remove_lines(1, 2" + " " * (n - 18) + "x",
    "# chunk 1- + spaces + x": lambda n: "# chunk 1-" + " " * (n - 11) + "x",
    "continued call: (\\n...": lambda n: "remove_lines(\n" + "(\n" * ((n - 14) // 2),
    "garbage call lines x(\\n": lambda n: "x(\n" * (n // 3),
    "one call, 1 MiB of arguments": lambda n: "f(" + "1," * ((n - 3) // 2) + ")",
    "remove_lines(N, N) lines": lambda n: "remove_lines(1, 2)\n" * (n // 19),
}


# Part 3: programs of a model stuck in a loop over a long document; (document, program) of
# about n characters of document.
LOOPING = {
    "normalize matching every word": lambda n: ("a " * (n // 2), 'normalize("a", "b")'),
    "normalize across every line": lambda n: ("w x\n" * (n // 4), 'normalize("\\n", " ")'),
    "normalize across line pairs": lambda n: ("a\na\n" * (n // 4), 'normalize("a\\na", "x")'),
    "merge, then 400 normalizations": lambda n: ("x\n" * (n // 2), "\n".join(
        ['normalize("x\\n", "y")'] + [f'normalize("q{i}", "z")' for i in range(400)])),
    "400 normalizations, 1-char lines": lambda n: ("x\n" * (n // 2), "\n".join(
        f'normalize("q{i}", "z")' for i in range(400))),
    "400 normalizations, 2 scopes in turn": lambda n: ("x\n" * (n // 2), "\n".join(
        f'# chunk {i % 2}-\nnormalize("q{i}", "z")' for i in range(400))),
    "a chunk scope + normalize per line": lambda n: ("w x\n" * (n // 4), "\n".join(
        f'# chunk {i}-{i}\nnormalize("w", "v")' for i in range(n // 64))),
    "overlapping huge removals": lambda n: ("w x\n" * (n // 4), "\n".join(
        f"remove_lines({i}, {10**17 + i})" for i in range(n // 64))),
}  # fmt: skip


def removed_by_gold(text: str, gold: str) -> list[int]:
    gold_norm = " ".join(gold.split())
    return [i for i, line in enumerate(text.split("\n"))
            if not (norm := " ".join(line.split())) or norm not in gold_norm]  # fmt: skip


def flat_program(text: str, removed: list[int]) -> str:
    return write_chunk_program(text, removed, chunked=False)


def per_second(fn, docs) -> float:
    start = time.process_time()
    for text, program in docs:
        fn(text, program)
    return len(docs) / (time.process_time() - start)


def _prox(text, program):
    return execute(text, None, program)


def compare(name: str, docs: list, repeats: int) -> dict:
    mismatches = sum((_prox(t, p).text or "") != paper_execute(t, p) for t, p in docs)
    runs: dict[str, list[float]] = {"prox": [], "paper": [], "paper_edits": []}
    for _ in range(repeats):  # interleaved, so all see the same machine noise
        runs["prox"].append(per_second(_prox, docs))
        runs["paper"].append(per_second(paper_execute, docs))
        runs["paper_edits"].append(per_second(paper_edits, docs))
    med = {k: statistics.median(v) for k, v in runs.items()}
    calls = statistics.mean(p.count("(") for _, p in docs)
    print(f"\n{name} programs ({calls:.1f} calls a page), outputs differing from the paper's: "
          f"{mismatches}")  # fmt: skip
    print(f"  prox parse + execute          : {med['prox']:9,.0f} docs/s (median of {repeats})")
    print(f"  paper executor (reference)    : {med['paper']:9,.0f} docs/s")
    print(f"  paper edits, no drop rule     : {med['paper_edits']:9,.0f} docs/s")
    print(f"  ratio prox / paper            : {med['prox'] / med['paper']:9.2f}x")
    print(f"  ratio prox / paper edits only : {med['prox'] / med['paper_edits']:9.2f}x")
    return {"programs": name, "mismatches": mismatches, **{f"{k}_docs_per_s": round(v)
            for k, v in med.items()}, "ratio": round(med["prox"] / med["paper"], 2),
            "ratio_edits_only": round(med["prox"] / med["paper_edits"], 2)}  # fmt: skip


def parse_times() -> list[dict]:
    sizes = (64 * 1024, 256 * 1024, 1024 * 1024)
    print("\nparse time of hostile programs (best of 3, CPU seconds)")
    print(f"  {'shape':32s} {'64 KiB':>9s} {'256 KiB':>9s} {'1 MiB':>9s}  1 MiB / 64 KiB")
    out = []
    for shape, make in HOSTILE.items():
        times = []
        for size in sizes:
            source = make(size)
            best = float("inf")
            for _ in range(3):
                start = time.process_time()
                parse(source, level="chunk", max_calls=size)  # the call cap would stop early
                best = min(best, time.process_time() - start)
            times.append(best)
        ratio = times[-1] / times[0]
        print(f"  {shape:32s} " + " ".join(f"{t:8.3f}s" for t in times) + f"  {ratio:6.1f}x")
        out.append({"shape": shape, "seconds": [round(t, 4) for t in times],
                    "ratio_1MiB_64KiB": round(ratio, 1)})  # fmt: skip
    return out


def execute_times() -> list[dict]:
    """Execution time of :data:`LOOPING` at 64 KiB and 1 MiB of document (best of 3)."""
    sizes = (64 * 1024, 1024 * 1024)
    print("\nexecute time of looping programs (best of 3, CPU seconds)")
    print(f"  {'shape':36s} {'64 KiB':>9s} {'1 MiB':>9s}  1 MiB / 64 KiB")
    out = []
    for shape, make in LOOPING.items():
        times = []
        for size in sizes:
            text, program = make(size)
            best = float("inf")
            for _ in range(3):
                start = time.process_time()
                execute(text, None, program)
                best = min(best, time.process_time() - start)
            times.append(best)
        ratio = times[-1] / max(times[0], 1e-6)
        print(f"  {shape:36s} " + " ".join(f"{t:8.3f}s" for t in times) + f"  {ratio:6.1f}x")
        out.append({"shape": shape, "seconds": [round(t, 4) for t in times],
                    "ratio_1MiB_64KiB": round(ratio, 1)})  # fmt: skip
    worst = max(out, key=lambda r: r["seconds"][-1])
    print(f"  worst at 1 MiB: {worst['shape']}, {worst['seconds'][-1]:.3f}s")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=default_data(), metavar="DATA_DIR",
                        help="the public page collections (bench/README.md, Data for the benches; default $PROX_BENCH_DATA), or their wcxb_dev.jsonl.gz")
    parser.add_argument("--repeats", type=positive_int, default=7,
                        help="interleaved runs of each executor, the median quoted (default 7)")
    parser.add_argument("--limit", type=count_or_zero, default=0,
                        help="only the first N pages with gold (default 0: all)")
    parser.add_argument("--skip-parse", action="store_true",
                        help="only the executor part (no hostile parse or looping execute times)")
    args = parser.parse_args()
    data = Path(args.data) if os.path.isfile(args.data) else require(args.data, WCXB) / WCXB
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    flat, chunked = [], []
    for row in jsonl_rows(data):
        if row.get("gold_text"):
            text, removed = row["text"], removed_by_gold(row["text"], row["gold_text"])
            flat.append((text, flat_program(text, removed)))
            chunked.append((text, write_chunk_program(text, removed)))
    if args.limit:
        flat, chunked = flat[: args.limit], chunked[: args.limit]
    lines = statistics.mean(t.count("\n") + 1 for t, _ in flat)
    print(f"{len(flat)} WCXB pages, {lines:.0f} lines on average; one core")
    results = [compare("flat", flat, args.repeats), compare("chunked", chunked, args.repeats)]
    hostile = [] if args.skip_parse else parse_times()
    looping = [] if args.skip_parse else execute_times()
    print(json.dumps({"docs": len(flat), "executor": results, "parse": hostile,
                      "execute_looping": looping}))  # fmt: skip


if __name__ == "__main__":
    main()
