"""Write labeled documents as a seed set on disk (manifest + JSONL.gz splits)."""

from __future__ import annotations

import gzip
import json


def write_seed_set(folder, train: list[dict], valid: list[dict], version: str = "test-1",
                   compresslevel: int = 9):
    """``compresslevel``: gzip's (9, its default, takes most of a minute on 50k rows; what
    a reader sees is the same gzip stream format at any level)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, docs in (("train", train), ("validation", valid)):
        with gzip.open(folder / f"{name}.jsonl.gz", "wt", encoding="utf-8",
                       compresslevel=compresslevel) as fh:
            fh.writelines(json.dumps(d) + "\n" for d in docs)
    manifest = {"version": version,
                "splits": {"train": "train.jsonl.gz", "validation": "validation.jsonl.gz"}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder
