"""Task bodies of ``prox_train_refiner``: find the seed set → train (both levels, one
artifact) → evaluate against the promoted model → promote when better."""

from __future__ import annotations

import logging

from prox_tasks.pipeline import settings
from prox_tasks.pipeline.errors import RunError

log = logging.getLogger(__name__)


def resolve_seed_set(params: dict, triggering_events: list[dict]) -> dict:
    """The seed set to train on: the ``seed_uri`` Param, else the newest seed-set Asset
    event that triggered the run.

    Raises:
        RunError: no seed set at all.
    """
    uri = params.get("seed_uri") or next(
        (e["uri"] for e in reversed(triggering_events) if e.get("uri")), None)
    if not uri:
        raise RunError("no seed set: pass seed_uri, or let a prox_seed_set event trigger "
                       "the run")
    _check_exists(uri, "seed_uri")
    if params.get("base"):
        _check_exists(params["base"], "base")
    return {"uri": uri, "registry": params.get("registry") or settings.registry_root(),
            "catalog_url": settings.catalog_url(params.get("catalog_url"))}


def _check_exists(uri: str, param: str) -> None:
    """A path or URI that is not there fails the run at once, not after three tries."""
    import os

    from prox_tasks.storage import exists, list_uri, parse_uri

    location = parse_uri(uri)
    found = (os.path.exists(location.path) if location.scheme == "file"
             else exists(uri) or bool(list_uri(uri)))  # fmt: skip
    if not found:
        raise RunError(f"{param} {uri} does not exist (fix the {param} Param)")


def train(seed: dict, params: dict) -> dict:
    """Train and publish (not promote) a refiner; returns its record and metrics."""
    from prox_tasks.training.run import TrainJob, run_training

    job = TrainJob(seed=seed["uri"], output=seed["registry"], name=settings.REFINER_NAME,
                   kind=params["kind"], base=params.get("base") or None,
                   epochs=params["epochs"], seed_value=params["random_seed"],
                   threads=params["threads"], max_eval_docs=params.get("max_eval_docs"),
                   select_epoch=params.get("select_epoch") or "teacher",
                   catalog=seed["catalog_url"], promote=False, gold_gate=False,
                   backend=params.get("backend") or None)
    out = run_training(job)
    return {k: out[k] for k in ("name", "version", "uri", "kind", "metrics", "seed_set")}


def evaluate(seed: dict, candidate: dict, params: dict) -> dict:
    """Metrics of the promoted model on the same validation documents (None without one),
    and — unless the ``gold_gate`` Param is off — candidate and incumbent (the promoted
    model, else the shipped default) on the shipped human-gold set."""
    from prox_tasks.registry import ModelRegistry
    from prox_tasks.training.evaluate import evaluate_model
    from prox_tasks.training.seedset import load_seed_set

    registry = ModelRegistry(seed["registry"])
    gold = None
    if params.get("gold_gate", True):
        from prox_tasks.training.gold_gate import gold_comparison

        gold = gold_comparison(candidate["uri"], registry, candidate["name"], params["threads"])
    current = registry.promoted(candidate["name"])
    if current is None or current["version"] == candidate["version"]:
        return {"incumbent": current and current["version"], "metrics": None, "gold": gold}
    valid = load_seed_set(seed["uri"]).validation[: params.get("max_eval_docs")]
    metrics = evaluate_model(current["uri"], valid, params.get("backend") or None,
                             params["threads"])
    return {"incumbent": current["version"], "metrics": metrics, "gold": gold}


def promote(seed: dict, candidate: dict, incumbent: dict) -> dict:
    """Promote the candidate when it beats the incumbent (registry and catalog).

    A candidate that is already the promoted model reports ``promoted`` too: a retry of a
    promotion whose files were written before the task failed completes it (and its Asset
    event is sent) instead of being skipped as not promoted.
    """
    from prox_tasks.registry import ModelRegistry

    registry = ModelRegistry(seed["registry"], catalog=seed["catalog_url"])
    gold = incumbent.get("gold") or {}
    measured = {"incumbent_version": incumbent["incumbent"]} if "incumbent" in incumbent else {}
    decision = registry.decide(candidate["name"], candidate["version"], candidate["metrics"],
                               incumbent["metrics"], gold.get("candidate"), gold.get("incumbent"),
                               gold.get("incumbent_source"), **measured)
    log.info("%s %s: %s (%s)", candidate["name"], candidate["version"],
             "promoted" if decision.promoted else "not promoted", decision.reason)
    return {"promoted": decision.promoted or decision.reason == "already promoted",
            "reason": decision.reason,
            "version": candidate["version"], "uri": candidate["uri"],
            "registry": seed["registry"]}
