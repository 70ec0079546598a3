"""The quality gate: GX Core 1.x validations over a refined snapshot, Data Docs beside it."""

from __future__ import annotations

import html
import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime

from prox_tasks.quality.thresholds import GateThresholds

log = logging.getLogger(__name__)
# GX logs ~200 INFO lines per import and run ("Skipping registering function ...", temporary
# docs folders; one of its modules sets its own logger to INFO on import): a task log a
# person reads keeps GX's warnings and errors only.
GX_LOGGERS = ("great_expectations", "great_expectations._docs_decorators",
              "great_expectations.data_context.types.base")


def _quiet_gx() -> None:
    for name in GX_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


_quiet_gx()

GATE_DIR = "_quality"
GATE_FILE = "gate.json"
DOCS_DIR = "data_docs"
#: The scratch folder (in :func:`~prox_tasks.storage.tempfiles.scratch_dir`) a gate builds
#: its Data Docs in, ~6 MB: ``<prefix><host>.<pid>.<random>``, so the next gate removes one
#: a killed gate left
SCRATCH_PREFIX = "prox-gate-"


class GateFailed(RuntimeError):
    """The snapshot failed its gate; ``result`` holds what failed. The message has one line
    per failed check: what was observed against which threshold."""

    def __init__(self, result: GateResult):
        from prox_tasks.quality.observed import failure_lines

        lines = failure_lines(result.checks)
        super().__init__(f"quality gate failed for {result.output_uri}: {len(lines)} of "
                         f"{len(result.checks)} checks failed\n" +
                         "\n".join(f"  - {line}" for line in lines))
        self.result = result


@dataclass
class GateResult:
    """What the gate found. JSON-ready through :meth:`to_dict`.

    Attributes:
        passed: All expectations held.
        output_uri: The snapshot judged.
        metrics: Snapshot-level counts and rates.
        checks: One entry per expectation: suite, expectation, column, success, details.
        thresholds: The thresholds used.
        history: Bounds derived from released snapshots (empty without enough history).
        report_uri: ``gate.json`` beside the snapshot.
        data_docs_uri: The Data Docs index beside the snapshot.
        shard_checksums: SHA-256 of each shard file judged, by shard index: a release
            refuses files refined again after the gate ran.
        kept_from_release: The snapshot was released: this is the result it was released
            with, read back, not a new judgement (its files cannot change any more).
    """

    passed: bool
    output_uri: str
    metrics: dict
    checks: list[dict]
    thresholds: dict
    history: dict = field(default_factory=dict)
    report_uri: str = ""
    data_docs_uri: str = ""
    shard_checksums: dict = field(default_factory=dict)
    kept_from_release: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> dict:
        """What a caller reports: verdict, metrics, the failed checks and where it is."""
        return {"passed": self.passed, "kept_from_release": self.kept_from_release,
                "metrics": self.metrics,
                "failed": [c for c in self.checks if not c["success"]],
                "report_uri": self.report_uri, "data_docs_uri": self.data_docs_uri}


def gate_uri(output_uri: str) -> str:
    from prox_tasks.storage import join_uri

    return join_uri(output_uri, GATE_DIR, GATE_FILE)


def read_gate_result(output_uri: str) -> dict | None:
    """The last gate result written beside the snapshot, or None."""
    from prox_tasks.storage import read_json

    return read_json(gate_uri(output_uri))


def _released_result(output_uri: str) -> GateResult | None:
    """The gate result a released snapshot was released with, or None when not released.

    A release points at ``gate.json``, and its files cannot change any more: judging them
    again (other thresholds, another history) would only overwrite the evidence the release
    was made on.
    """
    from prox_tasks.corpus.manifest import released_as

    marks = released_as(output_uri)
    recorded = read_gate_result(output_uri) if marks else None
    if recorded is None:
        return None
    names = ", ".join(m["name"] for m in marks)
    _check_still_released(output_uri, names)
    log.warning("%s was released as %s: its gate result is kept, not judged again (refine "
                "into another output folder to judge other thresholds)", output_uri, names)
    known = {f.name for f in fields(GateResult)}
    return GateResult(**{**{k: v for k, v in recorded.items() if k in known},
                         "kept_from_release": True})


def _check_still_released(output_uri: str, names: str) -> None:
    """Refuse to pass a released snapshot again on the result it was released with when its
    files are no longer those: a shard deleted or edited since (in place, or in a copy of
    the folder) was passed as ``gate PASSED … all checks passed``. Each shard file is read
    to check its SHA-256, as ``prox release`` does.

    Raises:
        prox_tasks.release.ReleaseRefused: A shard missing, unwritten or changed.
    """
    from prox_tasks.release.release import ReleaseRefused, check_releasable

    try:
        check_releasable(output_uri)
    except ReleaseRefused as err:
        what = str(err).split(";", 1)[0]  # its way out (refine again) is not this one's
        raise ReleaseRefused(
            f"{output_uri} was released as {names}, but its files are no longer those it was "
            f"released with ({what}); its gate result is not given again: restore the files "
            "from a copy, or refine the crawl into a new output folder and release that"
        ) from None


def _context(docs_dir: str):
    import great_expectations as gx

    _quiet_gx()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    context.add_data_docs_site(site_name="prox", site_config={
        "class_name": "SiteBuilder",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                          "base_directory": docs_dir},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    })
    return context


def _validate(context, source, name: str, frame, expectations: list, run_name: str) -> list[dict]:
    import great_expectations as gx

    batch = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe("all")
    suite = context.suites.add(gx.ExpectationSuite(name=f"prox_{name}"))
    for expectation in expectations:
        # GX writes a description into the Data Docs' HTML as it is, and a description names
        # what the snapshot holds (a served model's version, an input's field names): escaped
        # for GX, as text for gate.json and the messages (unescaped from GX's results below)
        if expectation.description:
            expectation.description = html.escape(expectation.description)
        suite.add_expectation(expectation)
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"prox_{name}", data=batch, suite=suite))
    checkpoint = context.checkpoints.add(gx.Checkpoint(
        name=f"prox_gate_{name}", validation_definitions=[definition], result_format="SUMMARY",
        actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=["prox"])],
    ))
    # the run's time given, not left to GX: without it GX reads run_name as a date, and a
    # manifest id of digits ("1234567890123456") raised OverflowError on every try
    run_id = gx.RunIdentifier(run_name=run_name, run_time=datetime.now(UTC))
    outcome = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=run_id)
    checks = []
    for run in outcome.run_results.values():
        for item in run.results:
            config = item.expectation_config
            kwargs = config.kwargs
            details = {k: item.result.get(k) for k in
                       ("observed_value", "unexpected_count", "unexpected_percent",
                        "partial_unexpected_list") if item.result.get(k) is not None}
            if item.exception_info and item.exception_info.get("raised_exception"):
                details["exception"] = item.exception_info.get("exception_message")
            checks.append({
                "suite": name, "expectation": config.type, "success": bool(item.success),
                "column": kwargs.get("column") or
                "/".join(str(kwargs[k]) for k in ("column_A", "column_B") if k in kwargs),
                "min_value": kwargs.get("min_value"), "max_value": kwargs.get("max_value"),
                "description": config.description and html.unescape(config.description),
                "details": _jsonable(details),
            })
    return checks


def _with_documents(check: dict, frames) -> dict:
    """A documents-table check told in documents: how many broke the rule, in which shards
    (the first few), and some of their ids — not the per-shard counts GX lists."""
    from prox_tasks.quality.documents import EXAMPLES

    table, rule = frames.documents, check["column"]
    # GX's own counts are of shards (the table's rows): told apart from the documents'
    details = {k: v for k, v in check["details"].items() if k not in (
        "partial_unexpected_list", "unexpected_count", "unexpected_percent")}
    breaking = table.loc[table[rule] > 0, "shard_index"]
    details.update(documents=int(table[rule].sum()), shard_count=len(breaking),
                   shards=[int(i) for i in breaking[:EXAMPLES]],
                   examples=frames.examples.get(rule, []))
    return {**check, "details": details}


def _with_shards(check: dict, frames) -> dict:
    """A failed shards-table check told by shard: which shards break it (the first few) —
    GX's examples are the column's values (``False``, or two counts), which name none — and,
    for the readable check, why each unreadable file failed."""
    from prox_tasks.quality.documents import EXAMPLES

    if check["success"]:
        return check
    table, columns = frames.shards, check["column"].split("/")
    broken = (table[columns[0]] != table[columns[1]] if len(columns) == 2
              else table[columns[0]] != True)  # noqa: E712 (a pandas column, not a bool)
    breaking = table.loc[broken, "shard_index"]
    details = {k: v for k, v in check["details"].items() if k != "partial_unexpected_list"}
    details.update(shard_count=len(breaking), shards=[int(i) for i in breaking[:EXAMPLES]])
    if check["column"] == "readable" and frames.unreadable:
        details["errors"] = {str(i): why for i, why in sorted(frames.unreadable.items())[:10]}
    return {**check, "details": details}


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


def _publish_dir(local_dir: str, target_uri: str) -> None:
    """Copy ``local_dir`` to ``target_uri``, then remove what an earlier run left there (its
    validation pages, under other run times): the folder holds this run's Data Docs only."""
    from prox_tasks.storage import join_uri, list_uri, put_atomic, remove, to_uri

    written = set()
    for root, _dirs, files in os.walk(local_dir):
        for name in sorted(files):
            path = os.path.join(root, name)
            uri = to_uri(join_uri(target_uri, os.path.relpath(path, local_dir)
                                  .replace(os.sep, "/")))
            with open(path, "rb") as f:
                put_atomic(uri, f)
            written.add(uri)
    for stale in list_uri(target_uri):
        if to_uri(stale) not in written:
            remove(stale)


def run_gate(output_uri: str, thresholds: GateThresholds | None = None,
             history: list[dict] | None = None, run_name: str | None = None,
             caller: str = "cli") -> GateResult:
    """Validate the refined snapshot at ``output_uri``; write ``_quality/gate.json`` and the
    Data Docs beside it. Never raises for a failed expectation (see ``passed``).

    Args:
        output_uri: The snapshot's output folder (holding ``manifest.json``).
        thresholds: Bounds; defaults of :class:`GateThresholds`.
        history: Metrics of the last released snapshots, oldest first (for the k-std check).
        run_name: Name of this validation run in the Data Docs (default: the manifest id).
        caller: Who runs the gate, ``cli`` (prox) or ``dag`` (the refine DAG): a failed
            check names the setting to change as its option or Param
            (:func:`~prox_tasks.setting_names.setting_name`).
    """
    from prox_tasks.quality.data_docs import make_offline
    from prox_tasks.quality.frames import build_frames
    from prox_tasks.quality.suites import (
        document_expectations,
        history_bounds,
        shard_expectations,
        snapshot_expectations,
    )
    from prox_tasks.storage import join_uri, put_atomic

    kept = _released_result(output_uri)
    if kept is not None:
        return kept
    thresholds = thresholds or GateThresholds()
    frames = build_frames(output_uri)
    bounds = history_bounds(history or [], thresholds)
    run_name = run_name or frames.metrics["manifest_id"][:16]
    docs_uri = join_uri(output_uri, GATE_DIR, DOCS_DIR)
    from prox_tasks.storage.tempfiles import scratch_dir, sweep_stale, temp_tag

    scratch = scratch_dir()
    sweep_stale(scratch, SCRATCH_PREFIX)  # those of gates killed before (SIGKILL, OOM)
    with tempfile.TemporaryDirectory(prefix=SCRATCH_PREFIX + temp_tag(), dir=scratch) as tmp:
        context = _context(os.path.join(tmp, "docs"))
        source = context.data_sources.add_pandas("prox_snapshot")
        checks = []
        for name, frame, expectations in (
            ("documents", frames.documents, document_expectations(thresholds, caller)),
            ("shards", frames.shards, shard_expectations(thresholds, caller)),
            ("snapshot", frames.snapshot, snapshot_expectations(thresholds, bounds, caller,
                                                             frames.model_versions,
                                                             frames.text_candidates,
                                                             frames.quarantine_reasons)),
        ):
            checks += _validate(context, source, name, frame, expectations, run_name)
        checks = [_with_documents(c, frames) if c["suite"] == "documents" else
                  _with_shards(c, frames) if c["suite"] == "shards" else c
                  for c in checks]
        make_offline(os.path.join(tmp, "docs"))
        _publish_dir(os.path.join(tmp, "docs"), docs_uri)
    result = GateResult(
        passed=all(c["success"] for c in checks), output_uri=output_uri,
        metrics=frames.metrics, checks=checks, thresholds=thresholds.to_dict(),
        history={m: dict(zip(("low", "high", "mean", "std", "n"), b)) for m, b in bounds.items()},
        report_uri=gate_uri(output_uri), data_docs_uri=join_uri(docs_uri, "index.html"),
        shard_checksums=frames.shard_checksums,
    )
    put_atomic(result.report_uri, json.dumps(result.to_dict(), indent=1, sort_keys=True) + "\n")
    log.info("gate %s for %s: %d/%d checks passed", "PASSED" if result.passed else "FAILED",
             output_uri, sum(c["success"] for c in checks), len(checks))
    from prox_tasks.quality.observed import failure_lines, not_refined_note

    if result.metrics.get("input_files_skipped"):
        from prox_tasks.corpus import load_manifest
        from prox_tasks.wording import crawl_files, files_not_read, of_no_known_format

        skipped = [f["uri"] for f in load_manifest(output_uri).skipped_files]
        # a crawl's WARC or WAT holds no text: no refine of it includes them
        again = ": refine again to include them" if of_no_known_format(skipped) else ""
        log.warning("gate: %s, in no shard%s",
                    files_not_read(len(skipped), skipped[:3],
                                   join_uri(output_uri, "manifest.json"),
                                   crawl_files(skipped)), again)
    if not result.passed and (note := not_refined_note(result.metrics)):
        log.error("gate: %s", note)
    for line in failure_lines(checks):
        log.error("gate check failed: %s", line)
    return result
