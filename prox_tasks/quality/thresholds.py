"""Gate thresholds: what a refined snapshot must satisfy before it may be released."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class GateThresholds:
    """Bounds the quality gate checks (each one is a DAG Param of the same name).

    Attributes:
        max_failure_rate: Largest share of documents whose programs had errors.
        min_drop_rate: Smallest share of written documents dropped.
        max_drop_rate: Largest share of written documents dropped.
        min_kept_token_ratio: Smallest share of input words (whitespace tokens) kept.
        max_kept_token_ratio: Largest share of input words kept (normalization may add a few).
        max_quarantine_rate: Largest share of input records quarantined as unreadable.
        max_input_losses: Most input files (or Parquet row groups) cut short or corrupt:
            their lost records cannot be counted, so by default none is released.
        history_k: Drop rate and kept-token ratio must lie within ``history_k`` standard
            deviations of the mean over the last released snapshots.
        history_size: How many released snapshots make that history.
        history_min: The history check runs only with at least this many released snapshots.
        history_min_std: Floor for the standard deviation (a steady history would otherwise
            reject the smallest change).
    """

    max_failure_rate: float = 0.25
    min_drop_rate: float = 0.0
    max_drop_rate: float = 0.9
    min_kept_token_ratio: float = 0.05
    max_kept_token_ratio: float = 1.05
    max_quarantine_rate: float = 0.05
    max_input_losses: int = 0
    history_k: float = 3.0
    history_size: int = 10
    history_min: int = 3
    history_min_std: float = 0.05

    def __post_init__(self) -> None:
        """Refuse thresholds no snapshot could pass, or that check nothing (:func:`refusal`).

        Raises:
            ValueError: a value that is not a finite number (NaN passes every comparison),
                a rate outside [0, 1], a negative count, a history size or minimum below 1,
                a history_k of 0 or less (as the DAG's Param), or a min above its max.
        """
        problem = refusal(asdict(self))
        if problem:
            raise ValueError(problem)

    @classmethod
    def from_mapping(cls, values: dict | None, caller: str | None = None) -> GateThresholds:
        """Build from a mapping (e.g. DAG params), ignoring keys that are not thresholds.

        Args:
            values: Thresholds by field name; None values are the defaults.
            caller: Who gave them (``dag``, ``cli``: :func:`~prox_tasks.quality.suites.
                setting_name`): a refusal names each setting as that caller sets it
                (``--max-drop-rate``); None: by its field name.

        Raises:
            ValueError: Thresholds :func:`refusal` refuses.
        """
        names = {f.name for f in fields(cls)}
        given = {k: v for k, v in (values or {}).items() if k in names and v is not None}
        types = {f.name: f.type for f in fields(cls)}
        converted = {k: int(v) if types[k] == "int" else float(v) for k, v in given.items()}
        if caller is not None:
            from prox_tasks.quality.suites import setting_name

            problem = refusal({**asdict(cls()), **converted}, lambda s: setting_name(s, caller))
            if problem:
                raise ValueError(problem)
        return cls(**converted)

    def to_dict(self) -> dict:
        return asdict(self)


def refusal(values: dict, name: Callable[[str], str] = str) -> str | None:
    """Why thresholds ``values`` (every field, by name) are refused, each setting named by
    ``name`` (default: its field name); None when they are fine."""
    import math

    for setting, value in values.items():
        if not math.isfinite(value):
            return f"{name(setting)} {value} is not a finite number"
    if values["history_k"] <= 0:  # a band of width 0: only a snapshot at the mean passes
        return f"{name('history_k')} {values['history_k']} must be above 0"
    for setting in ("max_failure_rate", "min_drop_rate", "max_drop_rate", "max_quarantine_rate"):
        if not 0.0 <= values[setting] <= 1.0:
            return f"{name(setting)} {values[setting]} is not in [0, 1]"
    for setting in ("min_kept_token_ratio", "max_kept_token_ratio", "max_input_losses",
                    "history_k", "history_size", "history_min", "history_min_std"):
        if values[setting] < 0:
            return f"{name(setting)} {values[setting]} is negative"
    for setting in ("history_size", "history_min"):
        if values[setting] < 1:  # 0 would mean "all history" and "mean of nothing"
            return f"{name(setting)} {values[setting]} is below 1"
    for low, high in (("min_drop_rate", "max_drop_rate"),
                      ("min_kept_token_ratio", "max_kept_token_ratio")):
        if values[low] > values[high]:
            return (f"{name(low)} {values[low]} is above {name(high)} {values[high]}: no "
                    "snapshot could pass")
    return None
