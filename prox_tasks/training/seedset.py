"""Reading a labeled seed set and splitting it deterministically.

A seed set URI may name:

- a manifest JSON (or a folder holding ``manifest.json``) whose ``splits`` (or top-level
  ``train`` / ``validation`` keys) name the JSONL(.gz/.zst) files of each split, relative to
  the manifest or absolute; its ``version`` (or ``name``) is the seed-set version;
- a folder of JSONL files: files whose name contains ``valid`` form the validation split;
- a single JSONL file.

Without an explicit validation split, documents are split by a hash of their ``id``
(``valid_percent`` of them to validation): the same document always lands on the same side,
whatever the order or the other documents. The version is then the SHA-256 of the files.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from prox_tasks.storage import exists, join_uri, list_uri, open_uri, read_bytes

DATA_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".json.gz")


@dataclass
class SeedSet:
    """Labeled documents split for training.

    Attributes:
        uri: Where it was read from.
        version: Seed-set version (manifest's, or a content hash).
        train: Training documents.
        validation: Validation documents.
        skipped: Malformed lines or rows without text/programs, as ``(file, line, why)``.
    """

    uri: str
    version: str
    train: list[dict]
    validation: list[dict]
    skipped: list[tuple[str, int, str]] = field(default_factory=list)

    def describe(self) -> dict:
        return {"uri": self.uri, "version": self.version, "train_docs": len(self.train),
                "validation_docs": len(self.validation), "skipped": len(self.skipped)}


def id_bucket(doc_id: str, salt: str = "prox-split") -> int:
    """A stable bucket 0..99 of a document id."""
    return int(hashlib.sha256(f"{salt}:{doc_id}".encode()).hexdigest()[:8], 16) % 100


def split_by_id(docs: list[dict], valid_percent: int, salt: str = "prox-split"):
    """(train, validation): documents whose id bucket is below ``valid_percent`` validate."""
    train, valid = [], []
    for doc in docs:
        (valid if id_bucket(str(doc.get("id")), salt) < valid_percent else train).append(doc)
    return train, valid


def read_rows(uri: str, skipped: list) -> list[dict]:
    """Labeled rows of one JSONL file; malformed ones are recorded in ``skipped``."""
    rows = []
    with open_uri(uri, "rb", compression="infer") as fh:
        for number, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                skipped.append((uri, number, f"bad JSON: {err}"))
                continue
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                skipped.append((uri, number, "no text"))
            elif not row.get("doc_program") and not row.get("chunk_program"):
                skipped.append((uri, number, "no program"))
            else:
                row.setdefault("id", hashlib.sha256(row["text"].encode()).hexdigest()[:16])
                rows.append(row)
    return rows


def _manifest_splits(manifest: dict) -> dict[str, list[str]]:
    splits = manifest.get("splits", manifest)
    out: dict[str, list[str]] = {}
    for name, value in splits.items():
        kind = "validation" if "valid" in name else "train" if "train" in name else None
        if kind is None:
            continue
        if isinstance(value, dict):
            value = value.get("uri") or value.get("path") or value.get("files")
        out.setdefault(kind, []).extend([value] if isinstance(value, str) else list(value or []))
    return out


def load_seed_set(uri: str, valid_percent: int = 10) -> SeedSet:
    """Read the seed set at ``uri`` (see module docs)."""
    skipped: list = []
    manifest_uri = uri if uri.endswith(".json") else join_uri(uri, "manifest.json")
    if exists(manifest_uri) and not uri.endswith(DATA_SUFFIXES):
        raw = read_bytes(manifest_uri)
        manifest = json.loads(raw)
        base = manifest_uri.rsplit("/", 1)[0]
        files = _manifest_splits(manifest)
        version = str(manifest.get("version") or manifest.get("name")
                      or hashlib.sha256(raw).hexdigest()[:12])

        def resolve(name: str) -> str:
            return name if "://" in name or name.startswith("/") else join_uri(base, name)

        train = [r for f in files.get("train", []) for r in read_rows(resolve(f), skipped)]
        valid = [r for f in files.get("validation", []) for r in read_rows(resolve(f), skipped)]
        if not valid:
            train, valid = split_by_id(train, valid_percent)
        return SeedSet(uri, version, train, valid, skipped)
    files = [f for f in list_uri(uri) if f.endswith(DATA_SUFFIXES)]
    if not files:
        raise FileNotFoundError(f"no seed set (manifest or JSONL files) at {uri}")
    digest = hashlib.sha256()
    train, valid = [], []
    for f in files:
        digest.update(f.rsplit("/", 1)[-1].encode() + read_bytes(f))
        (valid if "valid" in f.rsplit("/", 1)[-1] else train).extend(read_rows(f, skipped))
    if not valid:
        train, valid = split_by_id(train, valid_percent)
    return SeedSet(uri, digest.hexdigest()[:12], train, valid, skipped)
