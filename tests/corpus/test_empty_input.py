"""An input file holding no records: `prox label` and `prox refine` both fail, naming the
file, and write nothing (a nightly job over an empty delivery must not publish 0 documents)."""

from __future__ import annotations

import gzip

import pytest

from prox_tasks.cli import main


@pytest.mark.parametrize("content", [b"", gzip.compress(b"", mtime=0)],
                         ids=["zero-bytes", "empty-gzip"])
def test_an_empty_wet_file_is_an_error_for_label_and_refine_alike(tmp_path, capsys, content):
    wet = tmp_path / "CC-MAIN-00000.warc.wet.gz"
    wet.write_bytes(content)
    labels, refined = tmp_path / "labels.jsonl", tmp_path / "refined"
    assert main(["label", "--input", str(wet), "--output", str(labels)]) == 1
    label_err = capsys.readouterr().err
    assert main(["refine", "--input", str(wet), "--output", str(refined),
                 "--backend", "tagger"]) == 1  # fmt: skip
    refine_err = capsys.readouterr().err
    for err in (label_err, refine_err):
        assert "the input holds no records" in err and "CC-MAIN-00000.warc.wet.gz" in err
    assert not labels.exists() and not refined.exists()
    assert not list(tmp_path.glob("*quarantine*"))
