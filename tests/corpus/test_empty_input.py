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


def test_all_quarantined_names_the_text_field_as_each_caller_sets_it():
    """A DAG's error named prox's option ("--text-field content (the text_field Param)"),
    against docs/airflow.md's rule that DAG errors name Params: the message is worded for
    whoever reads it (prox: the option; a DAG task's failure: the Param)."""
    from prox_tasks.cli.errors import describe_error
    from prox_tasks.corpus.readers import all_quarantined

    err = all_quarantined("in.jsonl", 4, {"missing_text": 4}, "q/", {"content": 4})
    assert describe_error(err, "cli").endswith(
        "; 4 of them hold a string in 'content': --text-field content if it is the text")
    dag = describe_error(err, "dag")
    assert dag.endswith("; 4 of them hold a string in 'content': set the text_field Param "
                        "to content if it is the text") and "--text-field" not in dag, dag
