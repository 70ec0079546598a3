"""run_shard: read, refine, write and book a shard in the catalog."""

import pytest

from prox_tasks.catalog import Catalog
from prox_tasks.corpus import plan_shards, read_refined_rows, refined_row, run_shard
from prox_tasks.programs import execute
from tests.corpus.conftest import write_jsonl


def test_run_shard_with_the_real_executor_books_the_catalog(tmp_path, sample_rows):
    inp = write_jsonl(tmp_path / "in.jsonl", [*sample_rows[:12], {"id": "x", "text": ""}])
    out = str(tmp_path / "out")
    manifest = plan_shards(inp, out, target_docs=13)
    catalog = Catalog(f"sqlite:///{tmp_path}/cat.sqlite")
    catalog.register_snapshot("snap", inp, out, manifest=manifest)

    def refine(docs):
        for doc in docs:
            program = "remove_lines(line_start=0, line_end=0)"
            result = execute(doc.text, doc_program="keep_doc()", chunk_program=program)
            yield refined_row(doc, result.text, doc_program="keep_doc()", chunk_program=program,
                              stats=result.stats.to_dict(), model_version="rules-1")

    acc = run_shard(out, 0, refine, catalog=catalog, snapshot="snap")
    assert (acc.docs_read, acc.docs_written, acc.docs_quarantined) == (13, 12, 1)
    shard = catalog.get_shard("snap", 0)
    assert (shard["status"], shard["attempts"], shard["docs_written"]) == ("done", 1, 12)
    assert shard["wall_seconds"] is not None and shard["checksum"] == acc.sha256
    rows = list(read_refined_rows(out))
    assert rows[0]["model_version"] == "rules-1"
    assert rows[0]["text"] is None or rows[0]["text"] != sample_rows[0]["text"]

    def broken(docs):
        yield from ()
        raise RuntimeError("model server unreachable")

    with pytest.raises(RuntimeError):
        run_shard(out, 0, broken, catalog=catalog, snapshot="snap")
    shard = catalog.get_shard("snap", 0)
    assert (shard["status"], shard["attempts"]) == ("failed", 2)
    assert "model server unreachable" in shard["error"]
    assert list(read_refined_rows(out)) == []  # a failed re-run leaves the shard not done
