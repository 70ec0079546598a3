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


def test_the_progress_setting_is_named_when_it_is_not_a_number(monkeypatch):
    """PROX_PROGRESS_EVERY is read where a shard is refined: an empty value (an env file's
    ``PROX_PROGRESS_EVERY=``) is the default, and another that is not a whole number fails
    naming the variable (before: every refine, ``prox refine`` and each DAG refine task alike,
    failed with "invalid literal for int() with base 10: ''")."""
    import pytest

    from prox_tasks.pipeline.settings import DEFAULT_PROGRESS_EVERY as DEFAULT_EVERY
    from prox_tasks.pipeline.settings import progress_every

    monkeypatch.setenv("PROX_PROGRESS_EVERY", "")
    assert progress_every() == DEFAULT_EVERY
    assert ProgressLog("shard 0", 10, None).every == DEFAULT_EVERY
    monkeypatch.setenv("PROX_PROGRESS_EVERY", "250")
    assert progress_every() == 250
    monkeypatch.setenv("PROX_PROGRESS_EVERY", "1k")
    with pytest.raises(ValueError, match=r"deployment variable PROX_PROGRESS_EVERY='1k' is "
                                         r"not a whole number"):
        progress_every()
