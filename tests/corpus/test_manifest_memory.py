"""A loaded plan's memory: ``prox refine`` holds the whole manifest for its run (~29 MB of
JSON at 100,000 shards). Its id is the same as before, whatever the plan holds."""

import json
import tracemalloc

from bench.manifest_scale import build_manifest
from prox_tasks.corpus.manifest import InputFile, Manifest, Segment, ShardPlan


def a_plan(partition_root=None) -> Manifest:
    """A plan of every kind of field: offsets and none, fingerprints and none, versions,
    non-ASCII in a URI and the settings."""
    files = [InputFile("s3://b/crawl/dt=2026-01-01/päge-0.jsonl", "jsonl", 900, 3, 800,
                       'etag:"abc"', "v1"),
             InputFile("file:///data/b.parquet", "parquet", 500, 2, 400, None, None)]
    shards = [ShardPlan(0, 2, 500, [Segment(files[0].uri, "jsonl", 0, 2, 2, 500, 0)]),
              ShardPlan(1, 3, 700, [Segment(files[0].uri, "jsonl", 2, 3, 1, 300, 512),
                                    Segment(files[1].uri, "parquet", 0, 2, 2, 400, None)])]
    settings = {"target_docs": 2, "target_bytes": None, "text_field": "text", "id_field": "id",
                "format": None, "max_doc_bytes": 1_000_000, "note": "é\u2028"}
    return Manifest("s3://b/crawl/", "s3://b/out", settings, files, shards,
                    partition_root=partition_root)


def test_a_plan_s_id_is_the_one_the_previous_release_gave_it():
    """The ids below are the previous release's (compute_id hashing one json.dumps of the
    whole plan): every plan, snapshot and status record names its plan by it."""
    assert a_plan().id == "4f5a4e7e86ec8b0ba3e0bbb91b4f6b0bb5a11fd52819c14328c357c1f160a407"
    assert a_plan("s3://b/crawl/").id == \
        "a2aa35a0618d54b77c003b2cad4ff5eab7726e41bb8b18d32aec7823b0e55914"  # fmt: skip
    loaded = Manifest.from_dict(json.loads(a_plan().to_json()))
    assert loaded.id == a_plan().id and loaded.to_json() == a_plan().to_json()


def test_a_loaded_plan_holds_less_and_checking_its_id_copies_nothing_of_it():
    """Loading a 100,000-shard manifest held ~72 MB of objects (each segment, shard and file
    with a __dict__, each segment its own copy of its file's URI) and peaked at ~228 MB:
    the JSON's dicts beside them, then the id check's copy of the whole plan (asdict) and
    its one canonical string (~97 MB more). Now ~50 MB, peak ~97 MB, and the id check
    ~4 MB (bench: tests' 5,000 shards, tracemalloc)."""
    shards = 5_000
    text = build_manifest(shards, "s3://in", "s3://out").to_json()
    tracemalloc.start()
    try:
        loaded = Manifest.from_dict(json.loads(text))
        held, peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        assert loaded.compute_id() == loaded.id
        checked = tracemalloc.get_traced_memory()[1] - held
    finally:
        tracemalloc.stop()
    assert held / shards < 600, held / shards  # bytes a shard: was ~720
    assert checked < held / 10, (checked, held)  # was 1.35 times what the plan holds
    assert peak < 2.5 * held, (peak, held)  # was 3.2 times


def _as_before(plan: Manifest) -> str:
    """``manifest.json``'s text as one call made it before (the whole plan at once)."""
    from dataclasses import asdict

    from prox_tasks.corpus.manifest import _plain

    return json.dumps(_plain(asdict(plan)), indent=1, sort_keys=True) + "\n"


def test_a_plan_s_text_is_the_bytes_it_was_and_made_without_a_copy_of_the_whole_plan():
    """``prox plan`` over 100,000 one-line files peaked at ~5 KB a file: ``to_json`` made
    the plan's text with one ``json.dumps(..., indent=1)``, whose pure-Python encoder held
    every token of the plan as its own string, beside a copy of the plan as dicts (10 times
    the text at its peak). It is made a file and a shard at a time now, the same bytes (a
    rerun compares them; an older prox reads them)."""
    skipped = a_plan()
    skipped.skipped_files = [{"uri": "file:///in/notes.txt", "reason": "not read"}]
    skipped.markers_left_out = None
    for plan in (a_plan(), a_plan("s3://b/crawl/"), skipped,
                 build_manifest(30, "s3://in", "s3://out")):
        assert plan.to_json() == _as_before(plan)
    files = 5_000
    plan = build_manifest(files, "s3://in", "s3://out")  # one shard a file, as small files
    tracemalloc.start()
    try:
        text = plan.to_json()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert text == _as_before(plan)
    assert peak < 3 * len(text), (peak, len(text))  # was 10.3 times the text; now 2.5


def test_a_plan_naming_its_own_list_marks_is_written_as_one_dumps_writes_it():
    """to_json writes the files and shards in place of marks (``"\\u0000shards\\u0000"``) of
    the plan dumped without them: a settings value, or a URI (an S3 key may hold NUL), spelled
    as a mark had a list written in its place, so the plan's JSON was another plan (and its
    id no longer its own)."""
    for name in ("\x00files\x00", "\x00shards\x00"):
        given = a_plan()
        plan = Manifest(name, given.output_uri, {**given.settings, "note": name, name: 1},
                        given.files, given.shards)
        assert plan.to_json() == _as_before(plan)
        assert Manifest.from_dict(json.loads(plan.to_json())).id == plan.id
