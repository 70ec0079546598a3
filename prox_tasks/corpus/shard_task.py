"""One shard, end to end: read it, refine it, write it, and book it in the catalog."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping

from prox_tasks.corpus.document import Document
from prox_tasks.corpus.planner import read_shard
from prox_tasks.corpus.quarantine import Quarantine
from prox_tasks.corpus.writer import ShardAccounting, write_refined_shard


def refined_row(doc: Document, text: str | None, *, doc_program: str | None = None,
                chunk_program: str | None = None, stats: Mapping | None = None,
                model_version: str | None = None) -> dict:
    """The writer's row for ``doc`` refined to ``text`` (None: dropped)."""
    return {"id": doc.id, "text": text, "doc_program": doc_program,
            "chunk_program": chunk_program, "stats": dict(stats or {}), "source": doc.source,
            "offset": doc.offset, "model_version": model_version, "meta": doc.meta}


def run_shard(output_uri: str, shard_index: int,
              refine: Callable[[Iterator[Document]], Iterable[Mapping]], *,
              model_version: str | None = None, catalog=None, snapshot: str | None = None,
              **writer_options) -> ShardAccounting:
    """Read shard ``shard_index`` of the manifest in ``output_uri``, pass its documents
    through ``refine`` (which yields one row per document, see :func:`refined_row`), and
    write the refined shard. Bad input goes to the shard's quarantine.

    With a ``catalog`` and ``snapshot``, the attempt is counted and the shard marked
    running, then done (with its accounting) or failed (with the error, re-raised).
    Re-running a shard is safe: the output is replaced exactly.
    """
    booked = catalog is not None and snapshot is not None
    if booked:
        catalog.start_shard(snapshot, shard_index)
    started = time.monotonic()
    quarantine = Quarantine()
    try:
        rows = refine(read_shard(output_uri, shard_index, quarantine))
        accounting = write_refined_shard(output_uri, shard_index, rows, quarantine=quarantine,
                                         model_version=model_version, **writer_options)
    except BaseException as err:
        if booked:
            catalog.fail_shard(snapshot, shard_index, f"{type(err).__name__}: {err}")
        raise
    finally:
        quarantine.close()
    if booked:
        catalog.finish_shard(snapshot, shard_index, accounting,
                             wall_seconds=round(time.monotonic() - started, 3))
    return accounting
