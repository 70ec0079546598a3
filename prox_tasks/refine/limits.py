"""Limits on one document and one batch, and the duplicate-id policy of the refine step.

Memory and time of the refine step grow with a batch's bytes *and* its lines (the line
tagger keeps a feature vector per line, the executor an entry per line), so both are
bounded, per document and per batch. A document over a per-document limit is quarantined
(``too_large`` by the reader, ``too_many_lines`` here) — never truncated, never a crash; a
batch closes before it would pass a per-batch limit (one document always fits, since the
per-document limits are lower).

The executor's caps on one program (``max_program_chars``) and on what normalizations may
add (``max_normalize_growth``) are set the same way and passed on to its
:class:`~prox_tasks.programs.Policy`.

Every setting is a field of :class:`Limits`: a ``prox refine`` option, a Param of the
nightly DAG (:func:`prox_tasks.pipeline.dag_config.limit_params`) and an environment
variable (``PROX_`` + the field name in capitals). The option or Param wins; the variable
gives the default (also the Params' defaults shown in the Airflow UI).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields

from prox_tasks.document_size import DEFAULT_MAX_DOC_BYTES
from prox_tasks.programs.policy import Policy
from prox_tasks.setting_names import setting_name
from prox_tasks.wording import count

DUPLICATE_POLICIES = ("keep_first", "quarantine", "fail")
#: The settings passed on to the executor's Policy.
POLICY_CAPS = ("max_program_chars", "max_normalize_growth")

#: (title, what it bounds) of every setting: ``prox refine --help``, the DAG's Params, docs.
DESCRIPTIONS = {
    "max_doc_bytes": ("Max bytes per document", "UTF-8 bytes of one text; a larger one is "
                      "quarantined as too_large (a planning setting, kept in the manifest)"),
    "max_doc_lines": ("Max lines per document", "lines of one text; more is quarantined as "
                      "too_many_lines"),
    "max_batch_docs": ("Max documents per batch", "documents per model batch and checkpoint"),
    "max_batch_bytes": ("Max bytes per batch", "UTF-8 text bytes per batch; the batch closes "
                        "before the document that would pass it"),
    "max_batch_lines": ("Max lines per batch", "text lines per batch; bounds the model's "
                        "memory, which grows with lines"),
    "max_program_chars": ("Max program size (characters)", "a longer program is not run "
                          "(counted as over_limit)"),
    "max_normalize_growth": ("Max normalize growth", "fraction of a document's characters "
                             "its normalizations may add (at least 100); one that would pass "
                             "it is not run (over_limit)"),
    "duplicate_ids": ("Duplicate ids", "an id seen again in the snapshot: keep_first "
                      "(quarantine the later ones), quarantine (every occurrence) or fail"),
}


class DuplicateIdError(ValueError):
    """A document id occurs twice in a shard and the policy is ``fail``."""


@dataclass(frozen=True)
class Limits:
    """Bounds of the refine step.

    Attributes:
        max_doc_bytes: UTF-8 bytes of one text; larger ones are quarantined as ``too_large``
            by the reader (a planning setting: it is recorded in the manifest).
        max_doc_lines: Lines of one text; more are quarantined as ``too_many_lines``.
        max_batch_docs: Documents per batch (and per checkpoint).
        max_batch_bytes: UTF-8 bytes of the texts of one batch.
        max_batch_lines: Lines of the texts of one batch.
        max_program_chars: A longer program is not run (``over_limit``; executor Policy).
        max_normalize_growth: Fraction of a document's characters its normalizations may
            add (executor Policy).
        duplicate_ids: A document id seen again in the snapshot: ``keep_first`` (later ones
            are quarantined as ``duplicate_id``), ``quarantine`` (every occurrence is), or
            ``fail`` (the shard fails, naming both places).
    """

    max_doc_bytes: int = DEFAULT_MAX_DOC_BYTES
    max_doc_lines: int = 100_000
    max_batch_docs: int = 512
    max_batch_bytes: int = 64 * 1024 * 1024
    max_batch_lines: int = 200_000
    max_program_chars: int = Policy.max_program_chars
    max_normalize_growth: float = Policy.max_normalize_growth
    duplicate_ids: str = "keep_first"

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "int" and (type(value) is not int or value < 1):
                raise ValueError(f"limit {f.name} must be a positive integer, not {value!r}")
            if f.type == "float" and (type(value) not in (int, float) or not value >= 0):
                raise ValueError(f"limit {f.name} must be a number >= 0, not {value!r}")
        if self.duplicate_ids not in DUPLICATE_POLICIES:
            raise ValueError(f"duplicate_ids must be one of {DUPLICATE_POLICIES}, "
                             f"not {self.duplicate_ids!r}")
        for per_doc, per_batch in (("max_doc_lines", "max_batch_lines"),
                                   ("max_doc_bytes", "max_batch_bytes")):
            if getattr(self, per_doc) > getattr(self, per_batch):
                raise ValueError(f"limit {per_doc} {getattr(self, per_doc)} is above "
                                 f"{per_batch} {getattr(self, per_batch)}: one document would "
                                 f"not fit in a batch (raise {per_batch} too)")

    @classmethod
    def resolve(cls, values: dict | None = None, environ=os.environ) -> Limits:
        """Limits from ``values`` (None entries ignored), else ``PROX_<FIELD>``, else defaults."""
        chosen = {}
        for f in fields(cls):
            value, source = (values or {}).get(f.name), f"limit {f.name}"
            if value is None:
                source = f"PROX_{f.name.upper()}"
                value = environ.get(source)
            if value is not None:
                chosen[f.name] = _parse(f, value, source)
        return cls(**chosen)

    def to_dict(self) -> dict:
        return asdict(self)

    def policy_caps(self) -> dict:
        """The executor :class:`~prox_tasks.programs.Policy` fields these limits set."""
        return {name: getattr(self, name) for name in POLICY_CAPS}


def _parse(field, value, source: str):
    """``value`` as ``field``'s type; ``source`` (the option or the variable it came from)
    names it when it is not a number."""
    try:
        return {"int": int, "float": float}.get(field.type, str)(value)
    except ValueError:
        raise ValueError(f"{source}: {value!r} is not a number") from None


def text_bytes(text: str) -> int:
    """UTF-8 size of ``text`` (no copy for ASCII)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def admitted(docs: Iterator, limits: Limits, quarantine, duplicates: dict,
             text_field: str = "text", id_field: str = "id") -> Iterator:
    """The documents within the per-document limits and the duplicate-id policy; the others
    go to ``quarantine`` (``too_many_lines``, ``duplicate_id``), each with its row as
    ``raw`` like any quarantined record: read and checked already, it is written again as
    a JSON object (:meth:`~prox_tasks.corpus.Document.as_row`).

    Args:
        docs: The shard's documents, in order.
        limits: The limits and policy.
        quarantine: Where refused documents go.
        duplicates: The shard's occurrences of ids that occur more than once in the
            snapshot, by (source, offset)
            (:func:`prox_tasks.corpus.duplicates.shard_duplicates`).
        text_field, id_field: The input's field names (the plan's), for ``raw``.

    Raises:
        DuplicateIdError: With the ``fail`` policy, at an id's second occurrence.
    """
    from prox_tasks.corpus.writer import strict_json

    def set_aside(doc, reason: str, detail: str) -> None:
        # strict JSON, as the refined meta: a Parquet row's NaN is the string "NaN"
        raw = strict_json(doc.as_row(text_field, id_field), sort_keys=False)
        quarantine.add(doc.source, doc.offset, reason, detail, raw, doc_id=doc.id)

    for doc in docs:
        lines = doc.text.count("\n") + 1
        if lines > limits.max_doc_lines:
            set_aside(doc, "too_many_lines",
                      f"{lines} lines > max_doc_lines {limits.max_doc_lines}")
            continue
        seen = duplicates.get((doc.source, doc.offset))
        if seen is not None and (limits.duplicate_ids == "quarantine"
                                 or not seen.first_within(limits.max_doc_lines)):
            if limits.duplicate_ids == "fail":
                raise DuplicateIdError(f"document id {doc.id!r} at {doc.source} record "
                                       f"{doc.offset} was already read at {seen.where_first()}")
            detail = (f"the id occurs {seen.count} times in the snapshot" if seen.is_first
                      else f"first seen at {seen.where_first()}")
            set_aside(doc, "duplicate_id", detail)
            continue
        yield doc


def refuse_duplicates(index: dict, limits: Limits, caller: str = "cli") -> None:
    """Fail before refining when the snapshot's duplicate-id list
    (:func:`prox_tasks.corpus.duplicates.index_duplicates`) is not empty and the policy is
    ``fail``: every shard would be refined for nothing.

    Args:
        caller: ``cli`` or ``dag``: who the way out is said to (an option or a Param).

    Raises:
        DuplicateIdError: naming how many ids repeat, where, and the way out.
    """
    if limits.duplicate_ids == "fail" and index["duplicate_ids"]:
        listed = index["shards"]
        shards = ", ".join(map(str, listed[:10])) + (" …" if len(listed) > 10 else "")
        policy = setting_name("duplicate_ids", caller)
        raise DuplicateIdError(
            f"{count(index['duplicate_ids'], 'document id')} "
            f"{'occurs' if index['duplicate_ids'] == 1 else 'occur'} more than once in the "
            f"snapshot ({count(index['occurrences'], 'document')}, "
            f"{'shard' if len(listed) == 1 else 'shards'} {shards}) and {policy} is 'fail': "
            f"fix the input, or {AGAIN[caller]} {policy} keep_first (the first kept, the "
            "others quarantined) or quarantine (all quarantined)")


#: How ``caller`` refines again with another setting.
AGAIN = {"cli": "refine again with", "dag": "trigger the run again with"}


def batches(docs: Iterator, limits: Limits) -> Iterator[list]:
    """Consecutive batches within ``max_batch_docs``, ``max_batch_bytes``, ``max_batch_lines``."""
    batch: list = []
    size = lines = 0
    for doc in docs:
        n_bytes, n_lines = text_bytes(doc.text), doc.text.count("\n") + 1
        if batch and (len(batch) >= limits.max_batch_docs
                      or size + n_bytes > limits.max_batch_bytes
                      or lines + n_lines > limits.max_batch_lines):  # fmt: skip
            yield batch
            batch, size, lines = [], 0, 0
        batch.append(doc)
        size, lines = size + n_bytes, lines + n_lines
    if batch:
        yield batch
