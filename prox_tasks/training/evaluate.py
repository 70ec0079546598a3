"""Evaluation of a refiner on labeled documents (the seed set's validation split).

Against the teacher: document keep/drop P/R/F1, line-removal P/R/F1, program failure rates.
Against gold (documents with ``gold_text``): word-level P/R/F1 of the executed refiner
programs, beside the teacher's own programs and keeping everything.
"""

from __future__ import annotations

import time

from prox_tasks.evaluation import word_prf, word_prf_per_group
from prox_tasks.programs import execute
from prox_tasks.training.metrics import (
    doc_metrics,
    failure_rate,
    line_metrics,
    removed_lines,
)


def evaluate_programs(docs: list[dict], doc_programs: list[str], chunk_programs: list[str],
                      group_field: str | None = None) -> dict:
    """Metrics of predicted programs against the docs' teacher programs and gold; with
    ``group_field`` (e.g. ``page_type``) also ``by_<group_field>``: the model's word P/R/F1
    against gold per value of that field."""
    n_lines = [(d.get("text") or "").count("\n") + 1 for d in docs]
    out = doc_metrics(doc_programs, [d.get("doc_program") for d in docs])
    out.update(line_metrics(
        [removed_lines(p, n) for p, n in zip(chunk_programs, n_lines)],
        [removed_lines(d.get("chunk_program"), n) for d, n in zip(docs, n_lines)],
    ))  # fmt: skip
    out["doc_failure_rate"] = failure_rate(doc_programs, "doc")
    out["chunk_failure_rate"] = failure_rate(chunk_programs, "chunk")
    out["docs"] = len(docs)
    gold = [(i, d) for i, d in enumerate(docs) if d.get("gold_text")]
    if gold:
        golds = [d["gold_text"] for _, d in gold]

        def refined(doc_p, chunk_p, text):
            return execute(text, doc_program=doc_p, chunk_program=chunk_p).text

        model = [refined(doc_programs[i], chunk_programs[i], d["text"]) for i, d in gold]
        teacher = [refined(d.get("doc_program"), d.get("chunk_program"), d["text"]) for _, d in gold]
        keep_all = [d["text"] for _, d in gold]
        for name, texts in (("word", model), ("teacher_word", teacher), ("keep_all_word", keep_all)):
            scores = word_prf(texts, golds)
            out[f"{name}_precision"] = scores["precision"]
            out[f"{name}_recall"] = scores["recall"]
            out[f"{name}_f1"] = scores["f1"]
        out["gold_docs"] = len(gold)
        if group_field:
            groups = [d.get(group_field) or "other" for _, d in gold]
            per = word_prf_per_group(model, golds, groups)
            out[f"by_{group_field}"] = {
                k: {m: round(v[m], 4) for m in ("precision", "recall", "f1")} | {"docs": v["docs"]}
                for k, v in per.items()}  # fmt: skip
    return out


def evaluate_model(model: str, docs: list[dict], backend: str | None = None,
                   threads: int | None = None) -> dict:
    """Load ``model`` exactly as production does (:func:`prox_tasks.inference.load_backend`:
    same backend code, token budgets, prompt fitting and constrained decoding) and score it
    on ``docs`` (see :func:`evaluate_refiner`).

    Args:
        model: Model URI or folder.
        docs: Labeled documents.
        backend: Backend (None: the one production picks for this model).
        threads: CPU threads (tagger and transformers backends).
    """
    from prox_tasks.inference import load_backend

    refiner = load_backend(backend, str(model), **({"threads": threads} if threads else {}))
    try:
        return evaluate_refiner(refiner, docs)
    finally:
        refiner.close()


def evaluate_refiner(refiner, docs: list[dict], group_field: str | None = None) -> dict:
    """Run ``refiner`` on ``docs`` and score it (see :func:`evaluate_programs`).

    Adds ``predict_seconds`` and ``docs_per_s`` (both levels together).
    """
    texts = [d.get("text") or "" for d in docs]
    start = time.perf_counter()
    doc_programs = refiner.predict_doc(texts)
    chunk_programs = refiner.predict_chunks(texts)
    elapsed = time.perf_counter() - start
    out = evaluate_programs(docs, doc_programs, chunk_programs, group_field)
    out["predict_seconds"] = elapsed
    out["docs_per_s"] = len(docs) / elapsed if elapsed > 0 else 0.0
    return out
