"""Shards read from their segments' byte offsets refine to the same bytes as shards read
from their files' start (a plan made before offsets were recorded), serial or in workers."""

import dataclasses
import json
from pathlib import Path

from prox_tasks.corpus import load_manifest, plan_shards
from prox_tasks.refine import refine_corpus
from tests.inference.helpers import short_docs


def shard_bytes(out: Path) -> list[bytes]:
    return [path.read_bytes() for path in sorted((out / "shards").glob("*.parquet"))]


def test_shards_read_from_offsets_are_the_bytes_of_shards_read_from_the_start(tmp_path,
                                                                             tagger_model):
    source = tmp_path / "in.jsonl"  # CRLF line ends: offsets count both bytes
    source.write_bytes("".join(json.dumps(d) + "\r\n" for d in short_docs(40, lines=30,
                                                                          width=200)).encode())
    model = str(tagger_model)
    serial = refine_corpus(str(source), str(tmp_path / "serial"), model=model, shards=4)
    offsets = [s.segments[0].byte_offset for s in load_manifest(str(tmp_path / "serial")).shards]
    assert offsets[0] == 0 and all(offsets[1:])
    refine_corpus(str(source), str(tmp_path / "workers"), model=model, shards=4, workers=2)
    # a plan from before offsets, in the folder before the run: reused, its offsets added
    planned = plan_shards(str(source), str(tmp_path / "old"), target_docs=10, write=False)
    old = dataclasses.replace(planned, shards=[dataclasses.replace(s, segments=[
        dataclasses.replace(g, byte_offset=None) for g in s.segments]) for s in planned.shards])
    assert old.id == planned.id
    (tmp_path / "old").mkdir()
    old.write()
    refine_corpus(str(source), str(tmp_path / "old"), model=model, shards=4)
    assert load_manifest(str(tmp_path / "old")).id == old.id
    assert load_manifest(str(tmp_path / "old")).shards[3].segments[0].byte_offset == \
        planned.shards[3].segments[0].byte_offset  # fmt: skip
    assert [r["status"] for r in serial["results"]] == ["refined"] * 4
    assert shard_bytes(tmp_path / "serial") == shard_bytes(tmp_path / "workers") == \
        shard_bytes(tmp_path / "old")  # fmt: skip
    # planned again (--replan) over the same input: the same plan, its shards kept
    again = refine_corpus(str(source), str(tmp_path / "serial"), model=model, shards=4,
                          replan=True)
    assert [r["status"] for r in again["results"]] == ["skipped"] * 4
