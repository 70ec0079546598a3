"""Task bodies of ``prox_seed_label``: sample → label shards (mapped) → validate → split →
register. The seed set lands in ``<seed_root>/<name>/`` as ``train.jsonl``,
``validation.jsonl`` and ``manifest.json`` (the format :func:`prox_tasks.training.seedset.
load_seed_set` reads); rejected labels go to ``rejected.jsonl``."""

from __future__ import annotations

import hashlib
import heapq
import json
import logging

from prox_tasks.pipeline import settings
from prox_tasks.storage import exists, join_uri, open_uri, to_uri

log = logging.getLogger(__name__)


def _rank(doc_id: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{doc_id}".encode()).hexdigest()


def _write_jsonl(uri: str, rows) -> int:
    count = 0
    with open_uri(uri, "wb", compression="infer") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n")
            count += 1
    return count


def _read_jsonl(uri: str):
    with open_uri(uri, "rt", compression="infer") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def sample(params: dict, ds: str | None, run_id: str | None = None) -> dict:
    """Pick ``sample_size`` documents deterministically (smallest hashes of ``seed:id``),
    write them and plan label shards of ``label_shard_docs``. Returns the seed-set plan."""
    from prox_tasks.corpus import Quarantine, plan_shards, read_documents

    input_uri = settings.render_partition(params.get("input_uri") or settings.sample_uri(), ds)
    name = params.get("seed_set_name") or f"seed-{params['teacher']}-{_rank(input_uri, 0)[:8]}"
    root = to_uri(join_uri(params.get("seed_root") or settings.seed_root(), name))
    size, seed = int(params["sample_size"]), int(params["random_seed"])
    quarantine = Quarantine()
    picked: list = []  # a max-heap of the smallest ranks, as (negated rank, doc)
    for number, doc in enumerate(read_documents(input_uri, quarantine=quarantine)):
        key = _rank(doc.id, seed)
        item = (tuple(-b for b in bytes.fromhex(key)), doc.id, -number, doc)
        if len(picked) < size:
            heapq.heappush(picked, item)
        elif item > picked[0]:
            heapq.heapreplace(picked, item)
    docs = sorted((entry[3] for entry in picked), key=lambda d: (_rank(d.id, seed), d.offset))
    sample_uri = join_uri(root, "sample.jsonl")
    _write_jsonl(sample_uri, ({"id": d.id, "text": d.text, **{k: v for k, v in d.meta.items()
                                                               if k == "gold_text"}}
                              for d in docs))
    manifest = plan_shards(sample_uri, join_uri(root, "label"),
                           target_docs=int(params["label_shard_docs"]), overwrite=True)
    log.info("seed set %s: sampled %d of the input (%d unreadable)", name, len(docs),
             len(quarantine))
    return {"name": name, "root": root, "input_uri": to_uri(input_uri), "teacher": params["teacher"],
            "sampled": len(docs), "quarantined": len(quarantine),
            "shards": [s.index for s in manifest.shards],
            "catalog_url": settings.catalog_url(params.get("catalog_url"))}


def label_part_uri(root: str, index: int) -> str:
    return join_uri(root, "labels", f"part-{index:05d}.jsonl")


def label_shard(plan: dict, index: int, teacher_options: dict | None = None) -> dict:
    """Label one shard of the sample with the teacher; a labeled part is reused."""
    from prox_tasks.corpus import read_shard
    from prox_tasks.labeling import get_teacher

    target = label_part_uri(plan["root"], index)
    if exists(target):
        return {"index": index, "uri": target, "docs": sum(1 for _ in _read_jsonl(target)),
                "reused": True}
    teacher = get_teacher(plan["teacher"], **(teacher_options or {}))
    rows = []
    for doc in read_shard(join_uri(plan["root"], "label"), index):
        label = teacher.label(doc.text, doc.meta.get("gold_text"))
        rows.append({"id": doc.id, "text": doc.text, "doc_program": label.doc_program,
                     "chunk_program": label.chunk_program, "teacher": plan["teacher"],
                     "teacher_meta": label.meta})
    _write_jsonl(target, rows)
    return {"index": index, "uri": target, "docs": len(rows), "reused": False}


def validate(plan: dict, parts: list[dict], max_invalid_rate: float) -> dict:
    """Check every label (:func:`prox_tasks.labeling.validate.validate_label`: programs
    parse, execute cleanly and make sense as a pair); rejected rows go to
    ``rejected.jsonl`` with their reasons. Fails when too many are rejected."""
    from collections import Counter

    from prox_tasks.labeling.base import Label
    from prox_tasks.labeling.validate import validate_label

    good, bad, reasons = [], [], Counter()
    for part in sorted(parts, key=lambda p: p["index"]):
        for row in _read_jsonl(part["uri"]):
            label = Label(row.get("doc_program") or "", row.get("chunk_program") or "",
                          row.get("teacher_meta") or {})
            rejected = validate_label(row["text"], label)
            reasons.update(rejected)
            if rejected:
                bad.append({"id": row["id"], "reasons": rejected,
                            "doc_program": row.get("doc_program"),
                            "chunk_program": row.get("chunk_program")})
            else:
                good.append(row)
    total = len(good) + len(bad)
    rate = len(bad) / total if total else 1.0
    _write_jsonl(join_uri(plan["root"], "valid_labels.jsonl"), good)
    _write_jsonl(join_uri(plan["root"], "rejected.jsonl"), bad)
    if not good or rate > max_invalid_rate:
        raise ValueError(f"seed set {plan['name']}: {len(bad)} of {total} labels invalid "
                         f"({rate:.1%} > {max_invalid_rate:.1%}): {dict(reasons)}")
    return {"valid": len(good), "rejected": len(bad), "invalid_rate": round(rate, 6),
            "rejected_reasons": dict(reasons)}


def split(plan: dict, checked: dict, valid_percent: int) -> dict:
    """Split the valid labels by a hash of their id; write the files and the manifest."""
    from prox_tasks.training.seedset import split_by_id

    rows = list(_read_jsonl(join_uri(plan["root"], "valid_labels.jsonl")))
    train, valid = split_by_id(rows, valid_percent)
    if not train or not valid:
        raise ValueError(f"seed set {plan['name']}: split left train={len(train)}, "
                         f"validation={len(valid)}; sample more documents")
    digest = hashlib.sha256()
    for name, part in (("train.jsonl", train), ("validation.jsonl", valid)):
        _write_jsonl(join_uri(plan["root"], name), part)
        digest.update(json.dumps([r["id"] for r in part]).encode())
        digest.update(json.dumps([[r["doc_program"], r["chunk_program"]] for r in part]).encode())
    version = f"{plan['name']}-{digest.hexdigest()[:12]}"
    manifest = {"name": plan["name"], "version": version, "teacher": plan["teacher"],
                "input_uri": plan["input_uri"],
                "splits": {"train": "train.jsonl", "validation": "validation.jsonl"},
                "counts": {"sampled": plan["sampled"], "train": len(train),
                           "validation": len(valid), **checked}}
    uri = join_uri(plan["root"], "manifest.json")
    with open_uri(uri, "wt") as f:
        f.write(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return {"uri": uri, "version": version, "counts": manifest["counts"]}


def register(plan: dict, seed_set: dict) -> dict:
    """Record the seed set in the catalog; returns what the Asset event carries."""
    from prox_tasks.pipeline.refresh import open_catalog

    with open_catalog(plan["catalog_url"]) as catalog:
        catalog.register_seed_set(seed_set["version"], plan["teacher"], seed_set["uri"],
                                  num_docs=seed_set["counts"]["train"]
                                  + seed_set["counts"]["validation"], stats=seed_set["counts"])
    return {"uri": seed_set["uri"], "version": seed_set["version"], "teacher": plan["teacher"]}
