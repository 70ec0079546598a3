"""Promotion decided against the model promoted *now*: the one implementation ``prox train``
(:func:`prox_tasks.training.run.run_training`) and the training DAG's evaluate and promote
tasks (:mod:`prox_tasks.pipeline.training`) call.

A candidate is measured beside an incumbent (the gold gate, and the promoted model on the
same validation documents), then the registry decides (:meth:`ModelRegistry.decide`). By
then another run may have promoted another model: the registry refuses a decision measured
against an incumbent that is no longer promoted ("promoted meanwhile"), and here the
incumbent promoted now is measured and the decision taken again — a few rounds at most, so
two runs that keep overtaking each other end refused instead of looping.
"""

from __future__ import annotations

from collections.abc import Callable

#: Measure-and-decide rounds before a candidate overtaken every time is left refused.
MAX_ROUNDS = 3


def measure_incumbent(registry, candidate: dict, documents: Callable[[], list[dict]], *,
                      threads: int = 2, backend: str | None = None, gold_gate: bool = True,
                      gold_set: str | None = None, gold_docs: int | None = None,
                      gold: dict | None = None) -> dict:
    """The incumbent as it is now, measured beside ``candidate``.

    Args:
        registry: The :class:`~prox_tasks.registry.ModelRegistry` promoting ``candidate``.
        candidate: Its ``name``, ``version`` and ``uri``.
        documents: Gives the validation documents (called only when a promoted model other
            than the candidate is to be evaluated on them).
        threads: CPU threads for inference.
        backend: Inference backend of the candidate (None: the one production picks); the
            incumbent runs on it when it can, else on its own (a line tagger on ``tagger``).
        gold_gate: Score both sides on the human-gold set
            (:func:`~prox_tasks.training.gold_gate.gold_comparison`).
        gold_set: A gold JSONL(.gz) instead of the shipped set.
        gold_docs: Score at most this many gold documents.
        gold: A gold comparison taken before (``prox train``'s gold-gate phase), reused while
            its incumbent is still the gold incumbent.

    Returns:
        ``incumbent`` (the promoted version, or None), ``metrics`` (its validation metrics;
        None when nothing other than the candidate is promoted) and ``gold`` (None with the
        gate off).
    """
    from prox_tasks.training.evaluate import evaluate_model
    from prox_tasks.training.gold_gate import gold_comparison

    name = candidate["name"]
    current = registry.promoted(name)
    if gold_gate and not _gold_current(registry, name, gold):
        gold = gold_comparison(candidate["uri"], registry, name, threads, gold_set, gold_docs,
                               backend)  # fmt: skip
    metrics = None
    if current is not None and current["version"] != candidate["version"]:
        from prox_tasks.inference.loading import backend_for

        # ``backend`` is the candidate's; a promoted model of the other kind runs on its own
        metrics = evaluate_model(current["uri"], documents(),
                                 backend_for(backend, current["uri"]), threads)
    return {"incumbent": current and current["version"], "metrics": metrics,
            "gold": gold if gold_gate else None}


def decide_promotion(registry, candidate: dict, measure: Callable[[], dict],
                     measured: dict | None = None, rounds: int = MAX_ROUNDS) -> tuple:
    """Decide ``candidate``'s promotion against the model promoted when it is decided.

    Args:
        registry: The :class:`~prox_tasks.registry.ModelRegistry` (with its catalog).
        candidate: Its ``name``, ``version`` and validation ``metrics``.
        measure: Measures the incumbent promoted now (:func:`measure_incumbent` bound to the
            candidate and its documents).
        measured: A measurement taken before (the DAG's evaluate task's), decided on while
            its incumbent is still the promoted one; None: measured here.
        rounds: Most decisions taken when another promotion keeps overtaking this one.

    Returns:
        ``(decision, measured)``: the registry's last
        :class:`~prox_tasks.registry.registry.Decision` and the measurement it was taken on.
    """
    name, version = candidate["name"], candidate["version"]
    stale = False  # the last decision found ``measured`` overtaken: measure again
    for _ in range(rounds):
        if stale or measured is None or not is_current(registry, name, version, measured):
            measured = measure()
        gold = measured.get("gold") or {}
        decision = registry.decide(name, version, candidate["metrics"], measured.get("metrics"),
                                   gold.get("candidate"), gold.get("incumbent"),
                                   gold.get("incumbent_source"),
                                   incumbent_version=measured.get("incumbent"))  # fmt: skip
        if not _overtaken(decision, measured):
            break
        stale = True  # kept: the last round's refusal is returned with what it measured
    return decision, measured


def is_current(registry, name: str, version: str, measured: dict) -> bool:
    """Whether ``measured`` still describes the incumbent of candidate ``version``: the
    promoted model is the one it measured (and so is the gold incumbent), or the candidate
    itself is promoted now (a retry after its promotion: the registry says so)."""
    promoted = registry.promoted(name)
    now = promoted and promoted["version"]
    if now == version:
        return True
    gold = measured.get("gold")
    return measured.get("incumbent") == now and (gold is None
                                                 or _gold_current(registry, name, gold))


def _gold_current(registry, name: str, gold: dict | None) -> bool:
    """Whether ``gold`` was scored against the model the gold gate would compare with now."""
    from prox_tasks.training.gold_gate import gold_incumbent

    return gold is not None and gold.get("incumbent_source") == gold_incumbent(registry, name)[1]


def _overtaken(decision, measured: dict) -> bool:
    """Refused because another model was promoted after ``measured`` was taken."""
    return (not decision.left_promoted
            and decision.incumbent != measured.get("incumbent"))
