"""refine_shards finds the published shards of a large call by listing ``_status`` once, not
by asking S3 for each shard's record (moto's server over HTTP)."""

import json

from prox_tasks.corpus import plan_shards, writer
from prox_tasks.refine.workers import refine_shards
from prox_tasks.storage import put_atomic
from tests.inference.helpers import short_docs


def test_a_large_call_lists_the_status_records_instead_of_asking_for_each(
        s3_bucket, tagger_model, count_gets, monkeypatch):
    """A new 100,000-shard snapshot asked for each shard's record before refining the first
    (100,000 GETs, ~14 ms each on moto: 23 minutes). Above STATUS_LISTED_ABOVE shards (1,000;
    2 here) the records are listed once and only those listed are read."""
    monkeypatch.setattr(writer, "STATUS_LISTED_ABOVE", 2)
    rows = "".join(json.dumps(d) + "\n" for d in short_docs(4, lines=5, width=80))
    put_atomic(f"{s3_bucket}/in/part-0.jsonl", rows)
    out = f"{s3_bucket}/out"
    plan_shards(f"{s3_bucket}/in/", out, target_docs=1)
    model = str(tagger_model)
    refine_shards(out, [0, 1], model=model)  # two published; listing not used (2 shards)
    status_gets_at_first_refined = []

    def collect(result):
        if result["status"] == "refined" and not status_gets_at_first_refined:
            status_gets_at_first_refined.append(
                sum(n for key, n in count_gets.items() if "/_status/" in key))

    count_gets.clear()
    statuses = {}
    refine_shards(out, [0, 1, 2, 3], model=model,
                  collect=lambda r: (collect(r), statuses.update({r["shard"]: r["status"]})))
    assert statuses == {0: "skipped", 1: "skipped", 2: "refined", 3: "refined"}
    # the two listed records read up front, then shard 2's own check as it is refined:
    # not 4 up front
    assert status_gets_at_first_refined[0] == 3, count_gets


def test_a_rerun_reads_each_published_shards_record_once(s3_bucket, tagger_model, count_gets,
                                                          s3_calls):
    """A rerun of a published snapshot read each shard's record and checked its files up
    front, then read and checked them again when it reported the shard skipped: twice the
    requests (at 100,000 shards, 200,000 more, one at a time)."""
    rows = "".join(json.dumps(d) + "\n" for d in short_docs(3, lines=5, width=80))
    put_atomic(f"{s3_bucket}/in/part-0.jsonl", rows)
    out = f"{s3_bucket}/out"
    plan_shards(f"{s3_bucket}/in/", out, target_docs=1)
    model = str(tagger_model)
    refine_shards(out, [0, 1, 2], model=model)
    count_gets.clear()
    s3_calls.clear()
    results = refine_shards(out, [0, 1, 2], model=model)
    assert [r["status"] for r in results] == ["skipped"] * 3
    assert all(r["accounting"]["docs_read"] == 1 for r in results)
    records = {k: n for k, n in count_gets.items() if "/_status/" in k}
    assert sorted(records.values()) == [1, 1, 1], count_gets
    # each shard's two files checked once, against one listing of each folder
    assert s3_calls["HeadObject"] == 0 and s3_calls["ListObjectsV2"] == 2, s3_calls
