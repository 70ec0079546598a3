"""The snapshot's duplicate ids, found once at planning so every shard applies one policy.

A document id that occurs more than once in a snapshot — in one shard or in several — is
listed with every occurrence in read order (shard order, then row order: the order an
uninterrupted read of the whole snapshot meets them). The refine step of each shard reads
its part of the list and applies the ``duplicate_ids`` policy
(:func:`prox_tasks.refine.limits.admitted`): the same input always gives the same list, so
a retried or resumed shard quarantines the same documents.

Stored beside the manifest, in ``_duplicate_ids/``: ``shard-NNNNN.json`` for each shard
that holds an occurrence, then ``index.json`` (the manifest id, the counts, the shards
with occurrences) written last, so a present index means a complete list.

Memory: bounded, whatever the snapshot's size: 48 bytes a document (a 128-bit digest of the
id, where it was read and its line count) are held up to ``PROX_ID_SEARCH_MB`` (512 MiB), then
spilled to disk and the repeats found bucket by bucket
(:class:`~prox_tasks.corpus.id_search.IdSearch`, the quality gate's search too); documents
are streamed with the shard readers.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass

from prox_tasks.corpus.id_search import IdSearch, id_digest
from prox_tasks.corpus.manifest import Manifest
from prox_tasks.corpus.quarantine import Quarantine
from prox_tasks.storage import join_uri, put_atomic, read_bytes, read_json

log = logging.getLogger(__name__)
FOLDER = "_duplicate_ids"


@dataclass(frozen=True)
class Occurrence:
    """One occurrence of a duplicated id: where the snapshot first read that id, whether
    this is that first occurrence, and how many times the id occurs in the snapshot."""

    first_shard: int
    first_source: str
    first_offset: int
    is_first: bool
    count: int
    #: The fewest lines among the id's earlier occurrences (None: the first, or an index
    #: written before lines were counted): when all of them are over the line limit, the
    #: refine step quarantines them, and this occurrence is the first one kept.
    fewest_earlier_lines: int | None = None

    def first_within(self, max_doc_lines: int) -> bool:
        """Whether this is the first occurrence a refine under ``max_doc_lines`` keeps."""
        return self.is_first or (self.fewest_earlier_lines is not None
                                 and self.fewest_earlier_lines > max_doc_lines)

    def where_first(self) -> str:
        return f"{self.first_source} record {self.first_offset} (shard {self.first_shard})"


def _uri(output_uri: str, name: str) -> str:
    return join_uri(output_uri, FOLDER, name)


def index_duplicates(manifest: Manifest, budget: int | None = None) -> dict:
    """Read every document of the planned snapshot once and write its duplicate-id list
    (nothing to do when the list of this manifest exists). Bad records are skipped here;
    the refine step quarantines them.

    Args:
        manifest: The plan.
        budget: Bytes held in memory before the search spills to disk (None: the setting,
            :func:`~prox_tasks.pipeline.settings.id_search_bytes`).

    Returns:
        The index: ``manifest``, ``documents``, ``duplicate_ids`` (ids occurring more than
        once), ``occurrences``, ``shards`` (those holding an occurrence).
    """
    from prox_tasks.corpus.manifest import ManifestPart
    from prox_tasks.corpus.planner import read_snapshot

    done = _load_index(manifest)
    if done is not None:
        return done
    if isinstance(manifest, ManifestPart):  # the list is of every shard's documents
        manifest = manifest.whole()
    with IdSearch(4, budget) as search:  # shard, source, offset, lines
        sources: dict[str, int] = {}
        for shard, doc in read_snapshot(manifest, Quarantine()):
            search.add(id_digest(doc.id), shard, sources.setdefault(doc.source, len(sources)),
                       doc.offset, doc.text.count("\n") + 1)
        documents = len(search)
        repeated = search.repeats()  # read order
        read = dict(zip((p for p, _ in repeated),
                        search.values([p for p, _ in repeated]), strict=True))
    names = list(sources)
    by_shard: dict[int, list] = {}
    first: dict[bytes, int] = {}
    fewest: dict[bytes, int] = {}  # the fewest lines of the group's occurrences so far
    counts = Counter(key for _, key in repeated)
    for position, key in repeated:
        shard, source, offset, lines = read[position]
        head = read[first.setdefault(key, position)]
        by_shard.setdefault(shard, []).append(
            [names[source], offset, head[0], names[head[1]], head[2],
             first[key] == position, counts[key], fewest.get(key)])  # fmt: skip
        fewest[key] = min(fewest.get(key, lines), lines)
    groups = len(first)
    for shard, rows in by_shard.items():
        put_atomic(_uri(manifest.output_uri, f"shard-{shard:05d}.json"),
                   json.dumps({"manifest": manifest.id, "shard": shard, "occurrences": rows}))
    index = {"manifest": manifest.id, "documents": documents, "duplicate_ids": groups,
             "occurrences": sum(len(r) for r in by_shard.values()),
             "shards": sorted(by_shard)}
    put_atomic(_uri(manifest.output_uri, "index.json"), json.dumps(index, sort_keys=True))
    if groups:
        log.info("snapshot %s: %d ids occur more than once (%d documents, in %d shards)",
                    manifest.output_uri, groups, index["occurrences"], len(by_shard))
    return index


def _load_index(manifest: Manifest) -> dict | None:
    index = read_json(_uri(manifest.output_uri, "index.json"))
    return index if index is not None and index.get("manifest") == manifest.id else None


def shard_duplicates(manifest: Manifest, shard_index: int) -> dict[tuple[str, int], Occurrence]:
    """The occurrences of duplicated ids in one shard, by (source, offset); the list is
    built first when this manifest has none yet (a plan from before it existed)."""
    index = index_duplicates(manifest)
    if shard_index not in index["shards"]:
        return {}
    part = json.loads(read_bytes(_uri(manifest.output_uri, f"shard-{shard_index:05d}.json")))
    return {(row[0], row[1]): Occurrence(*row[2:]) for row in part["occurrences"]}
