"""The report reads a file again only when it changed (prox_tasks.report.cache)."""

from __future__ import annotations

import json
import os

from prox_tasks.report.cache import CACHE, VersionedCache, read_json
from prox_tasks.storage import version_of


def test_a_file_is_parsed_once_per_version(tmp_path):
    path = tmp_path / "gate.json"
    path.write_text(json.dumps({"passed": True}))
    CACHE.clear()
    assert read_json(str(path), str(tmp_path)) == {"passed": True}
    assert read_json(path.as_uri(), str(tmp_path)) == {"passed": True}  # another spelling: its own entry
    assert read_json(str(path), str(tmp_path)) == {"passed": True}
    assert (CACHE.hits, CACHE.misses) == (1, 2)
    before = version_of(str(path))
    path.write_text(json.dumps({"passed": False, "rewritten": 1}))  # a new gate run
    os.utime(path, ns=(1, 1))  # even with an older modification time: size differs too
    assert version_of(str(path)) != before
    assert read_json(str(path), str(tmp_path)) == {"passed": False, "rewritten": 1}
    path.unlink()
    assert read_json(str(path), str(tmp_path)) is None and version_of(str(path)) is None


def test_the_cache_is_bounded():
    cache = VersionedCache(max_entries=3)
    for i in range(5):
        assert cache.get(i, "v1", lambda i=i: i * 10) == i * 10
    assert cache.get(4, "v1", lambda: "recomputed") == 40  # recent: kept
    assert cache.get(0, "v1", lambda: "recomputed") == "recomputed"  # oldest: evicted
    assert cache.get(4, "v2", lambda: "new version") == "new version"


def test_a_snapshot_page_asks_one_listing_not_a_head_per_shard(s3_bucket, tmp_path, s3_calls):
    """The snapshot page's distributions are cached by the versions of the shards' status
    files: on S3 those come from one LIST, not a HEAD per shard on every page view; a shard
    refined again (its status rewritten) computes them again."""
    from prox_tasks.report.distributions import cached_distributions
    from prox_tasks.storage import put_atomic, read_bytes
    from tests.quality.snapshot_factory import refine_snapshot, write_input

    out = f"{s3_bucket}/snap"
    refine_snapshot(str(write_input(tmp_path / "in.jsonl", 30)), out, target_docs=3)
    CACHE.clear()
    first = cached_distributions(out, 10)
    s3_calls.clear()
    assert cached_distributions(out, 10) is first
    assert s3_calls == {"HeadObject": 1, "ListObjectsV2": 1}, s3_calls  # manifest, _status/
    status = f"{out}/_status/shard-00004.json"
    put_atomic(status, read_bytes(status) + b" ")  # shard 4 written again
    assert cached_distributions(out, 10) is not first
