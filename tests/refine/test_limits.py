"""Limits per document and per batch, and the duplicate-id policy, in the refine step."""

from __future__ import annotations

import json

import pytest

from prox_tasks.corpus import Document, Quarantine, plan_shards, read_refined_rows
from prox_tasks.refine import refine_shard
from prox_tasks.refine.limits import DuplicateIdError, Limits, admitted, batches


def _doc(i: int, text: str, doc_id: str | None = None) -> Document:
    return Document(doc_id or f"d{i}", text, "file:///in.jsonl", i)


def test_limits_come_from_values_then_environment_then_defaults():
    env = {"PROX_MAX_DOC_LINES": "7", "PROX_DUPLICATE_IDS": "fail", "PROX_MAX_BATCH_LINES": "50"}
    limits = Limits.resolve({"max_batch_lines": 40, "max_doc_bytes": None}, environ=env)
    assert (limits.max_doc_lines, limits.max_batch_lines, limits.duplicate_ids) == (7, 40, "fail")
    assert limits.max_doc_bytes == Limits().max_doc_bytes
    with pytest.raises(ValueError, match="positive"):
        Limits(max_batch_docs=0)
    with pytest.raises(ValueError, match="would not fit"):
        Limits(max_doc_lines=10, max_batch_lines=5)
    with pytest.raises(ValueError, match="duplicate_ids"):
        Limits(duplicate_ids="ignore")


def test_batches_close_at_the_byte_line_and_document_limits():
    limits = Limits(max_doc_lines=4, max_doc_bytes=100, max_batch_docs=3,
                    max_batch_bytes=100, max_batch_lines=6)  # fmt: skip
    docs = [_doc(i, t) for i, t in enumerate(
        ["a\nb\nc", "d\ne", "f", "g" * 90, "h", "é" * 30 + "\n", "i\nj\nk\nl", "m"])]  # fmt: skip
    got = [[d.id for d in b] for b in batches(iter(docs), limits)]
    # 3 lines + 2 + 1 = 6 lines; then 90 bytes + 1, and "é"*30 is 60 bytes (151 > 100);
    # then 2 lines + 4 lines = 6, and one more would be 7
    assert got == [["d0", "d1", "d2"], ["d3", "d4"], ["d5", "d6"], ["d7"]]


def test_over_long_documents_and_duplicates_are_quarantined_by_policy():
    docs = [_doc(0, "x\n" * 10), _doc(1, "ok"), _doc(2, "again", "d1"), _doc(3, "fine")]
    quarantine = Quarantine()
    kept = list(admitted(iter(docs), Limits(max_doc_lines=5), quarantine))
    assert [(d.id, d.offset) for d in kept] == [("d1", 1), ("d3", 3)]
    assert [(q["offset"], q["reason"]) for q in quarantine.records()] == [
        (0, "too_many_lines"), (2, "duplicate_id")]
    assert "first seen at file:///in.jsonl record 1" in list(quarantine.records())[1]["detail"]
    everyone = Quarantine()
    kept = list(admitted(iter(docs[1:]), Limits(duplicate_ids="quarantine"), everyone, {"d1"}))
    assert [d.id for d in kept] == ["d3"] and len(everyone) == 2
    with pytest.raises(DuplicateIdError, match="record 2 was already read at"):
        list(admitted(iter(docs[1:]), Limits(duplicate_ids="fail"), Quarantine()))


@pytest.mark.parametrize("policy, written, quarantined", [("keep_first", 4, 2),
                                                          ("quarantine", 3, 3)])
def test_a_shard_with_limits_stays_balanced(tmp_path, tagger_model, policy, written,
                                            quarantined):
    rows = [{"id": "a", "text": "A first sentence with enough words to keep it around."},
            {"id": "long", "text": "line\n" * 50},
            {"id": "a", "text": "The same id again, a different text of some length."},
            {"id": "b", "text": "Another ordinary document with several plain words."},
            {"id": "c", "text": "And one more ordinary document to close the shard."},
            {"id": "d", "text": "A last one so that batches of two split the shard."}]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    plan_shards(str(tmp_path / "in.jsonl"), str(tmp_path / "out"), target_docs=100)
    result = refine_shard(str(tmp_path / "out"), 0, model=str(tagger_model),
                          limits={"max_doc_lines": 20, "max_batch_docs": 2,
                                  "duplicate_ids": policy})  # fmt: skip
    acc = result["accounting"]
    assert (acc["docs_read"], acc["docs_written"], acc["docs_quarantined"]) == (
        6, written, quarantined)
    assert acc["quarantine_reasons"]["too_many_lines"] == 1
    assert result["stats"]["duplicate_ids"] == quarantined - 1
    ids = [r["id"] for r in read_refined_rows(str(tmp_path / "out"))]
    assert len(ids) == len(set(ids)) == written
