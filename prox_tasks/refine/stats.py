"""Per-shard statistics of the refine step (JSON-ready, summable across checkpoints)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

PHASES = ("read", "doc_phase", "chunk_phase", "execute", "checkpoint", "write")


@dataclass
class ShardStats:
    """What refining one shard did.

    Attributes:
        docs_in: Records of the shard (documents read plus records quarantined).
        docs_quarantined: Bad input records, kept in the shard's quarantine file.
        docs_kept: Documents written with text.
        docs_dropped: Documents written as dropped (text null).
        dropped_by_model: ... of which the document-level program dropped.
        dropped_too_little_left: ... of which the chunk edits left too little.
        dropped_low_quality: ... of which the document-quality decision dropped (``drop``).
        docs_low_quality: Documents the quality decision judged low quality (``report`` or
            ``drop``; junk drops are not judged).
        docs_refined: Kept documents whose text the programs changed.
        docs_resumed: Documents taken from checkpoints of an earlier, interrupted try.
        docs_with_failures: Documents with at least one program error.
        duplicate_ids: Documents quarantined because their id occurs more than once in the
            snapshot (the ``duplicate_ids`` policy of :class:`~prox_tasks.refine.limits.Limits`).
        failures: Program errors by level (``doc``, ``chunk``) and kind.
        usage: Model work by level: requests, prompt/completion tokens, truncated and
            failed completions, seconds inside the engine.
        seconds: Wall time per phase (``read``, ``doc_phase``, ``chunk_phase`` — model
            plus prompt rendering —, ``execute``, ``checkpoint``, ``write``) and ``total``.
        chars_in: Characters of the documents read.
        chars_out: Characters of the kept texts.
    """

    docs_in: int = 0
    docs_quarantined: int = 0
    docs_kept: int = 0
    docs_dropped: int = 0
    dropped_by_model: int = 0
    dropped_too_little_left: int = 0
    dropped_low_quality: int = 0
    docs_low_quality: int = 0
    docs_refined: int = 0
    docs_resumed: int = 0
    docs_with_failures: int = 0
    duplicate_ids: int = 0
    failures: dict = field(default_factory=lambda: {"doc": Counter(), "chunk": Counter()})
    usage: dict = field(default_factory=dict)
    seconds: Counter = field(default_factory=Counter)
    chars_in: int = 0
    chars_out: int = 0

    def add(self, other: ShardStats | dict) -> None:
        """Add another batch's statistics (an object or its :meth:`to_dict`)."""
        data = other.to_dict() if isinstance(other, ShardStats) else other
        for name in ("docs_kept", "docs_dropped", "dropped_by_model", "dropped_too_little_left",
                     "dropped_low_quality", "docs_low_quality", "docs_refined", "docs_with_failures", "chars_in", "chars_out"):
            setattr(self, name, getattr(self, name) + int(data.get(name, 0)))
        for level, kinds in data.get("failures", {}).items():
            self.failures.setdefault(level, Counter()).update(kinds)
        for level, usage in data.get("usage", {}).items():
            mine = self.usage.setdefault(level, {})
            for key, value in usage.items():
                mine[key] = mine.get(key, 0) + value
        self.seconds.update(data.get("seconds", {}))

    @property
    def docs_out(self) -> int:
        return self.docs_kept + self.docs_dropped

    def to_dict(self) -> dict:
        return {
            "docs_in": self.docs_in, "docs_quarantined": self.docs_quarantined,
            "docs_out": self.docs_out, "docs_kept": self.docs_kept,
            "docs_dropped": self.docs_dropped, "dropped_by_model": self.dropped_by_model,
            "dropped_too_little_left": self.dropped_too_little_left,
            "dropped_low_quality": self.dropped_low_quality,
            "docs_low_quality": self.docs_low_quality,
            "docs_refined": self.docs_refined, "docs_resumed": self.docs_resumed,
            "docs_with_failures": self.docs_with_failures,
            "duplicate_ids": self.duplicate_ids,
            "failures": {k: dict(sorted(v.items())) for k, v in self.failures.items()},
            "tokens_in": sum(u.get("prompt_tokens", 0) for u in self.usage.values()),
            "tokens_out": sum(u.get("completion_tokens", 0) for u in self.usage.values()),
            "usage": self.usage,
            "seconds": {k: round(v, 4) for k, v in sorted(self.seconds.items())},
            "chars_in": self.chars_in, "chars_out": self.chars_out,
        }  # fmt: skip


#: Counts of a shard's accounting (its status record) that add up over a snapshot.
ACCOUNTING_COUNTS = ("docs_read", "docs_written", "docs_kept", "docs_dropped",
                     "docs_quarantined", "docs_low_quality", "docs_with_program_errors",
                     "normalizations_unmatched")


class AccountingTotals:
    """Running totals over shards' accountings (:class:`~prox_tasks.corpus.writer.
    ShardAccounting` dicts, as their status records hold them, so reused shards count as
    refined ones), added one at a time: the :data:`ACCOUNTING_COUNTS`, quarantined records
    and drops by reason, program errors and input notices (problems that lost no record) by
    kind, and ``missing_text`` records by the field that could be their text
    (``text_candidates``). ``missing_text_unexamined``, only when some: ``missing_text``
    records of status records written before their candidates were recorded (whether they
    hold a text under another name is not known)."""

    def __init__(self) -> None:
        self.counts = dict.fromkeys(ACCOUNTING_COUNTS, 0)
        self.by_kind = {key: Counter() for key in ("quarantine_reasons", "drop_reasons",
                                                   "program_errors", "input_notices",
                                                   "text_candidates")}
        self.missing_text_unexamined = 0

    def add(self, accounting: Mapping) -> None:
        """Add one shard's accounting."""
        for name in ACCOUNTING_COUNTS:
            self.counts[name] += int(accounting.get(name) or 0)
        for key, counter in self.by_kind.items():
            counter.update(accounting.get(key) or {})
        if "text_candidates" not in accounting:  # a record of an earlier release
            self.missing_text_unexamined += int(
                (accounting.get("quarantine_reasons") or {}).get("missing_text") or 0)
        else:  # a record, or totals already summed (a DAG refine task's)
            self.missing_text_unexamined += int(accounting.get("missing_text_unexamined") or 0)

    def to_dict(self) -> dict:
        unexamined = ({"missing_text_unexamined": self.missing_text_unexamined}
                      if self.missing_text_unexamined else {})
        return {**self.counts, **unexamined,
                **{key: dict(sorted(counter.items())) for key, counter in self.by_kind.items()}}


def accounting_totals(accountings: Iterable[Mapping]) -> dict:
    """:class:`AccountingTotals` over ``accountings``."""
    totals = AccountingTotals()
    for accounting in accountings:
        totals.add(accounting)
    return totals.to_dict()


def refuse_if_all_quarantined(totals: Mapping, input_uri: str, output_uri: str) -> None:
    """Refuse a snapshot none of whose records became a document: ``totals``
    (:func:`accounting_totals` over every shard, reused ones too) count records read and
    every one quarantined. Such a run refined nothing — a wrong text field, a delivery of
    garbage — and must fail, not report 0 documents kept: ``prox refine`` (exit 2, an input
    to fix, as ``prox label`` and ``prox execute``) and the DAG's collect task (no retries)
    alike, before the snapshot is booked refined. A snapshot with one
    document kept or dropped passes; one of no records at all failed at its plan
    (:class:`~prox_tasks.corpus.readers.EmptyInput`).

    Raises:
        prox_tasks.corpus.readers.NoDocuments: Naming the input, the quarantine reasons, the
            quarantine folder (``output_uri``/quarantine/) and the likeliest text field.
    """
    from prox_tasks.corpus.readers import all_quarantined
    from prox_tasks.storage.uri import join_uri

    read = int(totals.get("docs_read") or 0)
    if read and int(totals.get("docs_quarantined") or 0) >= read:
        reasons = totals.get("quarantine_reasons") or {}
        raise all_quarantined(input_uri, read, reasons,
                              join_uri(output_uri, "quarantine") + "/",
                              totals.get("text_candidates"), _duplicates_advice(reasons))


def _duplicates_advice(reasons: Mapping[str, int]) -> str | None:
    """What to do when most records were set aside as ``duplicate_id``: under keep_first the
    first copy of each id is refined, so a snapshot of copies only comes out empty under the
    ``quarantine`` policy — the input is fine, the setting is the cause (None otherwise: the
    text field advice stands)."""
    duplicates = int(reasons.get("duplicate_id") or 0)
    if not duplicates or duplicates < max(reasons.values()):
        return None
    return (f"{duplicates:,} of them are copies of ids the snapshot repeats, every copy set "
            "aside by duplicate_ids quarantine: keep_first (the default) refines the first "
            "copy of each id (prox refine --force --duplicate-ids keep_first; the DAG's "
            "duplicate_ids Param with reprocess)")


#: What went wrong at the model, by the key of a level's usage in a shard's stats
#: (:class:`~prox_tasks.inference.base.Usage`): the name of its total in a run's summary.
MODEL_TROUBLE = {"failed": "requests_failed", "rejected": "requests_rejected",
                 "oversized": "replies_oversized", "malformed": "replies_malformed",
                 "outside_grammar": "completions_outside_grammar"}
#: What the model's counts above are of, by the same keys: the completions checked against
#: their grammar (a sample: ``completions_outside_grammar`` is of them, not of every one).
MODEL_CHECKED = {"grammar_checked": "completions_grammar_checked"}

#: A run's work totals (see :meth:`RunResults.totals`): in every summary, 0 when nothing was
#: done, so that a script reading ``prox refine --json`` finds each key whatever was reused.
WORK_TOTALS = ("shards_refined", "shards_skipped", "docs_refined", "tokens_in", "tokens_out")

#: Shards of a run whose whole result a summary keeps (see :class:`RunResults`).
RESULTS_KEPT = 1_000


def troubled(result: Mapping) -> bool:
    """Whether a shard's result tells of quarantined records or program errors."""
    accounting = result["accounting"]
    return bool(accounting.get("docs_quarantined") or accounting.get("docs_with_program_errors"))


class RunResults:
    """The shards' results of a run (:func:`~prox_tasks.refine.step.refine_shard`'s, with
    ``wall_seconds``; ``pid`` and ``started_at`` from a worker process), folded one at a time
    as each shard finishes, so that what is held does not grow with the shards: totals over
    every shard, when each worker refined, and a bounded list of results.

    The list holds every result of a run of up to :data:`RESULTS_KEPT` shards; of a larger
    run, those with quarantined records or program errors (:func:`troubled`), up to that
    many. A result holds the shard's status record and stats (about 2 KB): a 100,000-shard
    run's made 200 MB of JSON (``prox refine --json``), and held until the last shard ended,
    382 MB. Every shard's record stays in ``_status/`` (and the catalog).

    Args:
        kept: Results kept (default :data:`RESULTS_KEPT`).
    """

    def __init__(self, kept: int | None = None) -> None:
        self.limit = RESULTS_KEPT if kept is None else kept
        self.shards = 0
        self.accounting = AccountingTotals()
        self.work: Counter = Counter()  # shards by status, docs_refined, tokens
        self.phase_seconds: Counter = Counter()
        self.model_versions: set[str] = set()
        self.backends: set[str] = set()
        #: The openai servers a shard's pool left out at load, with why (they refuse it).
        self.servers_left_out: dict[str, str] = {}
        self.kept: list[dict] = []
        self._workers: dict[int, list] = {}  # pid: [first start, last end, shards]

    def add(self, result: dict) -> None:
        """Fold one shard's result in."""
        self.shards += 1
        self.accounting.add(result["accounting"])
        self.work["shards_" + result["status"]] += 1
        if result.get("stats"):
            for key in ("docs_refined", "tokens_in", "tokens_out"):
                self.work[key] += result["stats"][key]
            self.phase_seconds.update(result["stats"].get("seconds") or {})
            for usage in (result["stats"].get("usage") or {}).values():
                for key, name in (MODEL_TROUBLE | MODEL_CHECKED).items():
                    self.work[name] += int(usage.get(key) or 0)
        self.model_versions.add(str(result["model_version"]))
        if result.get("backend"):
            self.backends.add(str(result["backend"]))
        self.servers_left_out.update(result.get("servers_left_out") or {})
        if "started_at" in result:
            ended = result["started_at"] + float(result.get("wall_seconds") or 0)
            span = self._workers.setdefault(result["pid"], [result["started_at"], ended, 0])
            span[0], span[1] = min(span[0], result["started_at"]), max(span[1], ended)
            span[2] += 1
        self._keep(result)

    def folded(self) -> dict:
        """What the shards folded so far add up to, JSON-ready and without the results kept:
        a part of a run (a DAG refine task's shards) that another :class:`RunResults`
        takes in with :meth:`merge`, so a run refined in parts totals as one refined at once
        (``prox refine``): one rule for both."""
        return {"shards": self.shards, "accounting": self.accounting.to_dict(),
                "work": dict(self.work), "phase_seconds": dict(self.phase_seconds),
                "model_versions": sorted(self.model_versions),
                "backends": sorted(self.backends),
                "servers_left_out": dict(self.servers_left_out)}

    def merge(self, folded: Mapping) -> None:
        """Take in a part of the run (another :class:`RunResults`' :meth:`folded`); its
        results and worker spans are not in it (a DAG refine task's XCom keeps its own)."""
        self.shards += int(folded.get("shards") or 0)
        self.accounting.add(folded.get("accounting") or {})
        self.work.update(folded.get("work") or {})
        self.phase_seconds.update(folded.get("phase_seconds") or {})
        self.model_versions.update(folded.get("model_versions") or ())
        self.backends.update(folded.get("backends") or ())
        self.servers_left_out.update(folded.get("servers_left_out") or {})

    def _keep(self, result: dict) -> None:
        if self.shards == self.limit + 1:  # the run is a large one: the troubled only
            self.kept = [r for r in self.kept if troubled(r)]
        if self.shards <= self.limit or (troubled(result) and len(self.kept) < self.limit):
            self.kept.append(result)

    @property
    def results(self) -> list[dict]:
        """The results kept, in shard order."""
        return sorted(self.kept, key=lambda r: r["shard"])

    @property
    def left_out(self) -> int:
        """Results not kept."""
        return self.shards - len(self.kept)

    def totals(self) -> dict:
        """What the shards hold (their status records: reused shards too), then this run's
        work: ``shards_<status>`` counts, ``docs_refined``, ``tokens_in``, ``tokens_out``,
        and ``servers_left_out`` (``{url: why}``: the openai pool's servers left out at load)."""
        from prox_tasks.corpus.document import FILE_LOSS_REASONS

        totals: Counter = Counter(self.accounting.to_dict())
        totals["dropped_low_quality"] = totals["drop_reasons"].get("low_quality", 0)
        # a cut or corrupt file is one quarantine entry of no bytes: counted in docs_read (as
        # the plan and the status records count it) but it is a file, not a document
        totals["files_cut"] = sum(totals["quarantine_reasons"].get(r, 0) for r in FILE_LOSS_REASONS)
        totals["documents_read"] = totals["docs_read"] - totals["files_cut"]
        # a file cut inside a record's payload: one record, cut short, and the file's rest lost
        totals["records_cut"] = totals["quarantine_reasons"].get("truncated_record", 0)
        totals.update(dict.fromkeys((*WORK_TOTALS, *MODEL_TROUBLE.values(),
                                     *MODEL_CHECKED.values()), 0))
        totals.update(self.work)
        totals["servers_left_out"] = dict(sorted(self.servers_left_out.items()))
        return dict(totals)

    def timeline(self) -> list[dict]:
        """Per worker process, by pid: shards refined, its first shard's start and its last
        shard's end (Unix time); empty when no worker process refined."""
        return [{"pid": pid, "shards": shards, "started_at": round(first, 3),
                 "ended_at": round(last, 3)}
                for pid, (first, last, shards) in sorted(self._workers.items())]  # fmt: skip
