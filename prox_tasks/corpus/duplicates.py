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

Memory: 40 bytes per document (a 128-bit digest of the id, where it was read and its line
count), whatever the ids look like, and 16 more while the repeated ones are looked for;
documents are streamed with the shard readers.
"""

from __future__ import annotations

import hashlib
import json
import logging
from array import array
from collections import Counter
from dataclasses import dataclass

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


def id_digest(doc_id: str) -> bytes:
    """The 128-bit digest ids are compared by (here, and in the quality gate)."""
    return hashlib.blake2b(doc_id.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def index_duplicates(manifest: Manifest) -> dict:
    """Read every document of the planned snapshot once and write its duplicate-id list
    (nothing to do when the list of this manifest exists). Bad records are skipped here;
    the refine step quarantines them.

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
    digests = bytearray()
    shards, source_ids, offsets, lines = array("i"), array("i"), array("q"), array("q")
    sources: dict[str, int] = {}
    for shard, doc in read_snapshot(manifest, Quarantine()):
        digests += id_digest(doc.id)
        shards.append(shard)
        source_ids.append(sources.setdefault(doc.source, len(sources)))
        offsets.append(doc.offset)
        lines.append(doc.text.count("\n") + 1)
    names = list(sources)
    by_shard: dict[int, list] = {}
    first: dict[bytes, int] = {}
    fewest: dict[bytes, int] = {}  # the fewest lines of the group's occurrences so far
    repeated = repeat_candidates(digests)
    counts = Counter(bytes(digests[16 * p:16 * p + 16]) for p in repeated)
    for position in repeated:  # read order
        key = bytes(digests[16 * position:16 * position + 16])
        if counts[key] < 2:  # its first 8 bytes alone repeat another id's
            continue
        head = first.setdefault(key, position)
        by_shard.setdefault(shards[position], []).append(
            [names[source_ids[position]], offsets[position], shards[head],
             names[source_ids[head]], offsets[head], head == position,
             counts[key], fewest.get(key)])  # fmt: skip
        fewest[key] = min(fewest.get(key, lines[position]), lines[position])
    groups = len(first)
    for shard, rows in by_shard.items():
        put_atomic(_uri(manifest.output_uri, f"shard-{shard:05d}.json"),
                   json.dumps({"manifest": manifest.id, "shard": shard, "occurrences": rows}))
    index = {"manifest": manifest.id, "documents": len(shards), "duplicate_ids": groups,
             "occurrences": sum(len(r) for r in by_shard.values()),
             "shards": sorted(by_shard)}
    put_atomic(_uri(manifest.output_uri, "index.json"), json.dumps(index, sort_keys=True))
    if groups:
        log.info("snapshot %s: %d ids occur more than once (%d documents, in %d shards)",
                    manifest.output_uri, groups, index["occurrences"], len(by_shard))
    return index


def repeat_candidates(digests: bytearray) -> list[int]:
    """The positions (in read order) of the 16-byte digests in ``digests`` whose first 8
    bytes occur more than once: every repeated id's, and rarely another whose prefix
    collides (the caller compares whole digests; here, and the quality gate's
    ``IdDigests``). Memory: 16 bytes a document beside
    the digests (a sorted copy of the prefixes, then their rank among the repeated
    ones); ``numpy.unique`` over the whole digests, which this replaced, took ~110 (its
    sorted copy, permutation, inverse and counts)."""
    import numpy as np

    if not digests:
        return []
    prefixes = np.frombuffer(digests, dtype=np.uint64)[::2]  # a view: no copy
    ordered = np.sort(prefixes)
    repeats = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    del ordered
    if not len(repeats):
        return []
    rank = np.searchsorted(repeats, prefixes)
    rank[rank == len(repeats)] = 0
    return np.flatnonzero(repeats[rank] == prefixes).tolist()


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
