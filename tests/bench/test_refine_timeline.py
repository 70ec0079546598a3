"""bench/refine.py's worker timeline and phase split cover every shard of a large run, not
only the results its summary keeps (1,000 at most; above that the troubled ones)."""

from __future__ import annotations

import time

from bench.refine import timeline
from prox_tasks.refine import refine_corpus, stats
from tests.inference.helpers import short_docs, write_jsonl


def test_the_timeline_of_a_run_past_the_kept_results_names_every_worker(tmp_path, tagger_model,
                                                                        monkeypatch):
    monkeypatch.setattr(stats, "RESULTS_KEPT", 1)  # 1,000 in a real run
    folder = tmp_path / "in"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", short_docs(24, lines=20, width=120))
    started_at, started = time.time(), time.perf_counter()
    summary = refine_corpus(str(folder), str(tmp_path / "out"), model=str(tagger_model),
                            shards=4, workers=2)  # fmt: skip
    wall = time.perf_counter() - started
    assert summary["results"] == []  # no troubled shard kept: before, no timeline at all
    line = timeline(summary, started_at, wall)
    ends = line.split("workers done at ")[1].split(" s,")[0].split(", ")
    assert len(ends) == len(summary["worker_timeline"]) >= 1
    assert line.startswith("first shard started at ") and line.endswith(f"{wall:.1f} s")
