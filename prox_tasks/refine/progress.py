"""Progress lines in a refine task's log: documents done, docs/s, ETA, model, resumed."""

from __future__ import annotations

import logging
import time

from prox_tasks.pipeline.settings import progress_every

log = logging.getLogger("prox_tasks.refine")


class ProgressLog:
    """Called with the number of documents finished after each batch; logs a line each time
    another ``every`` documents are done, and when the last one is.

    Args:
        label: What is refined (``shard 42``).
        total: Documents expected.
        model: Model version refining them.
        stats: The shard's :class:`~prox_tasks.refine.stats.ShardStats` (its ``docs_resumed``
            counts documents taken from an earlier try's checkpoints, not refined now).
        every: Documents between two lines (default :func:`progress_every`).
    """

    def __init__(self, label: str, total: int, model: str | None, stats=None,
                 every: int | None = None, logger: logging.Logger = log):
        self.label, self.total, self.model, self.stats = label, total, model, stats
        self.every = every or progress_every()
        self.logger = logger
        self.done = 0
        self.started = time.monotonic()
        self._next = self.every

    def __call__(self, n: int) -> None:
        self.done += n
        if self.done >= self._next or self.done >= self.total:
            self.logger.info("%s", self.line())
            while self._next <= self.done:
                self._next += self.every

    def line(self) -> str:
        resumed = getattr(self.stats, "docs_resumed", 0)
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = (self.done - resumed) / elapsed
        left = max(self.total - self.done, 0)
        eta = f"{left / rate:.0f}s" if rate > 0 and left else ("0s" if not left else "?")
        share = 100 * self.done / self.total if self.total else 100.0
        return (f"{self.label}: {self.done}/{self.total} documents ({share:.0f}%), "
                f"{rate:.1f} docs/s, ETA {eta}, model {self.model or 'unknown'}, "
                f"{resumed} resumed from checkpoints")
