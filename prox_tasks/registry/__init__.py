"""Versioned refiner artifacts (local or S3) and their promotion."""

from prox_tasks.registry.registry import (
    Decision,
    ModelRegistry,
    UnknownVersion,
    beats,
    fetch_folder,
    score,
)

__all__ = ["Decision", "ModelRegistry", "UnknownVersion", "beats", "fetch_folder", "score"]
