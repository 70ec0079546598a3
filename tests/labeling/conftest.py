import gzip
import json
from pathlib import Path

import pytest

from tests.storage.conftest import moto_server, s3_bucket  # noqa: F401  (fixtures: --warc on S3)

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "sample.jsonl.gz"


@pytest.fixture(scope="session")
def sample_rows() -> list[dict]:
    """The project's bundled sample: real pages from the shared collection (see its README)."""
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


@pytest.fixture(scope="session")
def wcxb_rows(sample_rows) -> list[dict]:
    """Pages with human-reviewed gold main content and a page type."""
    return [r for r in sample_rows if r["source"] == "wcxb"]
