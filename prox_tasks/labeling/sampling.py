"""Stratified, seeded sampling of a snapshot (the first step of a seed set).

Strata are (group, length bucket): the group is the row's ``source`` field, else the URL's
domain, else the file; length buckets are < 1k, < 5k, < 20k and >= 20k characters. Each
stratum gets its proportional share (largest remainder); within it documents are taken
round-robin over domains, each domain in the order of a seeded hash of the ids, so one site
cannot fill the set and the same seed always picks the same documents.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from urllib.parse import urlparse

from prox_tasks.corpus.quarantine import FirstReads
from prox_tasks.corpus.readers import NoDocuments, no_documents
from prox_tasks.labeling.run import read_input

LENGTH_BUCKETS = (1_000, 5_000, 20_000)  # characters: short, medium, long, very long


def seeded_hash(*parts) -> int:
    """A stable 64-bit hash of the parts (the order documents are sampled and split in)."""
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:8], "big")


def length_bucket(n_chars: int) -> str:
    for i, bound in enumerate(LENGTH_BUCKETS):
        if n_chars < bound:
            return ("short", "medium", "long")[i]
    return "very_long"


def _group_and_domain(doc, group_field: str) -> tuple[str, str]:
    url = doc.meta.get("url")
    domain = urlparse(url).netloc.lower() if isinstance(url, str) and "://" in url else ""
    group = doc.meta.get(group_field)
    group = str(group) if group else (domain or doc.source)
    return group, domain or group


def allocate(sizes: dict, total: int) -> dict:
    """Largest-remainder proportional allocation of ``total`` over strata of ``sizes``."""
    population = sum(sizes.values())
    if population <= total:
        return dict(sizes)
    quotas = {k: total * n / population for k, n in sizes.items()}
    take = {k: int(q) for k, q in quotas.items()}
    rest = total - sum(take.values())
    for k in sorted(quotas, key=lambda k: (-(quotas[k] - take[k]), k))[:rest]:
        take[k] += 1
    return take


def select_ids(entries: list[tuple], sample_size: int, seed: int) -> tuple[set, dict]:
    """Pick ids from ``(id, stratum, domain)`` entries; returns (ids, taken per stratum)."""
    by_stratum: dict = defaultdict(lambda: defaultdict(list))
    for doc_id, stratum, domain in entries:
        by_stratum[stratum][domain].append(doc_id)
    take = allocate({s: sum(map(len, d.values())) for s, d in by_stratum.items()}, sample_size)
    chosen: set = set()
    for stratum, domains in by_stratum.items():
        queues = [sorted(ids, key=lambda i: seeded_hash(seed, i)) for _, ids in
                  sorted(domains.items(), key=lambda kv: seeded_hash(seed, "domain", kv[0]))]  # fmt: skip
        picked, depth = [], 0
        while len(picked) < take[stratum]:
            for queue in queues:
                if depth < len(queue) and len(picked) < take[stratum]:
                    picked.append(queue[depth])
            depth += 1
        chosen.update(picked)
    return chosen, {"/".join(s): n for s, n in sorted(take.items())}


def write_jsonl(uri: str, rows: list[dict]) -> str:
    """Write rows atomically (sorted keys: byte-stable); returns the SHA-256 of the content."""
    from prox_tasks.storage import open_uri

    digest = hashlib.sha256()
    with open_uri(uri, "wb", compression="infer") as out:
        for row in rows:
            # backslashreplace: a lone surrogate in a field becomes its JSON escape
            line = (json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n").encode(
                "utf-8", "backslashreplace")
            digest.update(line)
            out.write(line)
    return digest.hexdigest()


def iter_jsonl(uri: str):
    """Rows of a JSONL(.gz/.zst) file the seed-set steps wrote (a bad line raises
    :class:`prox_tasks.corpus.BadRecordError` naming the file and line: these files are
    ours, so damage is an error, not input to quarantine)."""
    from prox_tasks.corpus import read_rows

    for _source, _line, row in read_rows(uri):
        yield row


def sample_documents(
    input_uri: str,
    output_uri: str,
    sample_size: int,
    seed: int = 0,
    *,
    text_field: str = "text",
    id_field: str = "id",
    group_field: str = "source",
    shards: int = 1,
    shard_docs: int | None = None,
    format: str | None = None,
) -> dict:
    """Stratified sample of ``input_uri`` written as ``shards`` JSONL.gz files (with
    ``shard_docs``: files of about that many documents, at most ``shards`` of them).

    Rows are the input rows with the id under ``id`` and the text under ``text`` (other
    fields kept), in seeded-hash order, dealt round-robin over the shards. ``format``: how
    the input files are read (jsonl, parquet, wet; None: by each file's name). The input's bad
    records (and repeated ids) go to ``<output_uri>/quarantine.jsonl`` with their reasons:
    ``snapshot_docs`` + quarantined = the input's records.

    Returns:
        ``{"files", "sampled", "snapshot_docs", "strata", "input_quarantined",
        "input_quarantine", "text_candidates"}`` (``input_quarantine``: the quarantine
        file's URI; ``text_candidates``: its ``missing_text`` records by the field holding a
        string that could be their text).

    Raises:
        ValueError: For a non-positive ``sample_size`` or an input without documents.
    """
    from prox_tasks.corpus import Quarantine
    from prox_tasks.corpus.readers import sample_shard_name
    from prox_tasks.storage import join_uri

    if sample_size <= 0:
        raise ValueError(f"sample_size must be positive, not {sample_size}")
    quarantine = Quarantine()
    entries, seen = [], FirstReads()
    for doc in read_input(input_uri, text_field, id_field, quarantine, format=format):
        if seen.is_repeat(doc.id, doc.source, doc.offset, quarantine):
            continue
        group, domain = _group_and_domain(doc, group_field)
        entries.append((doc.id, (group, length_bucket(len(doc.text))), domain))
    if not entries:
        if len(quarantine):  # each bad record kept, with its reason
            raise no_documents(input_uri, quarantine, join_uri(output_uri, "quarantine.jsonl"))
        raise NoDocuments(f"no documents in {input_uri}")
    chosen, strata = select_ids(entries, sample_size, seed)
    picked: dict = {}
    # the second pass: the files the first skipped were said then
    for doc in read_input(input_uri, text_field, id_field, Quarantine(), format=format,
                          warn=False):
        if doc.id in chosen and doc.id not in picked:
            picked[doc.id] = {**doc.meta, "id": doc.id, "text": doc.text}
    rows = sorted(picked.values(), key=lambda r: seeded_hash(seed, r["id"]))
    if shard_docs is not None:  # as many shards as the documents drawn need, up to ``shards``
        shards = min(shards, -(-len(rows) // shard_docs))
    shards = max(1, min(shards, len(rows)))
    files = [join_uri(output_uri, sample_shard_name(i)) for i in range(shards)]
    for i, uri in enumerate(files):
        write_jsonl(uri, rows[i::shards])
    quarantine_uri = join_uri(output_uri, "quarantine.jsonl")
    quarantine.write(quarantine_uri)
    return {
        "files": files, "sampled": len(rows), "snapshot_docs": len(entries),
        "strata": strata, "input_quarantined": dict(quarantine.reasons),
        "input_quarantine": quarantine_uri,
        "text_candidates": dict(sorted(quarantine.text_candidates.items())),
    }  # fmt: skip
