"""Checkpoint parts: zstd-compressed JSON lines of rows without their texts (given again by
the executor); parts gzipped by earlier versions read too; a cut part is discarded, never
half-used."""

import gzip
from pathlib import Path

import zstandard

from prox_tasks.refine.checkpoint import CHECKPOINT_DIR, CheckpointStore

ROWS = [{"id": f"d{i}", "text": f"line {i}\u2028same line\nnext", "source": "s", "offset": i}
        for i in range(3)]  # fmt: skip
SAVED = [{"id": r["id"], "source": "s", "offset": r["offset"], "dropped": False} for r in ROWS]


def _store(tmp_path: Path) -> CheckpointStore:
    return CheckpointStore(str(tmp_path), 0, {"manifest": "m", "model": "v"})


def test_parts_round_trip_and_legacy_gzip_parts_read(tmp_path):
    store = _store(tmp_path)
    store.save(0, ROWS[:2], {"docs": 2})
    store.save(1, ROWS[2:], {"docs": 1})
    folder = tmp_path / CHECKPOINT_DIR / "shard-00000"
    assert sorted(p.name for p in folder.iterdir()) == ["part-000000.jsonl.zst",
                                                       "part-000001.jsonl.zst"]
    assert [rows for _, rows in store.load()] == [SAVED[:2], SAVED[2:]]
    # an earlier version's part: the same records, gzipped
    first = folder / "part-000000.jsonl.zst"
    raw = zstandard.ZstdDecompressor().decompress(first.read_bytes())
    first.unlink()
    (folder / "part-000000.jsonl.gz").write_bytes(gzip.compress(raw))
    assert [rows for _, rows in _store(tmp_path).load()] == [SAVED[:2], SAVED[2:]]
    store.clear()
    assert not folder.exists()


def test_a_cut_part_is_discarded_with_those_after_it(tmp_path):
    store = _store(tmp_path)
    for index in range(3):
        store.save(index, ROWS[index : index + 1], {"docs": 1})
    folder = tmp_path / CHECKPOINT_DIR / "shard-00000"
    cut = folder / "part-000001.jsonl.zst"
    cut.write_bytes(cut.read_bytes()[:-5])
    assert [rows for _, rows in store.load()] == [SAVED[:1]]
    assert [p.name for p in folder.iterdir()] == ["part-000000.jsonl.zst"]


def test_a_published_shard_s_parts_on_s3_go_in_one_request(s3_bucket, s3_calls):
    """A shard of 10,000 documents leaves 20 checkpoint parts, removed once it is published:
    a HEAD and a DELETE each on S3 (40 requests a shard, 4 million at 100,000 shards). One
    listing and one DeleteObjects now; a stale run's parts discarded the same way."""
    from prox_tasks.storage import list_uri

    store = CheckpointStore(f"{s3_bucket}/out", 0, {"manifest": "m", "model": "v"})
    for index in range(20):
        store.save(index, ROWS[:1], {"docs": 1})
    s3_calls.clear()
    store.clear()
    assert list_uri(f"{s3_bucket}/out/{CHECKPOINT_DIR}") == []
    # the HEADs: each listing asks first whether the prefix names an object (22 before)
    assert (s3_calls["DeleteObject"], s3_calls["DeleteObjects"]) == (0, 1), s3_calls
    assert s3_calls["HeadObject"] <= 2, s3_calls


def test_parts_written_before_contexts_were_fingerprinted_are_reused_other_contexts_not(
        tmp_path):  # fmt: skip
    """The context each level's prompts are fitted to joined the fingerprint: a part
    written by a prox before it (no ``contexts``) is still reused after the upgrade; one
    written under another context is not."""
    before = {"manifest": "m", "model": "v"}
    CheckpointStore(str(tmp_path), 0, before).save(0, ROWS, {"docs": 3})
    now = {**before, "contexts": {"doc": 1024, "chunk": 1024}}
    assert [rows for _, rows in CheckpointStore(str(tmp_path), 0, now).load()] == [SAVED]
    CheckpointStore(str(tmp_path), 0, now).save(1, ROWS, {"docs": 3})
    shorter = {**before, "contexts": {"doc": 512, "chunk": 512}}
    # part 0 tells no context (as before the upgrade); part 1 was fitted to another one
    assert [rows for _, rows in CheckpointStore(str(tmp_path), 0, shorter).load()] == [SAVED]
    assert [p.name for p in (tmp_path / CHECKPOINT_DIR / "shard-00000").iterdir()] == [
        "part-000000.jsonl.zst"]
    assert list(CheckpointStore(str(tmp_path), 0, {**shorter, "model": "w"}).load()) == []


def test_emptied_checkpoint_folders_go_when_the_run_ends_and_a_part_left_stays(tmp_path):
    """A finished snapshot (and seed set) kept an empty ``_checkpoints/`` behind: each shard's
    folder went as it was published, the shared parent never. Removed at the run's end now,
    only where empty (a killed run's part is its rerun's); again, or none there, no error;
    a rerun checkpoints into it again."""
    from prox_tasks.refine.checkpoint import remove_empty_checkpoint_folders

    root = tmp_path / CHECKPOINT_DIR
    done = _store(tmp_path)
    done.save(0, ROWS, {"docs": 3})
    done.clear()
    (root / "shard-00007").mkdir()  # a shard's folder emptied otherwise
    assert root.is_dir()
    remove_empty_checkpoint_folders(str(tmp_path))
    assert not root.exists()
    remove_empty_checkpoint_folders(str(tmp_path))  # idempotent: nothing there is no error
    kept = CheckpointStore(str(tmp_path), 1, {"manifest": "m", "model": "v"})
    kept.save(0, ROWS, {"docs": 3})  # a rerun checkpoints again; this part is left
    (root / "shard-00000").mkdir()
    remove_empty_checkpoint_folders(str(tmp_path))
    assert sorted(p.name for p in root.iterdir()) == ["shard-00001"]
    assert [rows for _, rows in kept.load()] == [SAVED]


def test_a_run_ending_beside_one_starting_a_shard_s_checkpoints_does_not_fail_it(tmp_path):
    """A run ending removes the snapshot's emptied ``_checkpoints/`` folders while another
    run (a `prox refine` sharing the claim, a DAG task) starts a shard's first checkpoint:
    its folder, made and still empty, was removed before the part's temporary file was
    created in it, and that shard failed with a bare FileNotFoundError (real threads on the
    real file system: within ~100 saves). The writer makes the folder again."""
    import threading
    import time

    from prox_tasks.refine.checkpoint import remove_empty_checkpoint_folders

    stop = threading.Event()

    def ending_runs() -> None:
        while not stop.is_set():
            remove_empty_checkpoint_folders(str(tmp_path))

    remover = threading.Thread(target=ending_runs)
    remover.start()
    saved, deadline = 0, time.monotonic() + 3
    try:
        while saved < 800 and time.monotonic() < deadline:
            store = CheckpointStore(str(tmp_path), saved, {"manifest": "m", "model": "v"})
            store.save(0, ROWS, {"docs": 3})  # a shard's first part, into a new folder
            assert [rows for _, rows in store.load()] == [SAVED]
            store.clear()
            saved += 1
    finally:
        stop.set()
        remover.join()
    assert saved >= 100
