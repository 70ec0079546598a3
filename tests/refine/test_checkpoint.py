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
