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


def test_a_snapshot_file_is_served_only_when_it_is_a_regular_file_inside_the_snapshot(tmp_path):
    """One implementation of the report's real-path check (the plugin had its own copy):
    a file of the snapshot is served; a symlink leading out of it, a ``..`` path, a file
    beside the snapshot, a FIFO (it would hang the request) and a missing file are not."""
    import os

    from prox_tasks.report.roots import served_file

    snap = tmp_path / "corpus" / "snap"
    (snap / "gate" / "docs").mkdir(parents=True)
    (snap / "manifest.json").write_text("{}")
    (snap / "gate" / "docs" / "index.html").write_text("<html>")
    secret = tmp_path / "corpus" / "snap-2" / "secret.json"
    secret.parent.mkdir()
    secret.write_text("{}")
    (snap / "gate" / "docs" / "out.json").symlink_to(secret)  # leads to a sibling snapshot
    (snap / "gate" / "docs" / "in.json").symlink_to(snap / "manifest.json")
    os.mkfifo(snap / "gate" / "docs" / "fifo")
    docs = f"{snap}/gate/docs"
    assert served_file(f"{docs}/index.html", str(snap))
    assert served_file((snap / "gate" / "docs" / "index.html").as_uri(), f"{snap}/")
    assert served_file(f"{docs}/in.json", str(snap))  # a link that stays inside
    for refused in (
        f"{docs}/out.json",
        f"{docs}/../../manifest.json",
        f"{docs}/fifo",
        f"{docs}/missing.html",
        str(secret),
        f"{snap}-2/secret.json",
        "http://h/x",
    ):
        assert not served_file(refused, str(snap)), refused
    (tmp_path / "linked").symlink_to(tmp_path / "corpus")  # the snapshot named through a link
    assert served_file(f"{docs}/index.html", str(tmp_path / "linked" / "snap"))


@pytest.mark.parametrize(
    ("uri", "served"),
    [
        ("s3://b/corpus/snap/gate/docs/index.html", True),
        (
            "s3://b/corpus/snap/gate/docs/../../../snap-2/secret.json",
            False,
        ),  # keys are not resolved
        ("s3://b/corpus/snap-2/secret.json", False),
        ("s3://other/corpus/snap/gate.json", False),
    ],
)
def test_an_s3_snapshot_file_is_served_only_below_its_prefix(uri, served):
    from prox_tasks.report.roots import served_file

    assert served_file(uri, "s3://b/corpus/snap") is served
