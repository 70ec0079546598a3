"""Refining metrics: word-level bag-of-words P/R/F1, document keep/drop and line removal."""

from prox_tasks.evaluation.files import evaluate_files, iter_rows
from prox_tasks.evaluation.metrics import (
    binary_prf,
    line_removal_prf,
    prf,
    word_counts,
    word_prf,
    word_prf_per_group,
)

__all__ = [
    "binary_prf", "evaluate_files", "iter_rows", "line_removal_prf", "prf", "word_counts",
    "word_prf", "word_prf_per_group",
]  # fmt: skip
