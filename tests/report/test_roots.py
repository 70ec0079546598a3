"""Which catalog rows the report reads: folders below its roots, by real path or S3 prefix."""

import pytest

from prox_tasks.report.roots import OutsideRoots, check_output_uri, refusal


@pytest.mark.parametrize(
    ("roots", "uri", "read"),
    [
        ("s3://corpus", "s3://corpus/snapshots/a", True),
        ("s3://corpus/", "s3://corpus/snapshots/a", True),
        ("s3://corpus", "s3://corpus-other/snapshots/a", False),
        ("s3://b/corpus", "s3://b/corpus2/snapshots/a", False),
        ("s3://b/corpus", "s3://b/corpus/snapshots/a", True),
        ("s3://b/corpus", "/b/corpus/snapshots/a", False),
        ("/data/corpus", "s3://data/corpus/snapshots/a", False),
        ("/data/corpus", "file:///data/corpus/snapshots/a", True),
        ("/data/corpus", "/data/corpus2/snapshots/a", False),
        ("/data/corpus", "/data/corpus/../secrets", False),
        ("/data/corpus, s3://corpus", "s3://corpus/a", True),
        ("/data/corpus", "s3://", False),
        ("/data/corpus", "", False),
        ("/data/corpus", None, False),
        ("/data/corpus", "http://host/data/corpus/a", False),
    ],
)
def test_rows_below_the_roots_are_read_and_no_other(monkeypatch, roots, uri, read):
    monkeypatch.setenv("PROX_REPORT_ROOTS", roots)
    assert (refusal(uri) is None) == read
    if not read:
        with pytest.raises(OutsideRoots, match="PROX_REPORT_ROOTS"):
            check_output_uri(uri)


def test_the_corpus_root_by_default(monkeypatch, tmp_path):
    monkeypatch.delenv("PROX_REPORT_ROOTS")
    monkeypatch.setenv("PROX_CORPUS_ROOT", str(tmp_path / "corpus"))
    assert refusal(str(tmp_path / "corpus" / "snapshots" / "a")) is None
    assert "outside the report's roots" in refusal(str(tmp_path / "elsewhere"))
