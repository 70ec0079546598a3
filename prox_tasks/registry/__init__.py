"""Versioned refiner artifacts (local or S3) and their promotion."""

from prox_tasks.registry.registry import (
    CatalogNotBooked,
    Decision,
    DecisionRecordDamaged,
    ModelNotBooked,
    ModelRegistry,
    PromotedRecordDamaged,
    PromotedVersionGone,
    UnknownVersion,
    beats,
    fetch_folder,
    promote_command,
    rebook_advice,
    score,
)

__all__ = [
    "CatalogNotBooked",
    "Decision",
    "DecisionRecordDamaged",
    "ModelNotBooked",
    "ModelRegistry",
    "PromotedRecordDamaged",
    "PromotedVersionGone",
    "UnknownVersion",
    "beats",
    "fetch_folder",
    "promote_command",
    "rebook_advice",
    "score",
]
