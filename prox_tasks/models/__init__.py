"""Refiners: objects that write ProX programs for documents.

``load_refiner(uri)`` returns an object with ``predict_doc(texts) -> list[str]``
(``keep_doc()``/``drop_doc()`` per text), ``predict_chunks(texts) -> list[str]`` (one chunk
program per text, global line numbers, per-chunk programs joined with
:func:`prox_tasks.programs.join_chunk_programs`) and ``.version``.

Artifact kinds (``refiner.json``'s ``kind``): ``line_tagger`` (the embedded default,
:mod:`prox_tasks.models.line_tagger`) and ``causal_lm`` (any Hugging Face causal LM,
:mod:`prox_tasks.models.causal_lm`; a bare checkpoint folder without ``refiner.json`` also
loads as one).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

DEFAULT_MODEL_ENV = "PROX_DEFAULT_MODEL"
REGISTRY_ENV = "PROX_MODEL_REGISTRY"
DEFAULT_NAME = "refiner"
SHIPPED_MODEL = Path(__file__).resolve().parents[2] / "models" / "line-tagger"


def default_model_uri() -> str:
    """Where ``load_refiner(None)`` loads from.

    In order: ``$PROX_DEFAULT_MODEL``; the model promoted in ``$PROX_MODEL_REGISTRY`` (name
    ``refiner``); the checkpoint shipped in the repository (``models/line-tagger``).
    """
    if os.environ.get(DEFAULT_MODEL_ENV):
        return os.environ[DEFAULT_MODEL_ENV]
    if os.environ.get(REGISTRY_ENV):
        from prox_tasks.registry import ModelRegistry

        current = ModelRegistry(os.environ[REGISTRY_ENV]).promoted(DEFAULT_NAME)
        if current is not None:
            return current["uri"]
    return str(SHIPPED_MODEL)


def load_refiner(uri: str | os.PathLike | None = None, **options):
    """Load the refiner artifact at ``uri`` (local path, ``file://`` or ``s3://``).

    Args:
        uri: Artifact folder; ``None`` is the promoted or embedded default
            (:func:`default_model_uri`).
        **options: Passed to the refiner class (``threads``, ``device``, ``batch_size``...).

    Raises:
        FileNotFoundError: When the folder holds neither ``refiner.json`` nor ``config.json``.
        ValueError: For an unknown artifact kind.
    """
    from prox_tasks.registry import fetch_folder

    path = fetch_folder(os.fspath(uri) if uri is not None else default_model_uri())
    settings_file = path / "refiner.json"
    if settings_file.exists():
        kind = json.loads(settings_file.read_text()).get("kind")
    elif (path / "config.json").exists():
        kind = "causal_lm"
    else:
        raise FileNotFoundError(f"no refiner artifact (refiner.json or config.json) in {path}")
    if kind == "line_tagger":
        from prox_tasks.models.line_tagger import LineTaggerRefiner

        return LineTaggerRefiner(path, **options)
    if kind == "causal_lm":
        from prox_tasks.models.causal_lm import CausalLMRefiner

        return CausalLMRefiner(path, **options)
    raise ValueError(f"unknown refiner kind {kind!r} in {settings_file}")


__all__ = ["default_model_uri", "load_refiner"]
