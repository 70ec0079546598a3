"""The refine step for one shard — the function the Airflow task and ``prox refine`` call.

Read the shard's documents (bad records to its quarantine), refine them in batches of
``checkpoint_every`` documents (:func:`~prox_tasks.refine.batch.refine_batch`), checkpoint
each batch (:mod:`~prox_tasks.refine.checkpoint`), then publish the refined shard with the
storage writer (atomic; ``read = written + quarantined`` or nothing is published). A retry
after a crash resumes from the last checkpoint and publishes the same rows an uninterrupted
run would; a retry after success finds the shard's status record and does nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict

from prox_tasks.corpus import Quarantine, load_manifest, read_shard, read_status
from prox_tasks.corpus.writer import write_refined_shard
from prox_tasks.inference.base import Refiner
from prox_tasks.programs import Policy
from prox_tasks.refine.batch import refine_batch
from prox_tasks.refine.checkpoint import CheckpointStore
from prox_tasks.refine.stats import ShardStats

log = logging.getLogger(__name__)
DEFAULT_CHECKPOINT_EVERY = 512


def _batches(docs: Iterator, size: int, read_time: list[float]) -> Iterator[list]:
    batch: list = []
    start = time.perf_counter()
    for doc in docs:
        batch.append(doc)
        if len(batch) == size:
            read_time[0] += time.perf_counter() - start
            yield batch
            batch, start = [], time.perf_counter()
    read_time[0] += time.perf_counter() - start
    if batch:
        yield batch


def refine_shard(output_uri: str, shard_index: int, *, model: str | None = None,
                 backend: str | None = None, backend_options: dict | None = None,
                 policy: dict | None = None,
                 checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY, force: bool = False,
                 refiner: Refiner | None = None,
                 progress: Callable[[int], None] | None = None) -> dict:
    """Refine shard ``shard_index`` of the snapshot planned at ``output_uri``.

    Args:
        output_uri: The output folder holding ``manifest.json`` (see
            :func:`prox_tasks.corpus.plan_shards`); the refined shard is written there.
        shard_index: Which shard.
        model: Model URI for :func:`prox_tasks.inference.load_backend` (None: embedded).
        backend: Backend name (None: chosen from the model).
        backend_options: Options for the backend (JSON-ready).
        policy: Executor :class:`~prox_tasks.programs.Policy` fields.
        checkpoint_every: Documents per batch and checkpoint (0: no checkpoints, one batch).
        force: Refine again even when the shard is already published.
        refiner: An already loaded backend (the whole-corpus driver shares one); overrides
            ``model``/``backend``/``backend_options``.
        progress: Called with the number of documents done after each batch.

    Returns:
        JSON-ready: ``shard``, ``status`` (``"refined"`` or ``"skipped"``), ``accounting``
        (the writer's), ``stats`` (:class:`~prox_tasks.refine.stats.ShardStats`),
        ``model_version``, ``backend``.
    """
    started = time.perf_counter()
    manifest = load_manifest(output_uri)
    plan = manifest.shard(shard_index)
    if not force and (done := read_status(output_uri, shard_index)) is not None:
        log.info("shard %d already published (%s); nothing to do", shard_index, done.get("uri"))
        if progress:
            progress(plan.docs)
        return {"shard": shard_index, "status": "skipped", "accounting": done,
                "stats": None, "model_version": done.get("model_version"), "backend": None}
    owned = refiner is None
    if owned:
        from prox_tasks.inference import load_backend

        refiner = load_backend(backend, model, **(backend_options or {}))
    try:
        return _refine(manifest, output_uri, shard_index, plan.docs, refiner,
                       Policy.from_kwargs(**(policy or {})), checkpoint_every, progress, started)
    finally:
        if owned:
            refiner.close()


def _fingerprint(manifest, shard_index: int, refiner: Refiner, policy: Policy,
                 checkpoint_every: int) -> dict:
    settings = getattr(refiner, "settings", None)
    settings = settings.to_dict() if hasattr(settings, "to_dict") else None
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    return {"manifest": manifest.id, "shard": shard_index, "model": refiner.version,
            "policy": asdict(policy), "batch": checkpoint_every,
            "settings": digest.hexdigest()[:16]}  # fmt: skip


def _refine(manifest, output_uri: str, shard_index: int, expected: int, refiner: Refiner,
            policy: Policy, checkpoint_every: int, progress, started: float) -> dict:
    store = CheckpointStore(output_uri, shard_index,
                            _fingerprint(manifest, shard_index, refiner, policy, checkpoint_every))
    quarantine = Quarantine()
    docs = read_shard(manifest, shard_index, quarantine)
    stats = ShardStats()
    rows: list[dict] = []
    read_time = [0.0]
    size = checkpoint_every if checkpoint_every > 0 else max(1, expected)
    batches = _batches(docs, size, read_time)
    part = 0
    if checkpoint_every > 0:
        for header, saved in store.load():
            batch = next(batches, None)
            if batch is None or [[batch[0].source, batch[0].offset],
                                 [batch[-1].source, batch[-1].offset]] != \
                    [header["first"], header["last"]] or len(batch) != len(saved):  # fmt: skip
                raise RuntimeError(f"shard {shard_index}: checkpoint {part} does not match the "
                                   "documents read; delete its _checkpoints folder to restart")
            rows.extend(saved)
            # earlier tries' counts carry over; their timings do not (this try's wall time)
            stats.add({k: v for k, v in header["stats"].items() if k != "seconds"})
            stats.docs_resumed += len(saved)
            part += 1
            if progress:
                progress(len(saved))
    if part:
        log.info("shard %d: resumed %d documents from %d checkpoints",
                 shard_index, stats.docs_resumed, part)
    for batch in batches:
        batch_rows, batch_stats = refine_batch(refiner, batch, policy, refiner.version)
        if checkpoint_every > 0:
            start = time.perf_counter()
            store.save(part, batch_rows, batch_stats.to_dict())
            batch_stats.seconds["checkpoint"] += time.perf_counter() - start
        rows.extend(batch_rows)
        stats.add(batch_stats)
        part += 1
        if progress:
            progress(len(batch_rows))
    stats.seconds["read"] += read_time[0]
    start = time.perf_counter()
    accounting = write_refined_shard(output_uri, shard_index, rows, quarantine=quarantine,
                                     expected_docs=expected, model_version=refiner.version)
    stats.seconds["write"] += time.perf_counter() - start
    store.clear()
    stats.docs_in = accounting.docs_read
    stats.docs_quarantined = accounting.docs_quarantined
    stats.seconds["total"] = time.perf_counter() - started
    return {"shard": shard_index, "status": "refined", "accounting": accounting.to_dict(),
            "stats": stats.to_dict(), "model_version": refiner.version,
            "backend": refiner.backend}  # fmt: skip
