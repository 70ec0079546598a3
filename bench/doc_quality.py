"""Document-level quality against human labels: prox's quality decision beside datatrove's
Gopher, FineWeb and C4 quality filters and prox's junk decisions, on the same documents.

Data: DCLM's 499 human-annotated Common Crawl documents (``label_majority``: 1 high quality,
0 low; 227 low). Split in halves by a hash of the id: ``fit`` (prox's quality model is fitted
there, and its threshold picked) and ``test`` (every row of the table; nothing is tuned on
it). Metric: balanced accuracy (mean of the recall on high- and on low-quality documents),
plus how many documents each decision drops. The peers are datatrove's own filter classes,
run with their default settings on the same texts.

    python bench/doc_quality.py --data DATA_DIR [--write]   # --write: ship the weights

(DATA_DIR: bench/README.md, "Data for the benches".)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from bench.datadir import jsonl_rows  # noqa: E402


def load(data: str) -> list[dict]:
    path = os.path.join(data, "dclm_annotations", "dclm_quality_annotations.jsonl.gz")
    rows = list(jsonl_rows(path))
    for r in rows:
        r["half"] = "fit" if hashlib.sha256(f"half:{r['id']}".encode()).digest()[0] % 2 else "test"
    return rows


def balanced(pred_high: list[bool], gold_high: list[bool]) -> dict:
    pos = [p for p, g in zip(pred_high, gold_high) if g]
    neg = [not p for p, g in zip(pred_high, gold_high) if not g]
    tpr, tnr = sum(pos) / max(1, len(pos)), sum(neg) / max(1, len(neg))
    return {"balanced_accuracy": (tpr + tnr) / 2, "high_recall": tpr, "low_recall": tnr,
            "accuracy": sum(p == g for p, g in zip(pred_high, gold_high)) / len(gold_high),
            "dropped": sum(not p for p in pred_high), "docs": len(gold_high)}  # fmt: skip


def fit_logistic(x, y, l2: float = 1.0, steps: int = 3000, lr: float = 0.1):
    """Class-balanced L2 logistic regression by gradient descent (standardized inputs)."""
    import numpy as np

    x, y = np.asarray(x, float), np.asarray(y, float)
    mean, scale = x.mean(0), x.std(0) + 1e-9
    z = (x - mean) / scale
    w, b = np.zeros(z.shape[1]), 0.0
    weight = np.where(y > 0.5, 0.5 / y.mean(), 0.5 / (1 - y.mean()))
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(z @ w + b)))
        g = weight * (p - y)
        w -= lr * (z.T @ g / len(y) + l2 * w / len(y))
        b -= lr * g.mean()
    return w, b, mean, scale


def main() -> int:

    from bench.datadir import default, require
    from prox_tasks.labeling.doc_quality import FEATURES, QualityModel, features

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=default(), metavar="DATA_DIR",
                        help="the public page collections (bench/README.md, Data for the benches; default $PROX_BENCH_DATA)")
    parser.add_argument("--write", action="store_true", help="write prox_tasks/labeling/doc_quality.json")
    args = parser.parse_args()
    rows = load(str(require(args.data, "dclm_annotations/dclm_quality_annotations.jsonl.gz")))
    fit = [r for r in rows if r["half"] == "fit"]
    test = [r for r in rows if r["half"] == "test"]
    start = time.process_time()
    feats = {r["id"]: features(r["text"]) for r in rows}
    feature_rate = len(rows) / max(1e-9, time.process_time() - start)
    x_fit = [[feats[r["id"]][k] for k in FEATURES] for r in fit]
    w, b, mean, scale = fit_logistic(x_fit, [r["label_majority"] for r in fit])
    model = QualityModel(dict(zip(FEATURES, map(float, w))), float(b),
                         dict(zip(FEATURES, map(float, mean))), dict(zip(FEATURES, map(float, scale))))
    # the threshold: the best balanced accuracy on the fit half
    fit_p = [model.probability(r["text"]) for r in fit]
    gold_fit = [bool(r["label_majority"]) for r in fit]
    grid = [round(0.3 + 0.02 * i, 2) for i in range(21)]
    model.threshold = max(grid, key=lambda t: (balanced([p >= t for p in fit_p], gold_fit)["balanced_accuracy"], -abs(t - 0.5)))

    gold = [bool(r["label_majority"]) for r in test]
    texts = [r["text"] for r in test]
    table = {}
    table["prox quality model (fitted on the other half)"] = balanced(
        [not model.is_low_quality(t) for t in texts], gold)
    from datatrove.data import Document
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
    )

    for name, flt in (("datatrove GopherQualityFilter", GopherQualityFilter()),
                      ("datatrove FineWebQualityFilter", FineWebQualityFilter()),
                      ("datatrove C4QualityFilter (filter_no_terminal_punct=False)",
                       C4QualityFilter(filter_no_terminal_punct=False))):  # fmt: skip
        kept = []
        for r in test:
            out = flt.filter(Document(text=r["text"], id=str(r["id"])))
            kept.append(bool(out[0] if isinstance(out, tuple) else out))
        table[name] = balanced(kept, gold)
    both = [a and b for a, b in zip(*(
        [bool((lambda o: o[0] if isinstance(o, tuple) else o)(f.filter(Document(text=t, id="x")))) for t in texts]
        for f in (GopherQualityFilter(), FineWebQualityFilter())))]  # fmt: skip
    table["datatrove Gopher + FineWeb together"] = balanced(both, gold)
    from prox_tasks.inference import load_backend
    from prox_tasks.labeling import get_teacher

    rules = get_teacher("rules")
    table["prox rules teacher drop_doc (junk)"] = balanced(
        [rules.label(t).doc_program == "keep_doc()" for t in texts], gold)
    table["prox shipped tagger drop_doc (junk)"] = balanced(
        [p == "keep_doc()" for p in load_backend(None, "default").predict_doc(texts)], gold)
    table["keep everything"] = balanced([True] * len(texts), gold)

    print(f"DCLM human quality labels: {len(rows)} docs, {sum(1 - r['label_majority'] for r in rows)} "
          f"low; fit half {len(fit)}, test half {len(test)} ({sum(not g for g in gold)} low)\n")
    print("| decision (test half) | balanced accuracy | recall high | recall low | accuracy | dropped |")
    print("|---|---|---|---|---|---|")
    for name, m in table.items():
        print(f"| {name} | {m['balanced_accuracy']:.3f} | {m['high_recall']:.3f} | "
              f"{m['low_recall']:.3f} | {m['accuracy']:.3f} | {m['dropped']}/{m['docs']} |")
    print(f"\nprox quality threshold {model.threshold} (picked on the fit half); features "
          f"{feature_rate:.0f} docs per CPU-second")
    print("weights: " + ", ".join(f"{k} {v:+.2f}" for k, v in sorted(model.weights.items(), key=lambda kv: -abs(kv[1]))))
    if args.write:
        from prox_tasks.labeling.doc_quality import WEIGHTS_FILE

        model.meta = {"data": "DCLM human quality annotations (mlfoundations/dclm, MIT), "
                      "fit half by sha256('half:'+id)",
                      "fit_docs": len(fit), "test": table["prox quality model (fitted on the other half)"]}  # fmt: skip
        WEIGHTS_FILE.write_text(json.dumps(model.to_dict(), indent=2, sort_keys=True) + "\n")
        print(f"wrote {WEIGHTS_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
