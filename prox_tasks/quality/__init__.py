"""The data-quality gate over a refined snapshot (GX Core 1.x, called directly).

Example:
    >>> from prox_tasks.quality import run_gate, GateThresholds
    >>> result = run_gate("runs/snapshots/2026-01-01", GateThresholds(max_drop_rate=0.8))
    >>> result.passed, result.data_docs_uri
"""

from prox_tasks.quality.gate import GateFailed, GateResult, gate_uri, read_gate_result, run_gate
from prox_tasks.quality.thresholds import GateThresholds

__all__ = ["GateFailed", "GateResult", "GateThresholds", "gate_uri", "read_gate_result",
           "run_gate"]
