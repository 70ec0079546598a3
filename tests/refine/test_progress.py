"""Progress lines of a refine task."""

import logging

from prox_tasks.refine.progress import ProgressLog
from prox_tasks.refine.stats import ShardStats


def test_a_line_every_n_documents_with_rate_eta_model_and_resumed(caplog):
    stats = ShardStats(docs_resumed=100)
    logger = logging.getLogger("test-progress")
    tracker = ProgressLog("shard 7", 1000, "tagger-abc", stats, every=250, logger=logger)
    with caplog.at_level(logging.INFO, logger="test-progress"):
        for n in (100, 100, 100, 300, 400):  # the first 100 came from checkpoints
            tracker(n)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3  # at 300 (>= 250), 600 (>= 500), 1000 (>= 750 and done)
    assert lines[0].startswith("shard 7: 300/1000 documents (30%), ")
    assert "docs/s, ETA " in lines[0] and "model tagger-abc, 100 resumed" in lines[0]
    assert lines[-1].startswith("shard 7: 1000/1000 documents (100%)") and "ETA 0s" in lines[-1]
