"""Gate thresholds: what a refined snapshot must satisfy before it may be released."""

from __future__ import annotations

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
        """Refuse thresholds no snapshot could pass, or that check nothing.

        Raises:
            ValueError: a value that is not a finite number (NaN passes every comparison),
                a rate outside [0, 1], a negative count, a history size or minimum below 1,
                a history_k of 0 or less (as the DAG's Param), or a min above its max.
        """
        import math

        for f in fields(self):
            if not math.isfinite(getattr(self, f.name)):
                raise ValueError(f"{f.name} {getattr(self, f.name)} is not a finite number")
        if self.history_k <= 0:  # a band of width 0: only a snapshot at the mean passes
            raise ValueError(f"history_k {self.history_k} must be above 0")
        for name in ("max_failure_rate", "min_drop_rate", "max_drop_rate", "max_quarantine_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} {getattr(self, name)} is not in [0, 1]")
        for name in ("min_kept_token_ratio", "max_kept_token_ratio", "max_input_losses",
                     "history_k", "history_size", "history_min", "history_min_std"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} {getattr(self, name)} is negative")
        for name in ("history_size", "history_min"):
            if getattr(self, name) < 1:  # 0 would mean "all history" and "mean of nothing"
                raise ValueError(f"{name} {getattr(self, name)} is below 1")
        for low, high in (("min_drop_rate", "max_drop_rate"),
                          ("min_kept_token_ratio", "max_kept_token_ratio")):
            if getattr(self, low) > getattr(self, high):
                raise ValueError(f"{low} {getattr(self, low)} is above {high} "
                                 f"{getattr(self, high)}: no snapshot could pass")

    @classmethod
    def from_mapping(cls, values: dict | None) -> GateThresholds:
        """Build from a mapping (e.g. DAG params), ignoring keys that are not thresholds."""
        names = {f.name for f in fields(cls)}
        given = {k: v for k, v in (values or {}).items() if k in names and v is not None}
        types = {f.name: f.type for f in fields(cls)}
        return cls(**{k: int(v) if types[k] == "int" else float(v) for k, v in given.items()})

    def to_dict(self) -> dict:
        return asdict(self)
