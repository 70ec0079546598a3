"""The line tagger in float32 and in bfloat16, side by side: what changes, and what it costs.

Both precisions score the same pages with the same artifact (default: the shipped tagger),
in one process:

1. every page of the public page collections (``--pages DATA_DIR``, bench/README.md: ``*/*.jsonl.gz`` with a text, the
   pages of bench/refine.py's corpus): the share of line decisions (remove or keep, at the
   artifact's keep threshold) and of document decisions (keep or drop) that differ, the
   documents whose programs differ, and the largest probability differences;
2. the seed set's held-out ``test`` split (bench/train.py's evaluation, ``score``): agreement
   with the teacher and word precision / recall / F1 against the human gold;
3. speed: CPU seconds of the network's forward pass and of scoring (features included) on
   ``--speed-docs`` pages in batches of 512 (a refine batch), the refine process's allocator
   and oneDNN settings (:func:`prox_tasks.refine.memory.bound_heap`), one thread,
   interleaved runs, medians.

    python bench/seedset.py --data DATA_DIR --teacher best --out bench/out/seed-best
    python bench/precision.py                      # ~1 minute on one idle core
    python bench/precision.py --artifact DIR --seed-dir seed-best --repeats 5

bfloat16 is measured even where the CPU has no native bfloat16 (then emulated: slow).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.datadir import SAMPLE_ROOT, find, page_files, page_texts  # noqa: E402
from prox_tasks.cli.arguments import positive_int  # noqa: E402

PRECISIONS = ("float32", "bfloat16")


def decisions(tagger, texts: list[str]) -> dict:
    """Per page: line probabilities, removed lines, keep probability, kept, programs."""
    from prox_tasks.models.line_tagger import _at_least

    scores = tagger._score(texts)[0]
    return {"probs": [p for p, _ in scores], "keep": np.array([k for _, k in scores]),
            "removed": [_at_least(p, tagger.config.line_threshold) for p, _ in scores],
            "doc": tagger.predict_doc(texts), "chunk": tagger.predict_chunks(texts)}  # fmt: skip


def agreement(a: dict, b: dict) -> dict:
    lines = sum(len(p) for p in a["probs"])
    line_diff = sum(len(np.setxor1d(x, y)) for x, y in zip(a["removed"], b["removed"]))
    docs = len(a["doc"])
    return {
        "pages": docs, "lines": lines, "line_decisions_differ": line_diff,
        "doc_decisions_differ": sum(x != y for x, y in zip(a["doc"], b["doc"])),
        "programs_differ": sum(x != y or p != q for x, y, p, q in
                               zip(a["doc"], b["doc"], a["chunk"], b["chunk"])),
        "max_line_prob_diff": max(float(np.abs(p - q).max(initial=0))
                                  for p, q in zip(a["probs"], b["probs"])),
        "mean_line_prob_diff": float(np.mean(np.concatenate(
            [np.abs(p - q) for p, q in zip(a["probs"], b["probs"])]))),
        "max_keep_prob_diff": float(np.abs(a["keep"] - b["keep"]).max()),
    }  # fmt: skip


def speed(taggers: dict, texts: list[str], repeats: int) -> dict:
    """Median CPU seconds of scoring ``texts`` in refine batches of 512 and of the forward
    pass alone, per precision (runs interleaved, after one warm-up each). The tagger's phase
    clock reads CPU time here (its wall time counts the other processes' turns too)."""
    from unittest import mock

    from prox_tasks.models import line_tagger

    cpu = {p: [] for p in taggers}
    forward = {p: [] for p in taggers}
    for tagger in taggers.values():
        tagger._score(texts[:64])
    with mock.patch.object(line_tagger.time, "perf_counter", time.process_time):
        for _ in range(repeats):
            for name, tagger in taggers.items():
                tagger.phases.clear()
                start = time.process_time()
                for i in range(0, len(texts), 512):
                    tagger._score(texts[i : i + 512])
                cpu[name].append(time.process_time() - start)
                forward[name].append(tagger.phases["forward"])
    return {p: {"cpu": statistics.median(cpu[p]), "forward": statistics.median(forward[p]),
                "runs": cpu[p]} for p in taggers}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--artifact", help="tagger artifact folder (default: the shipped one)")
    parser.add_argument("--pages", type=Path, default=find() or SAMPLE_ROOT,
                        help="folder of */*.jsonl.gz page collections (DATA_DIR: bench/README.md, "
                        "Data for the benches; default $PROX_BENCH_DATA, else the bundled sample)")
    parser.add_argument("--seed-dir", default="seed-best",
                        help="seed set under bench/out whose test split is scored")
    parser.add_argument("--speed-docs", type=positive_int, default=2000,
                        help="pages of the speed runs, evenly drawn (default 2000)")
    parser.add_argument("--repeats", type=positive_int, default=3,
                        help="interleaved speed runs of each precision, medians (default 3)")
    args = parser.parse_args()
    page_files(args.pages)  # a folder without pages stops here, before the models load

    import torch
    import train  # bench/train.py: the study's test split and evaluation

    from prox_tasks.models import SHIPPED_MODEL
    from prox_tasks.models.line_tagger import LineTaggerRefiner
    from prox_tasks.models.precision import native_bfloat16
    from prox_tasks.refine.memory import bound_heap

    bound_heap()  # as in a refine process: before the first forward pass
    torch.set_num_threads(1)
    artifact = args.artifact or str(SHIPPED_MODEL)
    taggers = {p: LineTaggerRefiner(artifact, threads=1, precision=p) for p in PRECISIONS}
    print(f"artifact {taggers['float32'].version}, torch {torch.__version__}, native "
          f"bfloat16: {native_bfloat16()}, keep threshold {taggers['float32'].config.line_threshold}",
          flush=True)  # fmt: skip

    texts = page_texts(args.pages)
    same = agreement(*(decisions(t, texts) for t in taggers.values()))
    print(f"shared pages: {same['pages']} pages, {same['lines']} lines; float32 vs bfloat16: "
          f"line decisions differ {same['line_decisions_differ']} "
          f"({same['line_decisions_differ'] / same['lines']:.4%}), document decisions differ "
          f"{same['doc_decisions_differ']} ({same['doc_decisions_differ'] / same['pages']:.3%}), "
          f"programs differ on {same['programs_differ']} pages "
          f"({same['programs_differ'] / same['pages']:.2%}); line probability difference max "
          f"{same['max_line_prob_diff']:.4f}, mean {same['mean_line_prob_diff']:.2e}; keep "
          f"probability difference max {same['max_keep_prob_diff']:.4f}", flush=True)

    train.SEED = ROOT / "bench" / "out" / args.seed_dir
    if (train.SEED / "test.jsonl.gz").exists():
        docs = train.read("test")
        print(f"\ntest split of {args.seed_dir} ({len(docs)} pages):\n")
        print("| precision | gold pages | word P | word R | word F1 | doc F1 (teacher) | "
              "line F1 (teacher) |\n|---|---:|---:|---:|---:|---:|---:|")
        for name, tagger in taggers.items():
            m = train.score(tagger, docs)
            print(f"| {name} | {m.get('gold_docs', 0)} | {m.get('word_precision', 0):.4f} | "
                  f"{m.get('word_recall', 0):.4f} | {m.get('word_f1', 0):.4f} | "
                  f"{m['doc_f1']:.4f} | {m['line_f1']:.4f} |", flush=True)
    else:
        print(f"\n(no seed set at {train.SEED}: build it with bench/seedset.py, see above)")

    sample = texts[:: max(1, len(texts) // args.speed_docs)][: args.speed_docs]
    times = speed(taggers, sample, args.repeats)
    f32 = times["float32"]
    print(f"\nspeed, {len(sample)} pages, 1 thread, CPU seconds, medians of {args.repeats} "
          "interleaved runs:")
    for name, t in times.items():
        print(f"{name}: scoring {t['cpu']:.2f} CPU-s ({len(sample) / t['cpu']:.0f} pages per "
              f"CPU-second; runs {', '.join(f'{c:.2f}' for c in t['runs'])}), forward "
              f"{t['forward']:.2f} CPU-s ({t['forward'] / len(sample) * 1e3:.3f} ms a page); "
              f"float32 / {name}: scoring {f32['cpu'] / t['cpu']:.2f}x, forward "
              f"{f32['forward'] / t['forward']:.2f}x")


if __name__ == "__main__":
    main()
