"""refine_shards hands each shard's result over as the shard ends (``collect``), so that a
run of 100,000 shards holds no 100,000 results, and prox refine's summary (timeline, phase
split, totals) covers every shard while it keeps a bounded list of results."""

from prox_tasks.corpus import read_status
from prox_tasks.refine import refine_corpus, stats
from prox_tasks.refine.corpus import plan
from prox_tasks.refine.workers import refine_shards
from tests.inference.helpers import short_docs, write_jsonl


def planned(tmp_path, shards: int):
    folder = tmp_path / "in"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", short_docs(24, lines=20, width=120))
    out = tmp_path / "out"
    return out, plan(str(folder), str(out), shards=shards)


def published(out, manifest) -> int:
    return sum(read_status(str(out), s.index, manifest.id) is not None for s in manifest.shards)


def test_one_process_hands_each_result_over_when_its_shard_ends(tmp_path, tagger_model):
    """Before, every result was held until the last shard ended (382 MB at 100,000 shards)."""
    out, manifest = planned(tmp_path, 3)
    seen = []

    def collect(result):
        seen.append((result["shard"], published(out, manifest)))

    returned = refine_shards(str(out), [0, 1, 2], model=str(tagger_model), collect=collect)
    assert returned is None
    assert seen == [(0, 1), (1, 2), (2, 3)]  # shard 0's result came before shard 1 was refined


def test_workers_hand_each_result_over_before_the_last_shard_is_sent(tmp_path, tagger_model):
    """Two workers take two shards each at a time: the first result arrives while shards of
    the plan are not even sent (before: all sent at once, and every result held to the end)."""
    out, manifest = planned(tmp_path, 6)
    indexes = [s.index for s in manifest.shards]
    at_first = []
    results = []

    def collect(result):
        if not results:
            at_first.append(published(out, manifest))
        results.append(result["shard"])

    refine_shards(str(out), indexes, workers=2, model=str(tagger_model), collect=collect)
    assert sorted(results) == indexes and len(indexes) == 6
    assert at_first[0] < 6


def test_a_large_run_s_timeline_and_split_cover_every_shard(tmp_path, tagger_model,
                                                           monkeypatch):
    """Past RESULTS_KEPT shards (1,000; 1 here) the summary keeps few results; the worker
    timeline and the phase split (bench/refine.py's) were read from those kept results only.
    They now come from every shard, folded as each ended."""
    monkeypatch.setattr(stats, "RESULTS_KEPT", 1)
    folder = tmp_path / "in"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", short_docs(24, lines=20, width=120))
    summary = refine_corpus(str(folder), str(tmp_path / "out"), model=str(tagger_model),
                            shards=4, workers=2)  # fmt: skip
    assert summary["shards"] == 4 and summary["shards_refined"] == 4
    assert summary["results"] == [] and summary["results_left_out"] == 4  # none troubled
    timeline = summary["worker_timeline"]
    assert sum(w["shards"] for w in timeline) == 4 and 1 <= len(timeline) <= 2
    assert all(w["started_at"] <= w["ended_at"] for w in timeline)
    assert summary["phase_seconds"]["total"] > 0 and summary["docs_read"] == 24


def test_finding_the_published_shards_of_a_large_plan_is_not_quadratic():
    """Which planned shards are published was found with ``in`` the pending list, once per
    shard: 1.3 s at 10,000 shards, 130 s at 100,000 before the first shard was refined
    (bench/manifest_scale.py --only results). 50,000 shards took ~35 s."""
    import time

    from prox_tasks.refine.workers import published_among

    indexes = list(range(50_000))
    started = time.perf_counter()
    assert published_among(indexes, indexes[1:]) == [0]
    assert time.perf_counter() - started < 2.0


def test_workers_book_a_shard_s_attempt_as_it_is_sent_not_every_shard_first(tmp_path,
                                                                          tagger_model):
    """Every pending shard's attempt was booked in the catalog before the first went to a
    worker: ~5 ms a shard on SQLite, 8 minutes at 100,000 shards with no worker busy, and as
    long again to book them not run when the run was stopped."""
    from prox_tasks.catalog import Catalog
    from prox_tasks.refine.booking import ShardBooking, register_plan

    out, manifest = planned(tmp_path, 6)
    indexes = [s.index for s in manifest.shards]
    started_at_first = []
    with Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}") as catalog:
        register_plan(catalog, "crawl", manifest)

        def collect(result):
            if not started_at_first:
                started_at_first.append(
                    sum(s["attempts"] > 0 for s in catalog.get_shards("crawl")))

        refine_shards(str(out), indexes, workers=2, model=str(tagger_model),
                      booking=ShardBooking(catalog, "crawl"), collect=collect)  # fmt: skip
        shards = catalog.get_shards("crawl")
    assert len(indexes) == 6 and started_at_first[0] <= 4  # two a worker sent
    assert [(s["status"], s["attempts"]) for s in shards] == [("done", 1)] * 6
