"""Evaluation of a refiner on labeled documents (the seed set's validation split).

Against the teacher: document keep/drop P/R/F1, line-removal P/R/F1, program failure rates.
Against gold (documents with ``gold_text``): word-level P/R/F1 of the executed refiner
programs, beside the teacher's own programs and keeping everything.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from prox_tasks.evaluation import word_counts
from prox_tasks.evaluation.metrics import GroupedWordTally, LineTally, WordTally
from prox_tasks.programs import execute
from prox_tasks.training.metrics import (
    doc_metrics,
    failure_rate,
    removed_lines,
    tallied_line_metrics,
)


def evaluate_programs(docs: Iterable[dict], doc_programs: list[str], chunk_programs: list[str],
                      group_field: str | None = None) -> dict:
    """Metrics of predicted programs against the docs' teacher programs and gold; with
    ``group_field`` (e.g. ``page_type``) also ``by_<group_field>``: the model's word P/R/F1
    against gold per value of that field.

    ``docs`` is read once, a document at a time, and counted as it goes: a list, or a seed
    set's validation rows streamed from their files (only each document's teacher
    ``doc_program`` is kept, to decide the document metrics at the end).
    """
    teacher_doc, lines = [], LineTally()
    words = {"word": WordTally(), "teacher_word": WordTally(), "keep_all_word": WordTally()}
    grouped = GroupedWordTally()
    for i, d in enumerate(docs):
        n_lines = (d.get("text") or "").count("\n") + 1
        teacher_doc.append(d.get("doc_program"))
        lines.add(removed_lines(chunk_programs[i], n_lines),
                  removed_lines(d.get("chunk_program"), n_lines))
        if not d.get("gold_text"):
            continue
        gold = word_counts(d["gold_text"])  # once for the three texts scored against it
        model = execute(d["text"], doc_program=doc_programs[i],
                        chunk_program=chunk_programs[i]).text  # fmt: skip
        words["word"].add(model, gold)
        words["teacher_word"].add(execute(d["text"], doc_program=d.get("doc_program"),
                                          chunk_program=d.get("chunk_program")).text, gold)
        words["keep_all_word"].add(d["text"], gold)
        if group_field:
            grouped.add(model, gold, d.get(group_field) or "other")
    out = doc_metrics(doc_programs, teacher_doc)
    out.update(tallied_line_metrics(lines.result()))
    out["doc_failure_rate"] = failure_rate(doc_programs, "doc")
    out["chunk_failure_rate"] = failure_rate(chunk_programs, "chunk")
    out["docs"] = len(teacher_doc)
    if words["word"].docs:
        for name, tally in words.items():
            scores = tally.result()
            out[f"{name}_precision"] = scores["precision"]
            out[f"{name}_recall"] = scores["recall"]
            out[f"{name}_f1"] = scores["f1"]
        out["gold_docs"] = words["word"].docs
        if group_field:
            out[f"by_{group_field}"] = {
                k: {m: round(v[m], 4) for m in ("precision", "recall", "f1")} | {"docs": v["docs"]}
                for k, v in grouped.result().items()}  # fmt: skip
    return out


def read_twice(docs: Iterable[dict]) -> Iterable[dict]:
    """``docs``, checked to give its documents again on a second pass (a list, a seed set's
    :class:`~prox_tasks.training.seedset.StreamedRows`) for the scorers that read them
    twice (:func:`evaluate_refiner`, the calibration's threshold curve).

    Raises:
        TypeError: ``docs`` is a one-shot iterator (a generator): its second pass would be
            empty, scoring nothing or failing far from the cause.
    """
    if iter(docs) is docs:
        raise TypeError("the documents are read twice (the texts, then the metrics): pass "
                        "a list or a seed set's rows, not a generator or another one-shot "
                        "iterator")
    return docs


def evaluate_model(model: str, docs: Iterable[dict], backend: str | None = None,
                   threads: int | None = None) -> dict:
    """Load ``model`` exactly as production does (:func:`prox_tasks.inference.load_backend`:
    same backend code, token budgets, prompt fitting and constrained decoding) and score it
    on ``docs`` (see :func:`evaluate_refiner`).

    Args:
        model: Model URI or folder.
        docs: Labeled documents: a list, or a sized iterable read again on each pass (a
            seed set's streamed validation rows).
        backend: Backend (None: the one production picks for this model).
        threads: CPU threads (tagger and transformers backends).
    """
    from prox_tasks.inference import load_backend

    refiner = load_backend(backend, str(model), **({"threads": threads} if threads else {}))
    try:
        return evaluate_refiner(refiner, docs)
    finally:
        refiner.close()


def evaluate_refiner(refiner, docs: Iterable[dict], group_field: str | None = None) -> dict:
    """Run ``refiner`` on ``docs`` and score it (see :func:`evaluate_programs`).

    ``docs`` is read twice (a list, or a seed set's rows streamed from their files): once
    for the texts, which the refiner scores together — the tagger batches documents of
    similar length, and a document's probabilities move by ~1e-7 with its batch, so
    scoring in slices of the split could change the metrics and the threshold — and once
    to count the metrics, a document at a time. Only the texts and the programs are held.

    Adds ``predict_seconds`` and ``docs_per_s`` (both levels together).
    """
    texts = [d.get("text") or "" for d in read_twice(docs)]
    start = time.perf_counter()
    doc_programs = refiner.predict_doc(texts)
    chunk_programs = refiner.predict_chunks(texts)
    elapsed = time.perf_counter() - start
    out = evaluate_programs(docs, doc_programs, chunk_programs, group_field)
    if out["docs"] != len(texts):
        raise RuntimeError(f"the documents changed between two reads ({len(texts)} then "
                           f"{out['docs']})")
    out["predict_seconds"] = elapsed
    out["docs_per_s"] = len(texts) / elapsed if elapsed > 0 else 0.0
    return out
