"""Fixtures: real documents from the bundled sample, the real WET file, a moto S3 server."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tests.storage.conftest import count_gets, moto_server, s3_bucket, s3_calls  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "sample" / "sample.jsonl.gz"
WET = Path(__file__).resolve().parent / "data" / "whirlwind.warc.wet.gz"


@pytest.fixture(scope="session")
def sample_rows() -> list[dict]:
    """The first 40 rows of the bundled sample (real web documents)."""
    rows = []
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as f:
        for line in f:
            rows.append(json.loads(line))
            if len(rows) == 40:
                break
    return rows


@pytest.fixture
def wet_file() -> str:
    return str(WET)


def write_jsonl(path: Path, rows, compress: bool = False) -> str:
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
    return str(path)


def wet_bytes(docs: list[str], compress: bool = True) -> bytes:
    """A WET file of one ``conversion`` record a text of ``docs`` (one gzip member each)."""
    import io

    from warcio.warcwriter import WARCWriter

    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=compress)
    for i, text in enumerate(docs):
        record = writer.create_warc_record(f"https://example.org/{i}", "conversion",
                                           payload=io.BytesIO(text.encode()),
                                           warc_content_type="text/plain")  # fmt: skip
        writer.write_record(record)
    return buffer.getvalue()


def refine_rows(docs, model_version="m-test"):
    """Rows a refining step would produce: every third document dropped."""
    for doc in docs:
        dropped = int(doc.id.encode().hex(), 16) % 3 == 0 if doc.id else False
        yield {
            "id": doc.id,
            "text": None if dropped else doc.text.upper(),
            "doc_program": "drop_doc()" if dropped else "keep_doc()",
            "chunk_program": None if dropped else "remove_lines(line_start=0, line_end=0)",
            "stats": {"lines_removed": 0 if dropped else 1},
            "source": doc.source,
            "offset": doc.offset,
            "model_version": model_version,
            "meta": doc.meta,
        }
