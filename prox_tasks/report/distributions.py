"""What refining did to a snapshot's documents: per-document distributions and top edits.

Read from the refined shards (each row's execution statistics and programs) and, for the
removed lines, from the input documents aligned with their refined text. Up to ``max_docs``
documents are read, shard after shard; the result says how many were.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

RATIO_BINS = 20  # kept-token ratio bins over [0, 1]; a ratio above 1 counts in the last
#: Lower bounds of the removed-lines bins: exact counts up to 4, then wider (the counts of
#: real web pages run from 0 to thousands; a column per distinct count made hundreds of
#: columns whose labels overlapped).
REMOVED_BINS = (0, 1, 2, 3, 4, 5, 10, 20, 50, 100, 200, 500, 1000)


def removed_lines_bins(counts: dict[int, int]) -> list[list]:
    """``{lines removed: documents}`` as ``[label, documents]`` per bin of
    :data:`REMOVED_BINS`, in order, from 0 up to the bin of the largest count."""
    if not counts:
        return []
    top = max(counts)
    out = []
    for i, low in enumerate(REMOVED_BINS):
        if low > top:
            break
        high = REMOVED_BINS[i + 1] - 1 if i + 1 < len(REMOVED_BINS) else None
        label = str(low) if high == low else f"{low}+" if high is None else f"{low}–{high}"
        out.append([label, sum(n for lines, n in counts.items()
                               if lines >= low and (high is None or lines <= high))])
    return out


@dataclass
class Distributions:
    """Per-document distributions of one snapshot.

    Attributes:
        docs_read: Documents the figures cover.
        docs_total: Documents written in the snapshot (kept plus dropped).
        kept_token_ratio: Kept documents per kept-token-ratio bin (``[low, high, count]``).
        removed_lines: Kept documents per bin of removed lines (``[label, count]`` in order:
            :func:`removed_lines_bins`).
        drop_reasons: Dropped documents per reason.
        removed_lines_top: The removed lines found in the most documents
            (``[line, documents]``; a line removed twice from one document counts once).
        normalizations_top: The normalizations in the most documents' programs
            (``[source, target, documents]``).
        unreadable: Shards whose file could not be read to its end (index -> why); the
            figures hold what was read of them.
        written: Shards whose refined file is published (its status file is there): the
            ones the document viewer can show.
    """

    docs_read: int = 0
    docs_total: int = 0
    kept_token_ratio: list = field(default_factory=list)
    removed_lines: list = field(default_factory=list)
    drop_reasons: dict = field(default_factory=dict)
    removed_lines_top: list = field(default_factory=list)
    normalizations_top: list = field(default_factory=list)
    unreadable: dict = field(default_factory=dict)
    written: frozenset = frozenset()


def _normalizations(chunk_program: str | None) -> list[tuple[str, str]]:
    from prox_tasks.programs import Normalize, parse

    if not chunk_program:
        return []
    return [(c.source_str, c.target_str) for c in parse(chunk_program, "chunk").calls
            if isinstance(c, Normalize)]


def snapshot_distributions(output_uri: str, docs_total: int = 0, max_docs: int = 20000,
                           top: int = 15) -> Distributions:
    """Distributions over the first ``max_docs`` documents of the snapshot at ``output_uri``."""
    from prox_tasks.corpus.manifest import shard_uri
    from prox_tasks.report.documents import align_lines, readable_rows
    from prox_tasks.report.inputs import InputsInOrder, ShardInputs
    from prox_tasks.report.roots import NotServed, served_manifest, snapshot_file
    from prox_tasks.storage import exists

    manifest = served_manifest(output_uri)
    in_order = InputsInOrder(manifest)  # each input file read once, not once per shard
    ratios, removed, reasons = Counter(), Counter(), Counter()
    lines_top, norms_top = Counter(), Counter()
    read, unreadable = 0, {}
    for plan in manifest.shards:
        uri = shard_uri(output_uri, plan.index)
        if read >= max_docs or not exists(uri):
            continue
        try:  # the one check of what the report reads: not a shard linked out of the folder
            snapshot_file(uri, output_uri)
        except FileNotFoundError as err:  # NotServed, or gone since
            if isinstance(err, NotServed):
                unreadable[plan.index] = str(err)
            continue
        # read beside the rows, up to max_docs
        with ShardInputs(manifest, plan.index, in_order.of(plan.index)) as inputs:
            if inputs.notice:
                log.warning("removed-line counts of %s skip shard %d: %s", output_uri,
                            plan.index, inputs.notice)
            for row in readable_rows(uri, plan.index, unreadable):
                if read >= max_docs:
                    break
                read += 1
                stats = row["stats"] or {}
                if row["dropped"]:
                    reasons[stats.get("drop_reason") or "unknown"] += 1
                    continue
                words_in = stats.get("words_in") or 0
                ratio = (stats.get("words_out") or 0) / words_in if words_in else 1.0
                ratios[min(int(ratio * RATIO_BINS), RATIO_BINS - 1)] += 1
                removed[int(stats.get("lines_removed") or 0)] += 1
                applied = stats.get("normalizations_applied") or 0
                if applied:  # documents, as lines below: once each, however often in it
                    norms_top.update(set(_normalizations(row["chunk_program"])))
                if not stats.get("lines_removed"):
                    continue
                text_in = inputs.text(row["source"], row["offset"])
                if text_in is not None:
                    # a line removed three times from one page ("}") is one document
                    lines_top.update({line.before[0][0].strip() for line in
                                      align_lines(text_in, row["text"])
                                      if line.status == "removed" and line.before[0][0].strip()})
    return Distributions(
        docs_read=read, docs_total=docs_total or read,
        kept_token_ratio=[[i / RATIO_BINS, (i + 1) / RATIO_BINS, ratios[i]]
                          for i in range(RATIO_BINS)],
        removed_lines=removed_lines_bins(removed),
        drop_reasons=dict(reasons.most_common()),
        removed_lines_top=[[line, n] for line, n in lines_top.most_common(top)],
        normalizations_top=[[s, t, n] for (s, t), n in norms_top.most_common(top)],
        unreadable=unreadable,
    )


def cached_distributions(output_uri: str, shards: int, docs_total: int = 0) -> Distributions:
    """:func:`snapshot_distributions`, computed again only when the manifest or a shard's
    status file changed (a shard refined again rewrites its status last). The status files'
    versions come from one listing of their folder (on S3 a LIST per 1,000 shards, not a
    HEAD per shard on every page view)."""
    from dataclasses import replace

    from prox_tasks.corpus.manifest import MANIFEST_NAME
    from prox_tasks.report.cache import CACHE
    from prox_tasks.storage import join_uri, version_of

    listed = status_versions(output_uri)
    versions = (version_of(join_uri(output_uri, MANIFEST_NAME)), docs_total, shards,
                tuple(sorted(listed.items())))
    written = written_shards(listed, shards)
    return CACHE.get(("distributions", output_uri), versions,
                     lambda: replace(snapshot_distributions(output_uri, docs_total),
                                     written=written))


def status_versions(output_uri: str) -> dict:
    """The versions of the status files of the snapshot at ``output_uri`` (its ``_status``
    folder, one listing: on S3 a LIST per 1,000 shards, not a HEAD per shard)."""
    from prox_tasks.corpus.manifest import status_uri
    from prox_tasks.storage import versions_in

    return versions_in(status_uri(output_uri, 0).rsplit("/", 1)[0])


def written_shards(listed: dict, shards: int) -> frozenset:
    """The shards among ``0..shards-1`` whose status file is in ``listed``
    (:func:`status_versions`): a shard's status is written last, so those are published."""
    from prox_tasks.corpus.manifest import shard_name

    names = {uri.rsplit("/", 1)[-1] for uri in listed}
    return frozenset(i for i in range(shards) if f"{shard_name(i)}.json" in names)
