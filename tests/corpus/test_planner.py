"""Shard planning: deterministic manifests; shards partition the input exactly."""

import json

import pytest

from prox_tasks.corpus import (
    ManifestConflict,
    Quarantine,
    load_manifest,
    plan_shards,
    read_documents,
    read_shard,
)
from prox_tasks.corpus.planner import read_snapshot
from tests.corpus.conftest import write_jsonl


@pytest.fixture
def snapshot(tmp_path, sample_rows):
    root = tmp_path / "snap"
    root.mkdir()
    write_jsonl(root / "a.jsonl.gz", sample_rows[:17], compress=True)
    rows = [*sample_rows[17:30], "BLANK", {"id": "bad", "text": ""}, *sample_rows[30:]]
    lines = ["" if r == "BLANK" else json.dumps(r) for r in rows]
    (root / "b.jsonl").write_text("\n".join(lines) + "\n")
    return str(root)


def test_the_same_input_and_settings_give_the_same_manifest(snapshot, tmp_path):
    first = plan_shards(snapshot, str(tmp_path / "out1"), target_docs=7)
    second = plan_shards(snapshot, str(tmp_path / "out1"), target_docs=7)  # idempotent
    assert first.to_json() == second.to_json()
    assert load_manifest(str(tmp_path / "out1")).to_json() == first.to_json()
    other = plan_shards(snapshot, str(tmp_path / "out1"), target_docs=7, write=False)
    assert other.id == first.id
    assert plan_shards(snapshot, str(tmp_path / "out2"), target_docs=8).id != first.id


def test_shards_partition_the_records(snapshot, tmp_path):
    manifest = plan_shards(snapshot, str(tmp_path / "out"), target_docs=7)
    assert [s.docs for s in manifest.shards] == [7, 7, 7, 7, 7, 6]  # 41 records: 40 + 1 bad
    assert manifest.total_docs == 41 == sum(f.records for f in manifest.files)
    assert len(manifest.shards[2].segments) == 2  # crosses from a.jsonl.gz into b.jsonl
    seen, total_quarantined = [], 0
    for shard in manifest.shards:
        quarantine = Quarantine()
        docs = list(read_shard(manifest, shard.index, quarantine))
        assert len(docs) + len(quarantine) == shard.docs
        seen += [(d.source, d.offset) for d in docs]
        total_quarantined += len(quarantine)
    assert total_quarantined == 1
    everything = Quarantine()
    assert seen == [(d.source, d.offset) for d in read_documents(snapshot, quarantine=everything)]
    assert len(set(seen)) == len(seen) == 40


@pytest.mark.parametrize("target_docs", [1, 3, 7, 100])
def test_the_snapshot_read_once_is_its_shards_read_one_by_one(snapshot, tmp_path, target_docs):
    """read_snapshot (the duplicate-id pass) reads each file once: the same documents, shards
    and bad records as reading the shards one after another."""
    manifest = plan_shards(snapshot, str(tmp_path / "out"), target_docs=target_docs)
    by_shard, separate = [], Quarantine()
    for shard in manifest.shards:
        by_shard += [(shard.index, d) for d in read_shard(manifest, shard.index, separate)]
    once = Quarantine()
    assert list(read_snapshot(manifest, once)) == by_shard
    # 40 documents; every shard has one, but a shard of the bad record alone (target 1)
    assert len(by_shard) == 40 and len({i for i, _ in by_shard}) >= len(manifest.shards) - 1
    assert [(r["source"], r["offset"], r["reason"]) for r in once.records()] == \
        [(r["source"], r["offset"], r["reason"]) for r in separate.records()]  # fmt: skip


def test_byte_targets(snapshot, tmp_path):
    manifest = plan_shards(snapshot, str(tmp_path / "out"), target_bytes=200_000)
    assert len(manifest.shards) > 1
    assert all(s.bytes >= 200_000 for s in manifest.shards[:-1])
    # A shard closes on the record that reaches the target: no shard has a spare record.
    assert sum(s.docs for s in manifest.shards) == 41


def test_parquet_and_wet_inputs(tmp_path, sample_rows, wet_file):
    from prox_tasks.corpus import write_documents

    pq = str(tmp_path / "in" / "x.parquet")
    write_documents(pq, sample_rows, batch_rows=8)  # 5 row groups
    manifest = plan_shards(pq, str(tmp_path / "out"), target_docs=12)
    assert [s.docs for s in manifest.shards] == [12, 12, 12, 4]
    ids = [d.id for s in manifest.shards for d in read_shard(manifest, s.index)]
    assert ids == [r["id"] for r in sample_rows]
    wet = plan_shards(wet_file, str(tmp_path / "out_wet"))
    assert wet.total_docs == 1 and wet.files[0].format == "wet"
    assert next(read_shard(wet, 0)).meta["language"] == "spa"


def test_a_different_plan_in_the_same_folder_is_refused(snapshot, tmp_path):
    """The refusal names what differs (not two plan ids a person cannot read)."""
    plan_shards(snapshot, str(tmp_path / "out"), target_docs=7)
    with pytest.raises(ManifestConflict, match=r"\(prox plan --overwrite\); it differs in "
                       r"target_docs 7 -> 9$"):
        plan_shards(snapshot, str(tmp_path / "out"), target_docs=9)
    assert plan_shards(snapshot, str(tmp_path / "out"), target_docs=9, overwrite=True)
    late = tmp_path / "snap" / "z-late.jsonl"
    late.write_text('{"id": "late", "text": "a file that arrived after planning"}\n')
    with pytest.raises(ManifestConflict, match=f"differs in input file added: {late.as_uri()}$"):
        plan_shards(snapshot, str(tmp_path / "out"), target_docs=9)


def test_changed_input_is_detected(snapshot, tmp_path):
    manifest = plan_shards(snapshot, str(tmp_path / "out"), target_docs=100)
    with open(f"{snapshot}/b.jsonl", "a") as f:
        f.write('{"id": "late", "text": "appended after planning"}\n')
    with pytest.raises(RuntimeError, match="changed since"):
        list(read_shard(manifest, 0, Quarantine()))


def test_a_rerun_plan_reads_no_record_of_unchanged_input(snapshot, tmp_path, monkeypatch):
    """Planning again (a retried plan task, a rerun) with the same settings reuses the plan
    when no input file changed: a touched file (same bytes) is checked by its fingerprint;
    a file rewritten to the same size is scanned again and refused as another plan."""
    import os

    from prox_tasks.corpus import planner

    first = plan_shards(snapshot, str(tmp_path / "out"), target_docs=7)
    scanned = []
    real = planner.FORMATS["jsonl"].scan  # a spy: counts the files scanned, reads them as is
    monkeypatch.setattr(planner.FORMATS["jsonl"], "scan",
                        lambda path, *a: scanned.append(path) or real(path, *a))
    assert plan_shards(snapshot, str(tmp_path / "out"), target_docs=7).to_json() == \
        first.to_json()
    os.utime(f"{snapshot}/b.jsonl", (1, 1))  # another modification time, the same bytes
    assert plan_shards(snapshot, str(tmp_path / "out"), target_docs=7).id == first.id
    assert scanned == []
    with pytest.raises(ManifestConflict):  # another setting: planned again
        plan_shards(snapshot, str(tmp_path / "out"), target_docs=9)
    assert len(scanned) == 2
    data = open(f"{snapshot}/b.jsonl").read()
    open(f"{snapshot}/b.jsonl", "w").write(data.replace("a", "A", 1))  # same size
    with pytest.raises(ManifestConflict, match="differs in input file rewritten: .*/b.jsonl$"):
        plan_shards(snapshot, str(tmp_path / "out"), target_docs=7)


def test_edited_manifest_is_rejected(snapshot, tmp_path):
    manifest = plan_shards(snapshot, str(tmp_path / "out"), target_docs=7)
    data = json.loads((tmp_path / "out" / "manifest.json").read_text())
    data["shards"][0]["docs"] = 6
    (tmp_path / "out" / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="does not match"):
        load_manifest(manifest.uri)


def test_two_plans_started_together_in_one_folder_one_is_refused(snapshot, tmp_path):
    """Two planners (real processes) that both found no manifest: the second to write is
    refused, instead of overwriting the first's plan while both report success."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    worker = Path(__file__).with_name("plan_worker.py")
    out, sync = tmp_path / "out", tmp_path / "sync"
    sync.mkdir()
    env = {**os.environ, "PYTHONPATH": str(root)}
    procs = [subprocess.Popen([sys.executable, str(worker), snapshot, str(out), str(target),
                               str(sync), f"p{target}"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for target in (7, 9)]  # fmt: skip
    results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    assert sorted(r[2] for r in results) == [0, 3], results
    winner = next(r[0].strip() for r in results if r[2] == 0)
    assert load_manifest(str(out)).id == winner
    index = json.loads((out / "_duplicate_ids" / "index.json").read_text())
    assert index["manifest"] == winner


def test_a_local_file_rewritten_while_it_is_planned_is_refused_not_read_short(
        tmp_path, monkeypatch):
    """A writer replaces a local input file (same size, other lines) while the plan scans
    it: the plan's counts are of the old bytes, so its reads must refuse the new file, as
    on S3 (the listing's ETag). The plan hashed the file after its scan: the new bytes'
    hash vouched for the old counts (4 of 8 documents), the rest never read. Fault
    injection: the scan is wrapped to replace the file after its first record (a
    concurrent writer's timing cannot be produced otherwise)."""
    import os

    from prox_tasks.corpus import planner

    folder = tmp_path / "in"
    folder.mkdir()
    path = folder / "a.jsonl"
    old = "".join(json.dumps({"id": f"{i}", "text": "x" * 40}) + "\n" for i in range(4))
    new = "".join(json.dumps({"id": f"{i}", "text": "y" * 4}) + "\n" for i in range(8))
    new = new + " " * (len(old) - len(new) - 1) + "\n"  # the same size, twice the lines
    assert len(new) == len(old)
    path.write_text(old)
    scan = planner.FORMATS["jsonl"].scan

    def scan_while_rewritten(uri, max_doc_bytes):
        for i, item in enumerate(scan(uri, max_doc_bytes)):
            if i == 1:  # the writer replaces the file, as an atomic upload does
                (folder / ".a.tmp").write_text(new)
                os.replace(folder / ".a.tmp", path)
            yield item

    monkeypatch.setattr(planner.FORMATS["jsonl"], "scan", scan_while_rewritten)
    # the plan's own read of its shards (the duplicate-id list) is the first to refuse it
    with pytest.raises(RuntimeError, match="a.jsonl changed since the manifest was planned"):
        plan_shards(str(folder), str(tmp_path / "out"), target_docs=100)


def test_files_of_no_known_format_are_listed_in_the_plan_and_its_summary(snapshot, tmp_path,
                                                                          caplog, capsys):
    """Spark's part-00000.json (JSON Lines) and a notes file beside the .jsonl files were left out
    with a log line only: the plan lists them with how to read them, the summary counts them,
    the gate names them; Hadoop's markers are counted, not listed."""
    from prox_tasks.cli import main

    plain = plan_shards(snapshot, str(tmp_path / "plain"), target_docs=7)
    assert plain.skipped_files == [] and plain.markers_left_out == 0
    assert "skipped_files" not in load_manifest(str(tmp_path / "plain")).to_json()
    # none counted is written (0), or every re-opening would list the folder again
    assert load_manifest(str(tmp_path / "plain")).markers_left_out == 0
    root = tmp_path / "snap"
    (root / "part-00000-c0ffee.json").write_text('{"id": "spark", "text": "hi"}\n')
    (root / "notes.txt").write_text("what this is\n")
    (root / "_SUCCESS").write_text("")
    (root / ".part-00000-c0ffee.json.crc").write_text("x")
    with caplog.at_level("INFO"):
        manifest = plan_shards(snapshot, str(tmp_path / "out"), target_docs=7)
    assert [f["uri"].rsplit("/", 1)[1] for f in manifest.skipped_files] == [
        "notes.txt", "part-00000-c0ffee.json"]
    assert "--format (format=) jsonl" in manifest.skipped_files[1]["reason"]
    assert manifest.markers_left_out == 2
    assert "2 files of no known format not read" in caplog.text
    assert "2 names starting with . or _ left out" in caplog.text
    # the files read are the same: the same plan, the same id
    assert plan_shards(snapshot, str(tmp_path / "plain"), target_docs=7, write=False).id \
        == plain.id
    again = load_manifest(str(tmp_path / "out"))
    assert again.skipped_files == manifest.skipped_files and again.markers_left_out == 2
    assert main(["refine", "--input", snapshot, "--output", str(tmp_path / "refined"),
                 "--backend", "tagger", "--no-progress"]) == 0
    line = capsys.readouterr().out
    assert ", 2 input files of no known format not read (file://" in line, line
    assert "refined/manifest.json skipped_files says why: rename them .jsonl" in line


def test_a_crawls_warc_and_wat_are_not_logged_as_of_no_known_format(tmp_path, caplog):
    """prox plan over a Common Crawl segment folder (the real whirlwind WET, WARC and WAT):
    the summary line said "2 input files not read (…: give its WET conversion)", but the
    planner's warning beside it called the WARC and WAT "2 files of no known format". One
    wording now (:func:`prox_tasks.wording.of_no_known_format`); a notes file among them is."""
    import shutil
    from pathlib import Path

    crawl = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "commoncrawl_warc"
    folder = tmp_path / "segment"
    folder.mkdir()
    for name in ("whirlwind.warc.wet.gz", "whirlwind.warc.gz", "whirlwind.warc.wat.gz"):
        shutil.copy(crawl / name, folder / name)
    with caplog.at_level("WARNING"):
        manifest = plan_shards(str(folder), str(tmp_path / "out"), target_docs=7)
    assert len(manifest.skipped_files) == 2
    assert "2 files not read (the plan's skipped_files lists them)" in caplog.text, caplog.text
    caplog.clear()
    (folder / "notes.txt").write_text("about this crawl\n")
    with caplog.at_level("WARNING"):
        plan_shards(str(folder), str(tmp_path / "out2"), target_docs=7)
    assert "3 files of no known format not read" in caplog.text, caplog.text


def test_a_file_of_no_known_format_is_warned_of_once_per_refine(tmp_path, caplog):
    """`prox refine` over a folder holding a notes.txt warned of it twice (the listing's
    'skipping …' line, then the plan's summary of the same file): once now, with why and
    how to read it; a rerun reusing the plan says it in its summary line only."""
    from prox_tasks.cli import main

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_text('{"id": "a", "text": "one two three"}\n')
    (folder / "notes.txt").write_text("what this is\n")
    for _ in range(2):
        caplog.clear()
        with caplog.at_level("WARNING"):
            assert main(["refine", "--input", str(folder), "--output", str(tmp_path / "out"),
                         "--backend", "tagger", "--no-progress"]) == 0
        told = [r.getMessage() for r in caplog.records if "notes.txt" in r.getMessage()]
        assert len(told) <= 1, told
    caplog.clear()
    plan_shards(str(folder), str(tmp_path / "plan"))
    (told,) = [r.getMessage() for r in caplog.records if "notes.txt" in r.getMessage()]
    assert "1 file of no known format not read" in told and "rename it" in told, told


def test_a_plan_written_before_skipped_files_were_recorded_loads_with_its_id(snapshot,
                                                                            tmp_path):
    (tmp_path / "snap" / "notes.txt").write_text("what this is\n")
    manifest = plan_shards(snapshot, str(tmp_path / "out"), target_docs=7)
    path = tmp_path / "out" / "manifest.json"
    old = json.loads(path.read_text())
    del old["skipped_files"]  # the shape an older prox wrote (no markers here)
    path.write_text(json.dumps(old, indent=1, sort_keys=True) + "\n")
    loaded = load_manifest(str(tmp_path / "out"))
    assert loaded.id == manifest.id and loaded.skipped_files == []
    # planned again unchanged: the same plan, its skipped files recorded
    assert plan_shards(snapshot, str(tmp_path / "out"), target_docs=7).id == manifest.id
    assert load_manifest(str(tmp_path / "out")).skipped_files == manifest.skipped_files


def test_an_old_plan_re_opened_gets_its_skipped_files_but_a_released_one_is_not_rewritten(
        snapshot, tmp_path):
    """docs/storage.md: a plan written before skipped_files were recorded gets them when
    planned again unchanged, the same id, and its markers_left_out with them (it stayed 0
    beside the skipped files it got); the plan of a released snapshot is never rewritten
    (its files must not change): its re-opened plan counts them, its file stays as it is."""
    from prox_tasks.corpus.manifest import mark_released

    (tmp_path / "snap" / "notes.txt").write_text("what this is\n")
    (tmp_path / "snap" / "_SUCCESS").write_text("")
    old_plans = {}
    for name in ("open", "released"):
        manifest = plan_shards(snapshot, str(tmp_path / name), target_docs=7)
        assert manifest.markers_left_out == 1 and len(manifest.skipped_files) == 1
        path = tmp_path / name / "manifest.json"
        old = json.loads(path.read_text())
        del old["skipped_files"], old["markers_left_out"]  # as an older prox wrote it
        path.write_text(json.dumps(old, indent=1, sort_keys=True) + "\n")
        old_plans[name] = (manifest, path.read_bytes())
    mark_released(str(tmp_path / "released"), {"name": "r1", "manifest_id": manifest.id})
    for name, (manifest, before) in old_plans.items():
        again = plan_shards(snapshot, str(tmp_path / name), target_docs=7)
        assert again.id == manifest.id and again.skipped_files == manifest.skipped_files
        assert again.markers_left_out == 1
        written = (tmp_path / name / "manifest.json").read_bytes()
        assert (written == before) is (name == "released")
        loaded = load_manifest(str(tmp_path / name))
        assert loaded.id == manifest.id
        assert loaded.markers_left_out == (None if name == "released" else 1)
        assert loaded.skipped_files == ([] if name == "released" else manifest.skipped_files)


def test_an_old_plan_with_markers_and_no_skipped_file_gets_its_markers_counted(snapshot,
                                                                               tmp_path):
    """A plan written before markers were recorded, of a folder holding a ``_SUCCESS`` and
    no file of unknown format, said 0 markers for ever once re-opened: only a change in its
    skipped files wrote the listing anew. It now gets them counted and written on its first
    re-opening, its id unchanged; later re-openings list nothing more."""
    (tmp_path / "snap" / "_SUCCESS").write_text("")
    manifest = plan_shards(snapshot, str(tmp_path / "out"), target_docs=7)
    path = tmp_path / "out" / "manifest.json"
    old = json.loads(path.read_text())
    assert "skipped_files" not in old  # none: written as before they were recorded
    del old["markers_left_out"]  # as the previous release wrote it
    path.write_text(json.dumps(old, indent=1, sort_keys=True) + "\n")
    again = plan_shards(snapshot, str(tmp_path / "out"), target_docs=7)
    assert again.id == manifest.id and again.markers_left_out == 1
    assert load_manifest(str(tmp_path / "out")).markers_left_out == 1
    (tmp_path / "snap" / ".late.crc").write_text("")  # counted when a plan is made only
    assert plan_shards(snapshot, str(tmp_path / "out"), target_docs=7).markers_left_out == 1
