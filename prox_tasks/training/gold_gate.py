"""The gold side of promotion: candidate and incumbent on the shipped human-gold set.

Teacher agreement on the seed set's validation split says how well a model copies its
teacher, not how well it refines: a fine-tune on rules labels can agree with the rules better
and still keep fewer of the right words. So before the teacher-agreement comparison, both the
candidate and the incumbent — the registry's promoted model, else its catalog's, else the
shipped default (what :func:`prox_tasks.models.resolve_model` picks without a model, for this
registry and its catalog: :func:`gold_incumbent`) — are scored on the same fixed, versioned
gold set (:mod:`prox_tasks.evaluation.goldset`), and
:func:`prox_tasks.registry.registry.beats` refuses a candidate that is worse there.
``prox train`` (:func:`prox_tasks.training.run.run_training`) and the training DAG's
evaluate/promote tasks both call these functions.
"""

from __future__ import annotations

import os


def gold_incumbent(registry, name: str) -> tuple[str, str]:
    """``(uri, source)`` of the model a candidate must not be worse than on gold.

    What refining with this registry and its catalog serves: the registry's promoted model,
    else the one promoted last in the registry's own catalog (``registry.catalog``; none:
    no catalog is consulted), else the shipped default. Never ``PROX_CATALOG_URL``'s: that
    may be another deployment's catalog, or unset while the registry's is given.

    ``source`` is the promoted version, or ``shipped:<folder>`` for the shipped default.
    """
    from prox_tasks.models import resolve_model

    resolved = resolve_model(None, name=name, registry=registry.root,
                             catalog_url=registry.catalog, catalog=bool(registry.catalog))
    if resolved.source == "default":
        return resolved.uri, f"shipped:{os.path.basename(resolved.uri.rstrip('/'))}"
    return resolved.uri, str(resolved.version)


def gold_metrics(uri: str, threads: int = 2, gold_set: str | None = None,
                 limit: int | None = None, backend: str | None = None) -> dict:
    """Word P/R/F1 of the refiner at ``uri`` on the gold set (default: the shipped one).

    Args:
        uri: Model (anything :func:`prox_tasks.inference.load_backend` loads; loaded as
            production loads it).
        threads: CPU threads for inference.
        gold_set: A JSONL(.gz) file with ``text`` and ``gold_text`` rows instead of the
            shipped set.
        limit: Score only the first ``limit`` documents.
        backend: Inference backend (None: the one production picks).
    """
    from prox_tasks.evaluation.goldset import evaluate_on_gold, load_gold_set
    from prox_tasks.inference import load_backend

    docs, version = load_gold_set(gold_set)
    refiner = load_backend(backend, str(uri), threads=threads)
    try:
        out = evaluate_on_gold(refiner, docs, limit)
    finally:
        refiner.close()
    out["gold_set"] = version
    return out


def gold_comparison(candidate_uri: str, registry, name: str, threads: int = 2,
                    gold_set: str | None = None, limit: int | None = None,
                    backend: str | None = None) -> dict:
    """Both sides on gold: ``{"candidate", "incumbent", "incumbent_source"}``.

    ``backend`` is the candidate's; the incumbent runs on it when it can, else on its own
    (:func:`prox_tasks.inference.loading.backend_for`: a ``causal_lm`` candidate on
    ``transformers`` against the shipped line tagger, which runs on ``tagger``).
    """
    from prox_tasks.inference.loading import backend_for

    incumbent_uri, source = gold_incumbent(registry, name)
    return {"candidate": gold_metrics(candidate_uri, threads, gold_set, limit, backend),
            "incumbent": gold_metrics(incumbent_uri, threads, gold_set, limit,
                                      backend_for(backend, incumbent_uri)),
            "incumbent_source": source}  # fmt: skip
