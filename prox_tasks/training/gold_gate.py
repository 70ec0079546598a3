"""The gold side of promotion: candidate and incumbent on the shipped human-gold set.

Teacher agreement on the seed set's validation split says how well a model copies its
teacher, not how well it refines: a fine-tune on rules labels can agree with the rules better
and still keep fewer of the right words. So before the teacher-agreement comparison, both the
candidate and the incumbent — the promoted model, or the shipped default when nothing is
promoted (what ``load_refiner(None)`` would serve) — are scored on the same fixed, versioned
gold set (:mod:`prox_tasks.evaluation.goldset`), and
:func:`prox_tasks.registry.registry.beats` refuses a candidate that is worse there.
``prox train`` (:func:`prox_tasks.training.run.run_training`) and the training DAG's
evaluate/promote tasks both call these functions.
"""

from __future__ import annotations

import os


def gold_incumbent(registry, name: str) -> tuple[str, str]:
    """``(uri, source)`` of the model a candidate must not be worse than on gold.

    ``source`` is the promoted version, or ``shipped:<folder>`` for the shipped default.
    """
    from prox_tasks.models import SHIPPED_MODEL

    current = registry.promoted(name)
    if current is not None:
        return current["uri"], current["version"]
    return str(SHIPPED_MODEL), f"shipped:{os.path.basename(str(SHIPPED_MODEL))}"


def gold_metrics(uri: str, threads: int = 2, gold_set: str | None = None,
                 limit: int | None = None) -> dict:
    """Word P/R/F1 of the refiner at ``uri`` on the gold set (default: the shipped one).

    Args:
        uri: Refiner artifact (anything :func:`prox_tasks.models.load_refiner` loads).
        threads: CPU threads for inference.
        gold_set: A JSONL(.gz) file with ``text`` and ``gold_text`` rows instead of the
            shipped set.
        limit: Score only the first ``limit`` documents.
    """
    from prox_tasks.evaluation.goldset import evaluate_on_gold, load_gold_set
    from prox_tasks.models import load_refiner

    docs, version = load_gold_set(gold_set)
    out = evaluate_on_gold(load_refiner(uri, threads=threads), docs, limit)
    out["gold_set"] = version
    return out


def gold_comparison(candidate_uri: str, registry, name: str, threads: int = 2,
                    gold_set: str | None = None, limit: int | None = None) -> dict:
    """Both sides on gold: ``{"candidate", "incumbent", "incumbent_source"}``."""
    incumbent_uri, source = gold_incumbent(registry, name)
    return {"candidate": gold_metrics(candidate_uri, threads, gold_set, limit),
            "incumbent": gold_metrics(incumbent_uri, threads, gold_set, limit),
            "incumbent_source": source}  # fmt: skip
