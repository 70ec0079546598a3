"""The gate's expectation suites (GX Core 1.x): one per table of :mod:`.frames`."""

from __future__ import annotations

from prox_tasks.quality.thresholds import GateThresholds

HISTORY_METRICS = ("drop_rate", "kept_token_ratio")


def history_bounds(history: list[dict], thresholds: GateThresholds) -> dict:
    """``{metric: (low, high, mean, std, n)}`` from released snapshots' metrics.

    Empty when fewer than ``history_min`` snapshots were released: with no history there is
    nothing to compare with, and the band checks alone apply.
    """
    import statistics

    recent = [h for h in history if h][-thresholds.history_size:]
    if len(recent) < thresholds.history_min:
        return {}
    bounds = {}
    for metric in HISTORY_METRICS:
        values = [float(h[metric]) for h in recent if h.get(metric) is not None]
        if len(values) < thresholds.history_min:
            continue
        mean = statistics.fmean(values)
        std = max(statistics.pstdev(values), thresholds.history_min_std)
        k = thresholds.history_k
        bounds[metric] = (mean - k * std, mean + k * std, mean, std, len(values))
    return bounds


def document_expectations(t: GateThresholds) -> list:
    import great_expectations as gx

    e = gx.expectations
    return [
        e.ExpectColumnValuesToNotBeNull(
            column="id", description="Every refined row carries its document id."),
        e.ExpectColumnValuesToBeUnique(
            column="id", description="No document appears twice in the snapshot."),
        e.ExpectColumnValuesToNotBeNull(
            column="chars_in", description="Every row has execution statistics (input size)."),
        e.ExpectColumnPairValuesToBeEqual(
            column_A="dropped", column_B="text_is_null",
            description="A row is dropped exactly when its text is null."),
        e.ExpectColumnValuesToBeBetween(
            column="excess_chars", max_value=0,
            description=("Refined text is never longer than its input beyond what its "
                         f"normalizations allow ({t.max_growth_per_normalization} chars each).")),
        e.ExpectColumnValuesToBeBetween(
            column="words_out", min_value=1, row_condition="dropped==False",
            condition_parser="pandas", description="No kept document is empty."),
    ]


def shard_expectations(t: GateThresholds) -> list:
    import great_expectations as gx

    e = gx.expectations
    return [
        e.ExpectColumnValuesToBeInSet(
            column="complete", value_set=[True],
            description="Every planned shard was written (its status record exists)."),
        e.ExpectColumnValuesToBeInSet(
            column="schema_matches", value_set=[True],
            description="Every shard file has the documented refined-shard schema."),
        e.ExpectColumnPairValuesToBeEqual(
            column_A="docs_planned", column_B="docs_accounted",
            description="Every input document of a shard is written or quarantined."),
        e.ExpectColumnPairValuesToBeEqual(
            column_A="docs_written", column_B="rows_found",
            description="A shard file holds as many rows as its status record says."),
    ]


def snapshot_expectations(t: GateThresholds, bounds: dict) -> list:
    import great_expectations as gx

    e = gx.expectations
    out = [
        e.ExpectColumnPairValuesToBeEqual(
            column_A="docs_planned", column_B="docs_accounted",
            description="Every input document of the snapshot is accounted for."),
        e.ExpectColumnValuesToBeBetween(
            column="duplicate_ids_written", max_value=0,
            description="No document id is written twice in the snapshot (a shard quarantines "
                        "or refuses duplicates by its duplicate_ids policy; this catches "
                        "duplicates in different shards)."),
        e.ExpectColumnValuesToBeBetween(
            column="failure_rate", max_value=t.max_failure_rate,
            description="Share of documents whose programs had errors."),
        e.ExpectColumnValuesToBeBetween(
            column="quarantine_rate", max_value=t.max_quarantine_rate,
            description="Share of input records that could not be read."),
        e.ExpectColumnValuesToBeBetween(
            column="drop_rate", min_value=t.min_drop_rate, max_value=t.max_drop_rate,
            description="Drop rate inside its band."),
        e.ExpectColumnValuesToBeBetween(
            column="kept_token_ratio", min_value=t.min_kept_token_ratio,
            max_value=t.max_kept_token_ratio, description="Kept-token ratio inside its band."),
    ]
    for metric, (low, high, mean, std, n) in bounds.items():
        out.append(e.ExpectColumnValuesToBeBetween(
            column=metric, min_value=round(low, 6), max_value=round(high, 6),
            description=(f"{metric} within {t.history_k:g} std of the last {n} released "
                         f"snapshots (mean {mean:.4f}, std {std:.4f})."),
        ))
    return out
