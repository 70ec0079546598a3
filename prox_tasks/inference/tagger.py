"""The ``tagger`` backend: the embedded default refiner (a per-line tagger) behind the same
interface as the generative backends.

The tagger reads whole documents in batches and writes ``keep_doc()``/``drop_doc()`` and
per-chunk ``remove_lines`` programs; it has no tokens to count, so its usage records
requests (documents) and time only.
"""

from __future__ import annotations

import time

from prox_tasks.inference.base import Usage, new_usage


class TaggerRefiner:
    """Wraps a refiner object with ``predict_doc``/``predict_chunks``/``version``.

    Args:
        inner: The tagger (:class:`prox_tasks.models.line_tagger.LineTaggerRefiner`).
        backend: Name recorded in statistics.
    """

    def __init__(self, inner, backend: str = "tagger") -> None:
        self.inner = inner
        self.backend = backend
        self.version = str(getattr(inner, "version", "unknown"))
        self.usage: dict[str, Usage] = new_usage()

    def _timed(self, level: str, method, texts: list[str]) -> list[str]:
        start = time.perf_counter()
        out = list(method(list(texts)))
        usage = self.usage[level]
        usage.seconds += time.perf_counter() - start
        usage.requests += len(texts)
        if len(out) != len(texts):
            raise RuntimeError(f"{self.version}: {len(out)} programs for {len(texts)} documents")
        return out

    def predict_doc(self, texts: list[str]) -> list[str]:
        self._last_batch = list(texts)
        return self._timed("doc", self.inner.predict_doc, texts)

    def predict_chunks(self, texts: list[str]) -> list[str]:
        batch = getattr(self, "_last_batch", None)
        if batch is not None and len(texts) < len(batch) and set(texts) <= set(batch):
            # the refine step asks for the kept subset of the batch it just scored: the
            # tagger scores both levels in one pass and caches the whole batch, so ask for
            # that batch again (a cache hit) instead of scoring the subset anew
            programs = dict(zip(batch, self._timed("chunk", self.inner.predict_chunks, batch)))
            self.usage["chunk"].requests -= len(batch) - len(texts)
            return [programs[t] for t in texts]
        return self._timed("chunk", self.inner.predict_chunks, texts)

    @property
    def settings(self):
        """The tagger's inference settings (precision, thresholds): part of the refine
        step's checkpoint fingerprint beside ``version``."""
        return getattr(self.inner, "settings", None)

    @property
    def phases(self) -> dict:
        """Seconds by phase inside the model (``features``, ``forward``), accumulated."""
        return dict(getattr(self.inner, "phases", {}))

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()
