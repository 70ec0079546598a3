"""Inference benchmark: vllm vs transformers on the same model and documents, in one run.

For each backend: documents/s and tokens/s of the document-level phase and of the
chunk-level phase (all documents through both, as a shard whose documents are all kept),
the engine's share of a whole refine-step run (the pipeline's overhead outside the model:
prompt rendering, execution, checkpoints, reading and writing; target <= 10% of shard time),
and, for vllm, the program failure rate with and without constrained decoding. Prints a
table and one JSON line.

The model is a random-weight Llama in the ProX released-model format (no weights can be
downloaded here): it never emits EOS, so every completion runs to its token limit on both
engines — a fair, decode-heavy comparison. Failure rates of a random model are the extreme
case (unconstrained: everything fails); they show what the grammar guarantees.

    python bench/inference.py                 # default: a few minutes on 2 CPU cores
    python bench/inference.py --docs 200 --hidden 512 --layers 8
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.datadir import jsonl_rows  # noqa: E402
from prox_tasks.cli.arguments import count_or_zero, positive_int  # noqa: E402


def load_docs(n: int, max_lines: int) -> list[dict]:

    out = []
    for row in jsonl_rows(ROOT / "data" / "sample" / "sample.jsonl.gz"):
        lines = [line[:200] for line in row["text"].split("\n") if line.strip()][:max_lines]
        if len(lines) >= 5:
            out.append({"id": row["id"], "text": "\n".join(lines)})
        if len(out) == n:
            break
    return out


def train_briefly(model: Path, steps: int, args, work: Path) -> dict:
    """Teach the random model the program format: ``steps`` optimizer steps of prox's own SFT
    (:func:`prox_tasks.training.sft.train_sft`, ``prox train``'s generative path) on the rules
    teacher's programs for other sample documents, as ``prox train`` builds its examples
    (:func:`prox_tasks.training.lm.build_examples`: prompts rendered as at inference)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from prox_tasks.labeling import get_teacher
    from prox_tasks.training.lm import build_examples
    from prox_tasks.training.sft import SFTConfig, train_sft

    tok = AutoTokenizer.from_pretrained(model)
    lm = AutoModelForCausalLM.from_pretrained(model)
    teacher = get_teacher("rules")
    docs = []
    for doc in load_docs(args.docs + 160, args.max_lines)[args.docs:]:  # not the bench docs
        label = teacher.label(doc["text"])
        docs.append({"text": doc["text"], "doc_program": label.doc_program,
                     "chunk_program": label.chunk_program})
    examples = build_examples(docs, tok, args.chunk_tokens, args.doc_tokens)
    config = SFTConfig(max_steps=steps, warmup_steps=min(20, steps // 10), save_every=0,
                       log_every=0, threads=args.threads, device="cpu")
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    report = train_sft(lm, examples, config, work / "sft", pad_id=pad_id)
    lm.eval().save_pretrained(model)
    losses = [h["loss"] for h in report["history"]]
    return {"steps": report["steps"], "examples": len(examples), "first_loss": losses[0],
            "last_loss": sum(losses[-10:]) / min(10, len(losses)),
            "seconds": report["train_seconds"]}


def failures(programs: list[str], level: str) -> dict:
    """Share of programs with a parse error (or no call), and the errors by kind."""
    from collections import Counter

    from prox_tasks.programs import parse

    bad, kinds = 0, Counter()
    for program in programs:
        parsed = parse(program, level)
        bad += bool(parsed.errors or not parsed.calls)
        kinds.update(str(e.kind) for e in parsed.errors)
        kinds["empty_program"] += not parsed.calls and not parsed.errors
    return {"rate": bad / max(1, len(programs)), "kinds": dict(+kinds)}


def phase(refiner, level: str, texts: list[str], repeats: int) -> tuple[list[str], dict]:
    """Run one phase ``repeats`` times; the figures of the median run (by wall time)."""
    runs = []
    for _ in range(repeats):
        before = refiner.usage[level].copy()
        start = time.perf_counter()
        programs = (refiner.predict_doc if level == "doc" else refiner.predict_chunks)(texts)
        wall = time.perf_counter() - start
        used = refiner.usage[level].minus(before)
        runs.append((wall, programs, {
            "docs_per_s": len(texts) / wall, "requests": used.requests,
            "prompt_tokens_per_s": used.prompt_tokens / wall,
            "completion_tokens_per_s": used.completion_tokens / wall,
            "tokens_per_s": (used.prompt_tokens + used.completion_tokens) / wall,
            "wall_s": wall, "engine_s": used.seconds, "repeats": repeats,
        }))  # fmt: skip
    runs.sort(key=lambda r: r[0])
    _, programs, figures = runs[len(runs) // 2]
    figures["wall_s_all"] = [round(r[0], 3) for r in runs]
    return programs, figures


def shard_overhead(refiner, docs: list[dict], work: Path) -> dict:
    """Run the real refine step on the documents as one shard; the engine's share of it."""
    from prox_tasks.corpus import plan_shards
    from prox_tasks.refine import refine_shard

    source = work / f"shard-{refiner.backend}.jsonl"
    source.write_text("".join(json.dumps(d) + "\n" for d in docs))
    out = work / f"out-{refiner.backend}"
    plan_shards(str(source), str(out), target_docs=len(docs) + 1)
    result = refine_shard(str(out), 0, refiner=refiner, checkpoint_every=max(1, len(docs) // 2))
    stats = result["stats"]
    total = stats["seconds"]["total"]
    engine = sum(u["seconds"] for u in stats["usage"].values())
    return {"docs": len(docs), "shard_s": total, "engine_s": engine, "overhead_s": total - engine,
            "overhead_share": (total - engine) / total, "phases": stats["seconds"]}


def run_backend(name: str, model: Path, docs: list[dict], shard_docs: list[dict], args,
                work: Path) -> dict:
    from prox_tasks.inference import load_backend

    options = {"doc_tokens": args.doc_tokens, "chunk_tokens": args.chunk_tokens,
               "doc_max_new_tokens": args.doc_new, "chunk_max_new_tokens": args.chunk_new}
    if name == "vllm":
        options.update(gpu_memory_utilization=args.gpu_memory_utilization, dtype=args.dtype,
                       constrained=False)
    else:
        options.update(batch_size=args.batch_size, dtype=args.dtype, threads=args.threads)
    start = time.perf_counter()
    refiner = load_backend(name, str(model), **options)
    report = {"load_s": time.perf_counter() - start}
    repeats = args.repeats if name == "vllm" else args.hf_repeats
    try:
        texts = [d["text"] for d in docs]
        refiner.predict_doc(texts[:4])  # warm-up (first-call compilation, caches)
        refiner.predict_chunks(texts[:2])
        doc_programs, report["doc"] = phase(refiner, "doc", texts, repeats)
        chunk_programs, report["chunk"] = phase(refiner, "chunk", texts, repeats)
        report["failures_unconstrained"] = {"doc": failures(doc_programs, "doc"),
                                            "chunk": failures(chunk_programs, "chunk")}
        if name == "vllm":
            refiner.settings.constrained = True
            doc_c, report["doc_constrained"] = phase(refiner, "doc", texts, repeats)
            chunk_c, report["chunk_constrained"] = phase(refiner, "chunk", texts, repeats)
            report["failures_constrained"] = {"doc": failures(doc_c, "doc"),
                                              "chunk": failures(chunk_c, "chunk")}
            refiner.settings.constrained = False
        if name in args.overhead_backends.split(","):
            report["shard"] = shard_overhead(refiner, shard_docs, work)
    finally:
        refiner.close()
    return report


def print_table(results: dict) -> None:
    rows = [("doc docs/s", "doc", "docs_per_s"), ("doc tokens/s", "doc", "tokens_per_s"),
            ("doc out tokens/s", "doc", "completion_tokens_per_s"),
            ("chunk docs/s", "chunk", "docs_per_s"), ("chunk tokens/s", "chunk", "tokens_per_s"),
            ("chunk out tokens/s", "chunk", "completion_tokens_per_s")]  # fmt: skip
    names = list(results)
    print(f"{'':22}" + "".join(f"{n:>14}" for n in names) + (f"{'ratio':>10}" if len(names) == 2 else ""))
    for label, level, key in rows:
        values = [results[n][level][key] for n in names]
        ratio = f"{values[0] / values[1]:>9.2f}x" if len(values) == 2 and values[1] else ""
        print(f"{label:22}" + "".join(f"{v:>14.1f}" for v in values) + ratio)
    shares = [f"{results[n]['shard']['overhead_share']:>14.1%}" if "shard" in results[n]
              else f"{'-':>14}" for n in names]  # fmt: skip
    print(f"{'overhead share':22}" + "".join(shares) + "   (whole refine step of one shard)")
    for n in names:
        if "shard" in results[n]:
            sh = results[n]["shard"]
            print(f"{n} shard of {sh['docs']} docs: {sh['shard_s']:.2f} s, engine "
                  f"{sh['engine_s']:.2f} s, phases {sh['phases']}")
    for n in names:
        f = results[n]
        free = f["failures_unconstrained"]
        line = f"{n}: failures unconstrained doc {free['doc']['rate']:.0%} " \
               f"chunk {free['chunk']['rate']:.0%}"  # fmt: skip
        if "failures_constrained" in f:
            c = f["failures_constrained"]
            line += f"; constrained doc {c['doc']['rate']:.0%} chunk {c['chunk']['rate']:.0%}"
            line += f" (chunk errors: {c['chunk']['kinds']})"
            speed = f["chunk_constrained"]["docs_per_s"]
            line += f"; constrained chunk docs/s {speed:.1f}"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=positive_int, default=32, help="documents refined by each backend")
    parser.add_argument("--max-lines", type=positive_int, default=40, help="lines kept per document")
    parser.add_argument("--hidden", type=positive_int, default=256,
                        help="hidden size of the model built (64 a head; not with --model)")
    parser.add_argument("--layers", type=positive_int, default=4,
                        help="layers of the model built (not with --model)")
    parser.add_argument("--doc-tokens", type=positive_int, default=512,
                        help="prompt tokens of a document-level request")
    parser.add_argument("--chunk-tokens", type=positive_int, default=256,
                        help="prompt tokens of a chunk-level request")
    parser.add_argument("--doc-new", type=positive_int, default=16,
                        help="new tokens at most of a document-level program")
    parser.add_argument("--chunk-new", type=positive_int, default=64,
                        help="new tokens at most of a chunk-level program")
    parser.add_argument("--batch-size", type=positive_int, default=16, help="transformers")
    parser.add_argument("--threads", type=positive_int, default=2, help="transformers torch threads")
    parser.add_argument("--dtype", default="float32", help="both engines (vLLM CPU: bf16/fp32)")
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.3,
                        help="vllm: share of the GPU's memory it may take")
    parser.add_argument("--backends", default="vllm,transformers",
                        help="comma-separated backends compared")
    parser.add_argument("--model", default=None, help="use this model folder instead")
    parser.add_argument("--repeats", type=positive_int, default=3, help="runs per vllm phase (median)")
    parser.add_argument("--hf-repeats", type=positive_int, default=1,
                        help="runs per transformers phase (median; each takes minutes)")
    parser.add_argument("--train-steps", type=count_or_zero, default=0,
                        help="first teach the random model the program format (rules teacher)")
    parser.add_argument("--shard-docs", type=positive_int, default=128,
                        help="documents of the shard timed for the overhead")
    parser.add_argument("--overhead-backends", default="vllm",
                        help="backends whose whole refine step is timed for the overhead")
    args = parser.parse_args()

    from prox_tasks.inference.tiny_model import build_prox_format_model

    docs = load_docs(args.docs, args.max_lines)
    with tempfile.TemporaryDirectory(prefix="prox-bench-") as tmp:
        work = Path(tmp)
        model = Path(args.model) if args.model else build_prox_format_model(
            work / "model", [d["text"] for d in load_docs(200, 200)], hidden_size=args.hidden,
            num_layers=args.layers, num_heads=args.hidden // 64,
            intermediate_size=int(args.hidden * 2.6875), vocab_size=2000, max_positions=2048,
        )  # fmt: skip
        training = (train_briefly(model, args.train_steps, args, work) if args.train_steps
                    else None)
        shard_docs = load_docs(args.shard_docs, args.max_lines)
        results = {name: run_backend(name, model, docs, shard_docs, args, work)
                   for name in args.backends.split(",")}  # fmt: skip
    if training:
        print(f"\ntrained {training['steps']} steps on {training['examples']} rules-teacher "
              f"examples in {training['seconds']:.0f} s, loss {training['first_loss']:.2f} -> "
              f"{training['last_loss']:.2f}")
    print(f"\n{len(docs)} documents, model hidden={args.hidden} layers={args.layers} "
          f"dtype={args.dtype}; doc budget {args.doc_tokens}+{args.doc_new} new, chunk "
          f"{args.chunk_tokens}+{args.chunk_new} new")
    print_table(results)
    print(json.dumps({"config": vars(args), "docs": len(docs), "training": training,
                      "results": results},
                     default=str))


if __name__ == "__main__":
    main()
