"""Refiner models: which one to use, and their artifact folders.

:func:`resolve_model` is the one rule for "which model" (explicit URI, ``"default"``,
``"promoted"``, or nothing: the promoted model, else the shipped default); loading it
behind a backend is :func:`prox_tasks.inference.load_backend` (production, evaluation and
promotion alike).

Artifact kinds (``refiner.json``'s ``kind``): ``line_tagger`` (the shipped default,
:mod:`prox_tasks.models.line_tagger`) and ``causal_lm`` (any Hugging Face causal LM, run by
the generative backends of :mod:`prox_tasks.inference`; a bare checkpoint folder without
``refiner.json`` also loads as one).
"""

from __future__ import annotations

from prox_tasks.models.resolver import (
    DEFAULT_MODEL,
    PROMOTED_MODEL,
    SHIPPED_MODEL,
    NoModelError,
    ResolvedModel,
    resolve_model,
)

__all__ = ["DEFAULT_MODEL", "PROMOTED_MODEL", "SHIPPED_MODEL", "NoModelError", "ResolvedModel",
           "resolve_model"]
