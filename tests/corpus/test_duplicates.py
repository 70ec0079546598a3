"""The snapshot's duplicate-id list, written at planning: every occurrence of a repeated id,
in read order (shard order, then row order), across files and shards; deterministic."""

from __future__ import annotations

import json
import os

from prox_tasks.corpus import plan_shards
from prox_tasks.corpus.duplicates import index_duplicates, shard_duplicates
from tests.corpus.conftest import write_jsonl


def _rows(ids):
    return [{"id": i, "text": f"text {n}"} for n, i in enumerate(ids)]


def test_repeated_ids_are_listed_in_read_order_across_files_and_shards(tmp_path):
    (tmp_path / "in").mkdir()
    first = write_jsonl(tmp_path / "in" / "a.jsonl", _rows(["x", "y", "x", "z"]))
    second = write_jsonl(tmp_path / "in" / "b.jsonl", _rows(["y", "w", "x"]))
    out = str(tmp_path / "out")
    manifest = plan_shards(str(tmp_path / "in"), out, target_docs=2)
    index = json.loads((tmp_path / "out" / "_duplicate_ids" / "index.json").read_text())
    assert index == {"manifest": manifest.id, "documents": 7, "duplicate_ids": 2,
                     "occurrences": 5, "shards": [0, 1, 2, 3]}
    a, b = f"file://{first}", f"file://{second}"
    seen = {shard: shard_duplicates(manifest, shard) for shard in range(4)}
    # shard 0: x (first), y (first); shard 1: x again; shard 2: y again; shard 3: x a third time
    assert [(key, o.is_first, o.first_shard, o.count) for key, o in seen[0].items()] == [
        ((a, 0), True, 0, 3), ((a, 1), True, 0, 2)]
    assert [(key, o.where_first()) for key, o in seen[1].items()] == [
        ((a, 2), f"{a} record 0 (shard 0)")]
    assert [(key, o.where_first()) for key, o in seen[2].items()] == [
        ((b, 0), f"{a} record 1 (shard 0)")]
    assert list(seen[3]) == [(b, 2)] and not seen[3][(b, 2)].is_first


def test_the_list_is_the_same_on_every_run_and_rebuilt_for_a_new_plan(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", _rows(["a", "b", "a", "c"]))
    out = tmp_path / "out"
    manifest = plan_shards(str(tmp_path / "in.jsonl"), str(out), target_docs=2)
    files = {p.name: p.read_bytes() for p in (out / "_duplicate_ids").iterdir()}
    for path in (out / "_duplicate_ids").iterdir():
        path.unlink()
    assert index_duplicates(manifest)["duplicate_ids"] == 1
    assert {p.name: p.read_bytes() for p in (out / "_duplicate_ids").iterdir()} == files
    replanned = plan_shards(str(tmp_path / "in.jsonl"), str(out), target_docs=4, overwrite=True)
    assert shard_duplicates(replanned, 0)  # one shard now holds both occurrences
    assert json.loads((out / "_duplicate_ids" / "index.json").read_text())["shards"] == [0]


def test_bad_records_and_a_snapshot_without_repeats(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": "a", "text": "one"}\n{"id": "a", "text": \n{"id": "b", "text": "t"}\n')
    manifest = plan_shards(str(path), str(tmp_path / "out"))
    index = index_duplicates(manifest)
    assert (index["documents"], index["duplicate_ids"], index["shards"]) == (2, 0, [])
    assert shard_duplicates(manifest, 0) == {}


def test_a_refine_task_reading_its_part_of_the_plan_rebuilds_a_missing_list_from_all_shards(
        tmp_path):
    """A refine task holds only its shards of the plan (a part): a list missing then (a plan
    from before lists) is built from every shard of the whole manifest, not from the part's
    (it would miss the earlier occurrences of the shard's ids and keep them again)."""
    write_jsonl(tmp_path / "in.jsonl", _rows(["a", "b", "c", "a"]))
    out = tmp_path / "out"
    manifest = plan_shards(str(tmp_path / "in.jsonl"), str(out), target_docs=2)
    expected = shard_duplicates(manifest, 1)
    for path in (out / "_duplicate_ids").iterdir():
        path.unlink()
    seen = shard_duplicates(manifest.part([1]), 1)
    assert seen == expected and not seen[(f"file://{tmp_path}/in.jsonl", 3)].is_first
    index = json.loads((out / "_duplicate_ids" / "index.json").read_text())
    assert (index["documents"], index["shards"]) == (4, [0, 1])



def test_the_plans_search_for_repeats_stays_within_its_memory_budget(tmp_path, monkeypatch):
    """Planning's duplicate pass kept 40 bytes a document (digest, shard, source, offset,
    lines) and ~18 more while it looked for the repeats, whatever the snapshot's size
    (bench/duplicates.py: 581 MB peak RSS at 10 million documents, ~5.5 GB at 100 million,
    more than one Airflow task has). Past PROX_ID_SEARCH_MB it spills them to disk and looks
    bucket by bucket: at 1 MiB, 80,000 documents (~4.6 MB before) stay within ~2 MB."""
    import tracemalloc

    docs = 80_000
    with open(tmp_path / "in.jsonl", "w") as out:
        for n in range(docs):
            out.write(f'{{"id": "d{n % (docs - 10)}", "text": "t"}}\n')
    monkeypatch.setenv("PROX_ID_SEARCH_MB", "1")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    manifest = plan_shards(str(tmp_path / "in.jsonl"), str(tmp_path / "out"), target_docs=10_000)
    for path in (tmp_path / "out" / "_duplicate_ids").iterdir():
        path.unlink()
    tracemalloc.start()  # numpy's arrays are traced
    try:
        index = index_duplicates(manifest)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (index["documents"], index["duplicate_ids"], index["occurrences"]) == (docs, 10, 20)
    assert peak < 3 * 2**20, f"{peak / 2**20:.1f} MiB at the peak"
    assert sorted(os.listdir(tmp_path)) == ["in.jsonl", "out"]  # the spilled digests: gone


def test_a_prefix_shared_by_two_ids_makes_no_duplicate(tmp_path, monkeypatch):
    """Two ids whose digests share their first 8 bytes (a collision made here: the real
    chance is ~n^2/2^65) are told apart by the whole digest."""
    from prox_tasks.corpus import duplicates

    real = duplicates.id_digest
    monkeypatch.setattr(duplicates, "id_digest",  # the collision no real id gives on demand
                        lambda doc_id: real("a")[:8] + real(doc_id)[8:] if doc_id in "ab"
                        else real(doc_id))
    write_jsonl(tmp_path / "in.jsonl", _rows(["a", "b", "c", "a"]))
    manifest = plan_shards(str(tmp_path / "in.jsonl"), str(tmp_path / "out"), target_docs=2)
    index = index_duplicates(manifest)
    assert (index["documents"], index["duplicate_ids"], index["occurrences"]) == (4, 1, 2)
