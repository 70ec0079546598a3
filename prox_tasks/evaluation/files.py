"""Score a refined corpus against gold texts stored in files (``prox eval``)."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator

from prox_tasks.evaluation.metrics import word_prf, word_prf_per_group
from prox_tasks.wording import by_reason, count

#: What to do when rows were read without the gold field (``prox eval``, ``prox calibrate``).
GOLD_FIELD_HINT = "--gold-field names the field holding the gold text"


class NothingToScore(ValueError):
    """``prox eval`` has nothing to score: no refined row, or no gold row with an id and a
    gold text (a malformed or mis-encoded gold file, a wrong ``--gold-field``). The message
    says how many rows were skipped and why; the same files are refused again (exit 2)."""


def skipped(counts: Counter) -> str:
    """``2 bad rows skipped (1 malformed_json, 1 bad_encoding)``: the bad rows
    :func:`iter_rows` counted in ``counts``, with their reasons."""
    reasons = {k.removeprefix("bad_row:"): n for k, n in counts.items()
               if k.startswith("bad_row:") and n}  # fmt: skip
    return f"{count(counts['bad_rows'], 'bad row')} skipped" + (
        f" ({by_reason(reasons)})" if reasons else "")


def iter_rows(uri: str, counts: Counter | None = None, id_field: str = "id") -> Iterator[dict]:
    """Rows of a refined output folder or a Parquet file, else of JSONL(.gz/.zst) files (a
    file, folder or glob: :func:`prox_tasks.corpus.read_rows`).

    A JSONL line that is not a JSON object is counted in ``counts["bad_rows"]`` and by
    reason in ``counts["bad_row:<reason>"]`` (never silently skipped: the count is reported);
    a file not as named (:class:`~prox_tasks.corpus.document.InputNotice`, every record
    kept) in ``counts["notice:<kind>"]``.

    Raises:
        FileNotFoundError: Nothing to read at ``uri``.
    """
    from prox_tasks.corpus import Quarantine, read_refined_rows, read_rows

    if uri.endswith(".parquet") or _is_refined_folder(uri):
        yield from read_refined_rows(uri)
        return
    quarantine = Quarantine()
    try:
        for _source, _line, row in read_rows(uri, quarantine, id_field=id_field):
            yield row
    finally:
        if counts is not None:
            counts["bad_rows"] += len(quarantine)
            counts.update({f"bad_row:{k}": v for k, v in quarantine.reasons.items()})
            counts.update({f"notice:{k}": v for k, v in quarantine.notices.items()})
        quarantine.close()


def _unrefined_hint(uri: str) -> str:
    """What to do about a snapshot folder that holds no refined row: planned, no shard
    written yet (refine it), or every document quarantined or dropped (its quarantine and
    gate say why); empty for anything else. The shards are those :func:`~prox_tasks.corpus.
    refined.read_refined_rows` read: the plan's with their record of it (a folder without a
    plan: its ``shards/`` as listed), not an older plan's files left in ``shards/``."""
    from prox_tasks.corpus.manifest import shard_folder
    from prox_tasks.corpus.refined import plan_shard_names
    from prox_tasks.storage import list_uri

    if uri.endswith(".parquet") or not _is_refined_folder(uri):
        return ""
    base = uri.rstrip("/").removesuffix("/shards")
    refined = plan_shard_names(base)
    if not (refined if refined is not None else list_uri(shard_folder(base))):
        return ": the snapshot is planned but no shard of it is refined yet; refine it first " \
               "(prox refine, or the DAG's refine_shard tasks)"  # fmt: skip
    return ": its shards hold no row (every document quarantined); its quarantine/ and " \
           "prox gate say why"  # fmt: skip


def _is_refined_folder(uri: str) -> bool:
    from prox_tasks.corpus.manifest import MANIFEST_NAME
    from prox_tasks.storage import exists, join_uri

    base = uri.rstrip("/")
    return base.endswith("/shards") or exists(join_uri(base, MANIFEST_NAME))


def evaluate_files(
    refined_uri: str,
    gold_uri: str,
    text_field: str = "text",
    gold_field: str = "gold_text",
    id_field: str = "id",
    group_field: str | None = None,
    progress=None,
) -> dict:
    """Word-level P/R/F1 of refined texts against gold, joined by id.

    A gold document missing from the refined rows, or refined to ``null``/absent text (or
    ``dropped: true``), keeps nothing. Gold rows without a string ``gold_field`` are not
    scored (counted as ``gold_rows_without_gold``), nor those without an id
    (``gold_rows_without_id``); refined rows with no gold are counted as
    ``refined_without_gold`` (a refined row whose gold row has no ``gold_field`` text is
    not: that gold row is counted), rows without an id as ``refined_without_id``. An id seen again
    counts the first row only (``refined_duplicate_ids``, ``gold_duplicate_ids``).
    ``progress``, a bar (``update``) or None, advances by one per row read (gold, then
    refined). Memory holds the gold rows, the refined texts of gold documents and 16 bytes
    per refined row (its id's digest), whatever the size of the refined corpus.

    Returns:
        The :func:`word_prf` figures plus the counts above, ``docs_missing``,
        ``docs_dropped`` (``docs`` = ``docs_kept`` + ``docs_dropped`` + ``docs_missing``),
        ``bad_rows``, ``input_notices`` (files of either side not as named, by kind),
        and ``by_group`` when ``group_field`` is given.

    Raises:
        FileNotFoundError: Nothing to read at either URI.
        NothingToScore: No refined rows, or no gold row with a ``gold_field`` text to score.
    """
    import numpy as np

    from prox_tasks.corpus.id_search import id_digest

    counts: Counter = Counter()
    tick = progress.update if progress is not None else (lambda n: None)
    # the gold rows first: a gold set is small, a refined snapshot may not fit in memory,
    # so of the refined rows only the texts of gold documents are kept. The refined input
    # is opened first all the same: a wrong path there is named before the gold is read
    refined_bad: Counter = Counter()  # its bad rows, apart from the gold's
    refined_rows = iter_rows(refined_uri, refined_bad, id_field)
    first = next(refined_rows, None)
    position: dict[str, int] = {}  # gold id -> its index in golds
    # ids of gold rows without a gold text: a refined row of one has its gold row (counted as
    # gold_rows_without_gold), so it is not "matching no gold row", which reads as wrong ids
    textless: set[str] = set()
    golds, groups = [], []
    for row in iter_rows(gold_uri, counts, id_field):
        tick(1)
        doc_id, gold = row.get(id_field), row.get(gold_field)
        if doc_id is None:
            counts["gold_rows_without_id"] += 1
            continue
        if not isinstance(gold, str):
            counts["gold_rows_without_gold"] += 1
            if (textless_id := page_id(doc_id)) is not None:
                textless.add(textless_id)
            continue
        doc_id = page_id(doc_id)
        if doc_id is None:  # a NaN, a list, a bool: no id a reader gives a document
            counts["gold_rows_without_id"] += 1
            continue
        if doc_id in position:
            counts["gold_duplicate_ids"] += 1
            continue
        position[doc_id] = len(golds)
        golds.append(gold)
        groups.append(str(row.get(group_field)) if group_field else None)
    if not golds:
        # rows there without that field: most often the gold text is under another name
        fix = f"; {GOLD_FIELD_HINT}" if counts["gold_rows_without_gold"] else ""
        raise NothingToScore(f"no gold row with an id and a {gold_field!r} text at "
                             f"{gold_uri} ({count(counts['gold_rows_without_gold'], 'row')} "
                             f"without a text, {counts['gold_rows_without_id']:,} without an "
                             f"id, {skipped(counts)}{fix})")
    outs: list[str | None] = [None] * len(golds)
    found = [False] * len(golds)
    digests = bytearray()  # 16 bytes a refined id, to count the repeated ones
    textless_found: set[str] = set()  # refined ids whose gold row has no gold text
    for row in itertools.chain([] if first is None else [first], refined_rows):
        tick(1)
        doc_id = row.get(id_field)
        if doc_id is None:
            counts["refined_without_id"] += 1
            continue
        doc_id = page_id(doc_id)
        if doc_id is None:
            counts["refined_without_id"] += 1
            continue
        digests += id_digest(doc_id)
        at = position.get(doc_id)
        if at is None and doc_id in textless:
            textless_found.add(doc_id)
        if at is None or found[at]:  # no gold, or an id seen again: its first row counts
            continue
        found[at] = True
        text = row.get(text_field)
        outs[at] = None if row.get("dropped") or not isinstance(text, str) else text
    counts.update(refined_bad)  # one count of bad rows, the reasons too
    unique = len(np.unique(np.frombuffer(bytes(digests), dtype="V16"))) if digests else 0
    if not unique and not counts["refined_without_id"]:
        bad = refined_bad["bad_rows"]
        raise NothingToScore(f"no refined rows at {refined_uri}"
                             + (f" ({skipped(refined_bad)})" if bad else "")
                             + _unrefined_hint(refined_uri))
    counts["docs_missing"] = found.count(False)
    counts["refined_duplicate_ids"] = len(digests) // 16 - unique
    result = word_prf(outs, golds)
    result.update(
        docs_missing=counts["docs_missing"], bad_rows=counts["bad_rows"],
        bad_rows_by_reason={k.removeprefix("bad_row:"): n for k, n in sorted(counts.items())
                            if k.startswith("bad_row:")},
        # a scored document the refined rows hold without text: dropped by the refiner
        docs_dropped=result["docs"] - result["docs_kept"] - counts["docs_missing"],
        gold_rows_without_gold=counts["gold_rows_without_gold"],
        gold_rows_without_id=counts["gold_rows_without_id"],
        refined_without_gold=unique - (len(found) - counts["docs_missing"]) - len(textless_found),
        refined_without_id=counts["refined_without_id"],
        refined_duplicate_ids=counts["refined_duplicate_ids"],
        gold_duplicate_ids=counts["gold_duplicate_ids"],
        input_notices={k.removeprefix("notice:"): n for k, n in sorted(counts.items())
                       if k.startswith("notice:")},
    )  # fmt: skip
    if group_field:
        result["by_group"] = {
            k: {m: v[m] for m in ("precision", "recall", "f1", "docs", "docs_kept")}
            for k, v in word_prf_per_group(outs, golds, groups).items()
            if k != "all"
        }
    return result


def page_id(value) -> str | None:
    """``value`` as the id the readers give the record
    (:func:`~prox_tasks.corpus.document.id_text`: a gold file's ``12345.0`` is the refined
    ``12345``), None where it gives none."""
    from prox_tasks.corpus.document import RecordError, id_text

    try:
        return id_text(value)
    except RecordError:
        return None
