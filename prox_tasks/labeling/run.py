"""Label a corpus file with a teacher: the function ``prox label`` and the DAG call."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

from prox_tasks.labeling.base import Teacher
from prox_tasks.labeling.validate import validate_label


def read_input(
    uri: str, text_field: str = "text", id_field: str = "id", quarantine=None
) -> Iterator:
    """Documents of ``uri`` through :func:`prox_tasks.corpus.read_documents` (bad records go
    to ``quarantine`` with their reason)."""
    from prox_tasks.corpus import read_documents

    return read_documents(uri, text_field=text_field, id_field=id_field, quarantine=quarantine)


def _batches(items: Iterator, size: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def label_corpus(
    input_uri: str,
    output_uri: str,
    teacher: Teacher,
    text_field: str = "text",
    id_field: str = "id",
    gold_field: str = "gold_text",
    quarantine_uri: str | None = None,
    keep_text: bool = False,
    limit: int | None = None,
    batch_size: int = 64,
) -> dict:
    """Label every document of ``input_uri`` and write one row per document to ``output_uri``.

    Output rows: ``id``, ``doc_program``, ``chunk_program``, ``teacher``, ``valid``,
    ``rejected`` (reasons; empty when valid), ``label_meta``, ``source``, ``offset`` (and
    ``text`` with ``keep_text``). Bad input records and, for the ``diff`` teacher, documents
    without gold go to the quarantine file (default ``<output>.quarantine.jsonl``). The output
    is written atomically, so a retried task gives the same file.

    Returns:
        Counts: read, written, valid, rejected (by reason), quarantined (by reason),
        doc-level keep/drop, and the teacher's usage report when it has one.
    """
    from prox_tasks.corpus import Quarantine
    from prox_tasks.storage import open_uri

    quarantine = Quarantine()
    counts: Counter = Counter()
    rejected: Counter = Counter()
    needs_gold = teacher.name == "diff"
    docs = read_input(input_uri, text_field, id_field, quarantine)
    with open_uri(output_uri, "wt", compression="infer") as out:
        for batch in _batches(docs, batch_size):
            if limit is not None:
                batch = batch[: max(0, limit - counts["read"])]
                if not batch:
                    break
            counts["read"] += len(batch)
            if needs_gold:
                with_gold = []
                for doc in batch:
                    if isinstance(doc.meta.get(gold_field), str):
                        with_gold.append(doc)
                    else:
                        quarantine.add(
                            doc.source,
                            doc.offset,
                            "missing_gold",
                            f"no string field {gold_field!r}",
                            doc_id=doc.id,
                        )
                batch = with_gold
            golds = [d.meta.get(gold_field) for d in batch] if needs_gold else None
            labels = teacher.label_many([d.text for d in batch], golds)
            for doc, label in zip(batch, labels):
                reasons = validate_label(doc.text, label)
                rejected.update(reasons)
                row = {
                    "id": doc.id, "doc_program": label.doc_program,
                    "chunk_program": label.chunk_program, "teacher": teacher.name,
                    "valid": not reasons, "rejected": reasons, "label_meta": label.meta,
                    "source": doc.source, "offset": doc.offset,
                }  # fmt: skip
                if keep_text:
                    row["text"] = doc.text
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
                counts["written"] += 1
                counts["valid"] += not reasons
                counts[label.doc_program.strip() or "no_doc_program"] += 1
    quarantine_uri = (
        quarantine_uri or output_uri.removesuffix(".gz").removesuffix(".zst") + ".quarantine.jsonl"
    )
    quarantine.write(quarantine_uri)
    summary = {
        "read": counts["read"], "written": counts["written"], "valid": counts["valid"],
        "keep_doc": counts["keep_doc()"], "drop_doc": counts["drop_doc()"],
        "rejected": dict(rejected), "quarantined": dict(quarantine.reasons),
        "quarantine": quarantine_uri, "output": output_uri, "teacher": teacher.describe(),
    }  # fmt: skip
    usage = getattr(teacher, "usage", None)
    if usage is not None:
        summary["usage"] = usage.to_dict()
    return summary
