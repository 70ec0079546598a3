"""An input file holding no records: `prox label` and `prox refine` both fail, naming the
file, and write nothing (a nightly job over an empty delivery must not publish 0 documents).
An input to deliver or fix: exit 2, as the DAGs fail such a task without retries; an empty
file beside files with records is no error."""

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
    assert main(["label", "--input", str(wet), "--output", str(labels)]) == 2
    label_err = capsys.readouterr().err
    assert main(["refine", "--input", str(wet), "--output", str(refined),
                 "--backend", "tagger"]) == 2  # fmt: skip
    refine_err = capsys.readouterr().err
    for err in (label_err, refine_err):
        assert "the input holds no records" in err and "CC-MAIN-00000.warc.wet.gz" in err
    assert not labels.exists() and not refined.exists()
    assert not list(tmp_path.glob("*quarantine*"))


def test_an_input_with_nothing_to_read_exits_2_and_an_empty_file_among_others_is_read(
        tmp_path, capsys):
    """An input naming no file, or whose files held no record, exited 1 — "retry may help" —
    where the DAGs fail the same input at plan without retries: a wrapper retrying exit 1
    ran it again for nothing. It exits 2 now (the process's own code, a real subprocess),
    writing nothing; a shard of a delivery that is empty beside others with records is
    read as the rest is, for every command that reads an input."""
    import subprocess
    import sys

    from prox_tasks.corpus.readers import EmptyInput, NoInputFiles
    from prox_tasks.pipeline.errors import cannot_succeed

    assert issubclass(EmptyInput, cannot_succeed()) and issubclass(NoInputFiles, cannot_succeed())
    empty_dir, empty = tmp_path / "none", tmp_path / "empty.jsonl"
    empty_dir.mkdir()
    empty.write_bytes(b"")
    for given, said in ((empty_dir, "no input files at"), (empty, "the input holds no records")):
        done = subprocess.run([sys.executable, "-m", "prox_tasks.cli", "plan", "--input",
                               str(given), "--output", str(tmp_path / "plan")],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 2, done.stderr
        assert said in done.stderr and "Error:" not in done.stderr, done.stderr
    assert not (tmp_path / "plan").exists()
    many = tmp_path / "many"
    many.mkdir()
    (many / "a.jsonl").write_bytes(b"")
    (many / "b.jsonl").write_text('{"id": "b", "text": "one two three four five six seven '
                                  'eight nine ten eleven", "doc_program": "keep_doc()"}\n')
    out = tmp_path / "out"
    for argv in (["plan", "--input", str(many), "--output", str(out / "plan")],
                 ["label", "--input", str(many), "--output", str(out / "l.jsonl")],
                 ["execute", "--input", str(many), "--output", str(out / "e.jsonl")],
                 ["refine", "--input", str(many), "--output", str(out / "refined"),
                  "--catalog", f"sqlite:///{tmp_path / 'c.sqlite'}"]):
        assert main([*argv, "--no-progress"]) == 0, capsys.readouterr().err
        assert " 1 document" in capsys.readouterr().out or argv[0] == "execute"


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
