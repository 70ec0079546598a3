"""``prox refine``, ``prox label`` and ``prox execute`` on rows built to break a reader:
every command finishes, and every row is written or quarantined with its reason."""

from __future__ import annotations

import gzip
import json

from prox_tasks.cli import main

GOOD = [{"id": f"g{i}", "text": f"A plain sentence number {i} with enough words to read. " * 4,
         "doc_program": "keep_doc()", "chunk_program": "keep_chunk()"} for i in range(6)]
HOSTILE = {
    3: '{"id": "s1", "text": "bad \\ud800 text", "doc_program": "keep_doc()"}',
    4: '{"id": "s\\udc00", "text": "a lone surrogate in the id"}',
    5: '{"id": "n1", "text": "ok", "n": ' + "7" * 5000 + "}",
    6: '{"id": "d1", "text": "ok", "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
    7: '{"id": 5, "text": 12}',
}
REASONS = {"lone_surrogate": 2, "bad_number": 1, "too_deep": 1, "not_text": 1}


def _input(tmp_path):
    lines = [json.dumps(r) for r in GOOD[:3]] + list(HOSTILE.values()) + \
        [json.dumps(r) for r in GOOD[3:]]  # fmt: skip
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def _quarantine(path) -> list[dict]:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as f:
        return [json.loads(line) for line in f]


def test_prox_execute_survives_hostile_rows(tmp_path, capsys):
    src = _input(tmp_path)
    assert main(["execute", "--json", "--input", str(src), "--output", str(tmp_path / "out.jsonl")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["read"], summary["written"], summary["quarantined"]) == (11, 6, 5)
    assert summary["quarantine_reasons"] == REASONS
    entries = _quarantine(tmp_path / "out.jsonl.quarantine.jsonl")
    assert sorted(q["offset"] for q in entries) == sorted(HOSTILE)


def test_prox_label_survives_hostile_rows(tmp_path, capsys):
    src = _input(tmp_path)
    out = tmp_path / "labels.jsonl.gz"
    assert main(["label", "--json", "--input", str(src), "--output", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["written"] == 6 and summary["quarantined"] == REASONS
    assert summary["read"] == 11  # read = labeled + quarantined
    assert sorted(q["offset"] for q in _quarantine(summary["quarantine"])) == sorted(HOSTILE)


def test_prox_refine_survives_hostile_rows(tmp_path, capsys):
    src = _input(tmp_path)
    out = tmp_path / "refined"
    assert main(["refine", "--json", "--input", str(src), "--output", str(out), "--model", "default",
                 "--no-progress"]) == 0  # fmt: skip
    summary = json.loads(capsys.readouterr().out)
    assert (summary["docs_read"], summary["docs_written"], summary["docs_quarantined"]) == (
        11, 6, 5)
    assert summary["results"][0]["accounting"]["quarantine_reasons"] == REASONS
    entries = _quarantine(out / "quarantine" / "shard-00000.jsonl.gz")
    assert sorted(q["offset"] for q in entries) == sorted(HOSTILE)


def test_prox_execute_quarantines_a_lone_surrogate_in_a_program(tmp_path, capsys):
    rows = [json.dumps(GOOD[0]),
            '{"id": "p1", "text": "fine text here", "doc_program": "keep_doc() \\udfff"}',
            '{"id": "p2", "text": "fine text", "chunk_program": "normalize(\\"\\ud800\\", \\"x\\")"}',
            json.dumps(GOOD[1])]
    src = tmp_path / "programs.jsonl"
    src.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out.jsonl"
    assert main(["execute", "--json", "--input", str(src), "--output", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["read"], summary["written"], summary["quarantine_reasons"]) == (
        4, 2, {"lone_surrogate": 2})
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["g0", "g1"]
    entries = _quarantine(tmp_path / "out.jsonl.quarantine.jsonl")
    assert [(q["offset"], q["id"]) for q in entries] == [(1, "p1"), (2, "p2")]


def test_execute_and_label_writing_into_their_input_folder_do_not_read_their_output(
        tmp_path, capsys):
    for command, output in (("execute", "refined.jsonl"), ("label", "labels.jsonl")):
        folder = tmp_path / command
        folder.mkdir()
        _input(folder)
        summaries = []
        for _ in range(3):
            assert main([command, "--json", "--input", str(folder), "--output",
                         str(folder / output)]) == 0  # fmt: skip
            summaries.append(json.loads(capsys.readouterr().out))
        assert summaries[0] == summaries[1] == summaries[2]
        assert summaries[0]["read"] == 11 and summaries[0]["written"] == 6


def _line(capsys) -> str:
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, out
    return out[0]


def test_each_summary_line_says_why_records_were_quarantined_and_where(tmp_path, capsys):
    """A person reading the one line learns the reasons (most frequent first, the rest
    counted) and where the records are, not only how many — in refine over several shards,
    reused or not, in label and in execute alike."""
    src = _input(tmp_path)
    said = "5 quarantined (2 lone_surrogate, 1 bad_number, 1 not_text, 1 more) in "
    out = tmp_path / "refined"
    for _ in range(2):  # the second run reuses both shards: their status records count
        assert main(["refine", "--input", str(src), "--output", str(out), "--model", "default",
                     "--target-docs", "6", "--no-progress"]) == 0  # fmt: skip
        assert f"{said}{(out / 'quarantine').as_uri()}/;" in _line(capsys)
    assert main(["refine", "--json", "--input", str(src), "--output", str(out),
                 "--model", "default", "--target-docs", "6", "--no-progress"]) == 0  # fmt: skip
    summary = json.loads(capsys.readouterr().out)
    assert summary["shards"] == 2 and summary["quarantine_reasons"] == REASONS
    labels = tmp_path / "labels.jsonl"
    assert main(["label", "--input", str(src), "--output", str(labels)]) == 0
    assert f"{said}{tmp_path / 'labels.jsonl.quarantine.jsonl'} " in _line(capsys)
    assert main(["execute", "--input", str(src), "--output", str(tmp_path / "x.jsonl")]) == 0
    assert f"{said}{tmp_path / 'x.jsonl.quarantine.jsonl'}, " in _line(capsys)
    seeds = tmp_path / "seeds"
    assert main(["label", "--seed-set", "--input", str(src), "--output", str(seeds),
                 "--sample-size", "6", "--val-fraction", "0.5", "--no-register"]) == 0  # fmt: skip
    quarantine = (seeds / "sample" / "quarantine.jsonl").as_uri()
    assert f"(of 6 input documents; {said}{quarantine}) -> " in _line(capsys)


def test_a_text_column_under_another_name_is_named_in_each_quarantined_record(
        tmp_path, capsys):
    """A Parquet file whose text is in ``content``: every row is quarantined (nothing is
    lost), the detail lists the fields the row has, and the error names the field that
    holds the text, so it shows without opening the data (the run refined nothing: it
    fails, as prox label and prox execute do)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = tmp_path / "crawl.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "content": [GOOD[0]["text"], None]}), src)
    out = tmp_path / "refined"
    assert main(["refine", "--input", str(src), "--output", str(out), "--model", "default",
                 "--no-progress"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert f"no documents in {src}: all its 2 records were quarantined (2 missing_text), " \
        f"each with its reason and detail in {out.as_uri()}/quarantine/: " in err, err
    # what to pass, as the command takes it (it said "is it the text (the text field)?",
    # naming neither); a DAG's error names the Param instead (tests/dags)
    assert "; 1 of them hold a string in 'content': --text-field content if it is the " \
        "text (-v" in err and "Param" not in err, err
    entries = _quarantine(out / "quarantine" / "shard-00000.jsonl.gz")
    assert [q["detail"] for q in entries] == [
        "no field 'text' (its fields: 'id', 'content'); 'content' holds a string: "
        "--text-field content if it is the text",
        "no field 'text' (its fields: 'id', 'content')"]  # its content is null: no text
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"id": "n", "text": None}) + "\n"
                    + json.dumps({"id": "m", **{f"f{i}": i for i in range(10)}}) + "\n")
    # every row quarantined: exit 2 (an input to fix), each row kept with its detail
    assert main(["execute", "--input", str(rows), "--output", str(tmp_path / "x.jsonl")]) == 2
    assert [q["detail"] for q in _quarantine(tmp_path / "x.jsonl.quarantine.jsonl")] == [
        "field 'text' is null",
        "no field 'text' (its fields: 'id', 'f0', 'f1', 'f2', 'f3', 'f4', 'f5', 'f6', …)"]


def test_a_latin1_file_s_records_say_to_re_encode_it_once(tmp_path, capsys):
    """A latin-1 export: each record is quarantined as bad_encoding with a detail saying
    which byte and what to do, and the summary line says what to do once, however many
    records (before: 'not UTF-8 at byte 13', and the summary only counted them)."""
    rows = [{"id": f"l{i}", "text": f"Un café numéro {i} à Genève, assez de mots pour lire."}
            for i in range(3)]
    src = tmp_path / "export.jsonl"
    src.write_bytes(b"".join((json.dumps(r, ensure_ascii=False) + "\n").encode("latin-1")
                             for r in rows) + (json.dumps(GOOD[0]) + "\n").encode())
    out = tmp_path / "x.jsonl"
    assert main(["execute", "--input", str(src), "--output", str(out)]) == 0
    line = _line(capsys)
    fix = ("write those files as UTF-8, as each entry's detail says: latin-1 or cp1252 bytes, "
           "e.g. iconv -f latin1 -t utf-8; an encoded UTF-16 surrogate, again from its source")
    assert "3 quarantined (3 bad_encoding) in " in line and f"(bad_encoding: {fix})" in line
    assert line.count("iconv") == 1
    details = [q["detail"] for q in _quarantine(tmp_path / "x.jsonl.quarantine.jsonl")]
    assert details == ["not UTF-8 at byte 28 (0xe9): re-encode the file as UTF-8, e.g. "
                       "iconv -f latin1 -t utf-8"] * 3
    assert main(["label", "--input", str(src), "--output", str(tmp_path / "labels.jsonl")]) == 0
    assert f"3 quarantined (3 bad_encoding) in {tmp_path / 'labels.jsonl.quarantine.jsonl'} " \
        f"(bad_encoding: {fix}) -> " in _line(capsys)


def test_the_text_field_hint_names_a_string_field_and_only_when_there_is_one(tmp_path,
                                                                           capsys):
    """"a text under another field name wants --text-field" was shown for rows whose only
    field is ``id``, where no --text-field would find a text. A row holding another string
    field has it named (in its detail and the error: every row quarantined fails the run);
    a row of an id only gets no such hint."""
    ids_only = tmp_path / "ids.jsonl"
    ids_only.write_text('{"id": "a"}\n{"id": "b", "n": 3}\n')
    assert main(["execute", "--input", str(ids_only), "--output",
                 str(tmp_path / "x.jsonl")]) == 2
    line = capsys.readouterr().err
    assert "all its 2 records were quarantined (2 missing_text)" in line \
        and "--text-field" not in line, line
    details = [q["detail"] for q in _quarantine(tmp_path / "x.jsonl.quarantine.jsonl")]
    assert details == ["no field 'text' (its fields: 'id')",
                       "no field 'text' (its fields: 'id', 'n')"]
    named = tmp_path / "named.jsonl"
    named.write_text('{"id": "a", "url": "u", "raw_content": "A text of words."}\n'
                     '{"id": "b", "text": null, "raw_content": "Another."}\n')
    assert main(["execute", "--input", str(named), "--output", str(tmp_path / "y.jsonl")]) == 2
    line = capsys.readouterr().err
    assert "(2 missing_text), each with its reason and detail in " in line \
        and "; 2 of them hold a string in 'raw_content': --text-field raw_content if it is " \
        "the text" in line, line
    details = [q["detail"] for q in _quarantine(tmp_path / "y.jsonl.quarantine.jsonl")]
    hint = "; 'raw_content' holds a string: --text-field raw_content if it is the text"
    assert details == ["no field 'text' (its fields: 'id', 'url', 'raw_content')" + hint,
                       "field 'text' is null" + hint]
    # prox refine's records say it too, from the one reader rule, and its summary line
    # names the fix once (a good row beside them: the run refines it and succeeds)
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(named.read_text() + json.dumps(GOOD[0]) + "\n")
    assert main(["refine", "--input", str(mixed), "--output", str(tmp_path / "refined"),
                 "--model", "default", "--no-progress"]) == 0
    line = _line(capsys)
    assert "1 kept, 0 dropped, 2 quarantined (2 missing_text) in " in line, line
    assert line.count("--text-field") == 1 and "(missing_text: 2 of them hold a string in " \
        "'raw_content': --text-field raw_content if it is the text" in line, line
    entries = _quarantine(tmp_path / "refined" / "quarantine" / "shard-00000.jsonl.gz")
    assert [q["detail"] for q in entries][0].endswith(hint)


def test_prox_label_hints_at_text_field_only_when_a_row_holds_a_string(tmp_path, capsys):
    """prox label said "a text under another field name wants --text-field" for rows of an
    id only, where no --text-field finds a text. As prox execute, it now says nothing then,
    and names the field when rows hold a string under another name."""
    ids_only = tmp_path / "ids.jsonl"
    ids_only.write_text('{"id": "a"}\n{"id": "b", "n": 3}\n' + json.dumps(GOOD[0]) + "\n")
    assert main(["label", "--input", str(ids_only), "--output",
                 str(tmp_path / "x.jsonl")]) == 0
    line = _line(capsys)
    assert "2 quarantined (2 missing_text)" in line and "--text-field" not in line, line
    named = tmp_path / "named.jsonl"
    named.write_text('{"id": "a", "url": "u", "raw_content": "A text of words."}\n'
                     '{"id": "b", "text": null, "raw_content": "Another."}\n'
                     + json.dumps(GOOD[0]) + "\n")
    assert main(["label", "--input", str(named), "--output", str(tmp_path / "y.jsonl")]) == 0
    line = _line(capsys)
    assert "(missing_text: 2 of them hold a string in 'raw_content': --text-field " \
        "raw_content if it is the text" in line and line.count("--text-field") == 1, line


def test_prox_refine_names_the_text_field_from_its_shards_status_records(tmp_path, capsys):
    """prox refine said "a text under another field name wants --text-field" where prox
    execute and prox label name the field rows hold a string in. Its shards' status records
    now carry the candidates, so the summary names it, a rerun that reuses every shard too,
    and the gate's failed quarantine check names it; a record of the earlier release (no
    candidates) still reads, with the general hint; rows of an id only get none."""
    named = tmp_path / "named.jsonl"
    named.write_text('{"id": "a", "url": "u", "raw_content": "A text of words."}\n'
                     '{"id": "b", "text": null, "raw_content": "Another."}\n'
                     '{"id": "c", "title": "t"}\n'
                     + json.dumps(GOOD[0]) + "\n")  # one good row: a run of none fails
    out = tmp_path / "refined"
    argv = ["refine", "--input", str(named), "--output", str(out), "--model", "default",
            "--target-docs", "2", "--no-progress"]
    said = ("(missing_text: 3 of them hold a string in 'raw_content': --text-field "
            "raw_content if it is the text")
    assert main(argv) == 0
    line = _line(capsys)
    assert "3 quarantined (3 missing_text)" in line and said.replace("3 of", "2 of") in line, line
    assert main(argv) == 0  # every shard reused: named from their records
    line = _line(capsys)
    assert "(2 reused)" in line and said.replace("3 of", "2 of") in line, line
    assert json.loads((out / "_status" / "shard-00001.json").read_text())[
        "text_candidates"] == {"title": 1}
    assert main(["gate", "--snapshot", str(out)]) == 1
    failed = capsys.readouterr().out
    assert "2 missing_text records hold a string in 'raw_content': prox refine --text-field " \
        "raw_content if it is the text" in failed, failed
    # a status record of the earlier release: no text_candidates
    for record in (out / "_status").glob("*.json"):
        status = json.loads(record.read_text())
        del status["text_candidates"]
        record.write_text(json.dumps(status))
    assert main(argv) == 0
    line = _line(capsys)
    assert "(2 reused)" in line and "(missing_text: a text under another field name wants " \
        "--text-field" in line, line
    assert main(["gate", "--snapshot", str(out)]) == 1
    assert "missing_text records hold" not in capsys.readouterr().out
    ids_only = tmp_path / "ids.jsonl"
    ids_only.write_text('{"id": "a"}\n{"id": "b", "n": 3}\n' + json.dumps(GOOD[0]) + "\n")
    assert main(["refine", "--input", str(ids_only), "--output", str(tmp_path / "ids"),
                 "--model", "default", "--no-progress"]) == 0
    line = _line(capsys)
    assert "2 quarantined (2 missing_text)" in line and "--text-field" not in line, line


def test_the_summary_does_not_say_latin1_for_an_encoded_surrogate(tmp_path, capsys):
    """A CESU-8 export (Java's modified UTF-8) was told 'iconv -f latin1' on the summary line,
    which makes mojibake of it, though each entry's detail said otherwise; and a text that
    is a number was 'is a int'."""
    cesu8 = b"\xed\xa0\xbd\xed\xb8\x80"  # an emoji as CESU-8 writes it: each half alone
    src = tmp_path / "java.jsonl"
    src.write_bytes(b'{"id": "j", "text": "smile ' + cesu8 + b' here"}\n'
                    + (json.dumps({"id": "n", "text": 7}) + "\n").encode()
                    + (json.dumps(GOOD[0]) + "\n").encode())
    assert main(["execute", "--input", str(src), "--output", str(tmp_path / "x.jsonl")]) == 0
    line = _line(capsys)
    assert "an encoded UTF-16 surrogate, again from its source" in line, line
    details = {q["reason"]: q["detail"]
               for q in _quarantine(tmp_path / "x.jsonl.quarantine.jsonl")}
    assert details["not_text"] == "field 'text' is an int"


def _wet_record(name: str, length: bool = True) -> bytes:
    body = f"Page {name}.\n".encode() + b"The quick brown fox jumps over the lazy dog. " * 6
    head = (f"WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Record-ID: <urn:uuid:{name}>\r\n"
            "Content-Type: text/plain\r\n"
            + (f"Content-Length: {len(body)}\r\n" if length else "") + "\r\n")
    return head.encode() + body + b"\r\n\r\n"


def test_prox_label_never_publishes_a_wet_record_without_content_length_past_its_end(
        tmp_path, capsys):
    """A WET record without a Content-Length header: warcio reads it on to the end of the file
    (uncompressed), so the next record, WARC header and all, was labeled as part of its
    text and never counted; and a gzip member cut inside a record's header (no length, no
    payload) was quarantined as a blank page. Each is quarantined with what happened, and
    read + quarantined counts each record given; a record alone in its gzip member ends
    there and is read."""
    plain = tmp_path / "plain.warc.wet"
    plain.write_bytes(_wet_record("a0") + _wet_record("a1", length=False) + _wet_record("a2"))
    members = [gzip.compress(_wet_record(n, length=n != "b1"), mtime=0)
               for n in ("b0", "b1", "b2")]
    cut = gzip.compress(_wet_record("b3"), mtime=0)
    (tmp_path / "members.warc.wet.gz").write_bytes(b"".join(members) + cut[: len(cut) // 2])
    labels = tmp_path / "labels.jsonl"
    assert main(["label", "--json", "--input", str(tmp_path / "*.warc.wet*"), "--output",
                 str(labels), "--keep-text"]) == 0
    summary = json.loads(capsys.readouterr().out)
    rows = [json.loads(line) for line in labels.read_text().splitlines()]
    assert [r["id"] for r in rows] == [f"urn:uuid:{n}" for n in ("b0", "b1", "b2", "a0")]
    assert not any("WARC/1.0" in r["text"] for r in rows)
    quarantined = {(q["source"].rsplit("/", 1)[1], q["offset"]): q
                   for q in _quarantine(tmp_path / "labels.jsonl.quarantine.jsonl")}
    cut, merged = ("members.warc.wet.gz", 3), ("plain.warc.wet", 1)
    assert {at: q["reason"] for at, q in quarantined.items()} == {
        cut: "truncated_record", merged: "bad_record"}
    assert "cut inside its header" in quarantined[cut]["detail"]
    assert quarantined[merged]["id"] == "urn:uuid:a1"
    assert "runs on over the 1 WARC record after it" in quarantined[merged]["detail"]
    assert summary["read"] == summary["written"] + 2 == 6


def test_a_wet_s_metadata_record_without_content_length_keeps_the_records_it_ran_over(
        tmp_path, capsys):
    """A metadata record without a Content-Length header in an uncompressed WET: warcio
    reads it on to the end of the file, and the conversion records after it were never
    seen, neither labeled nor quarantined (the check covered conversion records only). It
    is now a bad_record entry saying so, its raw holding the records it ran over."""
    metadata = (b"WARC/1.0\r\nWARC-Type: metadata\r\nWARC-Record-ID: <urn:uuid:m1>\r\n"
                b"Content-Type: application/warc-fields\r\n\r\nfetchTimeMs: 12\r\n\r\n\r\n")
    src = tmp_path / "crawl.warc.wet"
    src.write_bytes(_wet_record("a0") + metadata + _wet_record("a1") + _wet_record("a2"))
    labels = tmp_path / "labels.jsonl"
    assert main(["label", "--json", "--input", str(src), "--output", str(labels)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [json.loads(line)["id"] for line in open(labels)] == ["urn:uuid:a0"]
    [entry] = _quarantine(tmp_path / "labels.jsonl.quarantine.jsonl")
    assert (entry["reason"], entry["id"], entry["offset"]) == ("bad_record", "urn:uuid:m1", 1)
    assert entry["detail"].startswith("a metadata record without a Content-Length header runs "
                                      "on over the 2 WARC records after it")
    assert "urn:uuid:a1" in entry["raw"] and "urn:uuid:a2" in entry["raw"]
    assert summary["read"] == 2



def test_a_wet_s_metadata_record_whose_content_length_is_too_long_keeps_what_it_ran_over(
        tmp_path, capsys):
    """A metadata record whose Content-Length is longer than the record, in an uncompressed
    WET: warcio reads on over the conversion record after it, which was never seen (neither
    labeled nor quarantined: ``read`` said 2 of 3 documents, no word of the third). It is a
    bad_record entry now, as one without a Content-Length is, its raw holding that record."""
    over = _wet_record("a1")
    fields = b"fetchTimeMs: 12\r\n"
    metadata = (b"WARC/1.0\r\nWARC-Type: metadata\r\nWARC-Record-ID: <urn:uuid:m1>\r\n"
                b"Content-Type: application/warc-fields\r\nContent-Length: "
                + str(len(fields) + 4 + len(over) - 2).encode() + b"\r\n\r\n" + fields
                + b"\r\n\r\n")  # fmt: skip
    src = tmp_path / "crawl.warc.wet"
    src.write_bytes(_wet_record("a0") + metadata + over + _wet_record("a2"))
    labels = tmp_path / "labels.jsonl"
    assert main(["label", "--json", "--input", str(src), "--output", str(labels)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [json.loads(line)["id"] for line in open(labels)] == ["urn:uuid:a0", "urn:uuid:a2"]
    [entry] = _quarantine(tmp_path / "labels.jsonl.quarantine.jsonl")
    assert (entry["reason"], entry["id"], entry["offset"]) == ("bad_record", "urn:uuid:m1", 1)
    assert entry["detail"].startswith("a metadata record (urn:uuid:m1) whose Content-Length runs "
                                      "on past the record's end, over the 1 WARC record after it")
    assert "urn:uuid:a1" in entry["raw"]
    assert summary["read"] == 3

def test_parquet_compressed_whole_is_told_to_be_decompressed_not_given_a_format(
        tmp_path, capsys):
    """A folder of ``part-0.parquet.gz`` (Parquet gzipped whole: no Parquet reader reads it)
    was refused as files 'of no known format' with 'pass --format (format=) jsonl, parquet or
    wet to read' them; ``--format parquet`` then said only that the file is not Parquet (it
    starts b'\\x1f\\x8b…'). Both now say it is compressed whole and to decompress it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    plain = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"id": ["a"], "text": [GOOD[0]["text"]]}), plain)
    folder = tmp_path / "in"
    folder.mkdir()
    for part in ("part-0", "part-1"):
        (folder / f"{part}.parquet.gz").write_bytes(gzip.compress(plain.read_bytes()))
    alone = folder / "part-0.parquet.gz"
    for given, forced in ((folder, []), (alone, []), (folder, ["--format", "parquet"])):
        assert main(["label", "--input", str(given), "--output", str(tmp_path / "l.jsonl"),
                     *forced]) == 2  # a folder of them or one alone: exit 2 alike
        err = capsys.readouterr().err
        assert "part-0.parquet.gz" in err and "decompress it" in err, err
        assert "pass --format" not in err, err


def test_label_and_execute_fail_when_every_record_of_the_input_is_quarantined(tmp_path, capsys):
    """prox label and prox execute over an input none of whose records could be read said
    "labeled 0 documents" / "executed 3 rows: 0 written", exit 0: a nightly job saw green
    while the whole delivery was unusable (prox label --seed-set failed on it). Both now
    fail (exit 2, an input to fix, as other bad input exits: it exited 1, as for a fault a
    rerun may get past; nothing on stdout even with --json), naming the top reasons and the
    quarantine file, which holds every record, without the type name ("NoDocuments: …");
    no output file is published."""
    src = tmp_path / "bad.jsonl"
    src.write_text('{"id": "a", "content": "Some words of a page."}\n'
                   '{"id": "b", "content": "More words."}\n{not json\n')
    for command in ("label", "execute"):
        out = tmp_path / f"{command}.jsonl"
        quarantine = tmp_path / f"{command}.jsonl.quarantine.jsonl"
        assert main([command, "--json", "--input", str(src), "--output", str(out)]) == 2
        said = capsys.readouterr()
        assert said.out == "" and f"prox {command}: no documents in " in said.err
        assert f"no documents in {src}: all its 3 records were quarantined (2 missing_text, " \
            f"1 malformed_json), each with its reason and detail in {quarantine}: " in said.err
        assert "2 of them hold a string in 'content'" in said.err, said.err
        assert [q["reason"] for q in _quarantine(quarantine)] == [
            "missing_text", "missing_text", "malformed_json"]
        assert not out.exists()


def test_refine_fails_when_every_record_of_the_input_is_quarantined(tmp_path, capsys):
    """prox refine over an input none of whose records could be read said "refined 3
    documents: 0 kept, 0 dropped, 3 quarantined", exit 0, while prox label and prox execute
    failed on it: a nightly job saw green and went on to gate an empty snapshot. It now
    fails as they do (exit 2, nothing on stdout with --json), naming the reasons, the
    quarantine folder (every record in it) and the likeliest text field; the catalog books
    the snapshot failed with that error. The same command again says the same without
    refining anything again (its shards are reused), and the run with the fix succeeds."""
    from prox_tasks.catalog import Catalog

    src = tmp_path / "bad.jsonl"
    src.write_text('{"id": "a", "content": "Some words of a page."}\n'
                   '{"id": "b", "content": "More words."}\n{not json\n')
    out, catalog = tmp_path / "refined", f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    command = ["refine", "--json", "--input", str(src), "--output", str(out), "--catalog",
               catalog, "--model", "default", "--target-docs", "2", "--no-progress"]
    said = None
    for _ in range(2):  # and again: the same failure, the shards reused
        assert main(command) == 2
        again = capsys.readouterr()
        assert again.out == "" and "prox refine: " in again.err
        assert said is None or again.err == said
        said = again.err
    assert f"no documents in {src}: all its 3 records were quarantined (2 missing_text, " \
        f"1 malformed_json), each with its reason and detail in {out.as_uri()}/quarantine/: " \
        "fix the input, or how it is read (text and id fields, format); 2 of them hold a " \
        "string in 'content'" in said, said
    entries = [q for part in sorted((out / "quarantine").glob("shard-*.jsonl.gz"))
               for q in _quarantine(part)]
    assert [q["reason"] for q in entries] == ["missing_text", "missing_text", "malformed_json"]
    booked = Catalog(catalog).get_snapshot("refined")
    assert booked["status"] == "failed" and "no documents in " in booked["error"], booked
    # the fix, over the same folder: its records are read another way, so it is planned anew
    assert main([*command, "--text-field", "content", "--replan"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["docs_kept"] + summary["docs_dropped"] == 2, summary
    assert summary["quarantine_reasons"] == {"malformed_json": 1}
    assert Catalog(catalog).get_snapshot("refined")["status"] == "refined"


def test_a_refine_emptied_by_the_duplicate_ids_policy_names_the_setting_not_the_input(
        tmp_path, capsys):
    """Every record a copy of an id, refined with --duplicate-ids quarantine: the run failed
    with `no documents … (3 duplicate_id) …: fix the input, or how it is read (text and id
    fields, format)`, which sends the user to the input; the setting set them aside. It now
    names it, and the command it gives finishes the snapshot."""
    src = tmp_path / "copies.jsonl"
    src.write_text("".join(f'{{"id": "same", "text": "Words of a page copied {n} times over."}}\n'
                           for n in range(3)))
    out = tmp_path / "refined"
    command = ["refine", "--input", str(src), "--output", str(out), "--catalog",
               f"sqlite:///{tmp_path / 'catalog.sqlite'}", "--model", "default",
               "--no-progress"]
    assert main([*command, "--duplicate-ids", "quarantine"]) == 2
    err = capsys.readouterr().err
    assert "all its 3 records were quarantined (3 duplicate_id)" in err, err
    assert ("; 3 of them are copies of ids the snapshot repeats, every copy set aside by "
            "duplicate_ids quarantine: keep_first (the default) refines the first copy of each "
            "id (prox refine --force --duplicate-ids keep_first;") in err, err
    assert main([*command, "--force", "--duplicate-ids", "keep_first"]) == 0
    assert "2 quarantined (2 duplicate_id)" in capsys.readouterr().out


def test_a_repeated_name_is_quarantined_by_refine_and_execute_not_read_as_its_last_value(
        tmp_path, capsys):
    """A label row whose ``chunk_program`` is written twice ran the second and lost the first
    without a word; a corpus row whose ``text`` is written twice was refined from the second.
    Both are quarantined as ``duplicate_key`` (the raw line keeps both values), and the run
    of the others goes on."""
    rows = [json.dumps(GOOD[0]),
            json.dumps(GOOD[1])[:-1] + ', "chunk_program": "remove_lines(0, 0)"}',
            json.dumps(GOOD[2])[:-1] + ', "text": "another text entirely, longer than one"}']
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(rows) + "\n")
    assert main(["execute", "--json", "--input", str(src),
                 "--output", str(tmp_path / "out.jsonl")]) == 0  # fmt: skip
    summary = json.loads(capsys.readouterr().out)
    assert (summary["read"], summary["written"]) == (3, 1)
    assert summary["quarantine_reasons"] == {"duplicate_key": 2}
    for workers in ("1", "2"):
        out = tmp_path / f"refined-{workers}"
        assert main(["refine", "--json", "--input", str(src), "--output", str(out),
                     "--model", "default", "--no-progress", "--workers", workers,
                     "--target-docs", "1"]) == 0  # fmt: skip
        summary = json.loads(capsys.readouterr().out)
        assert (summary["docs_read"], summary["docs_written"], summary["docs_quarantined"]) \
            == (3, 1, 2)  # fmt: skip
        entries = [q for path in sorted((out / "quarantine").glob("*.jsonl.gz"))
                   for q in _quarantine(path)]  # fmt: skip
        assert sorted((q["offset"], q["reason"]) for q in entries) == [
            (1, "duplicate_key"), (2, "duplicate_key")]
