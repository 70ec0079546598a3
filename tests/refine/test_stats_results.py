"""RunResults: shards' results folded one at a time (totals, timeline, bounded list)."""

from prox_tasks.refine.stats import RunResults


def result(shard: int, quarantined: int = 0, pid: int = 7, started_at: float = 100.0) -> dict:
    return {"shard": shard, "status": "refined", "model_version": "v1", "backend": "tagger",
            "accounting": {"docs_read": 10, "docs_written": 10 - quarantined,
                           "docs_quarantined": quarantined,
                           "quarantine_reasons": {"not_an_object": quarantined}
                           if quarantined else {}},
            "stats": {"docs_refined": 3, "tokens_in": 0, "tokens_out": 0,
                      "seconds": {"read": 0.5, "total": 2.0}},
            "wall_seconds": 2.0, "pid": pid, "started_at": started_at + shard}  # fmt: skip


def test_a_large_run_keeps_only_troubled_results_but_totals_every_shard():
    fold = RunResults(kept=2)
    for shard in (4, 0, 3, 1, 2):  # in the order the shards ended
        fold.add(result(shard, quarantined=1 if shard in (3, 4) else 0, pid=shard % 2))
    assert [r["shard"] for r in fold.results] == [3, 4] and fold.left_out == 3
    totals = fold.totals()
    assert totals["docs_read"] == 50 and totals["docs_written"] == 48
    assert totals["shards_refined"] == 5 and totals["docs_refined"] == 15
    assert totals["quarantine_reasons"] == {"not_an_object": 2}
    assert fold.phase_seconds == {"read": 2.5, "total": 10.0}
    assert fold.timeline() == [
        {"pid": 0, "shards": 3, "started_at": 100.0, "ended_at": 106.0},
        {"pid": 1, "shards": 2, "started_at": 101.0, "ended_at": 105.0}]


def test_a_small_run_keeps_every_result_in_shard_order():
    fold = RunResults(kept=3)
    for shard in (2, 0, 1):
        fold.add(result(shard))
    assert [r["shard"] for r in fold.results] == [0, 1, 2] and fold.left_out == 0


def test_a_record_cut_short_is_named_in_the_summary_line():
    """A WET file cut inside a record's payload gives one ``truncated_record``, no
    ``truncated_file``: the summary said nothing of the input cut short (its
    "(and N input files not read to its end)" counted only file losses)."""
    from prox_tasks.cli.refine_cmd import summary_line

    fold = RunResults()
    cut = result(0, quarantined=1)
    cut["accounting"]["quarantine_reasons"] = {"truncated_record": 1}
    fold.add(cut)
    totals = fold.totals()
    assert totals["records_cut"] == 1 and totals["files_cut"] == 0
    line = summary_line({**totals, "shards": 1, "output": "/out", "model_version": "v1",
                         "model_source": "default", "seconds": 1.0})
    assert line.startswith("refined 10 documents (and 1 record cut short: its input file ends "
                           "inside it) in 1 shard"), line


def test_text_candidates_add_up_and_records_of_the_earlier_release_are_told_apart():
    """A shard's status record names the fields its missing_text rows hold a string in
    (``text_candidates``); one written before that key (the earlier release) still adds up,
    its missing_text rows counted as not examined, and totals summed again (a DAG refine
    task's XCom, summed by collect) keep both."""
    from prox_tasks.refine.stats import accounting_totals

    new = {"docs_read": 3, "docs_quarantined": 3, "quarantine_reasons": {"missing_text": 3},
           "text_candidates": {"raw_content": 2}}
    old = {"docs_read": 2, "docs_quarantined": 2, "quarantine_reasons": {"missing_text": 2}}
    totals = accounting_totals([new, old])
    assert totals["text_candidates"] == {"raw_content": 2}
    assert totals["missing_text_unexamined"] == 2
    assert accounting_totals([totals, new]) == {
        **totals, "docs_read": 8, "docs_quarantined": 8,
        "quarantine_reasons": {"missing_text": 8}, "text_candidates": {"raw_content": 4}}
    assert "missing_text_unexamined" not in accounting_totals([new])
