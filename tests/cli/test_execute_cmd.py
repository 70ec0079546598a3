import gzip
import json
import subprocess
import sys
from pathlib import Path

from prox_tasks.cli import main


def write_rows(path, rows: list[bytes]) -> None:
    with gzip.open(path, "wb") as fh:
        for row in rows:
            fh.write(row + b"\n")


def test_prox_execute_runs_programs_and_quarantines_bad_rows(tmp_path, capsys):
    good = {"id": "a", "text": "menu\nHome\n" + "a real sentence with words. " * 5,
            "doc_program": "keep_doc()", "chunk_program": "remove_lines(0, 1)"}  # fmt: skip
    dropped = {"id": "b", "text": "spam spam", "doc_program": "drop_doc()"}
    empty = {"id": "c", "text": "", "doc_program": "keep_doc()"}
    garbage_program = {"id": "d", "text": "x y z\n" * 20, "chunk_program": "lol()\nremove_lines(x)\nremove_lines(0, 5)"}
    giant = {"id": "e", "text": "word " * 1_000_000, "chunk_program": "keep_chunk()"}
    rows = [json.dumps(r).encode() for r in (good, dropped, empty, garbage_program, giant)]
    rows += [b'{"id": "f", "text": ', b"\xff\xfe not utf-8", b'["not", "an", "object"]', b""]
    src = tmp_path / "in.jsonl.gz"
    write_rows(src, rows)
    out = tmp_path / "out.jsonl.gz"
    assert main(["execute", "--json", "--input", str(src), "--output", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["read"] == 8  # the blank line is not a document
    assert summary["written"] == 5 and summary["quarantined"] == 3
    assert summary["dropped"] == 2
    result = {r["id"]: r for r in map(json.loads, gzip.open(out, "rt"))}
    assert result["a"]["text"].startswith("a real sentence")
    assert result["a"]["stats"]["lines_removed"] == 2
    assert result["b"]["text"] is None and result["b"]["dropped"]
    assert result["c"]["stats"]["drop_reason"] == "empty"
    assert result["d"]["text"] == garbage_program["text"]  # program ignored, text kept
    assert sum(result["d"]["stats"]["errors"].values()) >= 2
    assert len(result["e"]["text"]) == len(giant["text"])
    quarantine = [json.loads(x) for x in open(tmp_path / "out.jsonl.quarantine.jsonl")]
    assert [q["offset"] for q in quarantine] == [5, 6, 7]
    assert [q["reason"] for q in quarantine] == ["malformed_json", "bad_encoding",
                                                 "not_an_object"]
    assert all(q["source"] == src.as_uri() for q in quarantine)
    assert summary["quarantine_reasons"] == {"malformed_json": 1, "bad_encoding": 1,
                                             "not_an_object": 1}


def test_prox_console_script_is_installed_and_lists_execute():
    done = subprocess.run([sys.executable, "-m", "prox_tasks.cli", "--help"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert "execute" in done.stdout


def test_a_quarantine_that_cannot_be_written_publishes_no_output(tmp_path, capsys):
    src = tmp_path / "in.jsonl.gz"
    write_rows(src, [json.dumps({"id": "a", "text": "one two", "doc_program": "keep_doc()"}).encode(),
                     b"{not json"])
    (tmp_path / "afile").write_text("a file, not a folder")
    out = tmp_path / "out.jsonl"
    assert main(["execute", "--input", str(src), "--output", str(out),
                 "--quarantine", str(tmp_path / "afile" / "q.jsonl")]) == 1
    assert capsys.readouterr().err.count("\n") == 1
    assert not out.exists()  # the bad row would be recorded nowhere
    assert main(["execute", "--input", str(src), "--output", str(out)]) == 0
    assert out.exists()


def test_a_zstd_output_keeps_its_quarantine_beside_it_as_gzip_does(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "a", "text": "x", "doc_program": "keep_doc()"}) + "\n{bad\n")
    for name in ("out.jsonl.gz", "out2.jsonl.zst"):
        assert main(["execute", "--input", str(src), "--output", str(tmp_path / name)]) == 0
    capsys.readouterr()
    assert (tmp_path / "out.jsonl.quarantine.jsonl").exists()
    assert (tmp_path / "out2.jsonl.quarantine.jsonl").exists()


def test_the_same_file_as_input_and_output_is_refused_and_left_alone(tmp_path, capsys):
    src = tmp_path / "rows.jsonl"
    src.write_text(json.dumps({"id": "a", "text": "x", "doc_program": "keep_doc()"}) + "\n")
    before = src.read_bytes()
    assert main(["execute", "--input", str(src), "--output", src.as_uri()]) == 2  # to fix
    assert "--input and --output are the same file" in capsys.readouterr().err
    assert src.read_bytes() == before


def test_an_input_linked_to_the_output_is_refused_or_skipped_and_left_alone(tmp_path, capsys):
    """An input that is a symbolic link to the output file (or a folder holding one) was
    compared by its name only: prox execute and prox label replaced the file the link names
    with their output, losing the input's rows (rc 0). The link is the output: prox execute
    refuses it; a folder's link to it is skipped as the command's own output; prox label,
    given only the link, has no input. The file is left as it was."""
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"id": str(i), "text": "a\nb", "doc_program":
                                        "keep_doc()"}) + "\n" for i in range(3)))
    before = rows.read_bytes()
    (tmp_path / "link.jsonl").symlink_to("rows.jsonl")
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "a.jsonl").write_text(json.dumps({"id": "x", "text": "a", "doc_program":
                                                "keep_doc()"}) + "\n")
    (folder / "b.jsonl").symlink_to(rows)
    link = str(tmp_path / "link.jsonl")
    assert main(["execute", "--input", link, "--output", str(rows)]) == 2
    assert "--input and --output are the same file" in capsys.readouterr().err
    assert main(["label", "--input", link, "--output", str(rows), "--teacher", "rules"]) == 2
    assert "no input files at" in capsys.readouterr().err
    assert rows.read_bytes() == before
    for command in (["execute"], ["label", "--teacher", "rules"]):
        assert main([*command, "--input", str(folder), "--output", str(rows)]) == 0
        assert [json.loads(line)["id"] for line in rows.read_text().splitlines()] == ["x"]
        rows.write_bytes(before)


def test_one_label_without_its_text_is_said_in_the_singular(tmp_path, capsys):
    """``prox execute`` over the one label the html teacher wrote for the whirlwind WET said
    "1 of them are labels without their text"."""
    sample = str(Path(__file__).resolve().parents[2] / "data" / "sample" / "sample.jsonl.gz")
    bare = tmp_path / "labels.jsonl"
    assert main(["label", "--input", sample, "--output", str(bare), "--limit", "1"]) == 0
    capsys.readouterr()
    assert main(["execute", "--input", str(bare), "--output", str(tmp_path / "out.jsonl")]) == 2
    line = capsys.readouterr().err.strip()
    assert "1 of them is a label without its text: relabel with prox label --keep-text" in line


def test_labels_written_without_their_text_are_named_with_how_to_relabel(tmp_path, capsys):
    """``prox label`` without ``--keep-text`` writes programs and no text: ``prox execute``
    on them quarantines every row as missing_text, which fails the run (nothing executed).
    The error and each quarantined row say why and what to run; labels written with
    ``--keep-text`` execute."""
    sample = str(Path(__file__).resolve().parents[2] / "data" / "sample" / "sample.jsonl.gz")
    bare, kept = tmp_path / "labels.jsonl", tmp_path / "labels-text.jsonl"
    assert main(["label", "--input", sample, "--output", str(bare), "--limit", "6"]) == 0
    assert main(["label", "--input", sample, "--output", str(kept), "--limit", "6",
                 "--keep-text"]) == 0
    capsys.readouterr()
    out = tmp_path / "executed.jsonl"
    assert main(["execute", "--input", str(bare), "--output", str(out)]) == 2
    line = capsys.readouterr().err.strip()
    assert "all its 6 records were quarantined (6 missing_text)" in line
    assert "labels without their text: relabel with prox label --keep-text" in line, line
    quarantine = [json.loads(x) for x in open(tmp_path / "executed.jsonl.quarantine.jsonl")]
    assert len(quarantine) == 6 and all(
        "relabel with prox label --keep-text" in q["detail"] for q in quarantine)
    assert main(["execute", "--json", "--input", str(kept), "--output", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["written"], summary["quarantined"]) == (6, 0)


def test_execute_and_refine_give_a_numeric_id_the_same_id(tmp_path, capsys):
    """A float id (``12345.0``: an integer column with a null, exported by pandas) and a
    decimal one (``1.50``) are one id by the readers' rule (``id_text``): ``prox execute``
    names a quarantined row by the id ``prox refine`` gives the same record."""
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": 12345.0, "doc_program": "keep_doc()"}\n'
                   '{"id": 1.50, "doc_program": "keep_doc()"}\n'
                   '{"id": "ok", "text": "one two three four five six seven eight", '
                   '"doc_program": "keep_doc()"}\n')
    assert main(["execute", "--input", str(src), "--output", str(tmp_path / "out.jsonl")]) == 0
    assert main(["refine", "--input", str(src), "--output", str(tmp_path / "refined"),
                 "--model", "default", "--no-progress"]) == 0
    capsys.readouterr()
    executed = [json.loads(x) for x in open(tmp_path / "out.jsonl.quarantine.jsonl")]
    with gzip.open(tmp_path / "refined" / "quarantine" / "shard-00000.jsonl.gz", "rt") as f:
        refined = [json.loads(x) for x in f]
    assert [q["id"] for q in executed] == [q["id"] for q in refined] == ["12345", "1.5"]
    assert [q["reason"] for q in executed] == [q["reason"] for q in refined]


def test_execute_quarantines_a_row_whose_id_no_reader_takes(tmp_path, capsys):
    """An id that is no id (a list, a bool: ``prox refine`` quarantines it ``bad_id``) is
    quarantined so by ``prox execute`` too, not written under an id nothing else reads."""
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": [1, 2], "text": "one two", "doc_program": "keep_doc()"}\n'
                   '{"id": "ok", "text": "one two", "doc_program": "keep_doc()"}\n')
    assert main(["execute", "--json", "--input", str(src), "--output",
                 str(tmp_path / "out.jsonl")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["written"], summary["quarantine_reasons"]) == (1, {"bad_id": 1})


def test_execute_gives_a_json_id_too_large_for_a_float_the_digits_prox_refine_gives(
        tmp_path, capsys):
    """``{"id": 123456789012345678901.0}`` and ``{"id": 123456789012345678902.0}`` were
    both executed under the id 123456789012345683968 and written back as
    ``1.2345678901234568e+20``: two rows silently one id, digits neither had; 429b82c then
    quarantined them ``bad_id``, though ``prox refine`` reads the same rows under their
    written digits (jsonl.parse_line). A row is read as a document is: each keeps the
    digits it is written with, the id prox refine gives it."""
    from prox_tasks.corpus import read_documents

    src = tmp_path / "in.jsonl"
    src.write_text('{"id": 123456789012345678901.0, "text": "one two", "doc_program": "keep_doc()"}\n'
                   '{"id": 123456789012345678902.0, "text": "one two", "doc_program": "keep_doc()"}\n'
                   '{"id": 123456789012345678903, "text": "one two", "doc_program": "keep_doc()"}\n')
    out = tmp_path / "out.jsonl"
    assert main(["execute", "--json", "--input", str(src), "--output", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["written"], summary["quarantine_reasons"]) == (3, {})
    written = [json.loads(x)["id"] for x in open(out)]
    assert written == [123456789012345678901, 123456789012345678902, 123456789012345678903]
    assert [str(i) for i in written] == [d.id for d in read_documents(str(src))]


def test_an_output_named_as_another_format_is_refused_naming_what_is_written(tmp_path,
                                                                             capsys):
    src = tmp_path / "in.jsonl.gz"
    write_rows(src, [json.dumps({"id": "a", "text": "one two", "doc_program": "keep_doc()"}).encode()])
    for name in ("x.parquet", "x.jsonl.bz2"):
        out = tmp_path / name
        assert main(["execute", "--input", str(src), "--output", str(out)]) == 2
        err = capsys.readouterr().err
        assert f"--output {out} is named {Path(name).suffix}" in err
        assert ".jsonl.gz" in err and ".jsonl.zst" in err
        assert not out.exists()  # nothing written under a name that lies
    quarantine = tmp_path / "bad.parquet"
    assert main(["execute", "--input", str(src), "--output", str(tmp_path / "x.jsonl"),
                 "--quarantine", str(quarantine)]) == 2
    assert "--quarantine" in capsys.readouterr().err and not quarantine.exists()
    # what the writers write, and a name with no suffix, are taken as before
    for name in ("x.jsonl", "x.jsonl.gz", "x.jsonl.zst", "x.ndjson", "x.json", "x"):
        assert main(["execute", "--input", str(src), "--output", str(tmp_path / name)]) == 0


def test_labels_of_a_raw_content_corpus_execute_with_its_text_field(tmp_path, capsys):
    """``prox label --text-field raw_content --keep-text`` writes each row's text under
    ``text``: ``prox execute --text-field raw_content`` over them reads it there (and writes
    the executed text back there), instead of quarantining every row as missing_text with
    advice to relabel with --keep-text, which they were."""
    sample = Path(__file__).resolve().parents[2] / "data" / "sample" / "sample.jsonl.gz"
    corpus = tmp_path / "cc.jsonl"
    with gzip.open(sample, "rt") as fh, open(corpus, "w") as out:
        for line in list(fh)[:6]:
            row = json.loads(line)
            row["raw_content"] = row.pop("text")
            out.write(json.dumps(row) + "\n")
    labels, bare = tmp_path / "labels.jsonl", tmp_path / "bare.jsonl"
    for output, keep in ((labels, ["--keep-text"]), (bare, [])):
        assert main(["label", "--input", str(corpus), "--output", str(output),
                     "--text-field", "raw_content", *keep]) == 0
    capsys.readouterr()
    out = tmp_path / "executed.jsonl"
    assert main(["execute", "--json", "--input", str(labels), "--output", str(out),
                 "--text-field", "raw_content"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["written"], summary["quarantined"]) == (6, 0)
    rows = [json.loads(x) for x in open(out)]
    assert all("raw_content" not in r and "stats" in r for r in rows)
    # labels without their text still get the advice, which is right for them
    assert main(["execute", "--input", str(bare), "--output", str(out),
                 "--text-field", "raw_content"]) == 2
    assert "relabel with prox label --keep-text" in capsys.readouterr().err


def test_an_empty_input_is_refused_as_prox_label_and_prox_plan_refuse_it(tmp_path, capsys):
    """A nightly job's labels arrived empty (an empty file, blank lines, a byte order mark
    alone): prox execute published an empty output and said 'executed 0 rows', exit 0,
    where prox label and prox plan refuse such an input. It is refused the same way now,
    naming the files, and nothing is written."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "empty.jsonl").write_bytes(b"")
    (tmp_path / "in" / "blank.jsonl").write_bytes(b"\n \r\n\xef\xbb\xbf\n")
    out = tmp_path / "out.jsonl"
    assert main(["execute", "--input", str(tmp_path / "in"), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert "prox execute: the input holds no records" in err and "blank.jsonl" in err, err
    assert not out.exists() and not (tmp_path / "out.jsonl.quarantine.jsonl").exists()


def test_a_row_without_any_program_is_quarantined_not_reported_as_executed(tmp_path, capsys):
    """A row holding neither ``doc_program`` nor ``chunk_program`` (a corpus file given
    instead of its labels, labels under other field names) was written back unchanged and
    counted as executed with 0 program errors: ``executed 2 rows: 2 written`` over rows no
    program ran on. It is quarantined as ``missing_program`` naming the row's fields; a row
    with one program of the two runs as before."""
    text = "a real sentence with words. " * 5
    rows = [{"id": "corpus", "text": text, "url": "u"},
            {"id": "nulls", "text": text, "doc_program": None, "chunk_program": None},
            {"id": "doc_only", "text": text, "doc_program": "keep_doc()"},
            {"id": "empty", "text": text, "doc_program": "", "chunk_program": ""}]
    src = tmp_path / "rows.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out.jsonl"
    assert main(["execute", "--input", str(src), "--output", str(out)]) == 0
    line = capsys.readouterr().out
    assert "executed 4 rows: 2 written (0 dropped), 2 quarantined (2 missing_program)" in line
    assert [json.loads(r)["id"] for r in out.read_text().splitlines()] == ["doc_only", "empty"]
    quarantine = [json.loads(q) for q in open(tmp_path / "out.jsonl.quarantine.jsonl")]
    assert [(q["id"], q["reason"]) for q in quarantine] == [
        ("corpus", "missing_program"), ("nulls", "missing_program")]
    assert quarantine[0]["detail"].startswith(
        "no 'doc_program' or 'chunk_program' (its fields: 'id', 'text', 'url')")


def test_a_repeated_id_is_quarantined_as_prox_label_and_prox_refine_do(tmp_path, capsys):
    """Labels of two runs concatenated: the same document twice, its programs deciding
    otherwise (one keeps it, one drops it). prox execute wrote both rows, two outputs for
    one document, where prox label and prox refine keep the first and quarantine the
    repeat (``duplicate_id``); it does as they do now, the repeat's row kept in the
    quarantine. ``12`` and ``"12"`` are one id, as every reader reads them."""
    text = "A first line of the page that says something.\nA second line with more words."
    rows = [{"id": "a", "text": text, "doc_program": "keep_doc()"},
            {"id": "a", "text": text, "doc_program": "drop_doc()"},
            {"id": 12, "text": text, "doc_program": "keep_doc()"},
            {"id": "12", "text": text, "doc_program": "drop_doc()"},
            {"id": "b", "text": text, "doc_program": "keep_doc()"}]  # fmt: skip
    src, out = tmp_path / "labels.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["execute", "--json", "--input", str(src), "--output", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["read"], summary["written"], summary["quarantined"]) == (5, 3, 2)
    assert summary["quarantine_reasons"] == {"duplicate_id": 2}
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["id"], r["dropped"]) for r in written] == [("a", False), (12, False),
                                                         ("b", False)]
    quarantined = [json.loads(line) for line in (tmp_path / "out.jsonl.quarantine.jsonl").open()]
    assert [(q["id"], q["offset"]) for q in quarantined] == [("a", 1), ("12", 3)]
    assert all("id read first at" in q["detail"] and json.loads(q["raw"])["doc_program"]
               == "drop_doc()" for q in quarantined)  # fmt: skip
