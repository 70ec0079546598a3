"""Readers: every format, configurable fields, bad input quarantined and counted."""

import gzip
import json
import os

import pytest
import zstandard

from prox_tasks.corpus import (
    BadRecordError,
    Quarantine,
    content_id,
    read_documents,
    write_documents,
)
from tests.corpus.conftest import write_jsonl


@pytest.mark.parametrize("name", ["docs.jsonl", "docs.jsonl.gz", "docs.jsonl.zst", "docs.parquet"])
def test_every_format_reads_back_what_was_written(tmp_path, sample_rows, name):
    uri = str(tmp_path / name)
    assert write_documents(uri, sample_rows) == len(sample_rows)
    docs = list(read_documents(uri))
    assert [d.id for d in docs] == [r["id"] for r in sample_rows]
    assert [d.text for d in docs] == [r["text"] for r in sample_rows]
    assert [d.offset for d in docs] == list(range(len(sample_rows)))
    assert docs[0].source == f"file://{uri}"
    assert docs[0].meta["url"] == sample_rows[0]["url"]
    assert "text" not in docs[0].meta and "id" not in docs[0].meta


def test_real_common_crawl_wet(wet_file):
    docs = list(read_documents(wet_file))
    assert len(docs) == 1  # the warcinfo record is not a document
    doc = docs[0]
    assert doc.id == "urn:uuid:ba729a40-ff84-4085-8d48-0a5b2ee0c42d"
    assert doc.meta["url"] == "https://an.wikipedia.org/wiki/Escopete"
    assert doc.meta["language"] == "spa"
    assert doc.offset == 0 and "Escopete" in doc.text


def test_text_and_id_fields_are_configurable_and_ids_hash_the_content(tmp_path):
    uri = write_jsonl(tmp_path / "rc.jsonl", [{"raw_content": "hello world", "doc": "a"},
                                              {"raw_content": "no id here"}])
    shelf = Quarantine()  # a row without the id field named: missing_id, not a hash
    docs = list(read_documents(uri, text_field="raw_content", id_field="doc", quarantine=shelf))
    assert [d.id for d in docs] == ["a"] and shelf.reasons == {"missing_id": 1}
    docs = list(read_documents(uri, text_field="raw_content"))  # without the default id
    assert [d.id for d in docs] == [content_id("hello world"), content_id("no id here")]
    assert len(content_id("x")) == 32 and content_id("x") == content_id("x")


def test_an_id_field_named_that_no_row_of_the_first_file_holds_is_refused(tmp_path):
    """``--id-field URL`` for rows holding ``url`` (a typo) gave every document its text's
    hash as id without a word, so every id of the snapshot changed. The reader now refuses
    an id field named otherwise than the default that none of a file's first documents
    holds, naming the fields they hold, before handing any document on; rows without it
    among rows with it keep the hash, and so do rows without the default ``id``."""
    from prox_tasks.corpus.readers import ID_FIELD_PROBE_DOCS, IdFieldMissing
    from prox_tasks.pipeline.errors import cannot_succeed

    rows = [{"url": f"http://a/{i}", "text": f"document {i}"} for i in range(3)]
    uri = write_jsonl(tmp_path / "crawl.jsonl", rows)
    handed_on = []
    with pytest.raises(IdFieldMissing, match=r"^none of the first 3 documents read of "
                       r"file://.*crawl\.jsonl has the id field 'URL' \(--id-field, the "
                       r"id_field Param; their fields: 'text', 'url'\): every id would be its "
                       r"text's hash") as refused:
        handed_on.extend(read_documents(uri, id_field="URL"))
    assert handed_on == []  # none labeled or refined before the refusal
    assert isinstance(refused.value, cannot_succeed())  # a DAG task: no retries
    assert [d.id for d in read_documents(uri, id_field="url")] == [r["url"] for r in rows]
    assert [d.id for d in read_documents(uri)] == [content_id(r["text"]) for r in rows]
    # the field held by a later row within the probe: the rows before it are quarantined
    # (missing_id), not given their text's hash
    later = write_jsonl(tmp_path / "later.jsonl", [*rows, {"url": "u", "doc": "d", "text": "t"}])
    shelf = Quarantine()
    assert [d.id for d in read_documents(later, id_field="doc", quarantine=shelf)] == ["d"]
    assert shelf.reasons == {"missing_id": 3}
    # past the probe's documents, none holding it: refused though a later row has it
    many = [{"text": f"doc {i}"} for i in range(ID_FIELD_PROBE_DOCS)] + [{"doc": "d", "text": "x"}]
    with pytest.raises(IdFieldMissing, match=f"none of the first {ID_FIELD_PROBE_DOCS} "):
        list(read_documents(write_jsonl(tmp_path / "many.jsonl", many), id_field="doc"))


def test_rows_past_the_probe_without_the_id_field_named_are_quarantined(tmp_path, capsys):
    """``IdFieldMissing`` looks at a file's first 100 documents only: a file whose later
    rows lack the ``--id-field`` field gave those rows their text's hash as id without a
    word (an id of another kind among the url ids, and a rerun of a fixed row another id).
    Each such row is quarantined ``missing_id``, with the fields it holds, in every shard of
    the file (a shard starting mid-file too), counted in the summary and the status records;
    the shard does not fail. Without ``--id-field`` a row lacking ``id`` keeps its hash."""
    from prox_tasks.cli import main
    from prox_tasks.corpus.readers import ID_FIELD_PROBE_DOCS
    from prox_tasks.corpus.writer import read_status

    rows = [{"url": f"http://a/{i}", "text": f"A page {i} with several words in it."}
            for i in range(ID_FIELD_PROBE_DOCS + 30)]
    rows[ID_FIELD_PROBE_DOCS + 5]["url"] = None  # null: no id either
    for i in (ID_FIELD_PROBE_DOCS + 1, ID_FIELD_PROBE_DOCS + 20):
        del rows[i]["url"]
    uri = write_jsonl(tmp_path / "crawl.jsonl", rows)
    out = tmp_path / "snap"
    assert main(["refine", "--input", uri, "--output", str(out), "--id-field", "url",
                 "--target-docs", "60", "--no-progress", "--json",
                 "--catalog", f"sqlite:///{tmp_path / 'catalog.sqlite'}"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["quarantine_reasons"] == {"missing_id": 3}, summary
    statuses = [read_status(str(out), i) for i in range(summary["shards"])]
    assert len(statuses) == 3 and [s["quarantine_reasons"] for s in statuses] == [
        {}, {"missing_id": 2}, {"missing_id": 1}]  # shards 1 and 2 start mid-file
    shelf = [json.loads(line) for i in (1, 2) for line in gzip.open(
        out / "quarantine" / f"shard-{i:05d}.jsonl.gz", "rt")]
    assert [(q["offset"], q["reason"]) for q in shelf] == [
        (ID_FIELD_PROBE_DOCS + 1, "missing_id"), (ID_FIELD_PROBE_DOCS + 5, "missing_id"),
        (ID_FIELD_PROBE_DOCS + 20, "missing_id")]
    assert shelf[0]["detail"].startswith("the id field 'url' (--id-field, the id_field Param) "
                                         "is absent (its fields: 'text')"), shelf[0]
    assert shelf[1]["detail"].startswith("the id field 'url' (--id-field, the id_field Param) "
                                         "is None (its fields: 'url', 'text')"), shelf[1]
    ids = [d.id for d in read_documents(uri, id_field="url", quarantine=Quarantine())]
    assert len(ids) == len(rows) - 3 and all(i.startswith("http://a/") for i in ids)
    # the default id field: a row without it keeps its text's hash, as documented
    assert len(list(read_documents(uri))) == len(rows)


def test_prox_plan_and_label_refuse_an_id_field_no_row_holds(tmp_path, capsys):
    """prox plan (and prox refine, which plans first) refuses before writing a plan, prox
    label before labeling: exit 2, a setting to fix; the field as the rows spell it works."""
    from prox_tasks.cli import main

    rows = [{"url": f"http://a/{i}", "text": f"A document {i} with a few words."}
            for i in range(3)]
    uri = write_jsonl(tmp_path / "crawl.jsonl", rows)
    catalog = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    commands = {
        "plan": ["plan", "--input", uri, "--output", str(tmp_path / "snap"), "--catalog",
                 catalog],
        "label": ["label", "--input", uri, "--output", str(tmp_path / "labels.jsonl"),
                  "--no-progress"],
    }
    for name, args in commands.items():
        assert main([*args, "--id-field", "URL"]) == 2, name
        err = capsys.readouterr().err
        assert err.startswith(f"prox {name}: none of the first 3 documents read of ") and \
            "has the id field 'URL'" in err and "their fields: 'text', 'url'" in err, err
    assert not (tmp_path / "snap").exists() and not (tmp_path / "labels.jsonl").exists()
    for name, args in commands.items():
        assert main([*args, "--id-field", "url"]) == 0, (name, capsys.readouterr().err)


def test_an_id_field_named_for_wet_input_is_refused_not_ignored(tmp_path, capsys):
    """WET records have no fields: a WET document's id is its WARC-Record-ID
    (docs/storage.md). ``prox plan --input x.wet.gz --id-field url`` planned (and refined)
    with the option ignored without a word; it is refused (exit 2: a setting to fix, no
    plan written), for a WET file further down a folder too, and a shard's read of a WET
    file refuses it whatever its start. The default ``id`` reads as before."""
    import shutil

    from prox_tasks.cli import main
    from prox_tasks.corpus import plan_shards
    from prox_tasks.corpus.readers import IdFieldMissing, ReadOptions, read_file
    from prox_tasks.pipeline.errors import cannot_succeed
    from tests.corpus.conftest import WET

    wet = tmp_path / "crawl.warc.wet.gz"
    shutil.copy(WET, wet)
    out = tmp_path / "snap"
    assert main(["plan", "--input", str(wet), "--output", str(out), "--id-field", "url"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"prox plan: file://{wet} is WET, whose records have no fields: a "
                          "WET document's id is its WARC-Record-ID, not the id field 'url' "
                          "(--id-field, the id_field Param); leave it out for WET input"), err
    assert not out.exists()
    # a folder whose first file is JSONL holding the field, a WET file after it
    folder = tmp_path / "mixed"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", [{"url": "http://a/", "text": "a page of words"}])
    shutil.copy(WET, folder / "b.warc.wet.gz")
    with pytest.raises(IdFieldMissing, match=r"b\.warc\.wet\.gz is WET") as refused:
        plan_shards(str(folder), str(tmp_path / "mixed-snap"), id_field="url")
    assert isinstance(refused.value, cannot_succeed())  # a DAG task: no retries
    with pytest.raises(IdFieldMissing, match="is WET"):  # a shard from the middle
        next(read_file(str(wet), ReadOptions(id_field="url"), None, start=1))
    assert main(["plan", "--input", str(wet), "--output", str(out), "--id-field", "id"]) == 0
    docs = list(read_documents(str(wet)))
    assert docs and all(d.id.startswith("urn:uuid:") for d in docs)


def test_bad_input_is_quarantined_with_reasons_and_counted(tmp_path):
    giant = "x" * (50 * 1024 * 1024)  # a 50 MB document
    lines = [
        json.dumps({"id": "ok1", "text": "fine"}).encode(),
        b'{"id": "broken", "text": "unterminated',
        json.dumps({"id": "latin1", "text": "caf\u00e9"}).encode().replace(b"\\u00e9", b"\xe9"),
        json.dumps({"id": "empty", "text": "   "}).encode(),
        json.dumps({"id": "none"}).encode(),
        json.dumps({"id": "num", "text": 42}).encode(),
        b"[1, 2, 3]",
        b"",  # blank line: not a record
        json.dumps({"id": "giant", "text": giant}).encode(),
        json.dumps({"id": "ok2", "text": "also fine"}).encode(),
    ]
    path = tmp_path / "bad.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n", compresslevel=1))
    quarantine = Quarantine(max_raw_bytes=1000)
    docs = list(read_documents(str(path), quarantine=quarantine))
    assert [d.id for d in docs] == ["ok1", "ok2"]
    assert [d.offset for d in docs] == [0, 9]
    assert dict(quarantine.reasons) == {
        "malformed_json": 1, "bad_encoding": 1, "empty_text": 1, "missing_text": 1,
        "not_text": 1, "not_an_object": 1, "too_large": 1,
    }
    records = {r["offset"]: r for r in quarantine.records()}
    assert records[1]["reason"] == "malformed_json" and records[1]["raw"].startswith('{"id"')
    assert records[2]["reason"] == "bad_encoding" and "raw_b64" in records[2]
    assert records[8]["reason"] == "too_large" and records[8]["truncated"] is True
    assert records[8]["raw_bytes"] > 50 * 1024 * 1024
    assert "fits max_doc_bytes" in records[8]["detail"]  # the limit that set it aside
    assert records[4]["id"] == "none"
    non_blank = sum(1 for line in lines if line.strip())
    assert len(docs) + len(quarantine) == non_blank  # every record accounted for
    out = tmp_path / "q.jsonl.gz"
    quarantine.write(str(out))
    written = [json.loads(x) for x in gzip.decompress(out.read_bytes()).splitlines()]
    assert [w["reason"] for w in written] == [r["reason"] for r in quarantine.records()]


def test_without_a_quarantine_bad_input_raises(tmp_path):
    uri = write_jsonl(tmp_path / "a.jsonl", [{"id": "a", "text": ""}])
    with pytest.raises(BadRecordError, match="record 0: empty_text"):
        list(read_documents(uri))


def test_bad_parquet_rows_are_quarantined(tmp_path):
    uri = str(tmp_path / "p.parquet")
    write_documents(uri, [{"id": "a", "text": "ok"}, {"id": "b", "text": None},
                          {"id": "c", "text": ""}])
    quarantine = Quarantine()
    assert [d.id for d in read_documents(uri, quarantine=quarantine)] == ["a"]
    assert dict(quarantine.reasons) == {"missing_text": 1, "empty_text": 1}
    assert [r["offset"] for r in quarantine.records()] == [1, 2]


def test_folders_and_globs_read_files_in_sorted_order(tmp_path, sample_rows):
    (tmp_path / "snap" / "b").mkdir(parents=True)
    write_jsonl(tmp_path / "snap" / "b" / "part-1.jsonl", sample_rows[5:10])
    write_jsonl(tmp_path / "snap" / "a.jsonl.gz", sample_rows[:5], compress=True)
    (tmp_path / "snap" / "README.md").write_text("not data")
    (tmp_path / "snap" / "c.jsonl.zst").write_bytes(
        zstandard.ZstdCompressor().compress(
            "".join(json.dumps(r) + "\n" for r in sample_rows[10:12]).encode()))
    ids = [d.id for d in read_documents(str(tmp_path / "snap"))]
    assert ids == [r["id"] for r in sample_rows[:12]]
    globbed = [d.id for d in read_documents(str(tmp_path / "snap" / "*.jsonl*"))]
    assert globbed == [r["id"] for r in sample_rows[:5] + sample_rows[10:12]]


def test_empty_input_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        list(read_documents(str(tmp_path / "nothing-*.jsonl")))


def test_a_folder_of_files_with_no_known_format_names_them_and_the_way_to_read_them(
        tmp_path, sample_rows, capsys):
    """Spark's JSON Lines output (``part-00000-….json``, ``.json.gz``): nothing in the
    folder looks like JSONL, so nothing is read — the error names the files it skipped and
    ``--format``, which reads them (every row once)."""
    from prox_tasks.cli import main

    spark = tmp_path / "spark"
    spark.mkdir()
    write_jsonl(spark / "part-00000-c0.json", sample_rows[:3])
    write_jsonl(spark / "part-00001-c0.json.gz", sample_rows[3:5], compress=True)
    with pytest.raises(FileNotFoundError, match=r": pass --format \(format=\) jsonl, parquet "
                       r"or wet to read the 2 files of no known format it skipped \(.*"
                       r"part-00000-c0.json, .*part-00001-c0.json.gz\)$"):
        list(read_documents(str(spark)))
    assert main(["plan", "--input", str(spark), "--output", str(tmp_path / "out"),
                 "--format", "jsonl", "--json"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["docs"] == 5


def test_a_json_array_export_read_as_jsonl_says_how_to_convert_it(tmp_path, capsys):
    """``export.json`` holding one JSON array: without ``--format`` the error says to pass
    it, with ``--format jsonl`` it said the file is not JSONL and to check ``--format`` or
    leave it out — back to the first error; it now names the array and the conversion."""
    from prox_tasks.cli import main

    path = tmp_path / "export.json"
    path.write_text(json.dumps([{"id": "a", "text": "one"}, {"id": "b", "text": "two"}],
                               indent=2))
    args = ["refine", "--input", str(path), "--output", str(tmp_path / "out"), "--format",
            "jsonl", "--no-progress"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "export.json is one JSON array, not JSON Lines (one object a line; it starts " \
        "b'[" in err, err
    assert "convert it, e.g. jq -c '.[]' FILE > FILE.jsonl, and read that" in err
    assert not (tmp_path / "out").exists()


def test_a_utf8_byte_order_mark_does_not_cost_the_first_row(tmp_path):
    from prox_tasks.corpus import Quarantine, read_rows

    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b'{"id": "1", "text": "first"}\n{"id": "2", "text": "second"}\n')
    quarantine = Quarantine()
    assert [row["id"] for _s, _l, row in read_rows(str(path), quarantine)] == ["1", "2"]
    assert len(quarantine) == 0
    docs = list(read_documents(str(path), quarantine=quarantine))
    assert [d.text for d in docs] == ["first", "second"] and len(quarantine) == 0


def test_byte_order_marks_of_concatenated_files_cost_no_row(tmp_path):
    """``cat a.jsonl b.jsonl c.jsonl`` of files a Windows tool wrote each with a UTF-8 byte
    order mark puts b's and c's at a line's start: those rows are read (before, each was
    quarantined as malformed_json, 'Unexpected UTF-8 BOM'), and planning counts them alike."""
    from prox_tasks.corpus import Quarantine, plan_shards, read_rows, read_shard

    bom = b"\xef\xbb\xbf"
    parts = [bom + json.dumps({"id": str(i), "text": f"document {i} " * 20}).encode() + b"\n"
             for i in range(3)]
    path = tmp_path / "in" / "all.jsonl"
    path.parent.mkdir()
    path.write_bytes(b"".join(parts) + bom + b"\n")  # a BOM alone on a line: blank
    quarantine = Quarantine()
    assert [row["id"] for _s, _l, row in read_rows(str(path), quarantine)] == ["0", "1", "2"]
    manifest = plan_shards(str(path), str(tmp_path / "out"), target_docs=2)
    assert manifest.total_docs == 3
    docs = [d for i in range(len(manifest.shards)) for d in read_shard(manifest, i, quarantine)]
    assert [(d.id, d.offset) for d in docs] == [("0", 0), ("1", 1), ("2", 2)]
    assert len(quarantine) == 0


@pytest.mark.parametrize("tail", [b"\xef\xbb\xbf", b"\xef\xbb\xbf\r"], ids=["bom", "bom_cr"])
def test_a_byte_order_mark_alone_at_the_end_of_a_file_is_no_record(tmp_path, tail):
    """An empty file saved as UTF-8 with a BOM (Notepad) and joined last (``cat``) leaves a
    BOM alone at the file's end, with no line end: it was one ``malformed_json`` record
    ('Expecting value at column 1', nothing to see in it) and a file of it alone one bad
    record, not an empty input; a BOM alone on a line ending in ``\n`` was blank already."""
    from prox_tasks.corpus import Quarantine, plan_shards, read_rows, read_shard
    from prox_tasks.corpus.readers import EmptyInput

    rows = [json.dumps({"id": str(i), "text": f"document {i} " * 20}).encode() + b"\n"
            for i in range(2)]
    path = tmp_path / "in" / "all.jsonl"
    path.parent.mkdir()
    path.write_bytes(b"".join(rows) + tail)
    quarantine = Quarantine()
    assert [row["id"] for _s, _l, row in read_rows(str(path), quarantine)] == ["0", "1"]
    manifest = plan_shards(str(path), str(tmp_path / "out"), target_docs=2)
    assert manifest.total_docs == 2
    assert [d.id for d in read_shard(manifest, 0, quarantine)] == ["0", "1"]
    assert len(quarantine) == 0
    path.write_bytes(tail)
    with pytest.raises(EmptyInput):
        plan_shards(str(path), str(tmp_path / "out2"), target_docs=2)


def test_a_plan_that_counted_a_trailing_byte_order_mark_as_a_record_is_refused(tmp_path):
    """A plan made before a BOM alone at a file's end was no record counts it as one, of 0
    bytes: read now, its shard held one record fewer than planned, and prox refine failed
    with an AccountingError ('read 3 != written 2 + quarantined 0') that says to fix a
    cause and run the same command again. It is a ``StalePlan`` naming the way out."""
    import dataclasses

    from prox_tasks.corpus import Quarantine, plan_shards, read_shard
    from prox_tasks.corpus.manifest import Manifest, Segment, ShardPlan
    from prox_tasks.corpus.planner import StalePlan, read_snapshot

    path = tmp_path / "in" / "a.jsonl"
    path.parent.mkdir()
    path.write_bytes(b"".join(json.dumps({"id": str(i), "text": f"document {i} " * 20}).encode()
                              + b"\n" for i in range(2)) + b"\xef\xbb\xbf")  # fmt: skip
    now = plan_shards(str(path), str(tmp_path / "out"), target_docs=100, write=False)
    (a,) = now.files
    old_a = dataclasses.replace(a, records=3)  # as the older prox scanned it: 3 records
    old = Manifest(now.input_uri, now.output_uri, now.settings, [old_a],
                   [ShardPlan(0, 3, a.bytes, [Segment(a.uri, "jsonl", 0, 3, 3, a.bytes)])])
    for read in (lambda: read_shard(old, 0, Quarantine()),
                 lambda: read_snapshot(old, Quarantine())):  # fmt: skip
        with pytest.raises(StalePlan, match="prox plan --overwrite.*records 0-2 as 3 records"):
            list(read())
    assert [d.id for d in read_shard(now, 0, Quarantine())] == ["0", "1"]


def test_file_names_with_uri_characters_are_read_as_named(tmp_path):
    """`%41` must not be unquoted into `A` (reading pA.jsonl twice and p%41.jsonl never),
    and `#` or `?` must not cut the name."""
    folder = tmp_path / "names"
    folder.mkdir()
    names = {"pA.jsonl": "A", "p%41.jsonl": "P", "h#1.jsonl": "H", "q?x.jsonl": "Q",
             "with space.jsonl": "S", "ü.jsonl": "U"}  # fmt: skip
    for name, prefix in names.items():
        (folder / name).write_text(json.dumps({"id": prefix, "text": f"text of {name}"}) + "\n")
    quarantine = Quarantine()
    docs = list(read_documents(str(folder), quarantine=quarantine))
    assert sorted(d.id for d in docs) == sorted(names.values()) and len(quarantine) == 0
    for name, prefix in names.items():  # each file by its canonical URI, as the plan names it
        [doc] = read_documents(f"file://{folder / name}")
        assert doc.id == prefix
    assert [d.id for d in read_documents(f"file://{folder}/q?x.jsonl")] == ["Q"]  # a glob


def test_a_symlinked_subfolder_is_read_once(tmp_path):
    outside = tmp_path / "ext"
    outside.mkdir()
    (outside / "e.jsonl").write_text(json.dumps({"id": "e", "text": "outside"}) + "\n")
    folder = tmp_path / "tree"
    folder.mkdir()
    (folder / "a.jsonl").write_text(json.dumps({"id": "a", "text": "inside"}) + "\n")
    (folder / "linked").symlink_to(outside)
    (folder / "again").symlink_to(outside)  # the same real folder twice
    (folder / "loop").symlink_to(folder)  # a link back up the tree
    assert sorted(d.id for d in read_documents(str(folder))) == ["a", "e"]


@pytest.mark.parametrize("value", ["NaN", "-Infinity", "1e999"])
def test_numbers_json_does_not_have_are_quarantined_not_written_back(tmp_path, value):
    """Python's json reads NaN/Infinity (and 1e999 as inf) and writes them back: output a
    strict JSON parser rejects."""
    path = tmp_path / "rows.jsonl"
    path.write_text(f'{{"id": "bad", "text": "some text", "score": {value}}}\n'
                    '{"id": "good", "text": "more text", "score": 0.5}\n')
    quarantine = Quarantine()
    assert [d.id for d in read_documents(str(path), quarantine=quarantine)] == ["good"]
    assert [(q["offset"], q["reason"]) for q in quarantine.records()] == [(0, "bad_number")]


@pytest.mark.parametrize("fmt", ["parquet", "wet"])
def test_a_forced_format_the_file_is_not_in_is_refused_at_once(tmp_path, fmt):
    import gzip

    from prox_tasks.corpus.readers import input_files

    path = tmp_path / "crawl.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write('{"id": "a", "text": "hello"}\n')
    with pytest.raises(ValueError, match=f"is not a {fmt} file"):
        input_files(str(path), fmt)
    plain = tmp_path / "crawl.txt"  # a name that tells nothing: the forced format is read
    plain.write_text('{"id": "a", "text": "hello"}\n')
    assert input_files(str(plain), "jsonl") == [(plain.as_uri(), "jsonl")]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_a_forced_jsonl_format_takes_a_windows_export_the_reader_reads(tmp_path, encoding):
    """A Windows export named ``.json`` (a UTF-8 byte order mark, or UTF-16) read with
    ``--format jsonl``: the reader skips the mark and transcodes UTF-16, so the format
    check must see the file as the reader does, not refuse it as 'not a jsonl file'."""
    from prox_tasks.corpus.readers import input_files

    path = tmp_path / "export.json"
    path.write_text('{"id": "a", "text": "hello"}\n{"id": "b", "text": "world"}\n',
                    encoding=encoding)
    assert input_files(str(path), "jsonl") == [(path.as_uri(), "jsonl")]
    assert [d.id for d in read_documents(str(path), format="jsonl")] == ["a", "b"]


def test_hive_partition_values_reach_the_documents_meta(tmp_path):
    """A crawl partitioned as Spark, Hive and pyarrow write it
    (``date=2024-01-01/lang=en/part-0.parquet``) holds the partition columns in its folder
    names only: read file by file, the date and language were lost. Each ``column=value``
    folder now reaches the meta of the file's documents, through the plan and the refined
    shard; a field the row has keeps its own value, a Hive null is null, an escaped value
    is unescaped."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from prox_tasks.corpus import plan_shards, read_shard, write_refined_shard
    from tests.corpus.conftest import refine_rows

    text = "A line of a page that is long enough to count for something here. "
    en = tmp_path / "in" / "date=2024-01-01" / "lang=en"
    fr = tmp_path / "in" / "date=2024-01-02" / "lang=__HIVE_DEFAULT_PARTITION__"
    odd = tmp_path / "in" / "date=2024%2F01%2F03" / "lang=de"
    for folder in (en, fr, odd):
        folder.mkdir(parents=True)
    pq.write_table(pa.table({"id": ["e0", "e1"], "text": [text, text + "!"]}),
                   en / "part-0.parquet")
    (fr / "part-0.jsonl").write_text(json.dumps({"id": "f0", "text": text, "lang": "fr"}) + "\n")
    (fr / "part-1.jsonl").write_text(json.dumps({"id": "f1", "text": text}) + "\n")
    (odd / "part-0.jsonl").write_text(json.dumps({"id": "d0", "text": text}) + "\n")
    expected = {"e0": {"date": "2024-01-01", "lang": "en"},
                "e1": {"date": "2024-01-01", "lang": "en"},
                "f0": {"lang": "fr", "date": "2024-01-02"},
                "f1": {"date": "2024-01-02", "lang": None},
                "d0": {"date": "2024/01/03", "lang": "de"}}
    assert {d.id: d.meta for d in read_documents(str(tmp_path / "in"))} == expected
    out = tmp_path / "out"
    manifest = plan_shards(str(tmp_path / "in"), str(out), target_docs=2)
    for shard in manifest.shards:
        docs = list(read_shard(manifest, shard.index, Quarantine()))
        write_refined_shard(str(out), shard.index, refine_rows(docs), quarantine=Quarantine())
    rows = pq.read_table(out / "shards", columns=["id", "meta"]).to_pylist()
    assert {r["id"]: json.loads(r["meta"]) for r in rows} == expected
    # the file named alone has no partition below it (as Spark and pyarrow read it)
    assert [d.meta for d in read_documents(str(fr / "part-0.jsonl"))] == [{"lang": "fr"}]
    glob = read_documents(str(tmp_path / "in" / "date=2024-01-0[12]" / "*" / "*.jsonl"))
    assert {d.id: d.meta for d in glob} == {k: expected[k] for k in ("f0", "f1")}


def test_a_partition_column_named_twice_with_other_values_is_refused_at_plan(tmp_path, capsys):
    """``lang=en/lang=fr/part.jsonl`` gave its documents ``lang: fr`` alone, the ``en``
    lost without a word. Planning it (and reading it) is now refused before the crawl is
    scanned, naming the file, the column and both values; no plan is written. The same
    value twice loses nothing and is read once."""
    from prox_tasks.cli import main
    from prox_tasks.corpus import plan_shards
    from prox_tasks.corpus.partitions import PartitionConflict
    from prox_tasks.pipeline.errors import cannot_succeed

    row = json.dumps({"id": "a", "text": "A line of a page long enough to count here."})
    nested = tmp_path / "in" / "lang=en" / "lang=fr"
    nested.mkdir(parents=True)
    (nested / "part.jsonl").write_text(row + "\n")
    out = tmp_path / "out"
    with pytest.raises(PartitionConflict) as refused:
        plan_shards(str(tmp_path / "in"), str(out))
    said = str(refused.value)
    assert str(nested / "part.jsonl") in said and "'lang'" in said
    assert "'en' then 'fr'" in said and said.startswith("move or rename the folders")
    assert not (out / "manifest.json").exists()
    assert isinstance(refused.value, cannot_succeed())  # the DAG's plan task: no retries
    with pytest.raises(PartitionConflict):
        list(read_documents(str(tmp_path / "in")))
    assert main(["plan", "--input", str(tmp_path / "in"), "--output", str(out)]) == 1
    err = capsys.readouterr().err
    assert "PartitionConflict" in err and "'en' then 'fr'" in err
    same = tmp_path / "same" / "lang=en" / "lang=en"
    same.mkdir(parents=True)
    (same / "part.jsonl").write_text(row + "\n")
    assert [d.meta for d in read_documents(str(tmp_path / "same"))] == [{"lang": "en"}]


def test_a_column_value_folder_above_the_input_is_no_partition_of_it(tmp_path):
    """A ``column=value`` folder above the folder named (``/data/lr=0.1/crawl/``: a
    user's naming, not a partition of the crawl) gave every document ``meta.lr``; Spark
    and pyarrow take partitions below the data set's root only, and so does prox now."""
    from prox_tasks.corpus import plan_shards, read_shard

    crawl = tmp_path / "lr=0.1" / "crawl"
    (crawl / "date=2024-01-01").mkdir(parents=True)
    write_jsonl(crawl / "date=2024-01-01" / "a.jsonl", [{"id": "a", "text": "A text here."}])
    assert [d.meta for d in read_documents(str(crawl))] == [{"date": "2024-01-01"}]
    manifest = plan_shards(str(crawl), str(tmp_path / "out"), target_docs=10)
    assert [d.meta for d in read_shard(manifest, 0, Quarantine())] == [{"date": "2024-01-01"}]


def test_a_plan_made_before_partitions_were_read_is_resumed_without_them(tmp_path):
    """A snapshot planned by a prox that did not read Hive partitions, resumed after the
    upgrade, gave its later shards ``meta.date`` and its earlier ones none: one snapshot,
    two readings of the same files, with no conflict or warning. Its plan records no
    partition root, so its shards are read as planned; planning it again (``--replan``,
    ``prox plan --overwrite``) is another plan, refined anew with the partitions."""
    from prox_tasks.corpus import load_manifest, plan_shards, read_shard
    from prox_tasks.corpus.manifest import Manifest

    crawl = tmp_path / "in"
    (crawl / "date=2024-01-01").mkdir(parents=True)
    write_jsonl(crawl / "date=2024-01-01" / "a.jsonl",
                [{"id": f"d{i}", "text": f"A text here {i}."} for i in range(4)])
    out = tmp_path / "out"
    new = plan_shards(str(crawl), str(out), target_docs=2, write=False)
    old = Manifest(new.input_uri, new.output_uri, new.settings, new.files, new.shards)
    assert "partition_root" not in old.to_json()
    (out).mkdir()
    old.write()  # as the prox before partitions wrote it
    assert old.id != new.id
    resumed = plan_shards(str(crawl), str(out), target_docs=2)  # a rerun keeps the plan
    assert resumed.id == old.id
    for index in (0, 1):
        assert [d.meta for d in read_shard(resumed, index, Quarantine())] == [{}, {}]
    replanned = plan_shards(str(crawl), str(out), target_docs=2, overwrite=True)
    assert replanned.id == new.id == load_manifest(str(out)).id
    assert [d.meta for d in read_shard(replanned, 1, Quarantine())] == [{"date": "2024-01-01"}] * 2
    part = load_manifest(str(out)).part([1])
    assert [d.meta for d in read_shard(part, 1, Quarantine())] == [{"date": "2024-01-01"}] * 2


def test_a_plan_of_an_input_without_partitions_keeps_its_id_across_the_upgrade(tmp_path):
    """Every plan recorded its partition root (3d22994), which is part of its id: a folder
    with no ``column=value`` folder in it, planned by the prox before, planned again
    (``--replan``, ``prox plan --overwrite``, a StalePlan's way out) was another plan, so
    every refined shard was removed and refined anew, though its documents read the same.
    A plan records a root only when a file has a partition below it."""
    from prox_tasks.corpus import load_manifest, plan_shards
    from prox_tasks.corpus.manifest import Manifest

    crawl = tmp_path / "in"
    crawl.mkdir()
    write_jsonl(crawl / "a.jsonl", [{"id": f"d{i}", "text": f"A text here {i}."}
                                    for i in range(4)])
    out = tmp_path / "out"
    new = plan_shards(str(crawl), str(out), target_docs=2, write=False)
    old = Manifest(new.input_uri, new.output_uri, new.settings, new.files, new.shards)
    out.mkdir()
    old.write()  # as the prox before partitions wrote it
    (out / "_status").mkdir()
    kept = out / "_status" / "shard-00000.json"
    kept.write_text("{}")  # stands for a refined shard: a replaced plan's are removed
    replanned = plan_shards(str(crawl), str(out), target_docs=2, overwrite=True)
    assert replanned.id == old.id == load_manifest(str(out)).id
    assert kept.exists()


def test_an_input_file_that_cannot_be_opened_is_named_before_planning(tmp_path):
    """A link to a file that is gone (a crawl folder of links into a store that was
    cleaned) failed prox plan and refine with 'No such file or directory: …/d.jsonl', a
    file ls shows, and only the first such file. Every such file is now named, with why and
    what to do, before anything is planned."""
    from prox_tasks.corpus import plan_shards
    from prox_tasks.corpus.readers import UnreadableInput

    folder = tmp_path / "in"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", [{"id": "a", "text": "A text."}])
    (folder / "b.jsonl").symlink_to("a.jsonl")  # a link to a file: read as a file
    (folder / "c.jsonl").symlink_to(tmp_path / "gone.jsonl")
    (folder / "d.jsonl").symlink_to("gone-too.jsonl")
    with pytest.raises(UnreadableInput, match=r"^make the input readable .* 2 input files cannot "
                       r"be read: file://.*/c.jsonl \(a link to .*/gone.jsonl, which does not "
                       r"exist\), file://.*/d.jsonl \(a link to gone-too.jsonl"):
        plan_shards(str(folder), str(tmp_path / "out"), target_docs=10)
    with pytest.raises(UnreadableInput):
        list(read_documents(str(folder)))
    for link in ("c.jsonl", "d.jsonl"):
        (folder / link).unlink()
    assert [d.id for d in read_documents(str(folder))] == ["a", "a"]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("given", ["folder", "glob"])
def test_a_loop_of_links_or_a_named_pipe_in_the_input_is_named_before_planning(tmp_path, given):
    """A loop of links (a.jsonl -> b.jsonl -> a.jsonl) in an input folder failed prox plan
    with 'Too many levels of symbolic links', saying nothing of what to do; a named pipe
    (FIFO) hung prox plan, refine and eval for ever, waiting on it for a writer. A glob
    left both (and a link to nothing) out unsaid; given alone, a pipe was 'a file where a
    folder is needed'. Each is now named, with what it is and the way out, before anything
    is opened."""
    from prox_tasks.corpus import plan_shards
    from prox_tasks.corpus.readers import UnreadableInput, read_rows

    folder = tmp_path / "in"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", [{"id": "a", "text": "A text."}])
    (folder / "loop-1.jsonl").symlink_to("loop-2.jsonl")
    (folder / "loop-2.jsonl").symlink_to("loop-1.jsonl")
    os.mkfifo(folder / "pipe.jsonl")
    (folder / "zz.jsonl").symlink_to("gone.jsonl")
    uri = str(folder) if given == "folder" else f"{folder}/*.jsonl"
    with pytest.raises(UnreadableInput, match=(
            r"^make the input readable .* or move the files out of the input: 4 input files "
            r"cannot be read: file://.*/loop-1.jsonl \(a link to loop-2.jsonl, which leads "
            r"back to itself: a loop of links\), .*/loop-2.jsonl .*, file://.*/pipe.jsonl "
            r"\(a named pipe, not a file prox can read\) and 1 more$")):
        plan_shards(uri, str(tmp_path / "out"), target_docs=10)
    with pytest.raises(UnreadableInput, match="pipe.jsonl"):  # prox eval's reader of rows
        list(read_rows(uri))
    for name, what in (("pipe.jsonl", "a named pipe"), ("loop-1.jsonl", "a loop of links"),
                       ("zz.jsonl", "does not exist")):  # each given alone
        with pytest.raises(UnreadableInput, match=f"1 input file cannot be read: .*{what}"):
            plan_shards(str(folder / name), str(tmp_path / "out"), target_docs=10)
    for name in ("loop-1.jsonl", "loop-2.jsonl", "pipe.jsonl", "zz.jsonl"):
        (folder / name).unlink()
    assert plan_shards(uri, str(tmp_path / "out"), target_docs=10).total_docs == 1


def test_a_file_skipped_for_its_format_is_not_checked_for_reading(tmp_path):
    """A README that is a link to nothing (or not readable) beside the data was skipped as
    'not JSONL, Parquet or WET' and never opened; the readability check made it fail the
    whole plan. Only the files to be read are checked."""
    from prox_tasks.corpus import plan_shards
    from prox_tasks.corpus.readers import UnreadableInput, jsonl_files

    folder = tmp_path / "in"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", [{"id": "a", "text": "A text."}])
    (folder / "README").symlink_to(tmp_path / "gone.md")
    (folder / "notes.txt").symlink_to("gone.txt")
    manifest = plan_shards(str(folder), str(tmp_path / "out"), target_docs=10)
    assert manifest.total_docs == 1
    assert [d.id for d in read_documents(str(folder))] == ["a"]
    assert [p.rpartition("/")[2] for p in jsonl_files(str(folder))] == ["a.jsonl"]
    with pytest.raises(UnreadableInput, match="notes.txt"):  # forced: every data file is read
        list(read_documents(str(folder), format="jsonl"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file of mode 000")
def test_an_input_file_without_read_permission_is_named_before_planning(tmp_path):
    """A file of mode 000 (a delivery copied with its owner's umask) is named as such."""
    from prox_tasks.corpus.readers import UnreadableInput

    folder = tmp_path / "in"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", [{"id": "a", "text": "A text."}])
    (folder / "a.jsonl").chmod(0)
    try:
        with pytest.raises(UnreadableInput, match=r"a.jsonl \(no read permission\)"):
            list(read_documents(str(folder)))
    finally:
        (folder / "a.jsonl").chmod(0o644)


@pytest.mark.skipif(os.geteuid() == 0, reason="root lists a folder of mode 000")
def test_an_input_folder_that_cannot_be_listed_fails_instead_of_being_left_out(tmp_path):
    """os.walk passes over a folder it may not list: every file in a sub-folder of mode 000
    was left out of the plan, unseen and uncounted. The listing now fails naming it."""
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    write_jsonl(folder / "a.jsonl", [{"id": "a", "text": "A text."}])
    write_jsonl(folder / "sub" / "b.jsonl", [{"id": "b", "text": "B text."}])
    (folder / "sub").chmod(0)
    try:
        with pytest.raises(PermissionError, match="chmod a\\+rx"):
            list(read_documents(str(folder)))
    finally:
        (folder / "sub").chmod(0o755)


@pytest.mark.skipif(os.geteuid() == 0, reason="root lists a folder of mode 000")
def test_a_hidden_folder_that_cannot_be_listed_fails_nothing(tmp_path):
    """A hidden folder below the input (another user's Spark `_temporary`, a `.Trash-0`)
    is left out of the input anyway, but the listing walked into it, and one prox may not
    list failed the whole run since the unlistable-folder check. It is not entered now."""
    folder = tmp_path / "in"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", [{"id": "a", "text": "A text."}])
    for hidden in ("_temporary", ".Trash-0"):
        (folder / hidden).mkdir()
        write_jsonl(folder / hidden / "b.jsonl", [{"id": "b", "text": "B text."}])
        (folder / hidden).chmod(0)
    try:
        assert [d.id for d in read_documents(str(folder))] == ["a"]
    finally:
        for hidden in ("_temporary", ".Trash-0"):
            (folder / hidden).chmod(0o755)


def test_a_crawl_warc_is_named_as_such_with_what_to_give_instead(tmp_path, capsys):
    """``prox plan``/``prox refine --input whirlwind.warc.gz`` (Common Crawl's WARC, not its
    WET) said "cannot tell the format …; pass --format jsonl, parquet or wet", and
    --format wet reads no text from a WARC. It now says the file is a WARC (response
    records: HTML), to give its WET conversion or use it with prox label --warc; a folder
    holding only crawl files says so too."""
    import shutil
    from pathlib import Path

    from prox_tasks.cli import main

    shared = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    warc = shared / "commoncrawl_warc" / "whirlwind.warc.gz"
    for command in ("plan", "refine"):
        assert main([command, "--input", str(warc), "--output", str(tmp_path / command),
                     "--no-progress"]) == 2  # FormatMismatch: an input to fix
        err = capsys.readouterr().err
        assert "is a WARC (response records: HTML), not a WET" in err, err
        assert "WET conversion" in err and "prox label --input WET --warc" in err
        assert "pass --format" not in err
    folder = tmp_path / "crawl"
    folder.mkdir()
    shutil.copy(warc, folder)
    shutil.copy(warc.with_name("whirlwind.warc.wat.gz"), folder)
    assert main(["plan", "--input", str(folder), "--output", str(tmp_path / "out"),
                 "--no-progress"]) == 2  # no input file to read (NoInputFiles): exit 2
    err = capsys.readouterr().err
    assert "2 crawl files" in err and "is a WARC" in err and "pass --format" not in err


def test_a_crawl_warc_given_as_wet_is_refused_at_plan_time(tmp_path, capsys):
    """``prox plan --input whirlwind.warc.gz --format wet`` exited 0 with one truncated_file
    entry (no conversion record), for the gate to fail on after the refine. A file named
    as a crawl's WARC or WAT is now refused with a forced format as without one, with the
    same way out; a folder of WET files and a WARC, with --format wet, plans the WET files
    (the WARC skipped with a warning)."""
    import shutil
    from pathlib import Path

    from prox_tasks.cli import main

    shared = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    warc = shared / "commoncrawl_warc" / "whirlwind.warc.gz"
    for command in ("plan", "refine"):
        assert main([command, "--input", str(warc), "--format", "wet", "--output",
                     str(tmp_path / command), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert "is a WARC (response records: HTML), not a WET" in err, err
        assert "WET conversion" in err and "prox label --input WET --warc" in err
        assert not (tmp_path / command / "manifest.json").exists()
    folder = tmp_path / "crawl"
    folder.mkdir()
    shutil.copy(warc, folder)
    shutil.copy(warc.with_name("whirlwind.warc.wet.gz"), folder)
    assert main(["plan", "--json", "--input", str(folder), "--format", "wet", "--output",
                 str(tmp_path / "out"), "--no-progress"]) == 0, capsys.readouterr().err
    plan = json.loads(capsys.readouterr().out)
    assert plan["files"] == 1 and plan["docs"] >= 1, plan  # the WET file alone


def test_a_folders_readme_and_license_are_left_out_without_a_notice(tmp_path, caplog, capsys):
    """``prox plan --input data/sample`` (the README's first command) told the user to rename
    the bundled sample's own README.md to .jsonl, and ``--format jsonl`` failed on it as not
    JSON Lines. A folder's docs files (README, LICENSE, NOTICE) are not data: left out
    without a word, not listed as files of no known format; a notes file still is."""
    import shutil
    from pathlib import Path

    from prox_tasks.cli import main
    from prox_tasks.corpus import load_manifest, plan_shards
    from prox_tasks.corpus.readers import FormatMismatch, input_listing

    sample = Path(__file__).resolve().parents[2] / "data" / "sample"
    folder = tmp_path / "sample"
    shutil.copytree(sample, folder)
    (folder / "LICENSE").write_text("CC-BY-4.0\n")
    (folder / "NOTICE.txt").write_text("third-party pages\n")
    for fmt in ([], ["--format", "jsonl"]):
        with caplog.at_level("INFO"):
            assert main(["plan", "--input", str(folder), "--output",
                         str(tmp_path / f"out{len(fmt)}"), *fmt]) == 0
        said = capsys.readouterr().out + caplog.text
        assert "README" not in said and "rename" not in said and "LICENSE" not in said, said
        assert "planned 300 documents from 1 file into 1 shard" in said, said
    assert load_manifest(str(tmp_path / "out0")).skipped_files == []
    (folder / "notes.txt").write_text("what this is\n")
    (folder / "README.jsonl").write_text('{"id": "r", "text": "data by its name"}\n')
    files, skipped = input_listing(str(folder), warn=False)
    assert [p.rpartition("/")[2] for p, _ in files] == ["README.jsonl", "sample.jsonl.gz"]
    assert [s["uri"].rpartition("/")[2] for s in skipped] == ["notes.txt"]
    docs = tmp_path / "docs"  # a folder of docs only: no data, said so
    docs.mkdir()
    (docs / "README.md").write_text("# about\n")
    (docs / "LICENSE").write_text("MIT\n")
    with pytest.raises(FileNotFoundError, match=r"only 2 docs files \(LICENSE, README.md\)"):
        plan_shards(str(docs), str(tmp_path / "docs-out"))
    with pytest.raises(FormatMismatch):  # given alone: read as asked, an error naming it
        input_listing(str(docs / "README.md"))
    (docs / "LICENSE").unlink()  # a folder of one README: no data either (not its format)
    with pytest.raises(FileNotFoundError, match=r"only 1 docs file \(README.md\), no data"):
        input_listing(str(docs))


def test_jsonl_readers_leave_a_folders_readme_out_without_a_warning(tmp_path, caplog):
    """``prox calibrate --gold data/sample`` and ``prox eval`` (the JSONL-only listing) warned
    'skipping …/README.md: not a JSONL file' of the bundled sample's own README: left out
    in the same one place as every input listing, without a word; a notes file still warned
    of."""
    from prox_tasks.corpus.readers import jsonl_files

    folder = tmp_path / "gold"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", [{"id": "a", "text": "A text."}])
    (folder / "README.md").write_text("# gold pages\n")
    (folder / "LICENSE.txt").write_text("CC-BY-4.0\n")
    with caplog.at_level("INFO"):
        assert [p.rpartition("/")[2] for p in jsonl_files(str(folder))] == ["a.jsonl"]
    assert "README" not in caplog.text and "LICENSE" not in caplog.text, caplog.text
    (folder / "notes.txt").write_text("what this is\n")
    with caplog.at_level("WARNING"):
        jsonl_files(str(folder))
    assert "notes.txt: not a JSONL file" in caplog.text


def test_data_named_as_a_docs_file_is_read_not_left_out_unseen(tmp_path):
    """A folder's README and LICENSE are left out silently; but data named so — a JSON
    Lines table ``changes`` or ``authors.txt``, read with ``--format jsonl`` — was left out
    too: its records lost, no warning, not in the plan's skipped files. A docs-named file
    that starts as data does is read as any other; the README beside it is still left out."""
    from prox_tasks.corpus.readers import input_listing

    for name in ("part-0.jsonl", "changes", "authors.txt"):
        (tmp_path / name).write_text(json.dumps({"id": name, "text": f"hello {name}"}) + "\n")
    (tmp_path / "README.md").write_text("# About this data\n")
    (tmp_path / "LICENSE").write_text("")  # empty: no data either
    files, skipped = input_listing(str(tmp_path), "jsonl")
    assert sorted(uri.rpartition("/")[2] for uri, _ in files) == [
        "authors.txt", "changes", "part-0.jsonl"]
    assert skipped == []
    _, skipped = input_listing(str(tmp_path), warn=False)  # no format: counted, not unseen
    assert sorted(s["uri"].rpartition("/")[2] for s in skipped) == ["authors.txt", "changes"]
