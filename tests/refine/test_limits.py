"""Limits per document and per batch, and the duplicate-id policy, in the refine step."""

from __future__ import annotations

import json

import pytest

from prox_tasks.corpus import Document, Quarantine, plan_shards, read_refined_rows
from prox_tasks.corpus.duplicates import Occurrence
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
    with pytest.raises(ValueError, match="max_doc_lines 10 is above max_batch_lines 5: one "
                       "document would not fit"):
        Limits(max_doc_lines=10, max_batch_lines=5)
    with pytest.raises(ValueError, match="max_doc_bytes 100000000 is above max_batch_bytes "):
        Limits.resolve({"max_doc_bytes": 100_000_000})  # the Param a user set, and the other
    with pytest.raises(ValueError, match="duplicate_ids"):
        Limits(duplicate_ids="ignore")


def test_a_limit_that_is_not_a_number_names_where_it_came_from():
    with pytest.raises(ValueError, match=r"^PROX_MAX_DOC_LINES: 'abc' is not a number$"):
        Limits.resolve({}, environ={"PROX_MAX_DOC_LINES": "abc"})
    with pytest.raises(ValueError, match=r"^limit max_doc_lines: 'abc' is not a number$"):
        Limits.resolve({"max_doc_lines": "abc"}, environ={"PROX_MAX_DOC_LINES": "7"})


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
    src = "file:///in.jsonl"
    occurrences = {(src, 1): Occurrence(0, src, 1, True, 2), (src, 2): Occurrence(0, src, 1, False, 2)}
    quarantine = Quarantine()
    kept = list(admitted(iter(docs), Limits(max_doc_lines=5), quarantine, occurrences))
    assert [(d.id, d.offset) for d in kept] == [("d1", 1), ("d3", 3)]
    assert [(q["offset"], q["reason"]) for q in quarantine.records()] == [
        (0, "too_many_lines"), (2, "duplicate_id")]
    assert "first seen at file:///in.jsonl record 1 (shard 0)" in \
        list(quarantine.records())[1]["detail"]  # fmt: skip
    everyone = Quarantine()
    kept = list(admitted(iter(docs[1:]), Limits(duplicate_ids="quarantine"), everyone,
                         occurrences))  # fmt: skip
    assert [d.id for d in kept] == ["d3"] and len(everyone) == 2
    with pytest.raises(DuplicateIdError, match="record 2 was already read at"):
        list(admitted(iter(docs[1:]), Limits(duplicate_ids="fail"), Quarantine(), occurrences))


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


def test_documents_set_aside_by_limits_or_duplicate_ids_keep_their_rows(tmp_path, tagger_model):
    """A too_many_lines or duplicate_id record carries its row as ``raw``, as every other
    quarantined record does (before: only where it was read, so a crawl deleted after the
    run took them along — a document over the line limit, the other text under a repeated
    id); the row under the input's own field names, its other fields kept."""
    import gzip

    rows = [{"doc_id": "a", "raw_content": "A first sentence with enough words to keep it.",
             "url": "https://a.example/1", "n": 1},
            {"doc_id": "long", "raw_content": "line\n" * 50, "url": "https://a.example/2"},
            {"doc_id": "a", "raw_content": "The same id again, a different text.", "n": None}]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    plan_shards(str(tmp_path / "in.jsonl"), str(tmp_path / "out"), target_docs=100,
                text_field="raw_content", id_field="doc_id")
    result = refine_shard(str(tmp_path / "out"), 0, model=str(tagger_model),
                          limits={"max_doc_lines": 20})
    assert result["accounting"]["docs_quarantined"] == 2
    with gzip.open(result["accounting"]["quarantine_uri"].removeprefix("file://"), "rt") as f:
        records = [json.loads(line) for line in f]
    assert [(r["offset"], r["reason"]) for r in records] == [(1, "too_many_lines"),
                                                             (2, "duplicate_id")]
    assert [json.loads(r["raw"]) for r in records] == rows[1:]
    assert all(r["raw_bytes"] == len(r["raw"].encode()) and not r["truncated"] for r in records)


def _snapshot(tmp_path, rows, target_docs):
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return plan_shards(str(tmp_path / "in.jsonl"), str(tmp_path / "out"), target_docs=target_docs)


ACROSS = [{"id": i, "text": f"Document {n} has an ordinary sentence with several plain words."}
          for n, i in enumerate(["a", "b", "c", "b", "d", "a", "e", "f", "a"])]


@pytest.mark.parametrize("policy, quarantined", [
    ("keep_first", {0: [], 1: [3, 5], 2: [8]}),
    ("quarantine", {0: [0, 1], 1: [3, 5], 2: [8]}),
])
def test_duplicates_across_shards_follow_the_policy_snapshot_wide(tmp_path, tagger_model,
                                                                 policy, quarantined):
    """Ids a, b recur in later shards (3 shards of 3): the first occurrence by shard order,
    then row order, is the one kept; every shard stays balanced; a retry is identical."""
    manifest = _snapshot(tmp_path, ACROSS, 3)
    out = str(tmp_path / "out")
    outputs = {}
    for shard in range(3):
        result = refine_shard(out, shard, model=str(tagger_model),
                              limits={"duplicate_ids": policy})
        acc = result["accounting"]
        assert acc["docs_read"] == 3 == acc["docs_written"] + acc["docs_quarantined"]
        assert acc["docs_quarantined"] == len(quarantined[shard])
        assert result["stats"]["duplicate_ids"] == len(quarantined[shard])
        entries = list(_quarantined(tmp_path, shard))
        assert [(e["offset"], e["reason"]) for e in entries] == [
            (o, "duplicate_id") for o in quarantined[shard]]
        outputs[shard] = (tmp_path / "out" / "_status" / f"shard-{shard:05d}.json").read_bytes()
    ids = [r["id"] for r in read_refined_rows(out)]
    assert len(ids) == len(set(ids)) == 9 - sum(map(len, quarantined.values()))
    if policy == "keep_first":
        assert "first seen at" in entries[0]["detail"] and "record 0 (shard 0)" in \
            entries[0]["detail"]  # fmt: skip
    again = refine_shard(out, 1, model=str(tagger_model), limits={"duplicate_ids": policy},
                         force=True)  # a retried task: the same rows, the same quarantine
    assert again["accounting"]["sha256"] == json.loads(outputs[1])["sha256"]
    assert manifest.id == json.loads((tmp_path / "out" / "_duplicate_ids" / "index.json")
                                     .read_text())["manifest"]  # fmt: skip


def _quarantined(tmp_path, shard):
    import gzip

    with gzip.open(tmp_path / "out" / "quarantine" / f"shard-{shard:05d}.jsonl.gz", "rt") as f:
        yield from (json.loads(line) for line in f)


def test_duplicate_policy_fail_fails_the_shard_with_the_second_occurrence(tmp_path,
                                                                        tagger_model):
    _snapshot(tmp_path, ACROSS, 3)
    out = str(tmp_path / "out")
    assert refine_shard(out, 0, model=str(tagger_model), limits={"duplicate_ids": "fail"}
                        )["status"] == "refined"  # fmt: skip
    with pytest.raises(DuplicateIdError, match=r"'b' at .* record 3 was already read at "
                                               r".* record 1 \(shard 0\)"):
        refine_shard(out, 1, model=str(tagger_model), limits={"duplicate_ids": "fail"})


def test_the_program_caps_reach_the_executor(tmp_path, tagger_model):
    """max_program_chars, like the other limits, is a setting the refine step passes on."""
    rows = [{"id": f"r{i}", "text": "Home | Login | Menu\n" + "A long enough sentence. " * 8
             + "\nShare on Facebook"} for i in range(4)]
    _snapshot(tmp_path, rows, 10)
    capped = refine_shard(str(tmp_path / "out"), 0, model=str(tagger_model),
                          limits={"max_program_chars": 1})
    failures = capped["stats"]["failures"]
    assert sum(kinds.get("over_limit", 0) for kinds in failures.values()) >= 4, failures


def test_keep_first_keeps_the_first_copy_the_refine_keeps(tmp_path, tagger_model, capsys):
    """An id whose first copy is quarantined — by the reader (empty text, null) or by the
    line limit — keeps its next valid copy, the same way in both cases."""
    from prox_tasks.cli import main

    rows = [{"id": "x", "text": ""}, {"id": "x", "text": "the valid x"},
            {"id": "y", "text": "a\n" * 50}, {"id": "y", "text": "the valid y"},
            {"id": "z", "text": None}, {"id": "z", "text": "the valid z"},
            {"id": "w", "text": "a\n" * 50}, {"id": "w", "text": "b\n" * 60},
            {"id": "w", "text": "the valid w"}, {"id": "w", "text": "a second valid w"}]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    assert main(["refine", "--json", "--input", str(source), "--output", str(out), "--model",
                 str(tagger_model), "--max-doc-lines", "20", "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["docs_read"], summary["docs_written"]) == (10, 4)
    texts = {r["id"]: r["text"] for r in read_refined_rows(str(out))}
    assert set(texts) == {"x", "y", "z", "w"}
    assert [(e["offset"], e["reason"]) for e in _quarantined(tmp_path, 0)] == [
        (0, "empty_text"), (2, "too_many_lines"), (4, "missing_text"), (6, "too_many_lines"),
        (7, "too_many_lines"), (9, "duplicate_id")]


def test_a_row_set_aside_is_strict_json_as_its_refined_meta_is():
    """A Parquet row's NaN or infinity (pandas and Spark write them) is written as the
    string "NaN"/"Infinity" in the refined meta (strict JSON); the row of a document set
    aside by the limits was written with the bare tokens, which jq, JavaScript and DuckDB
    refuse, and which prox's own JSONL reader quarantines (bad_number) when the row is fed
    back once the crawl is gone."""
    from prox_tasks.corpus.document import Document
    from prox_tasks.corpus.quarantine import Quarantine
    from prox_tasks.refine.limits import admitted

    def refuse(token):
        raise AssertionError(f"bare {token} in raw")

    text = "line\n" * 30
    doc = Document("x", text, "file:///in.parquet", 0,
                   {"score": float("nan"), "bounds": [float("-inf"), 1.5]})
    quarantine = Quarantine()
    assert list(admitted(iter([doc]), Limits(max_doc_lines=20), quarantine, {},
                         "body", "key")) == []
    (record,) = list(quarantine.records())
    assert record["reason"] == "too_many_lines"
    assert json.loads(record["raw"], parse_constant=refuse) == {
        "key": "x", "body": text, "score": "NaN", "bounds": ["-Infinity", 1.5]}
    assert list(json.loads(record["raw"])) == ["key", "body", "score", "bounds"]  # row order
