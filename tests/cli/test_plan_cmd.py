"""``prox plan``'s options as ``--help`` shows them."""

import re

import pytest

from prox_tasks.cli import main


def test_plan_help_states_every_default_and_the_byte_target(capsys, monkeypatch):
    """``prox plan --help`` showed no default for --target-docs, --text-field and
    --id-field, and --target-bytes was documented nowhere: each now says its default, the
    document target the one the planner applies."""
    from prox_tasks.corpus.planner import DEFAULT_TARGET_DOCS

    monkeypatch.setenv("COLUMNS", "300")  # argparse wraps at it: one line an option
    with pytest.raises(SystemExit):
        main(["plan", "--help"])
    text = " ".join(capsys.readouterr().out.split()).partition(" options: ")[2]
    for option in ("--target-docs", "--target-bytes", "--text-field", "--id-field"):
        described = re.search(rf"{option} [A-Z_]+ (.*?)(?= --|$)", text)
        assert described and "default" in described[1], (option, text)
    assert f"a new folder: {DEFAULT_TARGET_DOCS:,} when --target-bytes" in text
    assert "(default text; an existing plan's as planned)" in text and "(default id;" in text


def test_a_plan_without_targets_keeps_the_id_of_one_planned_before(tmp_path, capsys):
    """The targets still default to None: a plan's settings record them as given, so a
    plan written before the help text changed is the same plan (no conflict, same id)."""
    import json

    from prox_tasks.corpus import plan_shards

    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": str(i), "text": f"text {i}"}) + "\n"
                           for i in range(5)))
    before = plan_shards(str(src), str(tmp_path / "out"))  # as the library planned it
    assert main(["plan", "--json", "--no-progress", "--input", str(src),
                 "--output", str(tmp_path / "out")]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == before.id


def test_a_plan_naming_no_size_keeps_the_folders_plan_as_planned(tmp_path, capsys):
    """prox plan --target-docs 2, then prox plan again naming no size (a retried script, a
    second command of the README's flow) was refused, 'holds another plan … target_docs 2 ->
    10000': naming no size, it re-opens the folder's plan (same id, as prox refine does); a
    size named otherwise is still a conflict."""
    import json

    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": str(i), "text": f"text {i}"}) + "\n"
                           for i in range(5)))
    out = str(tmp_path / "out")
    args = ["plan", "--json", "--no-progress", "--input", str(src), "--output", out]
    assert main([*args, "--target-docs", "2"]) == 0
    planned = json.loads(capsys.readouterr().out)
    assert planned["shards"] == 3
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["id"] == planned["id"]
    assert main([*args, "--target-docs", "4"]) == 1
    assert "target_docs 2 -> 4" in capsys.readouterr().err


def test_a_plan_naming_no_fields_keeps_the_folders_as_planned(tmp_path, capsys):
    """prox plan --text-field raw_content --id-field url, then prox plan again naming
    neither was refused, 'holds another plan … id_field 'url' -> 'id'; text_field
    'raw_content' -> 'text'': naming none, it re-opens the folder's plan (same id, as
    prox refine does); a field named otherwise is still a conflict."""
    import json

    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"url": f"u{i}", "raw_content": f"text {i}"}) + "\n"
                           for i in range(5)))
    out = str(tmp_path / "out")
    args = ["plan", "--json", "--no-progress", "--input", str(src), "--output", out]
    assert main([*args, "--text-field", "raw_content", "--id-field", "url"]) == 0
    planned = json.loads(capsys.readouterr().out)
    assert main(args) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["id"], again["reused"]) == (planned["id"], True)
    assert main([*args, "--text-field", "text"]) == 1
    err = capsys.readouterr().err
    assert "text_field 'raw_content' -> 'text'" in err and "id_field" not in err, err


@pytest.mark.parametrize("written", ['{"version": ', "[]", "{}", "edited"])
def test_an_unreadable_plan_names_the_way_out_and_overwrite_replaces_it(
        tmp_path, capsys, written):
    """A manifest.json edited by hand or cut short failed prox plan and prox refine with
    'manifest id does not match its content (edited or corrupt)' (or a JSONDecodeError, an
    AttributeError), --overwrite and --replan included: no way out but deleting files by
    hand. It is now a conflict naming --overwrite, which replaces it and removes what the
    unknown plan refined."""
    import json

    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": str(i), "text": f"text {i}"}) + "\n"
                           for i in range(5)))
    out = tmp_path / "out"
    args = ["plan", "--json", "--no-progress", "--input", str(src), "--output", str(out)]
    assert main([*args, "--target-docs", "2"]) == 0
    planned = json.loads(capsys.readouterr().out)
    manifest = out / "manifest.json"
    if written == "edited":
        data = json.loads(manifest.read_text())
        data["settings"]["target_docs"] = 3
        written = json.dumps(data)
    manifest.write_text(written)
    for folder, name in (("shards", "shard-00007.parquet"), ("_status", "shard-00007.json")):
        (out / folder).mkdir(exist_ok=True)
        (out / folder / name).write_text("of the unreadable plan")
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "holds no readable plan: use a new output folder or overwrite it (prox plan " \
        "--overwrite)" in err, err
    assert manifest.read_text() == written  # refused: nothing replaced
    assert main(["refine", "--input", str(src), "--output", str(out), "--no-progress"]) == 1
    assert "holds another plan: use a new output folder or run again with --replan; it " \
        "differs in unreadable plan" in capsys.readouterr().err
    assert main([*args, "--target-docs", "2", "--overwrite"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == planned["id"]
    assert not (out / "shards" / "shard-00007.parquet").exists()
    assert not (out / "_status" / "shard-00007.json").exists()
    assert main(args) == 0  # readable again: re-opened as planned
    assert json.loads(capsys.readouterr().out)["id"] == planned["id"]


@pytest.mark.parametrize("how", ["option", "environment"])
def test_prox_plan_takes_the_document_size_limit_prox_refine_takes(tmp_path, capsys,
                                                                   monkeypatch, how,
                                                                   tagger_model):
    """max_doc_bytes is a planning setting, but ``prox plan`` had no --max-doc-bytes and
    ignored $PROX_MAX_DOC_BYTES, which ``prox refine`` reads: planned with ``prox plan``,
    a folder refined with another limit failed ('holds another plan … differs in
    max_doc_bytes 8388608 -> 4096'). ``prox plan`` takes both now, as refine does."""
    import json

    from prox_tasks.corpus import load_manifest

    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": str(i), "text": "word " * (10 + 1000 * i)}) + "\n"
                           for i in range(2)))  # fmt: skip
    limit = ["--max-doc-bytes", "4096"] if how == "option" else []
    if how == "environment":
        monkeypatch.setenv("PROX_MAX_DOC_BYTES", "4096")
    common = ["--input", str(src), "--output", str(tmp_path / "out"), "--no-progress"]
    assert main(["plan", *common, *limit]) == 0, capsys.readouterr().err
    assert load_manifest(str(tmp_path / "out" / "manifest.json")).settings["max_doc_bytes"] == 4096
    capsys.readouterr()
    assert main(["refine", "--json", *common, *limit, "--model", str(tagger_model)]) == 0, \
        capsys.readouterr().err  # fmt: skip
    assert json.loads(capsys.readouterr().out)["quarantine_reasons"] == {"too_large": 1}


def test_prox_plan_counts_the_files_it_did_not_read_and_the_markers(tmp_path, capsys):
    """prox plan of a Spark output folder said 'planned 1 document from 1 file': its
    part-00000.json and _SUCCESS were not mentioned."""
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.jsonl").write_text('{"id": "a", "text": "one"}\n')
    (src / "part-00000-c0ffee.json").write_text('{"id": "s", "text": "two"}\n')
    (src / "_SUCCESS").write_text("")
    assert main(["plan", "--no-progress", "--input", str(src),
                 "--output", str(tmp_path / "out")]) == 0
    line = capsys.readouterr().out
    assert "from 1 file, 1 input file of no known format not read (file://" in line, line
    assert "part-00000-c0ffee.json" in line and "1 marker left out" in line


def test_plan_refuses_a_folder_without_its_completion_marker(tmp_path, capsys, monkeypatch):
    """A partition Spark is still writing (part-00000 there, part-00001 and _SUCCESS not
    yet) was planned from its first file: ``--partition-marker`` (else
    ``PROX_PARTITION_MARKER``) refuses it, naming the marker and the folder, and plans
    nothing; once the marker lands every file is planned and the marker is not read. The
    plan's id is the one made without a marker (the marker changes no plan)."""
    import json

    def rows(start, n):
        return "".join(json.dumps({"id": str(i), "text": f"text {i}"}) + "\n"
                       for i in range(start, start + n))

    folder, out = tmp_path / "crawl", str(tmp_path / "out")
    folder.mkdir()
    (folder / "part-00000.jsonl").write_text(rows(0, 3))
    args = ["plan", "--json", "--no-progress", "--input", str(folder), "--output", out]
    assert main([*args, "--partition-marker", "_SUCCESS"]) == 1
    said = capsys.readouterr().err
    assert "is not complete: its marker _SUCCESS is not there" in said
    assert f"{folder}/_SUCCESS" in said
    assert not (tmp_path / "out" / "manifest.json").exists()
    monkeypatch.setenv("PROX_PARTITION_MARKER", "_SUCCESS")
    assert main(args) == 1  # the setting alone refuses it too
    capsys.readouterr()
    (folder / "part-00001.jsonl").write_text(rows(3, 2))
    (folder / "_SUCCESS").write_text("")
    assert main(args) == 0
    planned = json.loads(capsys.readouterr().out)
    assert (planned["files"], planned["docs"], planned["markers_left_out"]) == (2, 5, 1)
    monkeypatch.delenv("PROX_PARTITION_MARKER")
    assert main(args) == 0  # no marker configured: the same plan
    assert json.loads(capsys.readouterr().out)["id"] == planned["id"]


def test_a_partition_marker_that_could_be_read_as_input_is_refused(tmp_path, capsys):
    """A marker named as data (``DONE.jsonl``) would be planned as a document file. A
    setting to fix (SettingInvalid): exit 2, as the same marker in PROX_PARTITION_MARKER."""
    (tmp_path / "in.jsonl").write_text('{"id": "1", "text": "a"}\n')
    assert main(["plan", "--no-progress", "--input", str(tmp_path / "in.jsonl"), "--output",
                 str(tmp_path / "out"), "--partition-marker", "DONE.jsonl"]) == 2
    assert "partition_marker 'DONE.jsonl' is not a marker file name" in capsys.readouterr().err


def test_a_marker_for_an_input_naming_one_file_says_the_input_is_a_file(tmp_path, capsys):
    """A marker is looked for beside the partition's files: an input naming one file
    (``PROX_PARTITION_MARKER`` set for the deployment, a file given) was told the partition
    "is not complete", a marker at ``file.jsonl/_SUCCESS`` that can never exist. It is told
    the input names a file and what to give instead."""
    import json

    crawl = tmp_path / "crawl.jsonl"
    crawl.write_text(json.dumps({"id": "a", "text": "text"}) + "\n")
    assert main(["plan", "--no-progress", "--input", str(crawl), "--output",
                 str(tmp_path / "out"), "--partition-marker", "_SUCCESS"]) == 1
    said = capsys.readouterr().err
    assert f"not one file ({crawl})" in said and "is not complete" not in said, said
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_plan_takes_the_catalog_name_as_name_like_refine_and_gate(tmp_path, capsys):
    """prox refine and prox gate take the catalog name as --name; prox plan only as
    --snapshot (which prox gate uses for the folder): `prox plan --name` was a usage error.
    It now takes both."""
    from prox_tasks.catalog import Catalog
    from prox_tasks.cli import main

    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "1", "text": "a line of text"}\n')
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    assert main(["plan", "--input", str(src), "--output", str(tmp_path / "out"),
                 "--name", "crawl-1", "--catalog", url]) == 0
    assert capsys.readouterr().out.rstrip().endswith(", registered as crawl-1")
    with Catalog(url) as catalog:
        assert catalog.get_snapshot("crawl-1")["status"] == "planned"


def test_a_rerun_over_an_unchanged_input_says_the_plan_was_reused(tmp_path, capsys):
    """Rerunning prox plan over the same input with the same settings printed 'planned 5
    documents … into 3 shards' as if it planned again, though it re-opened the folder's plan
    (the input not read again): it now says 'plan reused: …' with the same figures, and
    --json carries reused true (false when the plan was made)."""
    import json

    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": str(i), "text": f"text {i}"}) + "\n"
                           for i in range(5)))
    args = ["plan", "--no-progress", "--input", str(src), "--output", str(tmp_path / "out"),
            "--target-docs", "2"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert first.startswith("planned 5 documents from 1 file into 3 shards")
    assert main(args) == 0
    assert capsys.readouterr().out == first.replace("planned ", "plan reused: ", 1)
    assert main([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["reused"] is True
    assert main([*args, "--json", "--target-docs", "3", "--overwrite"]) == 0
    assert json.loads(capsys.readouterr().out)["reused"] is False


def test_a_rerun_of_plan_keeps_the_status_of_the_snapshot_it_finds_planned_alike(
        tmp_path, capsys):  # fmt: skip
    """``prox plan --name N`` again over a refined, gated snapshot (its plan reused) booked
    it ``planned`` anew: a bare register_snapshot beside refine's booking of a plan, which
    keeps the status of a snapshot planned alike. It now books through that one
    (prox_tasks.refine.booking.register_plan); a new plan is ``planned``."""
    import json

    from prox_tasks.catalog import Catalog

    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": str(i), "text": f"Title {i}\nA sentence of "
                                       f"text number {i} that a page would hold.\n"}) + "\n"
                           for i in range(6)))
    out, url = str(tmp_path / "out"), f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    plan = ["plan", "--no-progress", "--input", str(src), "--output", out, "--name", "n-1",
            "--catalog", url, "--target-docs", "3"]
    assert main(plan) == 0
    assert main(["refine", "--no-progress", "--input", str(src), "--output", out,
                 "--name", "n-1", "--catalog", url]) == 0
    main(["gate", "--snapshot", out, "--name", "n-1", "--catalog", url])  # passed or not
    with Catalog(url) as catalog:
        gated = catalog.get_snapshot("n-1")["status"]
    assert gated in ("gated", "quarantined")
    capsys.readouterr()
    assert main(plan) == 0
    assert capsys.readouterr().out.startswith("plan reused:")
    with Catalog(url) as catalog:
        assert catalog.get_snapshot("n-1")["status"] == gated
    assert main([*plan[:-1], "2", "--overwrite"]) == 0  # another plan: refined anew
    with Catalog(url) as catalog:
        assert catalog.get_snapshot("n-1")["status"] == "planned"


def test_a_plan_name_booked_for_another_folder_is_refused_naming_name(tmp_path, capsys):
    """``prox plan --name N`` with N booked for another folder was told "name this one apart
    (--snapshot)": --snapshot is only the old spelling here, and in ``prox gate`` (which
    takes the name as --name too) --snapshot is the folder, so following the word there
    names the wrong thing. The refusal names --name, as refine and gate do."""
    from prox_tasks.cli import main

    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "1", "text": "a line of text"}\n')
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    assert main(["plan", "--input", str(src), "--output", str(tmp_path / "a"),
                 "--name", "crawl-1", "--catalog", url]) == 0
    capsys.readouterr()
    assert main(["plan", "--input", str(src), "--output", str(tmp_path / "b"),
                 "--name", "crawl-1", "--catalog", url]) == 2
    said = capsys.readouterr().err
    assert "name this one apart (--name)" in said, said
    assert not (tmp_path / "b" / "manifest.json").exists()
