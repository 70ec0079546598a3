"""A gate check in words: what was observed, against which threshold."""

from __future__ import annotations


def _number(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):  # a pair check's example: both values, not a repr
        return "(" + ", ".join(map(_number, value)) + ")"
    return str(value)


def threshold_text(check: dict) -> str:
    """``0 ≤ x ≤ 0.9``-style bounds of a check, or what it expects."""
    low, high = check.get("min_value"), check.get("max_value")
    if low is not None and low == high:
        return _number(low)
    if low is not None and high is not None:
        return f"between {_number(low)} and {_number(high)}"
    if high is not None:
        return f"at most {_number(high)}"
    if low is not None:
        return f"at least {_number(low)}"
    return {"expect_column_values_to_be_unique": "no duplicates",
            "expect_column_values_to_not_be_null": "no nulls",
            "expect_column_pair_values_to_be_equal": "equal in every row",
            "expect_column_values_to_be_in_set": "every value allowed",
            }.get(check.get("expectation", ""), "see description")


def observed_text(check: dict) -> str:
    """The observed value, or how many rows broke the expectation (with examples)."""
    details = check.get("details") or {}
    if "exception" in details:
        return f"error: {details['exception']}"
    if details.get("observed_value") is not None:
        return _number(details["observed_value"])
    if details.get("documents") is not None:  # a document rule, counted per shard
        count, shards = details["documents"], details.get("shards") or []
        examples = details.get("examples") or []
        if not count:
            return "0 documents"
        more = details.get("shard_count", len(shards)) - len(shards)
        shown = f", e.g. {', '.join(examples[:3])}" if examples else ""
        return (f"{count} document{'s' if count > 1 else ''} in shard"
                f"{'s' if len(shards) + more > 1 else ''} {', '.join(map(str, shards))}"
                f"{f' and {more} more' if more > 0 else ''}{shown}")
    if details.get("shard_count"):  # a shards-table rule: the shards that break it
        shards, more = details.get("shards") or [], details["shard_count"] - len(details.get(
            "shards") or [])
        errors = details.get("errors") or {}
        why = f" ({next(iter(errors.values()))})" if errors else ""
        return (f"{details['shard_count']} shard{'s' if details['shard_count'] > 1 else ''}: "
                f"{', '.join(f'shard-{i:05d}' for i in shards)}"
                f"{f' and {more} more' if more > 0 else ''}{why}")
    count = details.get("unexpected_count")
    if count is None:
        return "–"
    examples = details.get("partial_unexpected_list") or []
    shown = f", e.g. {', '.join(_number(v) for v in examples[:3])}" if count and examples else ""
    return f"{count:,} row{'' if count == 1 else 's'} outside{shown}"


def failure_lines(checks: list[dict]) -> list[str]:
    """One line per failed check: ``suite: column — observed X, threshold Y (description)``."""
    lines = []
    for check in checks:
        if check.get("success"):
            continue
        column = check.get("column") or check.get("expectation")
        lines.append(f"{check['suite']}: {column} ({check['expectation']}) observed "
                     f"{observed_text(check)}, expected {threshold_text(check)}"
                     + (f" — {check['description']}" if check.get("description") else ""))
    return lines


def not_refined_note(metrics: dict) -> str | None:
    """The one cause behind most failed checks of a snapshot planned but not (wholly)
    refined, said before them with the way out (the checks read as if refined shards were
    wrong); None otherwise."""
    planned, complete = metrics.get("shards_planned") or 0, metrics.get("shards_complete") or 0
    if not planned or complete >= planned:
        return None
    if complete:  # some shards failed or never ran: the checks of documents fail for them
        return (f"{planned - complete:,} of {planned:,} planned shards not written: refine "
                "them (prox refine again, or clear the DAG's failed refine_shard tasks; the "
                "shards already written are reused), then gate again")
    return (f"no shard is refined yet (0 of {planned:,} planned shards written): refine the "
            "snapshot first (prox refine, or the DAG's refine_shard tasks), then gate it")
