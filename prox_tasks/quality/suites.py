"""The gate's expectation suites (GX Core 1.x): one per table of :mod:`.frames`."""

from __future__ import annotations

from prox_tasks.quality.thresholds import GateThresholds
from prox_tasks.setting_names import setting_name

HISTORY_METRICS = ("drop_rate", "kept_token_ratio")
#: Each history metric's possible range: a band drawn as mean ± k std is clipped to it (a
#: "drop_rate between -0.116 and 0.184" bounds what no snapshot can reach). The kept-token
#: ratio has no upper end (normalization may add words).
METRIC_RANGES = {"drop_rate": (0.0, 1.0), "kept_token_ratio": (0.0, None)}
#: The settings a gate message points to that ``prox`` names otherwise than ``--<name>`` (the
#: option of ``prox gate``, for a threshold): how the input was read and refined.
CLI_OPTIONS = {"text_field": "prox refine --text-field", "id_field": "prox refine --id-field",
               "reprocess": "prox refine --force",
               "model": "prox refine --model", "keep_threshold": "prox refine --keep-threshold"}
#: How a snapshot's unwritten shards are refined, as ``caller`` does it (the shards written are
#: reused).
REFINE_MISSING = {"cli": "run prox refine again (the shards written are reused)",
                  "dag": "clear the run's failed refine_shard tasks (the shards written are "
                         "reused)"}


#: How a snapshot is judged again with other thresholds, as ``caller`` does it.
GATE_AGAIN = {"cli": "gate again", "dag": "trigger the run again (its refined shards are reused)"}


def _namer(caller: str):
    """``setting`` -> its name as ``caller`` sets it (:data:`CLI_OPTIONS` for prox)."""
    return lambda setting: setting_name(setting, caller, CLI_OPTIONS)


def _refine_again(caller: str) -> str:
    """The way out of a shard file the refine step did not write as it should (damaged,
    replaced, an older prox's): refine the snapshot again."""
    return f"Refine the snapshot again ({_namer(caller)('reprocess')}), then gate it again."


def history_bounds(history: list[dict], thresholds: GateThresholds) -> dict:
    """``{metric: (low, high, mean, std, n)}`` from released snapshots' metrics.

    Empty when fewer than ``history_min`` snapshots were released: with no history there is
    nothing to compare with, and the band checks alone apply. The bounds are drawn from the
    last ``history_size`` of them: ``history_min`` counts every release given, so a minimum
    above the window (judge drift once 50 were released, on the last 10) is reached. ``low``
    and ``high`` lie within the metric's possible range (:data:`METRIC_RANGES`).
    """
    import statistics

    released = [h for h in history if h]
    if len(released) < thresholds.history_min:
        return {}
    bounds = {}
    for metric in HISTORY_METRICS:
        values = [float(h[metric]) for h in released if h.get(metric) is not None]
        if len(values) < thresholds.history_min:
            continue
        values = values[-thresholds.history_size:]
        mean = statistics.fmean(values)
        std = max(statistics.pstdev(values), thresholds.history_min_std)
        k = thresholds.history_k
        floor, ceiling = METRIC_RANGES[metric]
        low = max(mean - k * std, floor)
        high = mean + k * std if ceiling is None else min(mean + k * std, ceiling)
        bounds[metric] = (low, high, mean, std, len(values))
    return bounds


def _one_model(model_versions: dict, reprocess: str) -> str:
    """The one-model check's description, naming the versions found and their shards."""
    found = "; ".join(f"{version} ({shards} shard{'s' if shards != 1 else ''})"
                      for version, shards in model_versions.items())
    text = ("Every shard was refined by one model version (the model_version of each status "
            f"record and row): at most 1. Found {len(model_versions)}")
    if len(model_versions) <= 1:
        return text + (f": {found}." if found else ".")
    return (f"{text}: {found}. The pool was restarted on other weights between shards (or a "
            "retry after a served-model change refined the rest): refine the whole folder "
            f"again with one model ({reprocess} on the folder), or refine into a new output "
            "folder.")


def _text_candidate(candidates: dict, caller: str) -> str:
    """`` 40 missing_text records hold a string in 'raw_content': prox refine --text-field
    raw_content if it is the text.`` (``dag``: ``set the text_field Param to raw_content``):
    the field most rows without a text hold one in; empty when none does."""
    from prox_tasks.corpus.document import likeliest_text_field

    likeliest = likeliest_text_field(candidates)
    if likeliest is None:
        return ""
    field, rows = likeliest
    record = "record holds" if rows == 1 else "records hold"
    named = _namer(caller)("text_field")
    fix = f"set {named} to {field}" if caller == "dag" else f"{named} {field}"
    return f" {rows:,} missing_text {record} a string in {field!r}: {fix} if it is the text."


def _missing_ids(reasons: dict, caller: str) -> str:
    """`` 8 missing_id records lack the id field prox refine --id-field names: …`` (``dag``:
    the id_field Param), the way out of rows without the id field named; empty when none.
    Without it the check said to fix the input or the text field only."""
    rows = reasons.get("missing_id") or 0
    if not rows:
        return ""
    named = _namer(caller)("id_field")
    record = "record lacks" if rows == 1 else "records lack"
    instead = f"clear {named}" if caller == "dag" else f"refine without {named}"
    return (f" {rows:,} missing_id {record} the id field {named} names: give the rows their "
            f"ids, or {instead} (each row's id its text's hash).")


def _reasons(reasons: dict) -> str:
    """`` Quarantined: 12 empty_text, 1 malformed_json.`` (most first); empty when none."""
    if not reasons:
        return ""
    ranked = sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
    return " Quarantined: " + ", ".join(f"{n:,} {reason}" for reason, n in ranked) + "."


def document_expectations(t: GateThresholds, caller: str = "cli") -> list:
    """One expectation per document rule over the documents table (a row per shard: how
    many of its documents break the rule): none may, in any shard. The refine step writes
    no such row: the way out is to refine again, named as ``caller`` does."""
    import great_expectations as gx

    from prox_tasks.quality.documents import DOCUMENT_RULES

    return [gx.expectations.ExpectColumnValuesToBeBetween(
        column=rule, min_value=0, max_value=0, description=f"{text} {_refine_again(caller)}")
        for rule, text in DOCUMENT_RULES.items()]


def shard_expectations(t: GateThresholds, caller: str = "cli") -> list:
    """The shards table's checks, each saying the way out as ``caller`` takes it."""
    import great_expectations as gx

    e = gx.expectations
    again = _refine_again(caller)
    return [
        e.ExpectColumnValuesToBeInSet(
            column="complete", value_set=[True],
            description=("Every planned shard was written (its status record exists). "
                         f"Unwritten: {REFINE_MISSING[caller]}, then gate it again.")),
        e.ExpectColumnValuesToBeInSet(
            column="schema_matches", value_set=[True],
            description=f"Every shard file has the documented refined-shard schema. {again}"),
        e.ExpectColumnValuesToBeInSet(
            column="readable", value_set=[True],
            description="Every shard file reads to its end (its Parquet data and each row's "
                        f"stats JSON). {again}"),
        e.ExpectColumnPairValuesToBeEqual(
            column_A="docs_planned", column_B="docs_accounted",
            description=f"Every input document of a shard is written or quarantined. {again}"),
        e.ExpectColumnPairValuesToBeEqual(
            column_A="docs_written", column_B="rows_found",
            description=f"A shard file holds as many rows as its status record says. {again}"),
        # the record's counts are what refine reported (its totals, the catalog); the gate's
        # metrics are of the rows: one reading for both (programs.stats.error_total), checked
        e.ExpectColumnPairValuesToBeEqual(
            column_A="docs_dropped", column_B="rows_dropped",
            description=("A shard file holds as many dropped rows as its status record (and "
                         f"refine's totals) says. {again}")),
        e.ExpectColumnPairValuesToBeEqual(
            column_A="docs_with_program_errors", column_B="rows_with_program_errors",
            description=("A shard file holds as many rows with program errors as its status "
                         f"record (and refine's totals) says. {again}")),
    ]


def snapshot_expectations(t: GateThresholds, bounds: dict, caller: str = "cli",
                          model_versions: dict | None = None,
                          text_candidates: dict | None = None,
                          quarantine_reasons: dict | None = None) -> list:
    """The snapshot's checks; where a description says which setting to change, it names it
    as ``caller`` does (:func:`~prox_tasks.setting_names.setting_name`); ``model_versions``
    (each model version found -> its shards) is named by the one-model check,
    ``text_candidates`` (``missing_text`` records by the field holding a string that could be
    their text) and ``quarantine_reasons`` (the quarantined records by reason) by the
    quarantine check."""
    import great_expectations as gx

    from prox_tasks.quality.frames import LOSS_REASONS

    named = _namer(caller)

    # The snapshot table has one row: "max of the column" is the metric itself, so Data Docs
    # and gate.json state the observed value against its bounds (not "0% unexpected").
    e = gx.expectations
    out = [
        e.ExpectColumnMaxToBeBetween(
            column="docs_kept", min_value=1,
            description=("The snapshot keeps at least one document: an empty snapshot (no "
                         "input, or every document dropped or quarantined) is not released. "
                         "The rows' drop_reason and quarantine/shard-NNNNN.jsonl.gz say why: "
                         f"fix the input (or {named('text_field')}) or the model "
                         f"({named('model')}, {named('keep_threshold')}) and refine again "
                         f"({named('reprocess')}).")),
        e.ExpectColumnPairValuesToBeEqual(
            column_A="docs_planned", column_B="docs_accounted",
            description=("Every input document of the snapshot is accounted for. Unwritten "
                         f"shards: {REFINE_MISSING[caller]}; else refine the snapshot again "
                         f"({named('reprocess')}); then gate it again.")),
        e.ExpectColumnMaxToBeBetween(
            column="duplicate_ids_written", max_value=0,
            description="No document id is written twice in the snapshot: at most 0 (a shard "
                        "quarantines or refuses duplicates by its duplicate_ids policy; this "
                        "catches duplicates in different shards, written before that policy "
                        "held snapshot-wide): refine the snapshot again "
                        f"({named('reprocess')}): its plan applies the policy to every shard."),
        e.ExpectColumnMaxToBeBetween(
            column="refine_settings", max_value=1,
            description=("Every shard was refined with the same settings (model, backend, keep "
                         "threshold, policy, limits, quality filter; each status record's "
                         "request): at most 1 set. More: runs with other settings wrote this "
                         f"folder at once; refine it again with one run ({named('reprocess')}).")),
        e.ExpectColumnMaxToBeBetween(
            column="model_versions", max_value=1,
            description=_one_model(model_versions or {}, named("reprocess"))),
        e.ExpectColumnMaxToBeBetween(
            column="input_losses", max_value=t.max_input_losses,
            description=("Input files cut short or corrupt (quarantine reasons "
                         f"{', '.join(LOSS_REASONS)}: the records after the break are lost and "
                         f"cannot be counted): at most {t.max_input_losses}. Each is in "
                         "quarantine/shard-NNNNN.jsonl.gz (its source file, and detail: what "
                         "broke): fetch that file again and refine again "
                         f"({named('reprocess')}), or release without its lost records "
                         f"({named('max_input_losses')}).")),
        e.ExpectColumnMaxToBeBetween(
            column="failure_rate", max_value=t.max_failure_rate,
            description=("Share of documents whose programs had errors: at most "
                         f"{t.max_failure_rate:g}. Each row's stats.errors says which: refine "
                         f"with a model that writes working programs ({named('model')}), or "
                         f"allow more ({named('max_failure_rate')}).")),
        e.ExpectColumnMaxToBeBetween(
            column="quarantine_rate", max_value=t.max_quarantine_rate,
            # "could not be read" alone sent a team whose crawl had blank pages (12 of 233
            # records empty_text) looking for damaged files: the reasons are named
            description=("Share of input records quarantined (unreadable, blank, too large, "
                         f"a repeated id …): at most {t.max_quarantine_rate:g}."
                         + _reasons(quarantine_reasons or {}) + " Each is in the snapshot's "
                         "quarantine/shard-NNNNN.jsonl.gz with its reason and detail: fix "
                         f"the input (or {named('text_field')}), or allow more "
                         f"({named('max_quarantine_rate')})."
                         + _missing_ids(quarantine_reasons or {}, caller)
                         + _text_candidate(text_candidates or {}, caller))),
        e.ExpectColumnMaxToBeBetween(
            column="drop_rate", min_value=t.min_drop_rate, max_value=t.max_drop_rate,
            description=(f"Drop rate between {t.min_drop_rate:g} and {t.max_drop_rate:g}. "
                         "The rows' drop_reason (doc_program, too_little_left, low_quality) "
                         "say why: fix the input or the model "
                         f"({named('model')}, {named('keep_threshold')}) and refine again; a "
                         f"change that is meant: {GATE_AGAIN[caller]} with the band set "
                         f"({named('min_drop_rate')}, "
                         f"{named('max_drop_rate')}).")),
        e.ExpectColumnMaxToBeBetween(
            column="kept_token_ratio", min_value=t.min_kept_token_ratio,
            max_value=t.max_kept_token_ratio,
            description=(f"Kept-token ratio between {t.min_kept_token_ratio:g} and "
                         f"{t.max_kept_token_ratio:g}. Fix the input or the model "
                         f"({named('model')}, {named('keep_threshold')}) and refine again; a "
                         f"change that is meant: {GATE_AGAIN[caller]} with the band set "
                         f"({named('min_kept_token_ratio')}, "
                         f"{named('max_kept_token_ratio')}).")),
    ]
    for metric, (low, high, mean, std, n) in bounds.items():
        out.append(e.ExpectColumnMaxToBeBetween(
            column=metric, min_value=round(low, 6), max_value=round(high, 6),
            description=(f"{metric} between {low:.4g} and {high:.4g}: within {t.history_k:g} "
                         f"std ({named('history_k')}) of the last {n} released snapshots "
                         f"(mean {mean:.4f}, std {std:.4f}; the window is "
                         f"{named('history_size')}, the std's floor "
                         f"{named('history_min_std')}). Outside: if the "
                         "change is not meant, find what moved it (input, model, keep "
                         "threshold) and refine again; if it is (a new model, another crawl), "
                         f"{GATE_AGAIN[caller]} with a wider band ({named('history_k')} above "
                         f"{t.history_k:g}): once released, the snapshot joins the history "
                         "later ones are judged by."),
        ))
    return out
