"""Model artifact folders: their files, their content digest and their version.

A model's version is one string everywhere — output rows, shard status files, the model
registry, the catalog: ``<kind>-<first 12 hex of the sha256 of the folder's files>``
(``kind`` from ``refiner.json``, ``causal_lm`` for a bare Hugging Face folder). The
registry records it in ``artifact.json``; a folder outside the registry gets the version
it will have once published.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

ARTIFACT = "artifact.json"
REFINER_FILE = "refiner.json"
_BLOCK = 1 << 20


def artifact_files(folder: Path) -> list[str]:
    """The artifact's files, relative and sorted: those its ``artifact.json`` lists (a
    published copy may hold notes beside them), else every file but hidden ones."""
    folder = Path(folder)
    record = folder / ARTIFACT
    if record.exists():
        try:
            return sorted(json.loads(record.read_text())["files"])
        except (ValueError, KeyError, TypeError):
            pass
    names = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    return [n for n in names if n != ARTIFACT and not n.startswith(".")]


def artifact_digest(folder: Path) -> tuple[str, list[str]]:
    """(sha256 hex over every file's name and bytes, the files)."""
    folder = Path(folder)
    files = artifact_files(folder)
    digest = hashlib.sha256()
    for name in files:
        digest.update(name.encode() + b"\0")
        with open(folder / name, "rb") as fh:
            while block := fh.read(_BLOCK):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest(), files


def artifact_kind(folder: Path) -> str:
    """``refiner.json``'s kind, else ``causal_lm`` (a bare Hugging Face folder)."""
    settings_file = Path(folder) / REFINER_FILE
    if settings_file.exists():
        return str(json.loads(settings_file.read_text()).get("kind") or "causal_lm")
    return "causal_lm"


def version_string(kind: str, digest: str) -> str:
    return f"{kind}-{digest[:12]}"


def artifact_version(path: Path, settings: dict | None = None) -> str:
    """The version of the artifact in ``path``: the registry's (``artifact.json``), else
    the one it gets when published (``<kind>-<digest>``)."""
    record = Path(path) / ARTIFACT
    if record.exists():
        try:
            return str(json.loads(record.read_text())["version"])
        except (ValueError, KeyError):
            pass
    kind = (settings or {}).get("kind") or artifact_kind(path)
    return version_string(kind, artifact_digest(path)[0])
