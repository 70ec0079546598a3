"""Refined-shard writer: schema, atomic and idempotent output, accounting."""

import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from prox_tasks.corpus import (
    REFINED_COLUMNS,
    AccountingError,
    Quarantine,
    plan_shards,
    read_refined_rows,
    read_shard,
    read_status,
    refined_schema,
    shard_uri,
    write_refined_shard,
)
from tests.corpus.conftest import refine_rows, write_jsonl


@pytest.fixture
def planned(tmp_path, sample_rows):
    rows = [*sample_rows[:20], {"id": "bad", "text": ""}, *sample_rows[20:]]
    inp = write_jsonl(tmp_path / "in.jsonl", rows)
    out = str(tmp_path / "out")
    return plan_shards(inp, out, target_docs=15), out


def _write(out, index, **kw):
    quarantine = Quarantine()
    rows = refine_rows(read_shard(out, index, quarantine))
    return write_refined_shard(out, index, rows, quarantine=quarantine, **kw)


def test_schema_and_content(planned):
    manifest, out = planned
    acc = _write(out, 1)
    assert acc.docs_read == 15 == acc.docs_written + acc.docs_quarantined
    assert acc.docs_quarantined == 1 and acc.quarantine_reasons == {"empty_text": 1}
    path = shard_uri(out, 1)[len("file://"):]
    table = pq.read_table(path)
    assert table.schema.equals(refined_schema(), check_metadata=True)
    assert table.schema.names == [c[0] for c in REFINED_COLUMNS]
    rows = table.to_pylist()
    assert all(r["dropped"] == (r["text"] is None) for r in rows)
    assert acc.docs_dropped == sum(r["dropped"] for r in rows) > 0
    assert json.loads(rows[0]["stats"]) in ({"lines_removed": 0}, {"lines_removed": 1})
    assert rows[0]["model_version"] == "m-test" and rows[0]["source"].startswith("file://")
    status = read_status(out, 1)
    assert status["sha256"] == acc.sha256 and status["docs_read"] == 15


def test_rerun_replaces_the_shard_exactly(planned):
    _, out = planned
    first = _write(out, 0)
    data = Path(shard_uri(out, 0)[7:]).read_bytes()
    second = _write(out, 0)
    assert second == first
    assert Path(shard_uri(out, 0)[7:]).read_bytes() == data
    assert sorted(os.listdir(os.path.join(out, "shards"))) == ["shard-00000.parquet"]


def test_unbalanced_accounting_publishes_nothing(planned):
    _, out = planned
    quarantine = Quarantine()
    rows = list(refine_rows(read_shard(out, 0, quarantine)))
    with pytest.raises(AccountingError, match="read 15 != written 14"):
        write_refined_shard(out, 0, rows[1:], quarantine=quarantine)  # one document lost
    assert not os.path.exists(shard_uri(out, 0)[7:]) and read_status(out, 0) is None
    assert os.listdir(os.path.join(out, "shards")) == []  # no temp file either
    with pytest.raises(AccountingError, match="written twice"):
        write_refined_shard(out, 0, rows + rows[:1], quarantine=quarantine)


def test_a_rerun_that_fails_leaves_the_published_shard_as_it_was(planned):
    """A write that fails publishes nothing and takes nothing away: the record and the file
    it describes stay as the last complete write left them (the record goes only when a new
    file is about to replace the old one; a refine of a published shard again, --force,
    removes it itself before refining: tests/refine/test_step.py)."""
    _, out = planned
    first = _write(out, 0)

    def broken():
        yield from refine_rows(read_shard(out, 0, Quarantine()))
        raise RuntimeError("model server died")

    with pytest.raises(RuntimeError):
        write_refined_shard(out, 0, broken())
    assert read_status(out, 0)["sha256"] == first.sha256
    assert len(list(read_refined_rows(out))) == first.docs_written


def test_read_refined_rows_reads_completed_shards(planned):
    manifest, out = planned
    for shard in manifest.shards:
        _write(out, shard.index)
    rows = list(read_refined_rows(out))
    assert len(rows) == 40 and len({(r["source"], r["offset"]) for r in rows}) == 40
    assert isinstance(rows[0]["stats"], dict) and "url" in rows[0]["meta"]


def test_writing_without_a_manifest_counts_what_it_is_given(tmp_path):
    rows = [{"id": "a", "text": "t", "source": "s", "offset": 0, "stats": "{}"}]
    acc = write_refined_shard(str(tmp_path), 3, rows, expected_docs=None)
    assert (acc.docs_read, acc.docs_written, acc.docs_kept) == (1, 1, 1)
    assert (tmp_path / "shards" / "shard-00003.parquet").exists()


def test_a_shard_where_everything_was_quarantined(tmp_path):
    inp = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": ""}, {"id": "b"}])
    out = str(tmp_path / "out")
    plan_shards(inp, out, target_docs=10)
    quarantine = Quarantine()
    acc = write_refined_shard(out, 0, refine_rows(read_shard(out, 0, quarantine)),
                              quarantine=quarantine)
    assert (acc.docs_read, acc.docs_written, acc.docs_quarantined) == (2, 0, 2)
    assert pq.read_table(shard_uri(out, 0)[7:]).num_rows == 0


def test_drop_reasons_and_program_errors_are_counted_into_the_status(tmp_path):
    """Each row's stats (a dict, or JSON as a checkpoint holds it) say why it was dropped and
    which program errors it met: the status record keeps the totals for reruns and the
    catalog."""
    rows = [
        {"id": "a", "text": "kept", "stats": {"errors": {"syntax": 2}}},
        {"id": "b", "text": None, "stats": {"drop_reason": "doc_program"}},
        {"id": "c", "text": None, "stats": json.dumps({"drop_reason": "low_quality",
                                                        "low_quality": True})},
        {"id": "d", "text": "kept", "stats": {"errors": {"syntax": 1, "out_of_range": 1},
                                              "low_quality": True}},
        {"id": "e", "text": None, "stats": {"drop_reason": "too_little_left",
                                            "errors": {"bad_arguments": 1}}},
    ]
    rows = [{**r, "source": "s", "offset": i} for i, r in enumerate(rows)]
    acc = write_refined_shard(str(tmp_path), 0, rows, expected_docs=None)
    assert acc.drop_reasons == {"doc_program": 1, "low_quality": 1, "too_little_left": 1}
    assert acc.program_errors == {"bad_arguments": 1, "out_of_range": 1, "syntax": 3}
    assert (acc.docs_with_program_errors, acc.docs_low_quality) == (3, 2)
    status = read_status(str(tmp_path), 0)
    assert status["drop_reasons"] == acc.drop_reasons
    assert status["program_errors"] == acc.program_errors
