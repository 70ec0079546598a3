"""Checks of a refine's options that must fail before anything is planned or booked.

``prox refine`` (:func:`prox_tasks.refine.corpus.refine_corpus`) and the DAG's plan task
(:func:`prox_tasks.pipeline.refresh.plan`) both call :func:`check_refine_options`: a bad
option fails at once, not after the plan is written, the catalog booked, or a task retried.
"""

from __future__ import annotations

import os


def check_refine_options(workers: int | None, checkpoint_every: int | None,
                         backend_options: dict | None, model_uri: str | None,
                         backend: str | None = None) -> None:
    """Refuse options that cannot work.

    Args:
        workers: Worker processes (None: not chosen here).
        checkpoint_every: Documents per checkpoint (None: the default).
        backend_options: The backend's options; ``line_threshold`` is the keep threshold.
        model_uri: The model as resolved (:func:`prox_tasks.models.resolve_model`).
        backend: The backend asked for (None: chosen from the model); a local model folder
            is checked to fit it (:func:`prox_tasks.inference.loading.check_backend_fits`).

    Raises:
        ValueError: workers below 1, a negative checkpoint interval, a keep threshold
            outside (0, 1], a backend that cannot run the model.
        FileNotFoundError: A local model path that does not exist.
    """
    from prox_tasks.storage import parse_uri

    if workers is not None and workers < 1:
        raise ValueError("--workers must be at least 1")
    if checkpoint_every is not None and checkpoint_every < 0:
        raise ValueError(f"--checkpoint-every must be 0 (no checkpoints) or more, not "
                         f"{checkpoint_every}")
    threshold = (backend_options or {}).get("line_threshold")
    if threshold is not None and not 0.0 < threshold <= 1.0:
        raise ValueError(f"--keep-threshold must be in (0, 1], not {threshold}")
    if model_uri:
        location = parse_uri(model_uri)
        if location.scheme == "file" and not os.path.exists(location.path):
            raise FileNotFoundError(f"no model at {model_uri}")
        if location.scheme == "file" and os.path.isdir(location.path):
            from pathlib import Path

            from prox_tasks.inference.loading import check_backend_fits

            check_backend_fits(backend, Path(location.path))
