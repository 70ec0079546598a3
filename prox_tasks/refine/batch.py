"""Refine one batch of documents: document programs, drop, chunk programs, execute.

The order ProX runs: every document goes through the document-level model; the executor's
document decision drops some; the kept ones go through the chunk-level model (the backend
renders their chunks with global line numbers and joins the chunk programs per document);
the executor runs both programs. Garbage output never raises: the executor classifies it
and applies its policy (a broken document program keeps the document; a chunk program with
too many errors is ignored), and the errors are counted by level and kind.

The document-quality decision (:mod:`prox_tasks.labeling.doc_quality`) is separate from the
document program's junk decision: with ``quality="report"`` every kept document's row stats
carry ``quality`` (p(high quality)) and ``low_quality``, and the low ones are counted; with
``"drop"`` they are also dropped (``drop_reason`` ``low_quality``, counted apart from junk).
"""

from __future__ import annotations

import time
from collections import Counter

from prox_tasks.inference.base import Refiner
from prox_tasks.programs import Policy, execute
from prox_tasks.refine.stats import ShardStats


def _usage_snapshot(refiner: Refiner) -> dict:
    return {level: u.copy() for level, u in refiner.usage.items()}


def _usage_delta(refiner: Refiner, before: dict) -> dict:
    return {level: refiner.usage[level].minus(before[level]).to_dict() for level in before}


def _checked(programs: list, n: int, level: str) -> list:
    if len(programs) != n:
        raise RuntimeError(f"the backend returned {len(programs)} {level} programs for {n} docs")
    return [p if isinstance(p, str) else ("" if p is None else str(p)) for p in programs]


def refine_batch(refiner: Refiner, docs: list, policy: Policy | None = None,
                 model_version: str | None = None,
                 quality: str = "off") -> tuple[list[dict], ShardStats]:
    """Refine ``docs`` (:class:`prox_tasks.corpus.Document`) with ``refiner``.

    ``quality``: the document-quality decision's mode, ``off``, ``report`` or ``drop``.

    Returns:
        The output rows (the refined-shard writer's fields), in input order, and the
        batch's statistics (no ``docs_in``/``docs_quarantined``: the caller reads).
    """
    policy = policy or Policy()
    stats = ShardStats()
    before = _usage_snapshot(refiner)
    phases = dict(getattr(refiner, "phases", {}))  # a backend's own split of its time
    texts = [d.text for d in docs]
    start = time.perf_counter()
    doc_programs = _checked(refiner.predict_doc(texts), len(docs), "doc")
    stats.seconds["doc_phase"] += time.perf_counter() - start

    start = time.perf_counter()
    first = [execute(t, p, None, policy=policy) for t, p in zip(texts, doc_programs)]
    kept = [i for i, r in enumerate(first) if not r.dropped]
    stats.seconds["execute"] += time.perf_counter() - start

    start = time.perf_counter()
    chunk_out = refiner.predict_chunks([texts[i] for i in kept]) if kept else []
    chunk_programs: dict[int, str] = dict(zip(kept, _checked(chunk_out, len(kept), "chunk")))
    stats.seconds["chunk_phase"] += time.perf_counter() - start

    start = time.perf_counter()
    rows = []
    version = model_version or refiner.version
    judge = None
    if quality != "off":
        from prox_tasks.labeling.doc_quality import check_mode, load_quality_model

        check_mode(quality)
        judge = load_quality_model()
    for i, doc in enumerate(docs):
        chunk_program = chunk_programs.get(i)
        result = first[i] if chunk_program is None else \
            execute(doc.text, doc_programs[i], chunk_program, policy=policy)  # fmt: skip
        if result.stats.errors:  # it holds the document program's errors too
            doc_errors = first[i].stats.errors
            chunk_errors = Counter(result.stats.errors)
            chunk_errors.subtract(doc_errors)
            chunk_errors = +chunk_errors
            stats.failures["doc"].update(doc_errors)
            stats.failures["chunk"].update(chunk_errors)
            stats.docs_with_failures += bool(doc_errors or chunk_errors)
        stats.chars_in += len(doc.text)
        row_stats = result.stats.to_dict()
        if judge is not None and not result.dropped:
            score = judge.probability(doc.text)
            row_stats.update(quality=round(score, 4), low_quality=score < judge.threshold)
            stats.docs_low_quality += score < judge.threshold
            if quality == "drop" and score < judge.threshold:
                row_stats["drop_reason"] = "low_quality"
                stats.docs_dropped += 1
                stats.dropped_low_quality += 1
                rows.append({
                    "id": doc.id, "text": None, "doc_program": doc_programs[i],
                    "chunk_program": chunk_program, "stats": row_stats, "source": doc.source,
                    "offset": doc.offset, "model_version": version, "meta": doc.meta or None,
                })  # fmt: skip
                continue
        if result.dropped:
            stats.docs_dropped += 1
            stats.dropped_by_model += result.stats.drop_reason == "doc_program"
            stats.dropped_too_little_left += result.stats.drop_reason == "too_little_left"
        else:
            stats.docs_kept += 1
            stats.chars_out += len(result.text)
            stats.docs_refined += result.text != doc.text
        rows.append({
            "id": doc.id, "text": result.text, "doc_program": doc_programs[i],
            "chunk_program": chunk_program, "stats": row_stats,
            "source": doc.source, "offset": doc.offset, "model_version": version,
            "meta": doc.meta or None,
        })  # fmt: skip
    stats.seconds["execute"] += time.perf_counter() - start
    stats.usage = _usage_delta(refiner, before)
    for phase, seconds in getattr(refiner, "phases", {}).items():
        stats.seconds[phase] += seconds - phases.get(phase, 0.0)
    return rows, stats


def rows_again(saved: list[dict], docs: list, policy: Policy | None = None) -> list[dict]:
    """The rows of a checkpointed batch, their refined texts given again by the executor.

    Checkpoints hold each row without its text (:mod:`prox_tasks.refine.checkpoint`): the
    executor is a pure function of the document's text, its two programs and the policy
    (the policy and the batch's documents are checked against the checkpoint before this),
    so running it again on the documents read again gives the text :func:`refine_batch`
    wrote. ``saved`` is completed in place and returned.

    Raises:
        ValueError: A row does not match its document (another id, or the text again is
            not what the checkpoint recorded: dropped or not, its length).
    """
    policy = policy or Policy()
    for row, doc in zip(saved, docs, strict=True):
        if "text" in row:  # a row saved with its text
            continue
        stats = row.get("stats") or {}
        result = execute(doc.text, row.get("doc_program"), row.get("chunk_program"),
                         policy=policy)  # fmt: skip
        text = None if stats.get("drop_reason") == "low_quality" else result.text
        if row.get("id") != doc.id or row.pop("dropped", None) is not (text is None) or \
                result.stats.chars_out != stats.get("chars_out"):  # fmt: skip
            raise ValueError(f"document {doc.id} ({doc.source} record {doc.offset}) is not "
                             "what its checkpoint recorded")
        row["text"] = text
    return saved
