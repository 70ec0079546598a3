"""What every refiner artifact folder may hold beside its weights."""

from __future__ import annotations

import json
from pathlib import Path


def artifact_version(path: Path, settings: dict) -> str:
    """The version of the artifact in ``path``: the registry's (``artifact.json``), else the
    one in ``refiner.json``, else the folder name."""
    record = Path(path) / "artifact.json"
    if record.exists():
        try:
            return str(json.loads(record.read_text())["version"])
        except (ValueError, KeyError):
            pass
    return str(settings.get("version") or Path(path).name)
