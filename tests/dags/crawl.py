"""Small real crawls for the DAG tests: documents from the bundled sample, laid out by date."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from tests.dags.airflow_env import REPO


def sample_rows(n: int, start: int = 0) -> list[dict]:
    with gzip.open(REPO / "data" / "sample" / "sample.jsonl.gz", "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for _, line in zip(range(start + n), f)]
    return [{"id": r["id"], "text": r["text"], "url": r.get("url")} for r in rows[start:]]


def write_jsonl(path: Path, rows: list[dict], garbage: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        for i in range(garbage):
            f.write(f'{{"id": "broken-{i}", "text": "cut off\n')
    return path


def daily_crawl(root: Path, days: list[str], per_day: int = 12) -> Path:
    """``root/<day>/part-0.jsonl`` for each day, different documents each day."""
    for i, day in enumerate(days):
        write_jsonl(root / day / "part-0.jsonl", sample_rows(per_day, start=i * per_day))
    return root


def repeated_rows(n: int) -> list[dict]:
    """``n`` documents: the bundled sample over and over, each copy with new ids
    (``<id>~<copy>``), for corpora larger than the sample."""
    sample = sample_rows(300)
    return [{**sample[i % len(sample)], "id": f"{sample[i % len(sample)]['id']}~{i // len(sample)}"}
            for i in range(n)]
