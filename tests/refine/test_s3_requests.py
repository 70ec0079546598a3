"""S3 requests of refining a snapshot held in S3 (moto's server over HTTP): what a shard
costs must not grow with the snapshot's other shards."""

import json

import pytest

from prox_tasks.corpus import plan_shards
from prox_tasks.refine.workers import refine_shards
from prox_tasks.storage import put_atomic
from tests.inference.helpers import short_docs


@pytest.mark.parametrize("shards", [3, 12])
def test_refining_reads_the_manifest_once_not_once_per_shard(s3_bucket, tagger_model,
                                                             count_gets, shards):
    # the manifest grows with the shards: read once per shard, a snapshot's refine reads
    # O(shards²) bytes of it
    rows = "".join(json.dumps(d) + "\n" for d in short_docs(shards, lines=5, width=80))
    put_atomic(f"{s3_bucket}/in/part-0.jsonl", rows)
    out = f"{s3_bucket}/out"
    plan_shards(f"{s3_bucket}/in/", out, target_docs=1)
    manifest_key = out.split("/", 3)[3] + "/manifest.json"
    count_gets.clear()
    results = refine_shards(out, list(range(shards)), model=str(tagger_model))
    assert [r["status"] for r in results] == ["refined"] * shards
    assert count_gets[manifest_key] == 1, count_gets
    count_gets.clear()
    again = refine_shards(out, list(range(shards)), model=str(tagger_model))
    assert [r["status"] for r in again] == ["skipped"] * shards
    assert count_gets[manifest_key] == 1, count_gets


def test_worker_processes_never_read_the_whole_plan(s3_bucket, moto_server, tagger_model,
                                                    monkeypatch):
    """prox refine --workers 2: only the caller reads manifest.json; each shard goes to its
    worker with its part of the plan (counted by the S3 server: the workers are other
    processes). Before, each worker read the whole manifest once: 29 MB a worker at 100,000
    shards."""
    monkeypatch.setenv("PROX_S3_ENDPOINT_URL", moto_server.endpoint_url)  # for the workers
    monkeypatch.setenv("PROX_S3_ADDRESSING_STYLE", "path")
    rows = "".join(json.dumps(d) + "\n" for d in short_docs(8, lines=5, width=80))
    put_atomic(f"{s3_bucket}/in/part-0.jsonl", rows)
    out = f"{s3_bucket}/out"
    plan_shards(f"{s3_bucket}/in/", out, target_docs=1)
    path = "/" + out.removeprefix("s3://") + "/manifest.json"
    moto_server.faults.seen.clear()
    results = refine_shards(out, list(range(8)), model=str(tagger_model), workers=2)
    assert [r["status"] for r in results] == ["refined"] * 8
    assert len({r["pid"] for r in results}) == 2
    gets = [p for m, p in moto_server.faults.seen if m == "GET" and p == path]
    assert len(gets) == 1, gets  # the caller's, none of the workers'
    # each shard's input file checked against the plan by the GET that reads it: a HEAD a
    # shard before
    source = "/" + s3_bucket.removeprefix("s3://") + "/in/part-0.jsonl"
    assert [m for m, p in moto_server.faults.seen if p == source] == ["GET"] * 8


def test_each_refine_task_of_the_dag_reads_its_part_of_the_plan_not_the_whole(
        s3_bucket, tagger_model, count_gets, tmp_path):
    """prox_refine_snapshot's task bodies on a snapshot in S3: each refine task GETs its own
    part of the plan, never manifest.json — a snapshot of S shards in B tasks had them read
    S x B plan bytes, each task a GET of the whole manifest. A retried task reads it again."""
    from prox_tasks.pipeline import refresh

    rows = "".join(json.dumps(d) + "\n" for d in short_docs(6, lines=5, width=80))
    put_atomic(f"{s3_bucket}/in/part-0.jsonl", rows)
    snapshot = refresh.resolve_snapshot(
        {"input_uri": f"{s3_bucket}/in/", "output_root": f"{s3_bucket}/corpus",
         "catalog_url": f"sqlite:///{tmp_path}/catalog.sqlite"}, "2026-01-02")
    items = refresh.plan(snapshot, target_docs=1, max_map_length=3, model=str(tagger_model),
                         backend=None)
    assert [item["shards"] for item in items] == [[0, 1], [2, 3], [4, 5]]
    folder = snapshot["output_uri"].split("/", 3)[3]
    count_gets.clear()
    for item in items:
        assert [s["status"] for s in refresh.refine_batch(item)["shards"]] == ["refined"] * 2
    assert [s["status"] for s in refresh.refine_batch(items[1])["shards"]] == ["skipped"] * 2
    assert count_gets[f"{folder}/manifest.json"] == 0, count_gets
    parts = {k.rsplit("/", 1)[1]: n for k, n in count_gets.items() if "/_manifest_parts/" in k}
    assert parts == {"shards-00000-00001-2.json": 1, "shards-00002-00003-2.json": 2,
                     "shards-00004-00005-2.json": 1}


def test_a_claim_on_a_gated_folder_lists_its_shards_not_reads_each(s3_bucket, moto_server,
                                                                  tagger_model):
    """A run into a gated folder is refused up front when it would refine a shard the gate
    judged; the DAG's plan makes that check for every shard of the snapshot, so it lists
    the status records and the shard files (two listings) instead of reading each record
    (a GET and a HEAD or two a shard: hundreds of thousands of requests at 100,000
    shards)."""
    from prox_tasks.corpus import load_manifest
    from prox_tasks.refine.claim import GatedSnapshot, claim_settings, claim_uri, mark_gated
    from prox_tasks.storage import read_json, remove

    rows = "".join(json.dumps(d) + "\n" for d in short_docs(6, lines=5, width=80))
    put_atomic(f"{s3_bucket}/in/part-0.jsonl", rows)
    out = f"{s3_bucket}/out"
    plan_shards(f"{s3_bucket}/in/", out, target_docs=1)
    refine_shards(out, list(range(6)), model=str(tagger_model))
    manifest = load_manifest(out)
    mark_gated(out, manifest.id, "snap", "gated")
    request = read_json(claim_uri(out))["request"]
    moto_server.faults.seen.clear()
    claim_settings(out, manifest, request)  # every shard published: goes on
    status = "/" + out.removeprefix("s3://") + "/_status/"
    assert not [p for m, p in moto_server.faults.seen if p.startswith(status)], \
        moto_server.faults.seen
    remove(f"{out}/shards/shard-00004.parquet")
    with pytest.raises(GatedSnapshot, match="shard 4 of .* is not published"):
        claim_settings(out, manifest, request)


def test_a_rerun_over_published_shards_lists_their_files_not_heads_each(s3_bucket, moto_server,
                                                                         tagger_model, caplog):
    """A rerun of a snapshot whose shards are all published checked each reused shard's
    data file (its size) and quarantine file with a HEAD each: 2 a shard, 1,000 HEADs for
    500 shards. The ``shards`` and ``quarantine`` folders are listed once instead
    (``listed_files``, the gate's ``quarantine_damage``); a file the listing does not show
    as recorded is still asked for and the shard refined again (moto over HTTP)."""
    import logging

    from prox_tasks.storage import get_client
    from tests.storage.conftest import _counting

    rows = "".join(json.dumps(d) + "\n" for d in short_docs(12, lines=5, width=80))
    rows += "not json\n"  # a quarantine file for the last shard
    put_atomic(f"{s3_bucket}/in/part-0.jsonl", rows)
    out = f"{s3_bucket}/out"
    plan_shards(f"{s3_bucket}/in/", out, target_docs=2)
    with _counting("before-parameter-build.s3.ListObjectsV2",
                   lambda params, **_: params.get("Prefix"), "count-lists") as lists:
        shards = len(refine_shards(out, list(range(7)), model=str(tagger_model)))
    assert shards == 7
    # nothing published yet: neither folder listed (listed when a record is found)
    assert not [p for p in lists if "shards" in p or "quarantine" in p], lists
    root = "/" + out.removeprefix("s3://")
    moto_server.faults.seen.clear()
    again = refine_shards(out, list(range(shards)), model=str(tagger_model))
    assert [r["status"] for r in again] == ["skipped"] * shards
    heads = [p for m, p in moto_server.faults.seen if m == "HEAD" and p.startswith(root)]
    assert not [p for p in heads if "/shards/" in p or "/quarantine/" in p], heads
    # a resized shard file: the listing shows it otherwise, so it is asked for and refined
    bucket, key = s3_bucket.removeprefix("s3://"), "out/shards/shard-00003.parquet"
    get_client().put_object(Bucket=bucket, Key=key, Body=b"PAR1x")
    with caplog.at_level(logging.WARNING, logger="prox_tasks.corpus.writer"):
        third = refine_shards(out, list(range(shards)), model=str(tagger_model))
    assert [r["status"] for r in third] == ["skipped"] * 3 + ["refined"] + ["skipped"] * 3
    assert f"{out}/shards/shard-00003.parquet has 5 bytes" in caplog.text


def test_a_dag_refine_task_s_rerun_lists_its_published_shards_not_heads_each(
        s3_bucket, moto_server, tagger_model, tmp_path):
    """prox_refine_snapshot's refine task over its part of the plan checked each reused
    shard's data and quarantine file with a HEAD each (2 a shard), where ``prox refine``
    over the whole plan lists the two folders once: the part did not know the plan's size.
    The part now carries it (``plan_shards``), and the task lists as the CLI does (moto over
    HTTP: no HEAD of a shards/ or quarantine/ key)."""
    from prox_tasks.pipeline import refresh

    rows = "".join(json.dumps(d) + "\n" for d in short_docs(6, lines=5, width=80))
    put_atomic(f"{s3_bucket}/in/part-0.jsonl", rows + "not json\n")
    snapshot = refresh.resolve_snapshot(
        {"input_uri": f"{s3_bucket}/in/", "output_root": f"{s3_bucket}/corpus",
         "catalog_url": f"sqlite:///{tmp_path}/catalog.sqlite"}, "2026-01-02")
    items = refresh.plan(snapshot, target_docs=1, max_map_length=2, model=str(tagger_model),
                         backend=None)
    assert [item["shards"] for item in items] == [[0, 1, 2, 3], [4, 5, 6]]
    for item in items:
        assert {s["status"] for s in refresh.refine_batch(item)["shards"]} == {"refined"}
    root = "/" + snapshot["output_uri"].removeprefix("s3://")
    moto_server.faults.seen.clear()
    for item in items:
        assert {s["status"] for s in refresh.refine_batch(item)["shards"]} == {"skipped"}
    heads = [p for m, p in moto_server.faults.seen if m == "HEAD" and p.startswith(root)
             and ("/shards/" in p or "/quarantine/" in p)]
    assert heads == [], heads
